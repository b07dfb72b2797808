"""`longcall [options] PROMPT`: send a prompt and stream the answer (the command without a subcommand)."""

from __future__ import annotations

import argparse
import base64
import contextlib
import mimetypes
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _generation
from ._common import (
    DEFAULT_MODEL,
    EXIT_CODES,
    EXIT_JOURNAL,
    EXIT_USAGE,
    Formatter,
    Parser,
    client,
    fail,
    find,
    journal,
    output_options,
    positive,
    say,
    thinking,
    version,
)

if TYPE_CHECKING:
    from .._engine import LongcallMessage
    from ..display import LiveView, PipeView
    from ..journal import CallRecord, Journal

MAIN_EPILOG = f"""\
examples:
  longcall "Write a 5000-word history of the bicycle"
  longcall -f brief.md -a notes.txt -a figures.csv -o report.md
  cat question.txt | longcall > answer.md
  git diff | longcall "Review this diff"      stdin first, as context, then the question
  longcall -c "Now shorten it to one page"    the next turn of the last call's conversation
  longcall --cid 3f2a "And the chapter on Italy?"
  longcall --effort high -m claude-opus-4-6 "Plan the migration step by step"
  longcall --no-continue --max-tokens 2000 "Summarize in one page" -a paper.pdf
  longcall --no-log "Something not to keep"
  longcall -- logs                  the word "logs" as the prompt, not the subcommand

commands:
  longcall logs [-n N] [--model M] [--status S] [--search TEXT]
                                    recent calls as a table
  longcall logs path | prune --older-than 30d
                                    where the journal is; remove old calls
  longcall show ID [--json]         a call's text (its conversation, on a terminal)
  longcall resume ID                continue a call that was cut off (crash, Ctrl-C, failure)
  longcall rm ID...                 remove calls from the journal
  longcall models                   the models, with limits and prices
  longcall batch IN.jsonl -o OUT.jsonl
                                    many requests: restartable, here or through the Batches API
  longcall emulate [--port P] [--tokens-per-second N] [--drop-after-bytes N] [--once] [--log]
                                    run the local Messages API emulator, slow or faulty on request
  longcall demo                     a long generation on the embedded emulator, with a dropped
                                    connection and an automatic resume (no API key, no network)
  longcall COMMAND --help           more about a command

On a terminal the answer streams live (Markdown, or plain with --plain): each finished paragraph goes
to the terminal's scrollback at once, and a status line counts tokens against the limit, tokens per
second, elapsed time, attempts, resumes and cost. When stdout is not a terminal only the generated
text goes to stdout (exactly the message's text), and status lines go to stderr.

Every call is recorded in a journal (SQLite, readable by you only; `longcall logs path`); if the
process dies or you press Ctrl-C, `longcall resume ID` continues from the last checkpoint.

environment:
  ANTHROPIC_API_KEY      your API key (or ANTHROPIC_AUTH_TOKEN for a bearer token)
  ANTHROPIC_BASE_URL     another Messages API server, e.g. the one `longcall emulate` prints
  LONGCALL_MODEL         the default model (else {DEFAULT_MODEL})
  LONGCALL_HOME          the folder of the journal
  LONGCALL_JOURNAL       "off" records nothing (as --no-log)
  LONGCALL_JOURNAL_MAX_BYTES  a size cap for the journal ("500MB"): the oldest calls go first
  LONGCALL_MAX_ATTACHMENT     the largest attachment sent (default 20MB)
  LONGCALL_PRICES        a JSON file of prices per model, for the cost shown

{EXIT_CODES}"""


EFFORTS = ("low", "medium", "high", "xhigh", "max")
SAMPLING = ("--temperature", "--top-p", "--top-k")
DEFAULT_MAX_ATTACHMENT = 20_000_000  # bytes: a larger file is refused before anything is sent


def size(value: str) -> int:
    """ "20MB", "500K", "1.5G", "1000": bytes (powers of 1000)."""
    text = value.strip().upper().removesuffix("B")
    scale = 1
    for suffix, factor in (("K", 1000), ("M", 1000**2), ("G", 1000**3)):
        if text.endswith(suffix):
            text, scale = text[:-1], factor
            break
    try:
        number = int(float(text) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a size (bytes, or a number with K, M or G)"
        ) from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1 byte")
    return number


def parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="longcall",
        usage="longcall [options] [PROMPT ...]\n"
        "       longcall {logs,show,resume,rm,models,batch,emulate,demo} ...",
        description="Send a prompt to Claude and stream the answer; long answers are resumed when the "
        "connection breaks, continued past max_tokens, and kept in a journal.",
        epilog=MAIN_EPILOG,
        formatter_class=Formatter,
    )
    parser.add_argument(
        "prompt",
        nargs="*",
        metavar="PROMPT",
        help="the prompt (several words are joined with spaces); read from stdin if absent",
    )
    parser.add_argument("-f", "--file", metavar="FILE", help='read the prompt from FILE ("-": stdin)')
    parser.add_argument(
        "-a",
        "--attach",
        metavar="FILE",
        action="append",
        default=[],
        help="attach FILE as context before the prompt; repeatable. Text files are sent as "
        'text, images and PDFs as such; "-" attaches stdin',
    )
    parser.add_argument(
        "-m", "--model", default=None, help=f"the model (default: $LONGCALL_MODEL, else {DEFAULT_MODEL})"
    )
    parser.add_argument(
        "--max-tokens",
        type=positive,
        metavar="N",
        help="output tokens per request (default: the most the model can write)",
    )
    parser.add_argument("-s", "--system", metavar="TEXT", help="the system prompt")
    parser.add_argument(
        "--thinking",
        type=thinking,
        metavar="BUDGET",
        help='extended thinking with a budget of BUDGET tokens, or "adaptive"',
    )
    parser.add_argument(
        "--effort",
        choices=EFFORTS,
        help="how much effort the model puts into the answer (output_config.effort)",
    )
    # The API version the SDK sends (anthropic-version 2026-10-21, SDK 2.x) refuses temperature, top_p
    # and top_k on every model: they are not offered, and asking for one says so before anything is sent.
    for name in SAMPLING:
        parser.add_argument(name, metavar="X", dest=name.strip("-").replace("-", "_"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--stop", metavar="TEXT", action="append", default=[], help="a stop sequence; repeatable"
    )
    parser.add_argument(
        "--continue",
        dest="continue_",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="when the answer stops at max_tokens, continue it in further requests until "
        "the model ends it (default: on)",
    )
    parser.add_argument(
        "--budget",
        type=positive,
        metavar="N",
        help="the most output tokens over all continuations (default: no limit)",
    )
    parser.add_argument(
        "--max-attempts",
        type=positive,
        metavar="N",
        default=8,
        help="requests one call may make: the first, retries and resumes (default: 8)",
    )
    talk = parser.add_argument_group("conversations")
    talk.add_argument(
        "-c",
        "--followup",
        action="store_true",
        help="continue the conversation of the most recent call: the prompt is the next question",
    )
    talk.add_argument("--cid", metavar="ID", help="continue the conversation of call ID")
    parser.add_argument(
        "--no-log",
        action="store_true",
        help="do not record this call in the journal (also: LONGCALL_JOURNAL=off); it cannot be resumed",
    )
    parser.add_argument(
        "--max-attachment",
        type=size,
        metavar="SIZE",
        default=None,
        help=f"refuse an attachment larger than SIZE (default: $LONGCALL_MAX_ATTACHMENT, else "
        f"{DEFAULT_MAX_ATTACHMENT // 1_000_000} MB)",
    )
    output_options(parser)
    parser.add_argument("--version", action="version", version=version())
    return parser


def run(args: argparse.Namespace) -> int:
    from ..journal import Journal

    for name in SAMPLING:
        if getattr(args, name.strip("-").replace("-", "_")) is not None:
            fail(
                EXIT_USAGE,
                f"{name} is refused by the API version this SDK sends (anthropic-version 2026-10-21 "
                "rejects temperature, top_p and top_k on every model); use --effort "
                f"{{{','.join(EFFORTS)}}} instead. Nothing was sent.",
            )
    if args.output is not None:
        _check_writable(args.output)
    parent = _parent(args)
    params = build_params(args, parent)
    journal = None if args.no_log else Journal.default()  # None also when LONGCALL_JOURNAL=off
    journal = _usable(journal)
    try:
        with client() as sdk:
            return _generate(args, params, sdk, journal, parent)
    finally:
        if journal is not None:
            journal.close()


def _check_writable(path: Path) -> None:
    """-o FILE: refuse before anything is sent if the text could not be written there."""
    if path.is_dir():
        fail(EXIT_USAGE, f"-o {path} is a folder; give a file name. Nothing was sent.")
    if path.exists():
        if not os.access(path, os.W_OK):
            fail(EXIT_USAGE, f"-o {path} cannot be written (permission denied). Nothing was sent.")
        return
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        fail(EXIT_USAGE, f"-o {path}: the folder {folder} does not exist. Nothing was sent.")
    if not os.access(folder, os.W_OK | os.X_OK):
        fail(EXIT_USAGE, f"-o {path}: the folder {folder} cannot be written. Nothing was sent.")


def _usable(journal: Journal | None) -> Journal | None:
    """The journal if it can be read and written, else None with a warning: the call goes on, unrecorded."""
    from .._errors import JournalError

    if journal is None:
        return None
    try:
        journal.recent(1)  # opens, checks and migrates the file
    except JournalError as exc:
        say(f"warning: {exc} This call is not recorded, so it cannot be resumed.")
        journal.close()
        return None
    return journal


def _parent(args: argparse.Namespace) -> CallRecord | None:
    """The call whose conversation `-c` or `--cid ID` continues."""
    from .._errors import JournalError

    if not args.followup and not args.cid:
        return None
    opened = journal()
    try:
        if args.cid:
            record = find(opened, args.cid)
        else:
            latest = opened.latest()
            if latest is None:
                fail(EXIT_USAGE, "-c continues the most recent call, but the journal has none yet.")
            record = opened.get(latest.id) or latest
    except JournalError as exc:
        fail(EXIT_JOURNAL, f"{exc} Nothing was sent.")
    finally:
        opened.close()
    if not record.text.strip():
        fail(
            EXIT_USAGE,
            f"call {record.id} has no answer to follow ({record.state}); finish it first with "
            f"`longcall resume {record.id}`. Nothing was sent.",
        )
    return record


# -- building the request -------------------------------------------------------------------------

_stdin_text: str | None = None
_stdin_used = False


def _read_stdin() -> str:
    """stdin, read once (decoded as UTF-8 whatever the locale)."""
    global _stdin_text
    if _stdin_text is None:
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
        try:
            _stdin_text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            fail(
                EXIT_USAGE,
                f"stdin is not UTF-8 text (byte {exc.start:,} is not); convert it (iconv -t UTF-8) or "
                "attach the file with -a. Nothing was sent.",
            )
    return _stdin_text


def _piped_stdin() -> bool:
    """Whether stdin brings something to read (a pipe or a file, not a terminal, not closed)."""
    try:
        return not sys.stdin.isatty() and sys.stdin.readable()
    except (AttributeError, ValueError, OSError):
        return False


def _take_stdin() -> str | None:
    """stdin for the first place that names it ("-"); None for the others (it is sent once)."""
    global _stdin_used
    if _stdin_used:
        return None
    _stdin_used = True
    return _read_stdin()


def _read_text(name: str) -> str:
    try:
        return Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(EXIT_USAGE, f"{name}: no such file.")
    except IsADirectoryError:
        fail(EXIT_USAGE, f"{name} is a folder, not a file.")
    except UnicodeDecodeError:
        fail(EXIT_USAGE, f"{name} is not UTF-8 text.")
    except OSError as exc:
        fail(EXIT_USAGE, f"{name} could not be read: {exc.strerror or exc}.")


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _human(count: int) -> str:
    from ..display._format import size_text  # lazily: `longcall --help` does not import the SDK

    return size_text(count, kb_decimals=1)


def _check_size(name: str, limit: int) -> None:
    try:
        found = Path(name).stat().st_size
    except OSError:
        return  # reading it says what is wrong
    if found > limit:
        fail(
            EXIT_USAGE,
            f"{name} is {_human(found)}, over the {_human(limit)} limit for an "
            "attachment; raise it with --max-attachment (or LONGCALL_MAX_ATTACHMENT) if you mean to "
            "send it. Nothing was sent.",
        )


def _attachment(name: str, limit: int) -> dict[str, Any] | None:
    """One file as a content block: images and PDFs as themselves, anything else as text."""
    if name == "-":
        text = _take_stdin()
        if text is None or not text.strip():
            return None
        if len(text.encode()) > limit:
            fail(
                EXIT_USAGE,
                f"stdin is {_human(len(text.encode()))}, over the {_human(limit)} limit for an attachment; "
                "raise it with --max-attachment if you mean to send it. Nothing was sent.",
            )
        return {"type": "text", "text": f'<document name="stdin">\n{text}\n</document>'}
    _check_size(name, limit)
    kind = mimetypes.guess_type(name)[0]
    if kind in _IMAGE_TYPES or kind == "application/pdf":
        try:
            data = base64.b64encode(Path(name).read_bytes()).decode("ascii")
        except OSError as exc:
            fail(EXIT_USAGE, f"{name} could not be read: {exc.strerror or exc}.")
        source = {"type": "base64", "media_type": kind, "data": data}
        if kind == "application/pdf":
            return {"type": "document", "source": source, "title": Path(name).name}
        return {"type": "image", "source": source}
    return {"type": "text", "text": f'<document name="{Path(name).name}">\n{_read_text(name)}\n</document>'}


def _prompt_parts(args: argparse.Namespace) -> list[str]:
    """stdin (when piped and not named by "-"), then -f FILE, then the words of the prompt, like `llm`:
    `git diff | longcall "review this"` sends the diff, then the question."""
    parts: list[str] = []
    names_stdin = args.file == "-" or "-" in args.attach
    if not names_stdin and _piped_stdin():
        # A stdin that cannot be read (closed, or a test runner's) brings no context.
        with contextlib.suppress(OSError):
            parts.append(_read_stdin())
    if args.file:
        parts.append((_take_stdin() or "") if args.file == "-" else _read_text(args.file))
    if args.prompt:
        parts.append(" ".join(args.prompt))
    parts = [part for part in parts if part.strip()]
    if not parts:
        fail(
            EXIT_USAGE,
            "no prompt: give it as an argument, with -f FILE, or on stdin (longcall --help shows examples).",
        )
    return parts


def build_params(args: argparse.Namespace, parent: CallRecord | None = None) -> dict[str, Any]:
    """The Messages API parameters the options ask for; after `parent`'s conversation if given."""
    from .._catalog import lookup

    model = (
        args.model or (parent.model if parent else None) or os.environ.get("LONGCALL_MODEL") or DEFAULT_MODEL
    )
    limit = args.max_attachment or _env_size("LONGCALL_MAX_ATTACHMENT") or DEFAULT_MAX_ATTACHMENT
    *context, prompt = _prompt_parts(args)  # first: with -f -, stdin is the prompt; `-a -` gets nothing
    blocks = [{"type": "text", "text": text} for text in context]  # before the question, which `logs` shows
    blocks += [block for name in args.attach if (block := _attachment(name, limit)) is not None]
    content: Any = [*blocks, {"type": "text", "text": prompt}] if blocks else prompt
    history: list[dict[str, Any]] = []
    if parent is not None:
        history = [
            *(parent.params.get("messages") or []),
            {"role": "assistant", "content": [{"type": "text", "text": parent.text}]},
        ]
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": args.max_tokens or lookup(model).max_output,
        "messages": [*history, {"role": "user", "content": content}],
    }
    system = args.system if args.system is not None else (parent.params.get("system") if parent else None)
    if system:
        params["system"] = system
    if args.thinking is not None:
        params["thinking"] = args.thinking
    if args.effort is not None:
        params["output_config"] = {"effort": args.effort}
    if args.stop:
        params["stop_sequences"] = list(args.stop)
    return params


def _env_size(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return size(value)
    except argparse.ArgumentTypeError as exc:
        fail(EXIT_USAGE, f"{name}: {exc}.")


# -- generating -----------------------------------------------------------------------------------


def _wrapped(sdk: Any, args: argparse.Namespace, view: LiveView | PipeView, journal: Any) -> Any:
    from .. import wrap
    from .._policy import Policy

    policy = Policy(
        continue_on_max_tokens=args.continue_,
        max_output_tokens_total=args.budget,
        max_attempts=args.max_attempts,
    )
    return wrap(sdk, policy=policy, journal=journal, observers=[view], **view.hooks())


def _generate(
    args: argparse.Namespace,
    params: dict[str, Any],
    sdk: Any,
    journal: Journal | None,
    parent: CallRecord | None,
) -> int:
    import anthropic

    from .._errors import InvalidRequest

    for _ in range(2):
        view = _generation.make_view(
            args, model=params["model"], max_tokens=params["max_tokens"], budget=args.budget
        )
        view.journaled = journal is not None
        view.stop_note = _stop_note(args)
        wrapped = _wrapped(sdk, args, view, journal)
        try:
            try:
                return _generation.run(
                    args,
                    view,
                    lambda: wrapped.messages.create(**params),  # noqa: B023 - called at once
                    journal=journal,
                )
            finally:
                _link(journal, view.call_id, parent)
        except (anthropic.APIError, InvalidRequest) as exc:
            fit = None if args.max_tokens else _generation.fitting_max_tokens(exc)
            if fit is None or fit >= params["max_tokens"]:
                raise _generation.explain_api_error(exc, params["model"], bool(args.max_tokens)) from exc
            view.print_note(
                f"the prompt leaves room for {fit:,} output tokens per request, not "
                f"{params['max_tokens']:,}; sending --max-tokens {fit:,}.",
                style="yellow",
            )
            params["max_tokens"] = fit
    raise AssertionError("unreachable")  # pragma: no cover


def _stop_note(args: argparse.Namespace) -> Callable[[LongcallMessage, int], str | None]:
    """Why a call that ended at max_tokens stopped, in the flags' words (None: it was asked to)."""

    def note(message: LongcallMessage, output_tokens: int) -> str | None:
        stopped_by = getattr(message, "stopped_by", None)
        if stopped_by == "max_output_tokens_total" or (
            stopped_by is None and args.budget is not None and output_tokens >= args.budget
        ):
            return (
                f"stopped by --budget {args.budget:,}: the answer is not finished ({output_tokens:,} "
                "output tokens); ask again with a larger --budget"
            )
        if stopped_by == "max_segments":
            return (
                f"stopped after the most continuations longcall makes ({len(message.attempts)} "
                "requests): the answer is not finished"
            )
        if stopped_by == "deadline":
            return "stopped by the call's deadline: the answer is not finished"
        if message.stop_reason == "max_tokens" and args.continue_:
            return "stopped at max_tokens: the answer is not finished"
        return None

    return note


def _link(journal: Journal | None, call_id: str | None, parent: CallRecord | None) -> None:
    from .._errors import JournalError

    if journal is None or call_id is None or parent is None:
        return
    try:
        journal.link(call_id, parent.id)
    except JournalError as exc:
        say(f"warning: {exc} The call is recorded, but not as the next turn of {parent.id}.")
