"""The `longcall` command: long generations from a terminal, journaled, resumable after a crash.

`main(argv)` is the console script. A first argument naming a subcommand runs it; anything else is a
prompt (`longcall -- logs` sends the word "logs"). Each subcommand is a module with
`add_parser(subparsers)` and `run(args) -> int`, listed in `COMMANDS` and imported only when named, so
`longcall --help` imports neither the SDK nor rich. Every error a person can cause or meet is one
sentence on stderr and an exit code (`EXIT_*`); the traceback only with `--debug`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from ._common import (
    DEFAULT_MODEL,
    EXIT_API,
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_JOURNAL,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Formatter,
    Parser,
    plain_warnings,
    say,
    silence_stdout,
)

__all__ = [
    "COMMANDS",
    "DEFAULT_MODEL",
    "EXIT_API",
    "EXIT_CODES",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_JOURNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "SUBCOMMANDS",
    "main",
]

# name -> the module implementing it (`add_parser(subparsers)`, `run(args) -> int`), imported when named.
COMMANDS: dict[str, str] = {
    "logs": "longcall.cli.logs",
    "show": "longcall.cli.show",
    "resume": "longcall.cli.resume",
    "rm": "longcall.cli.rm",
    "models": "longcall.cli.models",
    "emulate": "longcall.cli.emulate",
    "demo": "longcall.cli.demo",
    "batch": "longcall.batch._cli",
}
SUBCOMMANDS = tuple(COMMANDS)


def _parse_subcommand(name: str, argv: list[str]) -> tuple[argparse.Namespace, int]:
    module = importlib.import_module(COMMANDS[name])
    parser = Parser(prog="longcall", formatter_class=Formatter)
    subparsers = parser.add_subparsers(dest="command")
    module.add_parser(subparsers)
    args = parser.parse_args([name, *argv])
    return args, int(module.run(args))


def _ignore_unraisable(unraisable: object) -> None:
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the `longcall` command; return its exit code (see `EXIT_CODES`)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    previous = sys.unraisablehook
    if "--debug" not in args_list:
        # Ctrl-C can land inside the SDK's constructors; the half-built objects then fail in their
        # `__del__`, and Python prints "Exception ignored in ..." with a traceback after our one
        # sentence. That says nothing to a person (--debug keeps Python's report).
        sys.unraisablehook = _ignore_unraisable
    code = _main(args_list)
    if code != EXIT_INTERRUPTED:  # interrupted, the half-built objects may be collected at exit
        sys.unraisablehook = previous
    return code


def _main(args_list: list[str]) -> int:
    debug = "--debug" in args_list
    with plain_warnings():
        try:
            if args_list and args_list[0] in COMMANDS:
                return _parse_subcommand(args_list[0], args_list[1:])[1]
            from . import ask

            return ask.run(ask.parser().parse_args(args_list))
        except SystemExit as exc:  # argparse: --help, or a usage error (already explained)
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        except CommandError as exc:
            if debug and exc.__cause__ is not None:
                traceback.print_exception(exc.__cause__)
            say(str(exc))
            return exc.code
        except KeyboardInterrupt:
            say("interrupted.")
            return EXIT_INTERRUPTED
        except BrokenPipeError:  # `longcall logs | head`: the reader went away
            silence_stdout()
            return EXIT_OK
        except Exception as exc:  # noqa: BLE001 - one sentence for people, the traceback with --debug
            if debug:
                traceback.print_exc()
            say(f"unexpected error: {type(exc).__name__}: {exc}" + ("" if debug else " (--debug shows more)"))
            return EXIT_FAILED
