"""`longcall rm ID...`: remove calls from the journal, and everything stored for them."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import EXIT_OK, EXIT_USAGE, Formatter, fail, journal, journal_failure, say


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "rm",
        help="remove calls from the journal",
        description="Remove calls (their prompts, attachments, answers and attempts) from the journal; the "
        "file is compacted, so what was removed is gone from it.",
        epilog="examples:\n  longcall rm 3f2a9c1b7d0e\n  longcall rm 3f2a 9c1b\n"
        "  longcall logs prune --older-than 30d    many at once, by age\n",
        formatter_class=Formatter,
    )
    parser.add_argument("ids", nargs="+", metavar="ID", help="a call id, or a unique start of it")
    return parser


def run(args: argparse.Namespace) -> int:
    from .._errors import JournalError

    opened = journal()
    try:
        missing = [call_id for call_id in args.ids if opened.get(call_id) is None]
        if missing:
            fail(
                EXIT_USAGE,
                f"there is no call {', '.join(map(repr, missing))} in the journal; nothing was removed "
                "(`longcall logs` lists the calls).",
            )
        removed = opened.delete(args.ids)
    except JournalError as exc:
        raise journal_failure(exc) from exc
    finally:
        opened.close()
    say(f"removed {removed:,} call{'s' if removed != 1 else ''}.")
    return EXIT_OK
