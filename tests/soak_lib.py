"""The fault soak: many generations through the emulator with random faults, each checked exactly.

Shared by the CI test (`tests/integration/test_soak.py`) and the long run (`bench/soak.py`), so the two
cannot drift apart. Everything random comes from one seed; case N draws from `Random(f"{seed}/{N}")`,
so one failing case replays alone (`LONGCALL_SOAK_SEED=S LONGCALL_SOAK_CASE=N`, or
`bench/soak.py --seed S --case N`).

Each case is one call: a surface (`create`, `messages.stream()`, `create(stream=True)`), a driver
(sync in a thread, or asyncio), a model that accepts prefill or one that refuses it, a text (an
English document, Chinese, or text with long unbroken tokens: URLs, base64, code), with or without
continuation past `max_tokens`, and 0-4 faults queued for its requests. Every concurrent worker owns
one emulator, so the emulator's FIFO fault queue belongs to one call at a time and each request's
record pairs with one attempt.

What is checked, per call (a `Problem` for each that does not hold):
- content: the text (of the message, of the live `on_text` / `text_stream` pieces, of the raw events)
  is exactly the fault-free text: the emulator's `document()`, or its first `max_tokens` tokens;
  a call capped by `max_tokens` that broke may end earlier (the budget paid for what was generated
  twice) but its text is still the exact beginning of the fault-free text, and the server generated
  exactly `max_tokens` output tokens over all its requests (never more: issue 9);
- stop_reason: the fault-free one;
- usage: `usage.output_tokens` equals what the server generated, summed over the requests (the
  emulator's own count of the token deltas it wrote; the rule of issue 9);
- protocol (stream=True): message_start first, message_stop last, one of each; blocks started at
  consecutive indices, each started and stopped once, no delta outside its block, one message_delta
  after the last block stopped;
- journal: the journaled call is `done` with the same text, and the file passes `integrity_check`;
- the call did not raise.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import itertools
import os
import queue
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2

import longcall
from longcall.testing import Emulator, Fault, Script
from longcall.testing._model import document_for

PREFILL_MODEL = "claude-haiku-4-5"  # accepts prefill
INSTRUCTION_MODEL = "claude-opus-4-6"  # refuses prefill: continue by instruction
SURFACES = ("create", "stream", "raw")  # create(), messages.stream(), create(stream=True)
TEXTS = ("english", "chinese", "unbroken")
RETRIED_ERROR_EVENTS = ("overloaded_error", "api_error", "rate_limit_error", "timeout_error")
IDLE_TIMEOUT = 0.5  # short, so a stall costs half a second
# A stall outlasts the idle timeout by far; the emulator's handler waits it out (or until close), so
# it writes nothing after the client gave up and its token count stays what the client could see.
STALL_SECONDS = 60.0
API_KEY = "sk-ant-soak-not-a-secret"
SUPPORTS_RESET = "reset_after_bytes" in {f.name for f in dataclasses.fields(Fault)}

_TOPICS = ("lighthouses", "rivers", "bridges", "markets", "gardens", "winter", "harbors", "maps")
_HAN = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种"
    "面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本"
    "去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比"
)
_URL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_/"
_B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


# -- cases ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One call of the soak, fully determined by (seed, number)."""

    seed: int
    number: int
    surface: str
    driver: str  # "sync" or "async"
    model: str
    text: str  # "english", "chinese" or "unbroken"
    segments: str  # "single" (ends by itself), "continue" (past max_tokens), "cap" (stops at max_tokens)
    words: int
    max_tokens: int
    overlap: str  # how the emulator overlaps a "Continue" reply
    fault_plan: tuple[tuple[str, float, float], ...]  # (kind, position 0..1, extra)

    @property
    def prompt(self) -> str:
        topic = _TOPICS[self.number % len(_TOPICS)]
        if self.text == "english":
            return f"Soak {self.seed}/{self.number}: write {self.words} words about {topic}"
        return f"Soak {self.seed}/{self.number}: {self.text} text about {topic}"

    def params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": self.prompt}],
        }

    def policy(self) -> longcall.Policy:
        return longcall.Policy(
            max_attempts=60,
            backoff_initial=0.005,
            backoff_max=0.02,
            idle_timeout=IDLE_TIMEOUT,
            connect_timeout=5.0,
            continue_on_max_tokens=self.segments == "continue",
        )

    def replay_command(self) -> str:
        return f"LONGCALL_SOAK_SEED={self.seed} LONGCALL_SOAK_CASE={self.number}"

    def describe(self) -> str:
        faults = ", ".join(kind for kind, _, _ in self.fault_plan) or "no fault"
        return (
            f"case {self.seed}/{self.number}: {self.surface} ({self.driver}), {self.model}, {self.text}, "
            f"{self.segments} (max_tokens={self.max_tokens}, overlap={self.overlap}), faults: {faults}"
        )


FAULT_KINDS = (
    "drop",
    "reset",
    "error_event",
    "burst_429",
    "burst_529",
    "http_500",
    "stall",
    "slow",
    "slow_drop",
)


def draw_case(seed: int, number: int, *, driver: str | None = None) -> Case:
    rng = random.Random(f"{seed}/{number}")
    text = rng.choices(TEXTS, weights=(6, 2, 2))[0]
    segments = "single"
    if text == "english":
        segments = rng.choices(("single", "continue", "cap"), weights=(5, 3, 2))[0]
    words = rng.randint(150, 700)
    max_tokens = 8000
    if segments == "continue":
        max_tokens = rng.randint(80, 260)
    elif segments == "cap":
        max_tokens = rng.randint(60, words - 40)
    count = rng.choices((0, 1, 2, 3, 4), weights=(1, 2, 3, 3, 2))[0]
    kinds = [k for k in FAULT_KINDS if SUPPORTS_RESET or k != "reset"]
    plan = []
    for _ in range(count):
        kind = rng.choice(kinds)
        extra = float(rng.randint(1, 3)) if kind.startswith("burst") else rng.random()
        plan.append((kind, rng.random(), extra))
    return Case(
        seed=seed,
        number=number,
        surface=rng.choice(SURFACES),
        driver=driver or rng.choice(("sync", "async")),
        model=rng.choice((PREFILL_MODEL, INSTRUCTION_MODEL)),
        text=text,
        segments=segments,
        words=words,
        max_tokens=max_tokens,
        overlap=rng.choice(("none", "repeat_words", "restart_sentence")),
        fault_plan=tuple(plan),
    )


def scripted_text(case: Case) -> str:
    """The Chinese or long-unbroken-token text a scripted case answers with (deterministic)."""
    rng = random.Random(f"text/{case.seed}/{case.number}")
    parts: list[str] = []
    if case.text == "chinese":
        for _ in range(rng.randint(3, 8)):  # paragraphs
            sentences = []
            for _ in range(rng.randint(2, 6)):
                body = "".join(rng.choice(_HAN) for _ in range(rng.randint(8, 40)))
                cut = rng.randint(1, len(body) - 1)
                sentences.append(body[:cut] + "，" + body[cut:] + "。")
            # within a paragraph sentences follow with no space, or on a new line
            parts.append("".join(s + ("\n" if rng.random() < 0.4 else "") for s in sentences).rstrip("\n"))
        return "\n\n".join(parts)
    from longcall.testing._document import VOCABULARY

    for _ in range(rng.randint(20, 60)):
        roll = rng.random()
        if roll < 0.1:
            parts.append(
                "https://example.com/" + "".join(rng.choice(_URL_CHARS) for _ in range(rng.randint(80, 1500)))
            )
        elif roll < 0.18:
            parts.append("".join(rng.choice(_B64_CHARS) for _ in range(rng.randint(200, 3000))) + "==")
        elif roll < 0.25:
            parts.append("x_" + "+".join(f"f{i}(a[{i}],b)" for i in range(rng.randint(20, 200))) + ";")
        else:
            parts.append(rng.choice(VOCABULARY))
        parts.append(rng.choice((" ", " ", " ", "\n", ", ")))
    return "".join(parts).rstrip() + "."


def expected_text(case: Case, emulator: Emulator) -> str:
    if case.text != "english":
        return scripted_text(case)
    if case.segments == "cap":
        document = document_for(case.model, None, case.params()["messages"])
        return "".join(document.tokens[: case.max_tokens])
    return emulator.document(case.params())


def expected_stop_reason(case: Case) -> str:
    return "max_tokens" if case.segments == "cap" else "end_turn"


def _faults(case: Case, size: int, events: int) -> tuple[list[Fault], list[str]]:
    """The faults for the call's requests, in order, and the kind of each (one per request)."""
    faults: list[Fault] = []
    kinds: list[str] = []
    for kind, position, extra in case.fault_plan:
        offset = 1 + int(position * (size - 2))
        event = int(position * events)
        if kind == "drop":
            faults.append(Fault(drop_after_bytes=offset))
        elif kind == "reset":
            faults.append(Fault(reset_after_bytes=offset))  # type: ignore[call-arg]
        elif kind == "error_event":
            error_type = RETRIED_ERROR_EVENTS[int(extra * len(RETRIED_ERROR_EVENTS))]
            faults.append(Fault(error_after_events=event, error_type=error_type))
            kind = f"error_event:{error_type}"
        elif kind.startswith("burst_"):
            status = int(kind.removeprefix("burst_"))
            for i in range(int(extra)):
                faults.append(Fault(status=status, retry_after=0 if i % 2 else None))
                kinds.append(f"http_{status}")
            continue
        elif kind == "http_500":
            faults.append(Fault(status=500))
        elif kind == "stall":
            faults.append(Fault(stall_after_events=max(1, event), stall_seconds=STALL_SECONDS))
        elif kind == "slow":
            faults.append(Fault(tokens_per_second=500 + 3000 * extra))
        elif kind == "slow_drop":
            faults.append(Fault(tokens_per_second=500 + 3000 * extra, drop_after_bytes=offset))
        kinds.append(kind)
    return faults, kinds


# -- outcomes ---------------------------------------------------------------------------------------


@dataclass
class Problem:
    check: str  # content, stop_reason, usage, protocol, journal, raised
    detail: str


@dataclass
class Outcome:
    case: Case
    faults: list[Fault] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fired: Counter[str] = field(default_factory=Counter)
    unmatched_errors: int = 0  # attempts that failed without a fault of ours (a slow machine's stall)
    chars_lost: int = 0
    chars_duplicated: int = 0
    chars_expected: int = 0
    chars_short: int = 0  # a capped call's text ending early, its budget spent on regeneration
    usage_expected: int = 0
    usage_got: int | None = None
    attempts: int = 0
    seconds: float = 0.0

    @property
    def survived(self) -> bool:
        return not any(problem.check == "raised" for problem in self.problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        lines = [self.case.describe(), f"  replay: {self.case.replay_command()}"]
        lines.append("  faults queued: " + (", ".join(_fault_repr(f) for f in self.faults) or "none"))
        lines += [f"  {problem.check}: {problem.detail}" for problem in self.problems]
        return "\n".join(lines)


def _fault_repr(fault: Fault) -> str:
    fields = {f.name: getattr(fault, f.name) for f in dataclasses.fields(fault)}
    defaults = {f.name: f.default for f in dataclasses.fields(fault)}
    return "Fault(" + ", ".join(f"{k}={v!r}" for k, v in fields.items() if v != defaults[k]) + ")"


def text_difference(expected: str, got: str) -> tuple[int, int, str]:
    """(characters lost, characters added, a short description of the first difference)."""
    if expected == got:
        return 0, 0, ""
    at = next(
        (i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
        min(len(expected), len(got)),
    )
    where = (
        f"first difference at character {at} of {len(expected)} (got {len(got)}): "
        f"expected {expected[max(0, at - 20) : at + 40]!r}, got {got[max(0, at - 20) : at + 40]!r}"
    )
    lost = added = 0
    matcher = difflib.SequenceMatcher(None, expected, got, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("delete", "replace"):
            lost += i2 - i1
        if tag in ("insert", "replace"):
            added += j2 - j1
    return lost, added, where


def protocol_problems(events: list[Any]) -> list[str]:
    """What breaks the Messages API's event protocol in a `create(stream=True)` event list."""
    problems: list[str] = []
    kinds = [event.type for event in events]
    if not kinds:
        return ["no events"]
    if kinds[0] != "message_start":
        problems.append(f"the first event is {kinds[0]}, not message_start")
    if kinds[-1] != "message_stop":
        problems.append(f"the last event is {kinds[-1]}, not message_stop")
    for name in ("message_start", "message_stop", "message_delta"):
        if kinds.count(name) != 1:
            problems.append(f"{kinds.count(name)} {name} events, not 1")
    started: list[int] = []
    open_blocks: set[int] = set()
    stopped: set[int] = set()
    for position, event in enumerate(events):
        kind = event.type
        index = getattr(event, "index", None)
        if kind == "content_block_start":
            if index in started:
                problems.append(f"event {position}: a second content_block_start for index {index}")
            elif index != len(started):
                problems.append(
                    f"event {position}: content_block_start index {index}, expected {len(started)}"
                )
            started.append(index)
            open_blocks.add(index)
        elif kind == "content_block_delta":
            if index not in open_blocks:
                state = (
                    "after its content_block_stop" if index in stopped else "before its content_block_start"
                )
                problems.append(f"event {position}: a delta for index {index} {state}")
        elif kind == "content_block_stop":
            if index not in open_blocks:
                problems.append(f"event {position}: content_block_stop for index {index} that is not open")
            open_blocks.discard(index)
            stopped.add(index)
        elif kind == "message_delta" and open_blocks:
            problems.append(f"event {position}: message_delta while blocks {sorted(open_blocks)} are open")
        if len(problems) >= 5:
            break
    if open_blocks and len(problems) < 5:
        problems.append(f"blocks {sorted(open_blocks)} never stopped")
    return problems


def events_text(events: list[Any]) -> str:
    """The text the raw events spell, as a consumer accumulating them would get it."""
    return "".join(
        event.delta.text
        for event in events
        if event.type == "content_block_delta" and getattr(event.delta, "type", None) == "text_delta"
    )


def message_text(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


# -- one call ---------------------------------------------------------------------------------------


class Slot:
    """One worker's emulator, journal and clients: calls through it run one at a time."""

    def __init__(self, folder: Path, name: str) -> None:
        self.emulator = Emulator().start()
        self.journal_path = folder / f"{name}.db"
        self.journal = longcall.Journal(self.journal_path)  # the calls' journal, read back after each
        self.sync_client = longcall.wrap(
            anthropic.Anthropic(base_url=self.emulator.url, api_key=API_KEY, max_retries=0),
            journal=self.journal,
        )
        self._http = httpx2.Client(timeout=30)

    def close(self) -> None:
        self.journal.close()
        self._http.close()
        self.sync_client.unwrapped.close()
        self.emulator.close()

    def prepare(self, case: Case) -> tuple[list[Fault], list[str]]:
        """Reset the emulator for `case`, measure its fault-free first response, queue its faults."""
        emulator = self.emulator
        emulator.reset()
        emulator.continuation_overlap = case.overlap  # type: ignore[assignment]
        if case.text != "english":
            emulator.script(case.prompt, Script(content=[{"type": "text", "text": scripted_text(case)}]))
        body = self._http.post(
            f"{emulator.url}/v1/messages",
            json={**case.params(), "stream": True},
            headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
        ).content
        faults, kinds = _faults(case, len(body), body.count(b"\n\n"))
        emulator.add_faults(*faults)
        return faults, kinds


def _check(
    case: Case,
    slot: Slot,
    outcome: Outcome,
    kinds: list[str],
    message: Any,
    error: BaseException | None,
    views: dict[str, str],
    events: list[Any] | None,
) -> None:
    emulator = slot.emulator
    records = [r for r in emulator.requests if r.method == "POST" and r.path == "/v1/messages"][1:]
    attempts = list(message.attempts if message is not None else getattr(error, "attempts", None) or [])
    outcome.attempts = len(attempts)
    for number, attempt in enumerate(attempts):
        kind = kinds[number] if number < len(kinds) else None
        if kind is not None and (attempt.error is not None or kind == "slow"):
            outcome.fired[kind] += 1
        elif attempt.error is not None:
            outcome.unmatched_errors += 1
    outcome.usage_expected = sum(record.output_tokens_sent for record in records)
    if len(records) != len(attempts):
        outcome.problems.append(
            Problem(
                "usage",
                f"the emulator saw {len(records)} requests, the call recorded {len(attempts)} attempts",
            )
        )
    if error is not None:
        outcome.problems.append(Problem("raised", f"{type(error).__name__}: {error}"))
        partial = getattr(error, "partial", None)
        got = message_text(partial) if partial is not None else ""
        expected = expected_text(case, emulator)
        outcome.chars_expected = len(expected)
        outcome.chars_lost, outcome.chars_duplicated, _ = text_difference(expected, got)
        return
    expected = expected_text(case, emulator)
    outcome.chars_expected = len(expected)
    for view, got in views.items():
        if case.segments == "cap" and expected.startswith(got):
            # Stopped at max_tokens after a break: the budget paid for what was generated twice (the
            # whitespace stripped from a prefill, words repeated by instruction), so the text may end
            # earlier than the fault-free one; it must still be its exact beginning.
            if view == "message":
                outcome.chars_short = len(expected) - len(got)
            continue
        lost, added, where = text_difference(expected, got)
        if where:
            outcome.problems.append(
                Problem("content", f"{view}: {lost} characters lost, {added} added; {where}")
            )
            if view == "message":
                outcome.chars_lost, outcome.chars_duplicated = lost, added
    if message.stop_reason != expected_stop_reason(case):
        outcome.problems.append(
            Problem("stop_reason", f"expected {expected_stop_reason(case)!r}, got {message.stop_reason!r}")
        )
    text_blocks = [block for block in message.content if block.type == "text"]
    if len(text_blocks) != 1 or len(message.content) != 1:
        outcome.problems.append(
            Problem("content", f"expected one text block, got {[block.type for block in message.content]}")
        )
    outcome.usage_got = message.usage.output_tokens
    if case.segments == "cap" and outcome.usage_expected != case.max_tokens and not outcome.unmatched_errors:
        outcome.problems.append(
            Problem(
                "budget",
                f"max_tokens={case.max_tokens}, but the server generated {outcome.usage_expected} "
                f"output tokens over {len(records)} requests",
            )
        )
    if outcome.usage_got != outcome.usage_expected and not outcome.unmatched_errors:
        per_attempt = [
            (a.usage.get("output_tokens"), r.output_tokens_sent)
            for a, r in zip(attempts, records, strict=False)
        ]
        outcome.problems.append(
            Problem(
                "usage",
                f"output_tokens {outcome.usage_got}, the server generated {outcome.usage_expected}; "
                f"per attempt (reported, generated): {per_attempt}",
            )
        )
    if events is not None:
        for problem in protocol_problems(events):
            outcome.problems.append(Problem("protocol", problem))
    flush = getattr(slot.journal, "flush", None)
    if flush is not None:  # the journal writes from its own thread: wait for this call's writes
        flush(10)
    record = slot.journal.get(message.call_id) if message.call_id else None
    if record is None:
        outcome.problems.append(Problem("journal", f"call {message.call_id} is not in the journal"))
    elif record.status != "done" or record.text != views["message"]:
        outcome.problems.append(
            Problem(
                "journal",
                f"journaled as {record.status} with {len(record.text)} characters; "
                f"the call returned {len(views['message'])}",
            )
        )


def run_sync_case(case: Case, slot: Slot) -> Outcome:
    outcome = Outcome(case)
    outcome.faults, kinds = slot.prepare(case)
    client = slot.sync_client
    started = time.monotonic()
    live: list[str] = []
    views: dict[str, str] = {}
    events: list[Any] | None = None
    message: Any = None
    error: BaseException | None = None
    params = {**case.params(), "longcall_policy": case.policy()}
    try:
        if case.surface == "create":
            message = client.messages.create(**params, on_text=live.append)
            views["on_text"] = "".join(live)
        elif case.surface == "stream":
            with client.messages.stream(**params) as stream:
                views["text_stream"] = "".join(stream.text_stream)
                message = stream.get_final_message()
        else:
            raw = client.messages.create(stream=True, **params)
            events = list(raw)
            message = raw.message
            views["events"] = events_text(events)
        views["message"] = message_text(message)
    except Exception as exc:  # noqa: BLE001 - a failed call is an outcome to report
        error = exc
    outcome.seconds = time.monotonic() - started
    _check(case, slot, outcome, kinds, message, error, views, events)
    return outcome


async def run_async_case(case: Case, slot: Slot, client: Any) -> Outcome:
    outcome = Outcome(case)
    outcome.faults, kinds = await asyncio.to_thread(slot.prepare, case)
    started = time.monotonic()
    live: list[str] = []
    views: dict[str, str] = {}
    events: list[Any] | None = None
    message: Any = None
    error: BaseException | None = None
    params = {**case.params(), "longcall_policy": case.policy()}
    try:
        if case.surface == "create":
            message = await client.messages.create(**params, on_text=live.append)
            views["on_text"] = "".join(live)
        elif case.surface == "stream":
            async with client.messages.stream(**params) as stream:
                views["text_stream"] = "".join([piece async for piece in stream.text_stream])
                message = await stream.get_final_message()
        else:
            raw = await client.messages.create(stream=True, **params)
            events = [event async for event in raw]
            message = raw.message
            views["events"] = events_text(events)
        views["message"] = message_text(message)
    except Exception as exc:  # noqa: BLE001 - a failed call is an outcome to report
        error = exc
    outcome.seconds = time.monotonic() - started
    await asyncio.to_thread(_check, case, slot, outcome, kinds, message, error, views, events)
    return outcome


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class Totals:
    seed: int
    calls: int = 0
    survived: int = 0
    exact: int = 0  # every check held
    faults_fired: Counter[str] = field(default_factory=Counter)
    unmatched_errors: int = 0
    chars_expected: int = 0
    chars_lost: int = 0
    chars_duplicated: int = 0
    chars_short: int = 0
    usage_expected: int = 0
    usage_error: int = 0  # sum over calls of |reported - generated| output tokens
    usage_wrong_calls: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    by_surface: Counter[str] = field(default_factory=Counter)
    failures: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.calls += 1
        self.survived += outcome.survived
        self.exact += outcome.ok
        self.faults_fired.update(outcome.fired)
        self.unmatched_errors += outcome.unmatched_errors
        self.chars_lost += outcome.chars_lost
        self.chars_duplicated += outcome.chars_duplicated
        self.chars_short += outcome.chars_short
        self.chars_expected += outcome.chars_expected
        self.usage_expected += outcome.usage_expected
        self.by_surface[f"{outcome.case.surface}/{outcome.case.driver}"] += 1
        if outcome.usage_got is not None and outcome.usage_got != outcome.usage_expected:
            self.usage_wrong_calls += 1
            self.usage_error += abs(outcome.usage_got - outcome.usage_expected)
        for check in {problem.check for problem in outcome.problems}:
            self.problems[check] += 1
        if not outcome.ok:
            self.failures.append(outcome)

    def summary(self) -> str:
        fired = sum(self.faults_fired.values())
        lines = [
            f"soak seed {self.seed}: {self.calls} calls in {self.seconds:.1f} s "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.by_surface.items()))})",
            f"  faults injected (fired): {fired}: "
            + ", ".join(f"{kind} {n}" for kind, n in sorted(self.faults_fired.items())),
            f"  survived (no exception): {self.survived} of {self.calls}; every check held: {self.exact}",
            f"  characters lost: {self.chars_lost}; characters duplicated or extra: {self.chars_duplicated} "
            f"(of {self.chars_expected} expected); capped calls ending early: {self.chars_short} characters",
            f"  usage error: {self.usage_error} output tokens over {self.usage_wrong_calls} calls "
            f"(of {self.usage_expected} generated)",
            f"  attempts failed with no fault injected (stalls of a busy machine): {self.unmatched_errors}",
            "  calls failing each check: "
            + (", ".join(f"{check} {n}" for check, n in sorted(self.problems.items())) or "none"),
        ]
        if not SUPPORTS_RESET:
            lines.append("  (no connection resets: the emulator has no Fault(reset_after_bytes=...) yet)")
        return "\n".join(lines)


def _numbers(calls: int | None, until: float | None, only: int | None) -> Callable[[], int | None]:
    """A thread-safe source of case numbers: `calls` of them, or until the monotonic time `until`."""
    pending: Iterator[int] = itertools.count() if calls is None else iter(range(calls))
    if only is not None:
        pending = iter([only])
    lock = threading.Lock()

    def take() -> int | None:
        with lock:
            if until is not None and time.monotonic() >= until:
                return None
            return next(pending, None)

    return take


def run(
    *,
    seed: int,
    calls: int | None = 300,
    minutes: float | None = None,
    threads: int = 4,
    tasks: int = 4,
    only: int | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Totals:
    """Run the soak: `calls` cases (or as many as fit in `minutes`), half on `threads` sync workers,
    half on `tasks` asyncio tasks, all at once. Case parity picks the driver (even: sync)."""
    totals = Totals(seed)
    until = None if minutes is None else time.monotonic() + minutes * 60
    take = _numbers(calls, until, only)
    lock = threading.Lock()
    sync_numbers: queue.Queue[int] = queue.Queue()
    async_numbers: queue.Queue[int] = queue.Queue()
    done = threading.Event()

    def feed() -> None:  # route each number to the driver its parity names
        while (number := take()) is not None:
            target = sync_numbers if number % 2 == 0 else async_numbers
            target.put(number)
            while sync_numbers.qsize() + async_numbers.qsize() > 2 * (threads + tasks):
                time.sleep(0.01)
        done.set()

    def next_number(source: queue.Queue[int]) -> int | None:
        while True:
            try:
                return source.get(timeout=0.05)
            except queue.Empty:
                if done.is_set() and source.empty():
                    return None

    def record(outcome: Outcome) -> None:
        with lock:
            totals.add(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    def case_for(number: int) -> Case:
        return draw_case(seed, number, driver="sync" if number % 2 == 0 else "async")

    def thread_worker(slot: Slot) -> None:
        while (number := next_number(sync_numbers)) is not None:
            record(run_sync_case(case_for(number), slot))

    async def async_main(slots: list[Slot]) -> None:
        async def worker(slot: Slot) -> None:
            client = longcall.wrap(
                anthropic.AsyncAnthropic(base_url=slot.emulator.url, api_key=API_KEY, max_retries=0),
                journal=slot.journal,
            )
            async with client:
                while (number := await asyncio.to_thread(next_number, async_numbers)) is not None:
                    record(await run_async_case(case_for(number), slot, client))

        await asyncio.gather(*(worker(slot) for slot in slots))

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="longcall-soak-") as folder:
        os.chmod(folder, 0o700)
        sync_slots = [Slot(Path(folder), f"sync{i}") for i in range(threads)]
        async_slots = [Slot(Path(folder), f"async{i}") for i in range(tasks)]
        try:
            workers = [threading.Thread(target=feed, name="soak-feed")]
            workers += [
                threading.Thread(target=thread_worker, args=(s,), name="soak-sync") for s in sync_slots
            ]
            workers.append(
                threading.Thread(target=lambda: asyncio.run(async_main(async_slots)), name="soak-async")
            )
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            for slot in sync_slots + async_slots:
                check = slot.journal.integrity_check()
                if check != "ok":
                    totals.problems["journal integrity"] += 1
        finally:
            for slot in sync_slots + async_slots:
                slot.close()
    totals.seconds = time.monotonic() - started
    return totals


def seed_from_env() -> int:
    value = os.environ.get("LONGCALL_SOAK_SEED")
    return int(value) if value else random.SystemRandom().randrange(1, 10**6)


def case_from_env() -> int | None:
    value = os.environ.get("LONGCALL_SOAK_CASE")
    return int(value) if value else None


def iter_failures(totals: Totals, limit: int = 10) -> Iterator[str]:
    for outcome in totals.failures[:limit]:
        yield outcome.report()
