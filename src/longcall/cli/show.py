"""`longcall show ID`: a call's text, or everything recorded about it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._common import EXIT_OK, Formatter, find, journal, say


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "show",
        help="a call's text, or everything recorded about it",
        description="Print a call's text (what arrived so far, if it did not finish).",
        epilog="examples:\n  longcall show 3f2a9c1b7d0e > report.md\n"
        "  longcall show 3f2a --json | jq .usage\n",
        formatter_class=Formatter,
    )
    parser.add_argument("id", metavar="ID", help="the call id, or a unique start of it")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print everything recorded: parameters, message, attempts, usage, cost",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    record = find(journal(), args.id)
    if args.json:
        sys.stdout.write(json.dumps(record.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return EXIT_OK
    text = record.text
    sys.stdout.write(text + ("\n" if sys.stdout.isatty() and not text.endswith("\n") else ""))
    sys.stdout.flush()
    if record.status != "done":
        say(
            f"call {record.id} is {record.state}: this is what arrived ({len(text):,} characters); "
            f"continue it with: longcall resume {record.id}"
        )
    return EXIT_OK
