"""A long generation, printed as it arrives, that survives a dropped connection.

With ANTHROPIC_API_KEY set this talks to the real API. Without it, it starts longcall's local
emulator of the Messages API and drops the connection halfway, so you can watch the resume:
no API key and no network needed.

    python examples/quickstart.py
"""

from __future__ import annotations

import os
import sys
import time

import anthropic

import longcall
from longcall.testing import Emulator, Fault

PROMPT = "Write 6000 words: a field guide to the lighthouses of an imaginary coast."


def main() -> int:
    emulator = None
    if os.environ.get("ANTHROPIC_API_KEY"):
        client = anthropic.Anthropic()
        model = os.environ.get("LONGCALL_MODEL", "claude-sonnet-4-6")
        print(f"Using the Anthropic API with {model}.", file=sys.stderr)
    else:
        emulator = Emulator().start()
        client = anthropic.Anthropic(base_url=emulator.url, api_key="no-key-needed")
        model = "claude-sonnet-4-6"
        emulator.add_faults(Fault(drop_after_bytes=400_000, tokens_per_second=4000))
        print(
            f"No ANTHROPIC_API_KEY: using longcall's emulator at {emulator.url};"
            " the connection will drop halfway.\n",
            file=sys.stderr,
        )

    # The one-line migration: wrap the client you have; keep calling it as before.
    client = longcall.wrap(client, journal=None)
    started = time.monotonic()
    message = client.messages.create(
        model=model,
        max_tokens=64000,  # the plain SDK refuses this without streaming
        messages=[{"role": "user", "content": PROMPT}],
        on_text=lambda text: print(text, end="", flush=True),
    )
    print("\n")
    for attempt in message.attempts:
        outcome = attempt.error or f"finished ({attempt.stop_reason})"
        print(
            f"request {attempt.number} [{attempt.kind}{', ' + attempt.strategy if attempt.strategy else ''}]:"
            f" {attempt.bytes_received:,} bytes, {outcome}",
            file=sys.stderr,
        )
    usage = message.usage
    label = "cost" if emulator is None else "at API prices this would cost"
    cost = f"{label} ${longcall.cost(usage, model):.4f}"
    print(
        f"{len(message.content[0].text):,} characters, {usage.output_tokens:,} output tokens in "
        f"{time.monotonic() - started:.1f} s; stop reason {message.stop_reason}; " + cost,
        file=sys.stderr,
    )
    if emulator is not None:
        intact = message.content[0].text == emulator.document(
            {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
        )
        print("Text identical to an unbroken generation: " + ("yes" if intact else "NO"), file=sys.stderr)
        emulator.close()
        return 0 if intact else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
