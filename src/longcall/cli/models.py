"""`longcall models`: the models the API lists (or, offline, the cache and the bundled table), with
their limits and prices."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ._common import EXIT_OK, Formatter, _is_loopback, client

if TYPE_CHECKING:
    from .._catalog import ModelInfo


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "models",
        help="the models, with limits and prices",
        description="The models the Models API lists (GET /v1/models; cached beside the journal), or "
        "without a key or network the cache and longcall's bundled table: context window, largest "
        "output, whether prefill is accepted, thinking modes, lifecycle, and prices per million tokens "
        "(what the cost shown is computed from; LONGCALL_PRICES overrides them).",
        epilog="examples:\n  longcall models\n  longcall models --offline\n"
        "  longcall models --json | jq '.[].id'\n",
        formatter_class=Formatter,
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--offline", action="store_true", help="do not ask the API: the cache and the table")
    return parser


def _can_ask() -> bool:
    base_url = os.environ.get("ANTHROPIC_BASE_URL") or ""
    has_key = bool(os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"))
    return has_key or bool(base_url and _is_loopback(base_url))


def _listed(offline: bool) -> list[ModelInfo]:
    from .._models_api import list_models

    if offline or not _can_ask():
        return list_models(None)
    with client() as sdk:  # closed here: its pooled socket is not left to the garbage collector
        return list_models(sdk)


def rows(*, offline: bool = False) -> list[dict[str, Any]]:
    found = _listed(offline)
    return [
        {
            "id": row.id,
            "aliases": list(row.aliases),
            "context_window": row.context_window,
            "max_output": row.max_output,
            "accepts_prefill": row.accepts_prefill,
            "thinking": sorted(row.thinking_modes),
            "price_per_mtok": {"input": row.price.input, "output": row.price.output},
            "lifecycle": row.lifecycle,
            "retires_at": row.retires_at,
            "source": row.source,
        }
        for row in found
    ]


def run(args: argparse.Namespace) -> int:
    from .._models_api import models_table

    if args.json:
        sys.stdout.write(json.dumps(rows(offline=args.offline), indent=2) + "\n")
        return EXIT_OK
    sys.stdout.write(models_table(_listed(args.offline)) + "\n")
    return EXIT_OK
