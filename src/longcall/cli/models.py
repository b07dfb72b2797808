"""`longcall models`: the models longcall knows, with their limits and prices."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._common import EXIT_OK, Formatter


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "models",
        help="the models, with limits and prices",
        description="The models longcall knows: context window, largest output, whether prefill is "
        "accepted, thinking modes, and prices per million tokens (what the cost shown is computed from; "
        "LONGCALL_PRICES overrides them).",
        epilog="examples:\n  longcall models\n  longcall models --json | jq '.[].id'\n",
        formatter_class=Formatter,
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def rows() -> list[dict[str, Any]]:
    from .._catalog import catalog_rows

    return [
        {
            "id": row.id,
            "aliases": list(row.aliases),
            "context_window": row.context_window,
            "max_output": row.max_output,
            "accepts_prefill": row.accepts_prefill,
            "thinking": sorted(row.thinking_modes),
            "price_per_mtok": {"input": row.price.input, "output": row.price.output},
        }
        for row in catalog_rows()
    ]


def run(args: argparse.Namespace) -> int:
    found = rows()
    if args.json:
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name, options in (
        ("model", {"no_wrap": True}),
        ("context", {"justify": "right"}),
        ("max output", {"justify": "right"}),
        ("prefill", {}),
        ("thinking", {}),
        ("$ in / out", {"justify": "right", "no_wrap": True}),
    ):
        table.add_column(name, **options)
    for row in found:
        price = row["price_per_mtok"]
        table.add_row(
            row["id"],
            f"{row['context_window']:,}",
            f"{row['max_output']:,}",
            "yes" if row["accepts_prefill"] else "no",
            ", ".join(row["thinking"]) or "no",
            f"{price['input']:g} / {price['output']:g}",
        )
    console.print(table)
    return EXIT_OK
