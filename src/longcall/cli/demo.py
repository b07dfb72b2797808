"""`longcall demo`: a long generation from the embedded emulator, a dropped connection, a resume."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from . import _generation
from ._common import EXIT_FAILED, EXIT_OK, Formatter, positive, say
from .emulate import apply_faults, rate

_DEMO_PROMPT = (
    "Write {words} words: the log of a lighthouse keeper on a distant island, one season of "
    "weather, ships and letters."
)
# Bytes per generated token on the wire, roughly: a content_block_delta event around one word.
_DEMO_BYTES_PER_TOKEN = 104


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="a long generation on the embedded emulator, with a dropped connection and a resume",
        description="Watch longcall at work without an API key or network: a long generation from "
        "the embedded emulator, whose connection is dropped about halfway; longcall "
        "resumes it, and the result is checked against the emulator's document.",
        epilog="examples:\n  longcall demo\n  longcall demo --words 5000 --speed 500\n",
        formatter_class=Formatter,
    )
    parser.add_argument("--words", type=positive, default=1500, help="the length to generate (default: 1500)")
    parser.add_argument(
        "--speed",
        type=rate,
        default=250.0,
        metavar="TPS",
        help="tokens per second the emulator writes (default: 250)",
    )
    parser.add_argument("--plain", action="store_true", help="show the text as it is, without Markdown")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parser


def run(args: argparse.Namespace) -> int:
    import anthropic

    from .. import wrap
    from .._policy import Policy
    from ..display import seam_note
    from ..testing import Emulator

    args.json, args.output, args.verbose = False, None, True  # the demo shows the seam
    params: dict[str, Any] = {
        "model": "claude-emulator",
        "max_tokens": 128_000,
        "messages": [{"role": "user", "content": _DEMO_PROMPT.format(words=args.words)}],
    }
    drop_at = max(400, args.words * _DEMO_BYTES_PER_TOKEN // 2)
    faults = argparse.Namespace(
        tokens_per_second=args.speed, drop_after_bytes=drop_at, error_after_events=None, once=True, every=None
    )
    with Emulator() as emulator, contextlib.ExitStack() as stack:
        apply_faults(
            emulator, faults
        )  # as `longcall emulate --tokens-per-second S --drop-after-bytes N --once`
        sdk = stack.enter_context(anthropic.Anthropic(base_url=emulator.url, api_key="demo"))
        view = _generation.make_view(
            args, model=params["model"], max_tokens=params["max_tokens"], budget=None
        )
        view.journaled = False
        view.host = emulator.url.removeprefix("http://")
        view.print_note(
            f"demo: {args.words:,} words from the local emulator at {emulator.url} (no API "
            "key, no network). It drops the connection about halfway: watch the status line.",
            style="bold",
        )
        wrapped = wrap(
            sdk, policy=Policy(continue_on_max_tokens=True), journal=None, observers=[view], **view.hooks()
        )
        code = _generation.run(args, view, lambda: wrapped.messages.create(**params))
        if code != EXIT_OK:
            return code
        expected = emulator.document(params)
    text = _generation.partial_text(view)
    attempts = view.attempts
    broken = [attempt for attempt in attempts if attempt.error]
    if text != expected:
        say(
            f"demo: the text differs from the emulator's document ({len(text):,} vs {len(expected):,} "
            "characters); please report this."
        )
        return EXIT_FAILED
    if broken:
        first = broken[0]
        following = attempts[first.number] if first.number < len(attempts) else first
        how = seam_note(first, following).split(" · ", 1)[-1]
        view.print_note(
            f"The connection was dropped at byte {first.bytes_received:,} of the answer and the call was "
            f"{how.replace('resumed', 'resumed from the text received,')}. The result is {len(text):,} "
            "characters, identical to the emulator's document: no text lost, none repeated.",
            style="bold green",
        )
    else:
        view.print_note(
            f"Done: {len(text):,} characters, identical to the emulator's document.", style="bold green"
        )
    return EXIT_OK
