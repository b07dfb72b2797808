"""What a broken long generation costs: resuming (prefill, instruction) against restarting from scratch.

    python bench/resume.py            # the README table (seconds)
    python bench/resume.py --quick    # a 2,000-token generation instead of 20,000

Against the emulator (`longcall.testing.Emulator`), a 20,000-token generation ("Write 20000 words
about ...", max_tokens=32000) behind a ~5,000-word document in the user message is cut at 90% of its
fault-free body bytes. For each way of going on: the output tokens generated a second time (the sum
of the output tokens sent over all requests, minus the document's), the input tokens of the requests
after the break, what the break cost in USD at the model's prices (`longcall.cost`; all requests
minus one fault-free request), and the time from the last text before the break to the first new
text after it (`on_text` times), measured against the emulator (which answers at once) and
estimated at a real model's output speed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import anthropic

import longcall
from longcall.testing import Emulator, Fault

MODEL = "claude-sonnet-4-5"  # accepts prefill in the emulator (and the API); Sonnet 4.6 does not
TOKENS_PER_SECOND = 60  # a typical Sonnet output speed, for the estimated column
BREAK_AT = 0.9

warnings.filterwarnings("ignore", message=r"The model .* is deprecated")


@dataclass
class Outcome:
    label: str
    cache_resume: str
    requests: int
    regenerated: int  # output tokens sent twice
    input_tokens: int  # of the requests after the break: uncached input
    cache_write: int
    cache_read: int
    extra_cost: float  # USD, all requests minus one fault-free request
    seconds: float  # break -> first new text, against the emulator
    note: str = ""


def _report_text(words: int, seed: int = 7) -> str:
    """A document pasted into the prompt: `words` words, no digits (the emulator reads "N words")."""
    rng = random.Random(seed)
    vocabulary = (
        "revenue quarter market the growth team shipped customers in region costs and product risk of"
    )
    vocabulary += " plan north south review"
    words_list = vocabulary.split()
    sentences = []
    count = 0
    while count < words:
        size = min(rng.randint(8, 20), words - count)
        sentences.append(" ".join(rng.choice(words_list) for _ in range(size)).capitalize() + ".")
        count += size
    return " ".join(sentences)


def _params(tokens: int, prompt_words: int) -> dict[str, Any]:
    prompt = f"{_report_text(prompt_words)}\n\nWrite {tokens} words about the report above."
    return {"model": MODEL, "max_tokens": 32000, "messages": [{"role": "user", "content": prompt}]}


@dataclass
class Setup:
    """The request, the emulator and the fault-free reference every case is compared with."""

    emu: Emulator
    client: anthropic.Anthropic
    params: dict[str, Any]
    expected: str  # the fault-free text
    document_tokens: int
    baseline: float  # USD of one fault-free request

    def account(self, label: str, cache: str, seconds: float) -> Outcome:
        records = [r for r in self.emu.requests if r.path == "/v1/messages"]
        usages = [
            {**(r.usage or {}), "output_tokens": r.output_tokens_sent} for r in records
        ]  # sent, not planned
        after = usages[1:]
        return Outcome(
            label=label,
            cache_resume=cache,
            requests=len(records),
            regenerated=sum(u["output_tokens"] for u in usages) - self.document_tokens,
            input_tokens=sum(u.get("input_tokens", 0) for u in after),
            cache_write=sum(u.get("cache_creation_input_tokens", 0) for u in after),
            cache_read=sum(u.get("cache_read_input_tokens", 0) for u in after),
            extra_cost=sum(longcall.cost(u, MODEL) for u in usages) - self.baseline,
            seconds=seconds,
        )


def resumed(setup: Setup, label: str, policy: longcall.Policy, faults: list[Fault]) -> Outcome:
    """One call through longcall; the emulator's requests take `faults` in turn."""
    setup.emu.reset()
    setup.emu.add_faults(*faults)
    marks: list[tuple[str, float]] = []
    wrapped = longcall.wrap(
        setup.client,
        journal=None,
        policy=policy,
        on_text=lambda _: marks.append(("text", time.monotonic())),
        on_attempt=lambda _: marks.append(("attempt", time.monotonic())),
    )
    message = wrapped.messages.create(**setup.params)
    text = "".join(block.text for block in message.content if block.type == "text")
    if text != setup.expected:
        raise SystemExit(f"{label}: the resumed text differs from the fault-free document")
    strategies = {a.strategy for a in message.attempts if a.strategy}
    if strategies != {policy.strategy}:
        raise SystemExit(f"{label}: expected the {policy.strategy} strategy, longcall used {strategies}")
    # From the last text before each break to the first text after it (the last attempt is no break).
    breaks = [i for i, (kind, _) in enumerate(marks) if kind == "attempt"][:-1]
    waits = [
        next(t for kind, t in marks[i:] if kind == "text") - max(t for kind, t in marks[:i] if kind == "text")
        for i in breaks
    ]
    outcome = setup.account(label, "on" if policy.cache_resume else "off", sum(waits) / len(waits))
    overlap = "".join(a.removed_overlap for a in message.attempts)
    if overlap:
        outcome.note = f"longcall removed the {len(overlap.split())} repeated words"
    return outcome


def restarted(setup: Setup, drop: int) -> Outcome:
    """No longcall: the SDK stream breaks, the same request is sent again and read to the end."""
    setup.emu.reset()
    setup.emu.add_faults(Fault(drop_after_bytes=drop))
    received = 0
    last_before = 0.0
    try:
        for event in setup.client.messages.create(**setup.params, stream=True):
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                received += len(event.delta.text)
                last_before = time.monotonic()
    except Exception:  # noqa: BLE001 - whatever the broken connection raises, the caller starts over
        pass
    parts: list[str] = []
    length = 0
    first_new: float | None = None
    for event in setup.client.messages.create(**setup.params, stream=True):
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            parts.append(event.delta.text)
            length += len(event.delta.text)
            if first_new is None and length > received:
                first_new = time.monotonic()
    if "".join(parts) != setup.expected or first_new is None:
        raise SystemExit("restart from scratch: the text differs from the fault-free document")
    return setup.account("restart from scratch (SDK, the same request again)", "–", first_new - last_before)


def _tokens(value: int) -> str:
    return f"{value:,}"


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def run(args: argparse.Namespace) -> int:
    tokens = 2_000 if args.quick else 20_000
    prompt_words = 500 if args.quick else 5_000
    params = _params(tokens, prompt_words)
    with Emulator() as emu:
        client = anthropic.Anthropic(base_url=emu.url, api_key="bench", max_retries=0)
        fault_free = longcall.wrap(client, journal=None).messages.create(**params)
        body = fault_free.attempts[0].bytes_received
        usage = fault_free.usage
        setup = Setup(
            emu, client, params, emu.document(params), usage.output_tokens, longcall.cost(usage, MODEL)
        )
        drop = Fault(drop_after_bytes=int(body * BREAK_AT))
        outcomes = [restarted(setup, int(body * BREAK_AT))]
        for strategy in ("prefill", "instruction"):
            for cache in (False, True):
                policy = longcall.Policy(strategy=strategy, cache_resume=cache)
                outcomes.append(resumed(setup, f"longcall, {strategy}", policy, [drop]))
        outcomes.append(
            resumed(
                setup,
                "longcall, instruction; the model repeats its last 3 words",
                longcall.Policy(strategy="instruction", cache_resume=True),
                [drop, Fault(overlap="repeat_words")],
            )
        )
        # Two breaks, at about 45% and 90%: the second resume is where a cached prompt is read back.
        half = Fault(drop_after_bytes=int(body * 0.45))
        for cache in (False, True):
            policy = longcall.Policy(strategy="prefill", cache_resume=cache)
            outcomes.append(
                resumed(setup, "longcall, prefill; two breaks (~45%, ~90%)", policy, [half, half])
            )
    print(_report(outcomes, usage.input_tokens, setup, body, args))
    return 0


def _report(
    outcomes: list[Outcome], prompt_tokens: int, setup: Setup, body: int, args: argparse.Namespace
) -> str:
    command = "python bench/resume.py" + (" --quick" if args.quick else "")
    out = [
        f"`{command}` — {MODEL} prices (longcall.cost), emulator, longcall {longcall.__version__}. "
        f"A {setup.document_tokens:,}-token answer to a {prompt_tokens:,}-token prompt ({body:,} body bytes; "
        f"fault-free cost ${setup.baseline:.4f}), cut at {BREAK_AT:.0%} of its bytes.",
        "",
        "| how it goes on | cache_resume | requests | output tokens generated again | input tokens after the "
        "break (uncached / cache write / cache read) | extra cost (USD) | break → first new token: emulator "
        f"| at {TOKENS_PER_SECOND} tokens/s (est.) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        estimate = o.seconds + o.regenerated / TOKENS_PER_SECOND
        label = o.label + (f" ({o.note})" if o.note else "")
        out.append(
            f"| {label} | {o.cache_resume} | {o.requests} | {_tokens(o.regenerated)} | "
            f"{_tokens(o.input_tokens)} / {_tokens(o.cache_write)} / {_tokens(o.cache_read)} | "
            f"${o.extra_cost:.4f} | {_seconds(o.seconds)} | {_seconds(estimate)} |"
        )
    out.append("")
    out.append(
        f"Estimated column: the measured time plus the tokens generated again at {TOKENS_PER_SECOND} "
        "tokens/s; "
        "a real API adds its time to first token to every row (longer for a resume, whose prompt holds the "
        "received text)."
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--quick", action="store_true", help="a 2,000-token generation: a smoke test")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
