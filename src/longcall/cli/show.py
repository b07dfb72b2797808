"""`longcall show ID`: a call's text, or everything recorded about it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ._common import EXIT_OK, Formatter, find, journal, journal_failure, say

if TYPE_CHECKING:
    from ..journal import CallRecord


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
    parser.add_argument(
        "--conversation",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show every turn of the call's conversation (default: on a terminal; a pipe gets the "
        "call's own text)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from .._errors import JournalError

    opened = journal()
    record = find(opened, args.id)
    if args.json:
        sys.stdout.write(json.dumps(record.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return EXIT_OK
    whole = sys.stdout.isatty() if args.conversation is None else args.conversation
    if whole and record.parent_id:
        try:
            turns = opened.conversation(record.id)
        except JournalError as exc:
            raise journal_failure(exc) from exc
        for number, turn in enumerate(turns, 1):
            sys.stdout.write(f"── turn {number} · call {turn.id} · {turn.state}\n> {_question(turn)}\n\n")
            sys.stdout.write(turn.text.rstrip("\n") + "\n\n")
        sys.stdout.flush()
        return EXIT_OK
    text = record.text
    sys.stdout.write(text + ("\n" if sys.stdout.isatty() and not text.endswith("\n") else ""))
    sys.stdout.flush()
    if record.status != "done":
        say(
            f"call {record.id} is {record.state}: this is what arrived ({len(text):,} characters); "
            f"continue it with: longcall resume {record.id}"
        )
    elif record.parent_id and not whole:
        say(f"call {record.id} follows {record.parent_id}; `--conversation` shows every turn.")
    return EXIT_OK


def _question(record: CallRecord) -> str:
    return " ".join(record.prompt.split()) or "(no text)"
