"""What every subcommand shares: exit codes, one-sentence errors, argument types, the client, the journal.

Nothing here imports the SDK or rich at module level: `longcall --help` must stay instant.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import anthropic

    from ..journal import CallRecord, Journal

EXIT_OK = 0
EXIT_FAILED = 1  # the generation failed; what arrived is kept in the journal
EXIT_USAGE = 2  # bad arguments or input, or no API key: nothing was sent
EXIT_API = 3  # the API refused the request (authentication, unknown model, ...) or could not be reached
EXIT_JOURNAL = 4  # the journal could not be read or changed (a damaged file, a full disk, ...)
EXIT_INTERRUPTED = 130  # Ctrl-C; what arrived is kept in the journal

DEFAULT_MODEL = "claude-sonnet-4-6"
REAL_API_HOSTS = ("api.anthropic.com",)

EXIT_CODES = """\
exit codes:
  0    done
  1    the generation failed; what arrived is kept (longcall resume ID)
  2    bad arguments or input, or no API key: nothing was sent
  3    the API refused the request (invalid, authentication, unknown model, ...) or could not
       be reached
  4    the journal could not be read or changed (logs, show, resume, rm, -c)
  130  interrupted (Ctrl-C); what arrived is kept (longcall resume ID)
"""


class CommandError(Exception):
    """Stop with one sentence for the user and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def fail(code: int, message: str) -> NoReturn:
    raise CommandError(code, message)


def say(text: str) -> None:
    sys.stderr.write(f"longcall: {text}\n")
    sys.stderr.flush()


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (what was wrong, and where the help is) and exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {message} (`{self.prog} --help` shows the options).\n")
        raise SystemExit(EXIT_USAGE)


class Formatter(argparse.HelpFormatter):
    """Wraps one-paragraph descriptions; keeps epilogs (examples, tables) as written."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=min(100, shutil.get_terminal_size().columns))

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return text
        return super()._fill_text(text, width, indent)


def positive(value: str) -> int:
    try:
        number = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def thinking(value: str) -> dict[str, Any]:
    if value.lower() == "adaptive":
        return {"type": "adaptive"}
    if value.lower() in ("off", "disabled", "none"):
        return {"type": "disabled"}
    return {"type": "enabled", "budget_tokens": positive(value)}


def output_options(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="say how the call went on after each broken request, and mark the seam in the text shown",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    from .. import __version__

    try:
        sdk = installed("anthropic")
    except PackageNotFoundError:  # pragma: no cover - a base dependency
        sdk = "not installed"
    return f"longcall {__version__} (anthropic {sdk}, Python {sys.version.split()[0]})"


def silence_stdout() -> None:
    """The reader of stdout is gone: point stdout at /dev/null so Python's exit flush stays quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def plain_warnings() -> Iterator[None]:
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
        say(f"warning: {message}")

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


def client() -> anthropic.Anthropic:
    """An SDK client configured from the environment, as the SDK itself reads it."""
    import anthropic

    base_url = os.environ.get("ANTHROPIC_BASE_URL") or ""
    has_credentials = bool(os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"))
    if not has_credentials:
        if base_url and _is_loopback(base_url):
            return anthropic.Anthropic(api_key="local")  # a local server (`longcall emulate`) needs no key
        if not base_url or urlsplit(base_url).hostname in REAL_API_HOSTS:
            fail(
                EXIT_USAGE,
                "no API key: set ANTHROPIC_API_KEY (from https://console.anthropic.com), or try "
                "longcall without one: run `longcall demo`, or start `longcall emulate` and "
                "point ANTHROPIC_BASE_URL at it.",
            )
        fail(EXIT_USAGE, f"no API key for {base_url}: set ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN.")
    return anthropic.Anthropic()


# -- the journal ----------------------------------------------------------------------------------


def journal() -> Journal:
    """The journal, to read or resume from (also when recording is off: LONGCALL_JOURNAL=off)."""
    from ..journal import Journal

    return Journal(Journal.default_path())


def find(journal: Journal, call_id: str) -> CallRecord:
    from .._errors import JournalError

    try:
        record = journal.get(call_id)
    except JournalError as exc:
        raise journal_failure(exc) from exc
    if record is None:
        fail(
            EXIT_USAGE,
            f"there is no call {call_id!r} in the journal ({journal.path}); `longcall logs` lists the calls.",
        )
    return record


def journal_failure(exc: Exception) -> CommandError:
    """A `JournalError` as the command's error: an ambiguous id is the user's to fix (exit 2); anything
    else is the journal's (exit 4, the same for every subcommand)."""
    if str(exc).startswith("More than one call id"):
        return CommandError(EXIT_USAGE, str(exc))
    return CommandError(EXIT_JOURNAL, f"{exc} (`longcall logs path` shows where it is.)")
