"""`longcall resume ID`: continue a journaled call from its last checkpoint."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import _generation
from ._common import (
    EXIT_CODES,
    EXIT_OK,
    EXIT_USAGE,
    Formatter,
    client,
    fail,
    find,
    journal,
    journal_failure,
    output_options,
    say,
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "resume",
        help="continue a call that was cut off (crash, Ctrl-C, failure)",
        description="Continue a journaled call from its last checkpoint: after a crash, a kill, a "
        "closed laptop, Ctrl-C or a failure. The answer is stitched on, so the result "
        "reads as one; it is recorded on the same journal entry. When stdout is not a "
        "terminal, the whole text (saved and new) is written to it.",
        epilog="examples:\n  longcall resume 3f2a9c1b7d0e\n  longcall resume 3f2a > report.md\n\n"
        + EXIT_CODES,
        formatter_class=Formatter,
    )
    parser.add_argument("id", metavar="ID", help="the call id, or a unique start of it")
    output_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    import anthropic

    from .._errors import JournalError
    from ..journal import resume

    opened = journal()
    record = find(opened, args.id)
    if record.status == "done":
        if args.output is not None:
            _generation.write_output(args.output, record.text)
        elif args.json:
            sys.stdout.write(json.dumps(record.message, ensure_ascii=False, indent=2) + "\n")
        else:
            sys.stdout.write(record.text)
        if record.stop_reason == "max_tokens":
            say(
                f"call {record.id} stopped at max_tokens or its budget ({record.output_tokens:,} output "
                "tokens) and is recorded as finished, so there is nothing to resume; nothing was sent. "
                "Ask again with a larger --budget or --max-tokens."
            )
        else:
            say(f"call {record.id} had already finished; nothing was sent.")
        return EXIT_OK
    if record.status == "streaming" and not record.crashed:
        fail(
            EXIT_USAGE,
            f"call {record.id} is still streaming in process {record.pid}; wait for it, or stop that "
            "process first.",
        )
    budget = (record.policy or {}).get("max_output_tokens_total")
    view = _generation.make_view(
        args, model=record.model, max_tokens=record.params.get("max_tokens"), budget=budget
    )
    view.seed(record.text)
    hooks: dict[str, Any] = view.hooks()
    try:
        with client() as sdk:
            return _generation.run(
                args,
                view,
                lambda: resume(record.id, sdk, journal=opened, observers=[view], **hooks),
                journal=opened,
            )
    except JournalError as exc:
        raise journal_failure(exc) from exc
    except anthropic.APIError as exc:
        raise _generation.explain_api_error(exc, record.model, True) from exc
