"""`longcall logs`: the latest calls in the journal as a table (or JSON lines)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ._common import EXIT_OK, EXIT_USAGE, Formatter, fail, journal, journal_failure, positive, say

STATUS_CHOICES = ("streaming", "done", "failed", "interrupted", "crashed")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "logs",
        help="recent calls as a table",
        description="The latest calls in the journal, newest first.",
        epilog="examples:\n  longcall logs\n  longcall logs -n 50 --model claude-opus-4-6\n"
        "  longcall logs --status crashed       calls whose process died: resume them\n"
        "  longcall logs --search bicycle --json\n"
        "  longcall logs path                   where the journal is, and its size\n"
        "  longcall logs prune --older-than 30d remove finished calls older than 30 days\n"
        "  longcall logs prune --max-size 200MB remove the oldest finished calls down to 200 MB\n"
        "  longcall rm 3f2a9c1b7d0e             remove one call\n\n"
        "The journal holds every prompt, attachment and answer (attachments stored once however\n"
        "many calls send them). Nothing leaves it on its own: prune it, set LONGCALL_JOURNAL_MAX_BYTES\n"
        "for a size cap, or LONGCALL_JOURNAL=off (or --no-log) to record nothing.\n",
        formatter_class=Formatter,
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=("list", "path", "prune"),
        default="list",
        help="list the calls (default), print the journal's path, or prune it",
    )
    parser.add_argument(
        "--older-than",
        type=age,
        metavar="AGE",
        help='prune: remove finished calls older than AGE ("30d", "12h", "90m", "2w")',
    )
    parser.add_argument(
        "--max-size",
        type=journal_size,
        metavar="SIZE",
        help='prune: then remove the oldest finished calls until the file is at most SIZE ("200MB")',
    )
    parser.add_argument(
        "-n", "--limit", type=positive, default=20, metavar="N", help="show N calls (default: 20)"
    )
    parser.add_argument("--model", help='only calls to this model ("claude-opus*" for a prefix)')
    parser.add_argument("--status", choices=STATUS_CHOICES, help="only calls with this status")
    parser.add_argument(
        "-q", "--search", metavar="TEXT", help="only calls whose prompt or answer contains TEXT"
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    return parser


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def age(value: str) -> datetime.timedelta:
    text = value.strip().lower()
    unit = text[-1:] if text[-1:] in _UNITS else "d"
    number = text[:-1] if text[-1:] in _UNITS else text
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an age: give e.g. 30d, 12h, 90m or 2w") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be more than 0")
    return datetime.timedelta(seconds=seconds)


def journal_size(value: str) -> int:
    from ..journal import parse_size

    try:
        return parse_size(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None


def _size(path: Path) -> int:
    return sum(
        part.stat().st_size
        for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        if part.exists()
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "path":
        return _path()
    if (args.older_than or args.max_size) and args.action != "prune":
        fail(EXIT_USAGE, "--older-than and --max-size go with `longcall logs prune`.")
    if args.action == "prune":
        return _prune(args)
    return _list(args)


def _path() -> int:
    from ..journal import Journal

    path = Journal.default_path()
    sys.stdout.write(f"{path}\n")
    if sys.stdout.isatty():
        off = os.environ.get("LONGCALL_JOURNAL", "").strip().lower() in ("off", "0", "false", "no", "none")
        held = f"{_size(path) / 1_000_000:,.1f} MB" if path.exists() else "not created yet"
        say(f"{held}{'; recording is off (LONGCALL_JOURNAL)' if off else ''}")
    return EXIT_OK


def _prune(args: argparse.Namespace) -> int:
    from .._errors import JournalError

    if args.older_than is None and args.max_size is None:
        fail(
            EXIT_USAGE,
            "`longcall logs prune` needs --older-than AGE or --max-size SIZE; nothing was removed.",
        )
    opened = journal()
    before = _size(opened.path)
    try:
        removed = opened.prune(older_than=args.older_than, max_bytes=args.max_size)
    except JournalError as exc:
        raise journal_failure(exc) from exc
    finally:
        opened.close()
    after = _size(opened.path)
    say(
        f"removed {removed:,} call{'s' if removed != 1 else ''}; the journal is {after / 1_000_000:,.1f} MB "
        f"(was {before / 1_000_000:,.1f} MB)."
    )
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .._errors import JournalError

    try:
        records = journal().recent(args.limit, model=args.model, status=args.status, search=args.search)
    except JournalError as exc:
        raise journal_failure(exc) from exc
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
    # Narrow terminals keep what identifies a call (id, status, the question) and drop the rest.
    width = console.width
    columns = ["id", "when", "model", "status", "output", "cost", "prompt"]
    if width < 100:
        columns.remove("model")
    if width < 70:
        columns = ["id", "status", "cost", "prompt"]
    if width < 50:
        columns = ["id", "status", "prompt"]
    table = Table(box=None, header_style="bold", pad_edge=False)
    specs: dict[str, dict[str, Any]] = {
        "id": {"no_wrap": True, "min_width": max(len(record.id) for record in records)},
        "when": {"no_wrap": True, "min_width": 16},
        "model": {"no_wrap": True, "max_width": 28},
        "status": {"no_wrap": True, "min_width": 11 if width >= 50 else 6},
        "output": {"justify": "right", "no_wrap": True, "min_width": 6},
        "cost": {"justify": "right", "no_wrap": True, "min_width": 7},
        "prompt": {"no_wrap": True, "overflow": "ellipsis", "max_width": 80, "min_width": 8},
    }
    for name in columns:
        table.add_column(name, **specs[name])
    colors = {
        "done": "green",
        "failed": "red",
        "interrupted": "yellow",
        "crashed": "red",
        "streaming": "cyan",
    }
    for record in records:
        state = record.state
        cells = {
            "id": record.id,
            "when": time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created_at)),
            "model": record.model,
            "status": f"[{colors.get(state, '')}]{state}[/]" if colors.get(state) else state,
            "output": f"{record.output_tokens:,}",
            "cost": "" if record.cost is None else f"${record.cost:.4f}",
            "prompt": ("↳ " if record.parent_id else "") + record.prompt,
        }
        table.add_row(*(cells[name] for name in columns))
    console.print(table)
    crashed = [record.id for record in records if record.state in ("crashed", "interrupted", "failed")]
    if crashed:
        console.print(f"[dim]continue one with: longcall resume {crashed[0]}[/]")
    return EXIT_OK
