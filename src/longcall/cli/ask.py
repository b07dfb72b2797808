"""`longcall [options] PROMPT`: send a prompt and stream the answer (the command without a subcommand)."""

from __future__ import annotations

import argparse
import base64
import mimetypes
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _generation
from ._common import (
    DEFAULT_MODEL,
    EXIT_CODES,
    EXIT_USAGE,
    Formatter,
    Parser,
    client,
    fail,
    output_options,
    positive,
    thinking,
    version,
)

if TYPE_CHECKING:
    from ..display import LiveView, PipeView
    from ..journal import Journal

MAIN_EPILOG = f"""\
examples:
  longcall "Write a 5000-word history of the bicycle"
  longcall -f brief.md -a notes.txt -a figures.csv -o report.md
  cat question.txt | longcall > answer.md
  git diff | longcall -a - "Review this diff"
  longcall --thinking 16000 -m claude-opus-4-6 "Plan the migration step by step"
  longcall --no-continue --max-tokens 2000 "Summarize in one page" -a paper.pdf
  longcall -- logs                  the word "logs" as the prompt, not the subcommand

commands:
  longcall logs [-n N] [--model M] [--status S] [--search TEXT]
                                    recent calls as a table
  longcall show ID [--json]         a call's text, or everything recorded about it
  longcall resume ID                continue a call that was cut off (crash, Ctrl-C, failure)
  longcall emulate [--port P]       run the local Messages API emulator
  longcall demo                     a long generation on the embedded emulator, with a dropped
                                    connection and an automatic resume (no API key, no network)
  longcall COMMAND --help           more about a command

On a terminal the answer streams live (Markdown, or plain with --plain) with a status line: tokens
against the limit, tokens per second, elapsed time, attempts, resumes and cost. When stdout is not a
terminal only the generated text goes to stdout, and status lines go to stderr.

Every call is recorded in a journal (SQLite, readable by you only) in $LONGCALL_HOME or the user data
folder; if the process dies or you press Ctrl-C, `longcall resume ID` continues from the last
checkpoint.

environment:
  ANTHROPIC_API_KEY      your API key (or ANTHROPIC_AUTH_TOKEN for a bearer token)
  ANTHROPIC_BASE_URL     another Messages API server, e.g. the one `longcall emulate` prints
  LONGCALL_MODEL         the default model (else {DEFAULT_MODEL})
  LONGCALL_HOME          the folder of the journal
  LONGCALL_PRICES        a JSON file of prices per model, for the cost shown

{EXIT_CODES}"""


def parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="longcall",
        usage="longcall [options] [PROMPT ...]\n       longcall {logs,show,resume,emulate,demo} ...",
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
    parser.add_argument("--temperature", type=float, metavar="T", help="sampling temperature, 0 to 1")
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
    output_options(parser)
    parser.add_argument("--version", action="version", version=version())
    return parser


def run(args: argparse.Namespace) -> int:
    from ..journal import Journal

    params = build_params(args)
    journal = Journal.default()  # None when LONGCALL_JOURNAL=off
    try:
        with client() as sdk:
            return _generate(args, params, sdk, journal)
    finally:
        if journal is not None:
            journal.close()


# -- building the request -------------------------------------------------------------------------

_stdin_text: str | None = None


def _read_stdin() -> str:
    global _stdin_text
    if _stdin_text is None:
        _stdin_text = sys.stdin.read()
    return _stdin_text


def _read_text(name: str) -> str:
    if name == "-":
        return _read_stdin()
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


def _attachment(name: str) -> dict[str, Any]:
    """One file as a content block: images and PDFs as themselves, anything else as text."""
    kind = mimetypes.guess_type(name)[0] if name != "-" else None
    if kind in _IMAGE_TYPES or kind == "application/pdf":
        try:
            data = base64.b64encode(Path(name).read_bytes()).decode("ascii")
        except OSError as exc:
            fail(EXIT_USAGE, f"{name} could not be read: {exc.strerror or exc}.")
        source = {"type": "base64", "media_type": kind, "data": data}
        if kind == "application/pdf":
            return {"type": "document", "source": source, "title": Path(name).name}
        return {"type": "image", "source": source}
    label = "stdin" if name == "-" else Path(name).name
    return {"type": "text", "text": f'<document name="{label}">\n{_read_text(name)}\n</document>'}


def _prompt_text(args: argparse.Namespace) -> str:
    parts: list[str] = []
    if args.file:
        parts.append(_read_text(args.file))
    if args.prompt:
        parts.append(" ".join(args.prompt))
    if not parts and "-" not in args.attach and not sys.stdin.isatty():
        parts.append(_read_stdin())
    text = "\n\n".join(part for part in parts if part.strip())
    if not text.strip():
        fail(
            EXIT_USAGE,
            "no prompt: give it as an argument, with -f FILE, or on stdin (longcall --help shows examples).",
        )
    return text


def build_params(args: argparse.Namespace) -> dict[str, Any]:
    """The Messages API parameters the options ask for."""
    from .._catalog import lookup

    model = args.model or os.environ.get("LONGCALL_MODEL") or DEFAULT_MODEL
    prompt = _prompt_text(args)
    attachments = [_attachment(name) for name in args.attach]
    content: Any = [*attachments, {"type": "text", "text": prompt}] if attachments else prompt
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": args.max_tokens or lookup(model).max_output,
        "messages": [{"role": "user", "content": content}],
    }
    if args.system:
        params["system"] = args.system
    if args.thinking is not None:
        params["thinking"] = args.thinking
    if args.temperature is not None:
        if not 0 <= args.temperature <= 1:
            fail(EXIT_USAGE, f"--temperature must be from 0 to 1, not {args.temperature:g}.")
        # The SDK's create() no longer has a `temperature` keyword: it goes in the body, for the models
        # and servers that take it.
        params["extra_body"] = {"temperature": args.temperature}
    if args.stop:
        params["stop_sequences"] = list(args.stop)
    return params


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


def _generate(args: argparse.Namespace, params: dict[str, Any], sdk: Any, journal: Journal | None) -> int:
    import anthropic

    from .._errors import InvalidRequest

    for _ in range(2):
        view = _generation.make_view(
            args, model=params["model"], max_tokens=params["max_tokens"], budget=args.budget
        )
        view.journaled = journal is not None
        wrapped = _wrapped(sdk, args, view, journal)
        try:
            return _generation.run(args, view, lambda: wrapped.messages.create(**params))  # noqa: B023
        except (anthropic.APIError, InvalidRequest) as exc:
            fit = None if args.max_tokens else _generation.fitting_max_tokens(exc)
            if fit is None or fit >= params["max_tokens"]:
                raise _generation.explain_api_error(exc, params["model"], bool(args.max_tokens)) from exc
            view.print_note(
                f"the prompt leaves room for {fit:,} output tokens per request, not "
                f"{params['max_tokens']:,}; sending max_tokens={fit:,}.",
                style="yellow",
            )
            params["max_tokens"] = fit
    raise AssertionError("unreachable")  # pragma: no cover
