"""`longcall logs`: the latest calls in the journal as a table (or JSON lines)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ._common import EXIT_FAILED, EXIT_OK, Formatter, fail, journal, positive

STATUS_CHOICES = ("streaming", "done", "failed", "interrupted", "crashed")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "logs",
        help="recent calls as a table",
        description="The latest calls in the journal, newest first.",
        epilog="examples:\n  longcall logs\n  longcall logs -n 50 --model claude-opus-4-6\n"
        "  longcall logs --status crashed       calls whose process died: resume them\n"
        "  longcall logs --search bicycle --json\n",
        formatter_class=Formatter,
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


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .._errors import JournalError

    try:
        records = journal().recent(args.limit, model=args.model, status=args.status, search=args.search)
    except JournalError as exc:
        fail(EXIT_FAILED, str(exc))
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
