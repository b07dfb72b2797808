"""The `longcall` command: long generations from a terminal, journaled, resumable after a crash.

`main(argv)` is the console script. A first argument naming a subcommand (`logs`, `show`, `resume`,
`emulate`, `demo`) runs it; anything else is a prompt (`longcall -- logs` sends the word "logs").
Every error a person can cause or meet is one sentence on stderr and an exit code (`EXIT_*`); the
traceback only with `--debug`. rich is imported by the live view only.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ipaddress
import json
import mimetypes
import os
import re
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import anthropic

    from ._engine import LongcallMessage
    from .display import LiveView, PipeView
    from .journal import CallRecord, Journal

EXIT_OK = 0
EXIT_FAILED = 1  # the generation failed; what arrived is kept in the journal
EXIT_USAGE = 2  # bad arguments or input, or no API key: nothing was sent
EXIT_API = 3  # the API refused the request (authentication, unknown model, ...) or could not be reached
EXIT_INTERRUPTED = 130  # Ctrl-C; what arrived is kept in the journal

DEFAULT_MODEL = "claude-sonnet-4-6"
REAL_API_HOSTS = ("api.anthropic.com",)
SUBCOMMANDS = ("logs", "show", "resume", "emulate", "demo")

EXIT_CODES = """\
exit codes:
  0    done
  1    the generation failed; what arrived is kept (longcall resume ID)
  2    bad arguments or input, or no API key; nothing was sent
  3    the API refused the request (authentication, unknown model, ...) or could not be reached
  130  interrupted (Ctrl-C); what arrived is kept (longcall resume ID)
"""

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


class CommandError(Exception):
    """Stop with one sentence for the user and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _fail(code: int, message: str) -> NoReturn:
    raise CommandError(code, message)


# -- parsers --------------------------------------------------------------------------------------


class _Formatter(argparse.HelpFormatter):
    """Wraps one-paragraph descriptions; keeps epilogs (examples, tables) as written."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=min(100, shutil.get_terminal_size().columns))

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return text
        return super()._fill_text(text, width, indent)


def _positive(value: str) -> int:
    try:
        number = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def _thinking(value: str) -> dict[str, Any]:
    if value.lower() == "adaptive":
        return {"type": "adaptive"}
    if value.lower() in ("off", "disabled", "none"):
        return {"type": "disabled"}
    return {"type": "enabled", "budget_tokens": _positive(value)}


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=Path,
        help="write the generated text to FILE (stdout then shows no text)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print the final message as JSON (the API\'s shape, plus a "longcall" key with '
        "the call id, cost and attempts)",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="on a terminal, show the text as it is instead of rendering Markdown",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")


def prompt_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="longcall",
        usage="longcall [options] [PROMPT ...]\n       longcall {logs,show,resume,emulate,demo} ...",
        description="Send a prompt to Claude and stream the answer; long answers are resumed when the "
        "connection breaks, continued past max_tokens, and kept in a journal.",
        epilog=MAIN_EPILOG,
        formatter_class=_Formatter,
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
        type=_positive,
        metavar="N",
        help="output tokens per request (default: the most the model can write)",
    )
    parser.add_argument("-s", "--system", metavar="TEXT", help="the system prompt")
    parser.add_argument(
        "--thinking",
        type=_thinking,
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
        type=_positive,
        metavar="N",
        help="the most output tokens over all continuations (default: no limit)",
    )
    parser.add_argument(
        "--max-attempts",
        type=_positive,
        metavar="N",
        default=8,
        help="requests one call may make: the first, retries and resumes (default: 8)",
    )
    _output_options(parser)
    return parser


def _subcommand_parser(name: str) -> argparse.ArgumentParser:
    make = {
        "logs": lambda: argparse.ArgumentParser(
            prog="longcall logs",
            description="The latest calls in the journal, newest first.",
            epilog="examples:\n  longcall logs\n  longcall logs -n 50 --model claude-opus-4-6\n"
            "  longcall logs --status crashed       calls whose process died: resume them\n"
            "  longcall logs --search bicycle --json\n",
            formatter_class=_Formatter,
        ),
        "show": lambda: argparse.ArgumentParser(
            prog="longcall show",
            description="Print a call's text (what arrived so far, if it did not finish).",
            epilog=(
                "examples:\n  longcall show 3f2a9c1b7d0e > report.md\n"
                "  longcall show 3f2a --json | jq .usage\n"
            ),
            formatter_class=_Formatter,
        ),
        "resume": lambda: argparse.ArgumentParser(
            prog="longcall resume",
            description="Continue a journaled call from its last checkpoint: after a crash, a kill, a "
            "closed laptop, Ctrl-C or a failure. The answer is stitched on, so the result "
            "reads as one; it is recorded on the same journal entry. When stdout is not a "
            "terminal, the whole text (saved and new) is written to it.",
            epilog="examples:\n  longcall resume 3f2a9c1b7d0e\n  longcall resume 3f2a > report.md\n\n"
            + EXIT_CODES,
            formatter_class=_Formatter,
        ),
        "emulate": lambda: argparse.ArgumentParser(
            prog="longcall emulate",
            description="Run longcall's Messages API emulator in the foreground (Ctrl-C stops it): a "
            "deterministic fake Claude for trying code without an API key. Ask it for "
            '"N words" to get a document of N tokens.',
            epilog="examples:\n  longcall emulate --port 8000\n"
            '  ANTHROPIC_BASE_URL=http://127.0.0.1:8000 longcall "Write 3000 words"\n',
            formatter_class=_Formatter,
        ),
        "demo": lambda: argparse.ArgumentParser(
            prog="longcall demo",
            description="Watch longcall at work without an API key or network: a long generation from "
            "the embedded emulator, whose connection is dropped about halfway; longcall "
            "resumes it, and the result is checked against the emulator's document.",
            epilog="examples:\n  longcall demo\n  longcall demo --words 5000 --speed 500\n",
            formatter_class=_Formatter,
        ),
    }
    from .journal import STATUSES

    parser: argparse.ArgumentParser = make[name]()
    if name == "logs":
        parser.add_argument(
            "-n", "--limit", type=_positive, default=20, metavar="N", help="show N calls (default: 20)"
        )
        parser.add_argument("--model", help='only calls to this model ("claude-opus*" for a prefix)')
        parser.add_argument(
            "--status",
            choices=(*STATUSES, "crashed"),
            help="only calls with this status",
        )
        parser.add_argument(
            "-q", "--search", metavar="TEXT", help="only calls whose prompt or answer contains TEXT"
        )
        parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    elif name == "show":
        parser.add_argument("id", metavar="ID", help="the call id, or a unique start of it")
        parser.add_argument(
            "--json",
            action="store_true",
            help="print everything recorded: parameters, message, attempts, usage, cost",
        )
    elif name == "resume":
        parser.add_argument("id", metavar="ID", help="the call id, or a unique start of it")
        _output_options(parser)
    elif name == "emulate":
        parser.add_argument(
            "--host", default="127.0.0.1", help="the interface to listen on (default: 127.0.0.1)"
        )
        parser.add_argument(
            "--port", type=int, default=8000, help="the port (default: 8000; 0 for any free one)"
        )
    elif name == "demo":
        parser.add_argument(
            "--words", type=_positive, default=1500, help="the length to generate (default: 1500)"
        )
        parser.add_argument(
            "--speed",
            type=float,
            default=250.0,
            metavar="TPS",
            help="tokens per second the emulator writes (default: 250)",
        )
        parser.add_argument("--plain", action="store_true", help="show the text as it is, without Markdown")
        parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parser


# -- entry point ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the `longcall` command; return its exit code (see `EXIT_CODES`)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    with _plain_warnings():
        try:
            if args_list and args_list[0] in SUBCOMMANDS:
                name = args_list[0]
                args = _subcommand_parser(name).parse_args(args_list[1:])
                return int(COMMANDS[name](args))
            return _prompt_command(prompt_parser().parse_args(args_list))
        except SystemExit as exc:  # argparse: --help, or a usage error (already explained)
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        except CommandError as exc:
            if debug and exc.__cause__ is not None:
                traceback.print_exception(exc.__cause__)
            _say(str(exc))
            return exc.code
        except KeyboardInterrupt:
            _say("interrupted.")
            return EXIT_INTERRUPTED
        except BrokenPipeError:  # `longcall logs | head`: the reader went away
            _silence_stdout()
            return EXIT_OK
        except Exception as exc:  # noqa: BLE001 - one sentence for people, the traceback with --debug
            if debug:
                traceback.print_exc()
            _say(
                f"unexpected error: {type(exc).__name__}: {exc}" + ("" if debug else " (--debug shows more)")
            )
            return EXIT_FAILED


def _silence_stdout() -> None:
    """The reader of stdout is gone: point stdout at /dev/null so Python's exit flush stays quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _say(text: str) -> None:
    sys.stderr.write(f"longcall: {text}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def _plain_warnings() -> Iterator[None]:
    """Each warning once, as one `longcall: warning: ...` line on stderr (not Python's two-line
    format, and never an exception: the command decides how warnings look, whatever the filters)."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        _say(f"warning: {message}")

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = show
        yield


# -- the client -----------------------------------------------------------------------------------


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _client() -> anthropic.Anthropic:
    """An SDK client configured from the environment, as the SDK itself reads it."""
    import anthropic

    base_url = os.environ.get("ANTHROPIC_BASE_URL") or ""
    has_credentials = bool(os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"))
    if not has_credentials:
        if base_url and _is_loopback(base_url):
            return anthropic.Anthropic(api_key="local")  # a local server (`longcall emulate`) needs no key
        if not base_url or urlsplit(base_url).hostname in REAL_API_HOSTS:
            _fail(
                EXIT_USAGE,
                "no API key: set ANTHROPIC_API_KEY (from https://console.anthropic.com), or try "
                "longcall without one: run `longcall demo`, or start `longcall emulate` and "
                "point ANTHROPIC_BASE_URL at it.",
            )
        _fail(EXIT_USAGE, f"no API key for {base_url}: set ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN.")
    return anthropic.Anthropic()


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
        _fail(EXIT_USAGE, f"{name}: no such file.")
    except IsADirectoryError:
        _fail(EXIT_USAGE, f"{name} is a folder, not a file.")
    except UnicodeDecodeError:
        _fail(EXIT_USAGE, f"{name} is not UTF-8 text.")
    except OSError as exc:
        _fail(EXIT_USAGE, f"{name} could not be read: {exc.strerror or exc}.")


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _attachment(name: str) -> dict[str, Any]:
    """One file as a content block: images and PDFs as themselves, anything else as text."""
    kind = mimetypes.guess_type(name)[0] if name != "-" else None
    if kind in _IMAGE_TYPES or kind == "application/pdf":
        try:
            data = base64.b64encode(Path(name).read_bytes()).decode("ascii")
        except OSError as exc:
            _fail(EXIT_USAGE, f"{name} could not be read: {exc.strerror or exc}.")
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
        _fail(
            EXIT_USAGE,
            "no prompt: give it as an argument, with -f FILE, or on stdin (longcall --help shows examples).",
        )
    return text


def build_params(args: argparse.Namespace) -> dict[str, Any]:
    """The Messages API parameters the options ask for."""
    from ._catalog import lookup

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
            _fail(EXIT_USAGE, f"--temperature must be from 0 to 1, not {args.temperature:g}.")
        # The SDK's create() no longer has a `temperature` keyword: it goes in the body, for the models
        # and servers that take it.
        params["extra_body"] = {"temperature": args.temperature}
    if args.stop:
        params["stop_sequences"] = list(args.stop)
    return params


# -- showing a generation -------------------------------------------------------------------------


def _make_view(
    args: argparse.Namespace, *, model: str, max_tokens: int | None, budget: int | None
) -> LiveView | PipeView:
    from .display import LiveView, PipeView

    if args.json or args.output is not None:
        if sys.stderr.isatty():
            from rich.console import Console

            return LiveView(
                console=Console(stderr=True),
                markdown=not args.plain,
                model=model,
                max_tokens=max_tokens,
                budget=budget,
            )
        return PipeView(model=model, max_tokens=max_tokens, budget=budget, show_text=False)
    if sys.stdout.isatty():
        return LiveView(markdown=not args.plain, model=model, max_tokens=max_tokens, budget=budget)
    return PipeView(model=model, max_tokens=max_tokens, budget=budget)


def _run(args: argparse.Namespace, view: LiveView | PipeView, call: Callable[[], LongcallMessage]) -> int:
    """Run a generation in `view`, then show the result or explain the failure."""
    from ._errors import GenerationFailed
    from .display import OutputClosed

    try:
        with view:
            message = call()
    except OutputClosed:
        _silence_stdout()
        _say(_kept_sentence(view, "stdout was closed, so the call was stopped."))
        return EXIT_OK
    except KeyboardInterrupt:
        _finish_partial(args, view, "interrupted")
        _say(_kept_sentence(view, "Interrupted."))
        return EXIT_INTERRUPTED
    except GenerationFailed as exc:
        code, sentence = _explain_failure(exc, view)
        if code == EXIT_FAILED:
            _finish_partial(args, view, "failed")
        if args.debug:
            traceback.print_exception(exc)
        _say(sentence)
        if args.json:
            error = {
                "type": "error",
                "error": {"message": sentence, "exit_code": code},
                "call_id": view.call_id,
            }
            sys.stdout.write(json.dumps(error) + "\n")
        return code
    _finish(args, view, message)
    return EXIT_OK


def _finish(args: argparse.Namespace, view: LiveView | PipeView, message: LongcallMessage) -> None:
    text = "".join(getattr(block, "text", None) or "" for block in message.content if block.type == "text")
    if args.output is not None:
        _write_output(args.output, text)
    view.print_result(message, show_text=args.output is None and not args.json)
    if args.output is not None:
        view.print_note(f"  the text ({len(text):,} characters) is in {args.output}", style="dim")
    if args.json:
        data = dict(view.final or message.model_dump(mode="json", warnings=False))
        data["longcall"] = {
            "call_id": view.call_id,
            "cost_usd": _cost(data.get("usage") or {}, str(data.get("model") or view.model)),
            "attempts": [attempt.to_dict() for attempt in message.attempts],
        }
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        sys.stdout.flush()


def _finish_partial(args: argparse.Namespace, view: LiveView | PipeView, status: str) -> None:
    """Show (or write) what arrived before the call stopped."""
    if args.output is not None:
        text = _partial_text(view)
        if text:
            _write_output(args.output, text)
    view.print_result(None, show_text=args.output is None and not args.json, status=status)


def _partial_text(view: LiveView | PipeView) -> str:
    content = (view.final or {}).get("content") or []
    return "".join(block.get("text") or "" for block in content if block.get("type") == "text")


def _write_output(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(EXIT_FAILED, f"could not write {path}: {exc.strerror or exc}; the text is in the journal.")


def _cost(usage: dict[str, Any], model: str) -> float | None:
    from ._catalog import cost

    try:
        return cost(usage, model)
    except Exception:  # noqa: BLE001 - a bad price file must not lose the answer
        return None


def _kept_sentence(view: LiveView | PipeView, head: str) -> str:
    chars = len(_partial_text(view))
    if view.call_id is None:
        return f"{head} Nothing was sent yet."
    if not view.journaled:
        return head
    if not chars:
        return f"{head} Nothing had arrived; run it again with: longcall resume {view.call_id}"
    return (
        f"{head} The {chars:,} characters received are kept in the journal; continue with: "
        f"longcall resume {view.call_id}"
    )


def _api_error_detail(exc: Any) -> tuple[str, str]:
    """(error type, message) from an SDK status error's body."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
        return str(error.get("type") or ""), str(error.get("message") or "")
    return "", str(getattr(exc, "message", exc))


def _explain_failure(exc: Any, view: LiveView | PipeView) -> tuple[int, str]:
    import anthropic

    cause = exc.cause
    attempts = len(exc.attempts)
    if not _partial_text(view) and isinstance(cause, anthropic.APIConnectionError):
        where = os.environ.get("ANTHROPIC_BASE_URL") or "the Anthropic API"
        reason = cause.__cause__ or cause
        return EXIT_API, (
            f"could not reach {where} ({reason}) after {attempts} attempt(s): check your network "
            "connection"
            + (" and ANTHROPIC_BASE_URL" if "ANTHROPIC_BASE_URL" in os.environ else "")
            + ", then run the same command again."
        )
    last = exc.attempts[-1].error if exc.attempts else None
    why = last or str(exc)
    return EXIT_FAILED, _kept_sentence(view, f"The generation failed after {attempts} attempt(s) ({why}).")


def _explain_api_error(exc: Any, model: str, max_tokens_given: bool) -> CommandError:
    """An SDK error (the API refused the request) as one sentence."""
    import anthropic

    from ._errors import ContextWindowExceeded, InvalidRequest

    if isinstance(exc, ContextWindowExceeded):
        return CommandError(EXIT_USAGE, str(exc))
    if isinstance(exc, InvalidRequest):
        return CommandError(EXIT_USAGE, f"invalid request: {exc}")
    if isinstance(exc, anthropic.APIConnectionError):
        where = os.environ.get("ANTHROPIC_BASE_URL") or "the Anthropic API"
        return CommandError(
            EXIT_API,
            f"could not reach {where} ({exc.__cause__ or exc}): check your network "
            "connection, then run the same command again.",
        )
    error_type, detail = _api_error_detail(exc)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, anthropic.AuthenticationError):
        return CommandError(
            EXIT_API,
            f"the API rejected the credentials ({status} {error_type}: {detail}): check ANTHROPIC_API_KEY.",
        )
    if isinstance(exc, anthropic.PermissionDeniedError):
        return CommandError(EXIT_API, f"the API key may not do this ({status} {error_type}: {detail}).")
    if isinstance(exc, anthropic.NotFoundError):
        return CommandError(
            EXIT_API,
            f"the API does not know the model {model!r} ({status} {error_type}: "
            f"{detail}): check -m/--model or LONGCALL_MODEL (`longcall --help`), or "
            "ANTHROPIC_BASE_URL if it is set.",
        )
    if isinstance(exc, anthropic.BadRequestError):
        lowered = detail.lower()
        if "prompt is too long" in lowered or "context limit" in lowered or "context window" in lowered:
            hint = "shorten the prompt or attach fewer files"
            if max_tokens_given:
                hint = "lower --max-tokens, or " + hint
            return CommandError(
                EXIT_USAGE, f"the prompt does not fit {model}'s context window ({detail}): {hint}."
            )
        return CommandError(EXIT_USAGE, f"the API refused the request as invalid ({status}: {detail}).")
    if isinstance(exc, anthropic.APIStatusError):
        return CommandError(EXIT_API, f"the API answered {status} {error_type}: {detail}")
    return CommandError(EXIT_FAILED, f"{type(exc).__name__}: {exc}")


_CONTEXT_LIMIT = re.compile(r"(\d+)\s*\+\s*(\d+)\s*>\s*(\d+)")


def _fitting_max_tokens(exc: Any) -> int | None:
    """From the API's "input length and `max_tokens` exceed context limit: A + B > C": the largest
    max_tokens that fits, or None."""
    import anthropic

    if not isinstance(exc, anthropic.BadRequestError):
        return None
    match = _CONTEXT_LIMIT.search(_api_error_detail(exc)[1])
    if match is None:
        return None
    input_tokens, _, limit = (int(group) for group in match.groups())
    room = limit - input_tokens - 16  # a margin: counts can differ by a few tokens between requests
    return room if room >= 256 else None


def _wrapped(client: Any, args: argparse.Namespace, view: LiveView | PipeView, journal: Any) -> Any:
    from . import wrap
    from ._policy import Policy

    policy = Policy(
        continue_on_max_tokens=args.continue_,
        max_output_tokens_total=args.budget,
        max_attempts=args.max_attempts,
    )
    return wrap(client, policy=policy, journal=journal, observers=[view], **view.hooks())


# -- commands -------------------------------------------------------------------------------------


def _prompt_command(args: argparse.Namespace) -> int:

    from .journal import Journal

    params = build_params(args)
    journal = Journal.default()  # None when LONGCALL_JOURNAL=off
    try:
        with _client() as client:
            return _generate(args, params, client, journal)
    finally:
        if journal is not None:
            journal.close()


def _generate(args: argparse.Namespace, params: dict[str, Any], client: Any, journal: Journal | None) -> int:
    import anthropic

    from ._errors import InvalidRequest

    for _ in range(2):
        view = _make_view(args, model=params["model"], max_tokens=params["max_tokens"], budget=args.budget)
        view.journaled = journal is not None
        wrapped = _wrapped(client, args, view, journal)
        try:
            return _run(args, view, lambda: wrapped.messages.create(**params))  # noqa: B023 - called at once
        except (anthropic.APIError, InvalidRequest) as exc:
            fit = None if args.max_tokens else _fitting_max_tokens(exc)
            if fit is None or fit >= params["max_tokens"]:
                raise _explain_api_error(exc, params["model"], bool(args.max_tokens)) from exc
            view.print_note(
                f"the prompt leaves room for {fit:,} output tokens per request, not "
                f"{params['max_tokens']:,}; sending max_tokens={fit:,}.",
                style="yellow",
            )
            params["max_tokens"] = fit
    raise AssertionError("unreachable")  # pragma: no cover


def _journal() -> Journal:
    from .journal import Journal

    return Journal(Journal.default_path())  # reading and resuming work when recording is off


def _find(journal: Journal, call_id: str) -> CallRecord:
    from ._errors import JournalError

    try:
        record = journal.get(call_id)
    except JournalError as exc:
        _fail(EXIT_USAGE, str(exc))
    if record is None:
        _fail(
            EXIT_USAGE,
            f"there is no call {call_id!r} in the journal ({journal.path}); `longcall logs` lists the calls.",
        )
    return record


def _logs_command(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from ._errors import JournalError

    journal = _journal()
    try:
        records = journal.recent(args.limit, model=args.model, status=args.status, search=args.search)
    except JournalError as exc:
        _fail(EXIT_FAILED, str(exc))
    if args.json:
        for record in records:
            data = {
                k: v
                for k, v in record.to_dict().items()
                if k not in ("message", "attempts", "params", "text")
            }
            sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        return EXIT_OK
    console = Console()
    if not console.is_terminal:  # a pipe or a file: never cut an id to fit 80 columns
        console = Console(width=max(console.width, 200))
    if not records:
        console.print("No calls" + (" match." if args.model or args.status or args.search else " yet."))
        return EXIT_OK
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("id", no_wrap=True, min_width=max(len(record.id) for record in records))
    table.add_column("when", no_wrap=True, min_width=16)
    table.add_column("model", no_wrap=True, max_width=28)
    table.add_column("status", no_wrap=True, min_width=11)
    table.add_column("output", justify="right", no_wrap=True, min_width=6)
    table.add_column("cost", justify="right", no_wrap=True, min_width=7)
    table.add_column("prompt", no_wrap=True, overflow="ellipsis", max_width=80)
    colors = {
        "done": "green",
        "failed": "red",
        "interrupted": "yellow",
        "crashed": "red",
        "streaming": "cyan",
    }
    for record in records:
        state = record.state
        table.add_row(
            record.id,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created_at)),
            record.model,
            f"[{colors.get(state, '')}]{state}[/]" if colors.get(state) else state,
            f"{record.output_tokens:,}",
            "" if record.cost is None else f"${record.cost:.4f}",
            record.prompt,
        )
    console.print(table)
    crashed = [record.id for record in records if record.state in ("crashed", "interrupted", "failed")]
    if crashed:
        console.print(f"[dim]continue one with: longcall resume {crashed[0]}[/]")
    return EXIT_OK


def _show_command(args: argparse.Namespace) -> int:
    record = _find(_journal(), args.id)
    if args.json:
        sys.stdout.write(json.dumps(record.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return EXIT_OK
    text = record.text
    sys.stdout.write(text + ("\n" if sys.stdout.isatty() and not text.endswith("\n") else ""))
    sys.stdout.flush()
    if record.status != "done":
        _say(
            f"call {record.id} is {record.state}: this is what arrived ({len(text):,} characters); "
            f"continue it with: longcall resume {record.id}"
        )
    return EXIT_OK


def _resume_command(args: argparse.Namespace) -> int:
    import anthropic

    from ._errors import JournalError
    from .journal import resume

    journal = _journal()
    record = _find(journal, args.id)
    if record.status == "done":
        if args.output is not None:
            _write_output(args.output, record.text)
        elif args.json:
            sys.stdout.write(json.dumps(record.message, ensure_ascii=False, indent=2) + "\n")
        else:
            sys.stdout.write(record.text)
        _say(f"call {record.id} had already finished; nothing was sent.")
        return EXIT_OK
    if record.status == "streaming" and not record.crashed:
        _fail(
            EXIT_USAGE,
            f"call {record.id} is still streaming in process {record.pid}; wait for it, or stop that "
            "process first.",
        )
    budget = (record.policy or {}).get("max_output_tokens_total")
    view = _make_view(args, model=record.model, max_tokens=record.params.get("max_tokens"), budget=budget)
    view.seed(record.text)
    hooks: dict[str, Any] = view.hooks()
    try:
        with _client() as client:
            return _run(
                args, view, lambda: resume(record.id, client, journal=journal, observers=[view], **hooks)
            )
    except JournalError as exc:
        raise CommandError(EXIT_USAGE, str(exc)) from exc
    except anthropic.APIError as exc:
        raise _explain_api_error(exc, record.model, True) from exc


def _emulate_command(args: argparse.Namespace) -> int:
    from .testing import serve

    try:
        serve(args.host, args.port)
    except OSError as exc:
        _fail(
            EXIT_USAGE,
            f"could not listen on {args.host}:{args.port}: {exc.strerror or exc}; try another --port.",
        )
    return EXIT_OK


_DEMO_PROMPT = (
    "Write {words} words: the log of a lighthouse keeper on a distant island, one season of "
    "weather, ships and letters."
)
# Bytes per generated token on the wire, roughly: a content_block_delta event around one word.
_DEMO_BYTES_PER_TOKEN = 104


def _demo_command(args: argparse.Namespace) -> int:
    import anthropic

    from . import wrap
    from ._policy import Policy
    from .testing import Emulator, Fault

    args.json, args.output = False, None
    params: dict[str, Any] = {
        "model": "claude-emulator",
        "max_tokens": 128_000,
        "messages": [{"role": "user", "content": _DEMO_PROMPT.format(words=args.words)}],
    }
    drop_at = max(400, args.words * _DEMO_BYTES_PER_TOKEN // 2)
    with Emulator() as emulator, contextlib.ExitStack() as stack:
        emulator.add_faults(
            Fault(drop_after_bytes=drop_at, tokens_per_second=args.speed), Fault(tokens_per_second=args.speed)
        )
        client = stack.enter_context(anthropic.Anthropic(base_url=emulator.url, api_key="demo"))
        view = _make_view(args, model=params["model"], max_tokens=params["max_tokens"], budget=None)
        view.journaled = False
        view.print_note(
            f"demo: {args.words:,} words from the local emulator at {emulator.url} (no API "
            "key, no network). It drops the connection about halfway: watch the status line.",
            style="bold",
        )
        wrapped = wrap(
            client, policy=Policy(continue_on_max_tokens=True), journal=None, observers=[view], **view.hooks()
        )
        code = _run(args, view, lambda: wrapped.messages.create(**params))
        if code != EXIT_OK:
            return code
        expected = emulator.document(params)
    text = _partial_text(view)
    attempts = view.attempts
    broken = [attempt for attempt in attempts if attempt.error]
    if text != expected:
        _say(
            f"demo: the text differs from the emulator's document ({len(text):,} vs {len(expected):,} "
            "characters); please report this."
        )
        return EXIT_FAILED
    if broken:
        first = broken[0]
        kind = attempts[first.number].strategy if first.number < len(attempts) else None
        view.print_note(
            f"The connection was dropped at byte {first.bytes_received:,} of the answer; longcall resumed "
            f"{'by ' + kind if kind else ''} from the text received. The result is {len(text):,} characters, "
            "identical to the emulator's document: no text lost, none repeated.",
            style="bold green",
        )
    else:
        view.print_note(
            f"Done: {len(text):,} characters, identical to the emulator's document.", style="bold green"
        )
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "logs": _logs_command,
    "show": _show_command,
    "resume": _resume_command,
    "emulate": _emulate_command,
    "demo": _demo_command,
}
