"""`longcall batch`: run many requests from a JSONL file, restartably; `--status` shows a run's state.

`add_parser(subparsers)` adds the subcommand to the CLI's parser; `run(args)` runs it and returns
the exit code. The SDK and rich are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_API, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

DESCRIPTION = """\
Send every request of a JSONL file and write one result line per request, as results arrive.

An input line is {"custom_id": "a1", "params": {...}} (the Message Batches API's shape), Messages API
parameters with a "custom_id" (or "id"), or an OpenAI-style chat request with an id. An output line
holds custom_id, status (succeeded, errored, expired, canceled), message (the API's JSON), error
(type, message, request_id), usage, cost (USD) and attempts; a line that cannot be read becomes an
error record naming its line number.

By default each request is streamed from here through longcall (retries, resume after a broken
stream, --continue past max_tokens), at a concurrency that grows while requests succeed and halves
on 429/529. --via batches uses the Message Batches API instead (half the price, no streaming, up to
24 hours), in rounds that continue answers cut at max_tokens and resubmit expired, canceled and
transiently failed requests.

Running the same command again continues a run that was stopped or killed: finished ids are
skipped, unfinished ones resumed from their checkpoints (or re-attached to their batches). The
run's state is kept next to the output, in OUT.longcall.db.
"""

EPILOG = """\
examples:
  longcall batch prompts.jsonl -o results.jsonl
  longcall batch prompts.jsonl -o results.jsonl -c 50 --max-concurrency 400 --continue
  longcall batch prompts.jsonl -o results.jsonl --rpm 1000 --tpm 400000
  longcall batch prompts.jsonl -o part3.jsonl --shard 3/8          one of 8 machines
  longcall batch prompts.jsonl -o results.jsonl --via batches      the Message Batches API
  longcall batch --status -o results.jsonl

exit codes:
  0    every request succeeded
  1    the run finished, and some requests have error records
  2    bad arguments, or the input was refused (bad or duplicate custom_id): nothing was sent
  3    the API refused: a spend limit, or a batch it would not create (the state is kept)
  130  stopped with Ctrl-C (run the same command again to continue)
"""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {text}")
    return value


def _shard(text: str) -> tuple[int, int]:
    from ._input import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `batch` to the CLI's subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "batch",
        help="run many requests from a JSONL file, restartably",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", nargs="?", metavar="IN.jsonl", help="the requests, one JSON object a line")
    parser.add_argument("-o", "--output", metavar="OUT.jsonl", help="where the results go (appended to)")
    parser.add_argument(
        "--via",
        choices=("stream", "batches"),
        default="stream",
        help="stream each request from here (default), or use the Message Batches API",
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=_positive,
        default=16,
        metavar="N",
        help="requests in flight at the start (16)",
    )
    parser.add_argument(
        "--max-concurrency", type=_positive, default=256, metavar="N", help="the most in flight (256)"
    )
    parser.add_argument(
        "--fixed", action="store_true", help="keep the concurrency at -c; do not adapt it (429s still pause)"
    )
    parser.add_argument("--rpm", type=_positive_float, metavar="N", help="at most N requests a minute")
    parser.add_argument(
        "--tpm", type=_positive_float, metavar="N", help="at most N tokens a minute (input estimated, output)"
    )
    parser.add_argument(
        "--continue",
        dest="continue_",
        action="store_true",
        help="continue answers that stop at max_tokens until the model ends them",
    )
    parser.add_argument("--budget", type=_positive, metavar="N", help="the most output tokens per item")
    parser.add_argument(
        "--max-attempts", type=_positive, default=8, metavar="N", help="requests per item when streaming (8)"
    )
    parser.add_argument("--shard", type=_shard, metavar="K/N", help="run the K-th of N parts of the input")
    parser.add_argument("--state", metavar="FILE", help="the state file (default: OUT.jsonl.longcall.db)")
    parser.add_argument(
        "--poll", type=_positive_float, default=5.0, metavar="S", help="first poll interval for batches (5 s)"
    )
    parser.add_argument(
        "--poll-max", type=_positive_float, default=60.0, metavar="S", help="longest poll interval (60 s)"
    )
    parser.add_argument(
        "--max-rounds", type=_positive, default=8, metavar="N", help="batches one item may go through (8)"
    )
    parser.add_argument("--beta", action="store_true", help="use client.beta.messages.batches")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress on stderr (default: live on a terminal, a line every few seconds otherwise)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--status", action="store_true", help="show the state of the run for -o (or --state)")
    parser.set_defaults(command="batch")
    return parser


def _say(text: str) -> None:
    print(f"longcall batch: {text}", file=sys.stderr, flush=True)


def _command(args: argparse.Namespace) -> str:
    words = ["longcall", "batch", str(args.input), "-o", str(args.output)]
    for flag, value in (("--via", "batches" if args.via == "batches" else None), ("--state", args.state)):
        if value:
            words += [flag, str(value)]
    if args.shard:
        words += ["--shard", f"{args.shard[0]}/{args.shard[1]}"]
    if args.continue_:
        words.append("--continue")
    return " ".join(words)


def run(args: argparse.Namespace) -> int:
    """Run `longcall batch` with parsed arguments; return the exit code."""
    if args.status:
        return _status(args)
    if not args.input or not args.output:
        _say("give the input file and -o OUT.jsonl, e.g. longcall batch prompts.jsonl -o results.jsonl")
        return EXIT_USAGE
    if not Path(args.input).is_file():
        _say(f"there is no input file {args.input!r}; nothing was sent")
        return EXIT_USAGE
    from .._policy import Policy
    from ._input import InputRefused
    from ._options import BatchOptions
    from ._run import BatchRun
    from ._state import StateError
    from ._submit import BatchRejected

    policy = Policy(
        max_attempts=args.max_attempts,
        continue_on_max_tokens=args.continue_,
        max_output_tokens_total=args.budget,
    )
    try:
        options = BatchOptions(
            via=args.via,
            concurrency=args.concurrency,
            max_concurrency=max(args.max_concurrency, args.concurrency),
            adaptive=not args.fixed,
            requests_per_minute=args.rpm,
            tokens_per_minute=args.tpm,
            policy=policy,
            continue_on_max_tokens=args.continue_,
            poll_initial=min(args.poll, args.poll_max),
            poll_max=args.poll_max,
            max_rounds=args.max_rounds,
            beta=args.beta,
        )
    except ValueError as exc:
        _say(f"{exc}; nothing was sent")
        return EXIT_USAGE
    batch = BatchRun(
        args.input, args.output, options=options, state=args.state, shard=args.shard, progress=args.progress
    )
    try:
        summary = asyncio.run(_main(batch))
    except InputRefused as exc:
        _say(str(exc))
        return EXIT_USAGE
    except StateError as exc:
        _say(str(exc))
        return EXIT_USAGE
    except BatchRejected as exc:
        _say(str(exc) + f" Fix it and run again: {_command(args)}")
        return EXIT_API
    except KeyboardInterrupt:
        _say(f"stopped at once; what had finished is in {args.output}. To continue: {_command(args)}")
        return EXIT_INTERRUPTED
    if args.json:
        print(json.dumps(summary.to_dict()))
    _say(summary.line())
    if summary.stopped:
        if args.via == "batches":
            _say(
                f"stopped: {summary.stopped}; the batches go on at the API. To re-attach and collect their "
                f"results: {_command(args)}"
            )
        else:
            _say(f"stopped: {summary.stopped}; nothing is lost. To continue: {_command(args)}")
        return EXIT_INTERRUPTED if summary.stopped == "interrupted" else EXIT_API
    return EXIT_OK if summary.failed == 0 else EXIT_FAILED


async def _main(batch: Any) -> Any:
    loop = asyncio.get_running_loop()

    def first_interrupt() -> None:
        # A second Ctrl-C raises KeyboardInterrupt at once: the default handler is back.
        loop.remove_signal_handler(signal.SIGINT)
        _say("stopping (Ctrl-C again stops at once)...")
        batch.stop("interrupted")

    with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread, or no signals
        loop.add_signal_handler(signal.SIGINT, first_interrupt)
    try:
        return await batch.arun()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


def _status(args: argparse.Namespace) -> int:
    from ._state import RunState, default_state_path

    if not args.state and not args.output:
        _say("give -o OUT.jsonl (or --state FILE) of the run to show")
        return EXIT_USAGE
    path = Path(args.state) if args.state else default_state_path(args.output)
    if not path.exists():
        _say(f"there is no run state at {str(path)!r}")
        return EXIT_USAGE
    state = RunState(path)
    try:
        print(status_text(state))
    finally:
        state.close()
    return EXIT_OK


def status_text(state: Any) -> str:
    """A run's state, for people: items by status, the batches, the last summary."""
    items = list(state.items())
    by_status = Counter(item.status for item in items)
    outcomes = Counter((item.record or {}).get("status") for item in items if item.status == "done")
    shard = state.meta("shard")
    lines = [
        f"state: {state.path} (via {state.meta('via') or 'stream'}"
        + (f", shard {shard[0]}/{shard[1]})" if shard else ")"),
        f"items: {len(items):,}; done {by_status.get('done', 0):,} ("
        + ", ".join(f"{count:,} {name}" for name, count in sorted(outcomes.items(), key=str))
        + f"); not finished {len(items) - by_status.get('done', 0):,}"
        + (
            " ("
            + ", ".join(f"{by_status[s]:,} {s}" for s in ("running", "pending", "submitted") if by_status[s])
            + ")"
            if len(items) - by_status.get("done", 0)
            else ""
        ),
    ]
    batches = state.batches()
    if batches:
        lines.append(f"batches: {len(batches)}")
        for batch in batches:
            counts = batch["counts"] or {}
            shown = ", ".join(f"{value:,} {name}" for name, value in counts.items() if value)
            lines.append(
                f"  {batch['id']}  round {batch['round']}  {batch['status']}"
                + ("  collected" if batch["collected"] else "")
                + (f"  ({shown})" if shown else f"  ({batch['size']:,} requests)")
            )
    summary = state.meta("summary")
    if summary:
        lines.append(
            f"last run: {summary['succeeded']:,} succeeded, {summary['failed']:,} failed, "
            f"{summary['output_tokens']:,} output tokens, ${summary['cost']:.4f}, "
            f"{summary['wall_seconds']:.1f} s"
            + (f"; stopped: {summary['stopped']}" if summary.get("stopped") else "")
        )
    return "\n".join(lines)
