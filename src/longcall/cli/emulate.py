"""`longcall emulate`: run the local Messages API emulator in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import EXIT_OK, EXIT_USAGE, Formatter, fail


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulate",
        help="run the local Messages API emulator",
        description="Run longcall's Messages API emulator in the foreground (Ctrl-C stops it): a "
        "deterministic fake Claude for trying code without an API key. Ask it for "
        '"N words" to get a document of N tokens.',
        epilog="examples:\n  longcall emulate --port 8000\n"
        '  ANTHROPIC_BASE_URL=http://127.0.0.1:8000 longcall "Write 3000 words"\n',
        formatter_class=Formatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="the interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="the port (default: 8000; 0 for any free one)")
    return parser


def run(args: argparse.Namespace) -> int:
    from ..testing import serve

    try:
        serve(args.host, args.port)
    except OSError as exc:
        fail(
            EXIT_USAGE,
            f"could not listen on {args.host}:{args.port}: {exc.strerror or exc}; try another --port.",
        )
    return EXIT_OK
