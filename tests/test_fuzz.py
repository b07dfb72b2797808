"""Fuzzing the parsers: the SSE decoder, the engine's accumulator and the stitcher, fed random and
mutated input (hypothesis; `scripts/fuzz.py` runs a coverage-guided fuzzer over the same targets).

The valid streams mutated here are recorded from the emulator (text, thinking then text, a tool call,
citations, an error event). Mutations: cut anywhere, an event duplicated, dropped or moved, bytes
flipped, random bytes inserted, a field given another JSON value, a huge line. Whatever arrives:
- the engine raises only what its drivers hand to `end()` (its internal ProtocolViolation and
  ServerReportedError), and `end()` decides with a `LongcallError` or a retry, never another
  exception: a caller only ever sees longcall's own errors;
- a retry decision gives a request that can be sent (building it does not raise);
- nothing hangs, and memory stays within a small multiple of the input.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from functools import cache
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import longcall
from longcall._accumulate import ProtocolViolation, ServerReportedError
from longcall._engine import Generation
from longcall._retry import DeadlinePassed
from longcall._seam import MAX_OVERLAP, Seam
from longcall._sse import EventTooLarge, SSEDecoder
from longcall.testing import Emulator, Fault, Script

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# What a driver catches from `Generation.feed` and hands to `Generation.end`.
ENGINE_RAISES = (ProtocolViolation, ServerReportedError, DeadlinePassed)


@cache
def recorded() -> tuple[bytes, ...]:
    """Streamed response bodies, as the emulator sends them."""
    tool = Script(
        content=[
            {"type": "text", "text": "Let me look that up."},
            {"type": "tool_use", "name": "weather", "input": {"city": "Oslo", "days": [1, 2, 3]}},
        ],
        stop_reason="tool_use",
    )
    cited = Script(
        content=[
            {
                "type": "text",
                "text": "The sky is blue.",
                "citations": [
                    {
                        "type": "char_location",
                        "cited_text": "blue",
                        "document_index": 0,
                        "document_title": None,
                        "start_char_index": 0,
                        "end_char_index": 4,
                    }
                ],
            }
        ]
    )
    requests: list[tuple[dict[str, Any], Fault | None]] = [
        ({"messages": [{"role": "user", "content": "Write 40 words about rain"}]}, None),
        (
            {
                "messages": [{"role": "user", "content": "Write 20 words about snow"}],
                "thinking": {"type": "enabled", "budget_tokens": 200},
            },
            None,
        ),
        ({"messages": [{"role": "user", "content": "weather?"}]}, None),
        ({"messages": [{"role": "user", "content": "cite"}]}, None),
        (
            {"messages": [{"role": "user", "content": "Write 30 words about hail"}]},
            Fault(error_after_events=9),
        ),
        ({"messages": [{"role": "user", "content": "Write 30 words about fog"}], "max_tokens": 12}, None),
    ]
    bodies = []
    with Emulator() as emulator:
        emulator.script("weather?", tool)
        emulator.script("cite", cited)
        for params, fault in requests:
            if fault is not None:
                emulator.add_faults(fault)
            body = {"model": "claude-haiku-4-5", "max_tokens": 1000, "stream": True, **params}
            response = httpx2.post(
                f"{emulator.url}/v1/messages",
                json=body,
                headers={"x-api-key": "fuzz", "anthropic-version": "2023-06-01"},
            )
            bodies.append(response.content)
    return tuple(bodies)


def split_events(body: bytes) -> list[bytes]:
    return [event + b"\n\n" for event in body.split(b"\n\n") if event]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@st.composite
def mutated_body(draw: st.DrawFn) -> bytes:
    """A recorded body with 0-4 mutations."""
    events = split_events(draw(st.sampled_from(recorded())))
    for _ in range(draw(st.integers(0, 4))):
        if not events:
            break
        at = draw(st.integers(0, len(events) - 1))
        match draw(
            st.sampled_from(
                ["cut", "dup", "drop", "move", "flip", "insert", "field", "huge", "retype", "usage"]
            )
        ):
            case "cut":
                joined = b"".join(events)
                events = [joined[: draw(st.integers(0, len(joined)))]]
            case "dup":
                events.insert(at, events[at])
            case "drop":
                del events[at]
            case "move":
                events.insert(draw(st.integers(0, len(events) - 1)), events.pop(at))
            case "flip":
                event = bytearray(events[at])
                if event:
                    position = draw(st.integers(0, len(event) - 1))
                    event[position] ^= draw(st.integers(1, 255))
                events[at] = bytes(event)
            case "insert":
                events.insert(at, draw(st.binary(max_size=40)))
            case "field":
                events[at] = _replace_field(events[at], draw(json_values), draw(st.integers(0, 50)))
            case "retype":
                events[at] = _replace_field(
                    events[at], draw(json_values), draw(st.integers(0, 50)), keys=True
                )
            case "usage":  # the fields the engine does arithmetic on
                usage_at = [i for i, e in enumerate(events) if b'"usage"' in e]
                if usage_at:
                    at = usage_at[draw(st.integers(0, len(usage_at) - 1))]
                    events[at] = _set_usage(
                        events[at], draw(st.sampled_from(USAGE_FIELDS)), draw(json_values)
                    )
            case "huge":
                size = draw(st.sampled_from([70_000, 300_000]))
                filler = draw(st.sampled_from([b"x", b"\xe4\xb8\xad", b'"', b" "]))
                events.insert(
                    at, b"data: " + filler * (size // len(filler)) + draw(st.sampled_from([b"", b"\n\n"]))
                )
    return b"".join(events)


USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _set_usage(event: bytes, name: str, value: Any) -> bytes:
    head, sep, data = event.partition(b"data: ")
    try:
        payload = json.loads(data)
        usage = payload["usage"] if "usage" in payload else payload["message"]["usage"]
    except (ValueError, KeyError, TypeError):
        return event
    if not isinstance(usage, dict):
        return event
    usage[name] = value
    return head + sep + json.dumps(payload).encode() + b"\n\n"


def _replace_field(event: bytes, value: Any, pick: int, keys: bool = False) -> bytes:
    """The event with one field of its JSON (at any depth) set to `value` (or removed, for `keys`)."""
    head, sep, data = event.partition(b"data: ")
    try:
        payload = json.loads(data)
    except ValueError:
        return event
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in node:
                paths.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                paths.append((node, index))
                walk(node[index])

    walk(payload)
    if not paths:
        return event
    parent, key = paths[pick % len(paths)]
    if keys and isinstance(parent, dict):
        del parent[key]
    else:
        parent[key] = value
    return head + sep + json.dumps(payload).encode() + b"\n\n"


def chunked(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(len(body), cut) for cut in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(body[last:point])
        last = point
    pieces.append(body[last:])
    return [piece for piece in pieces if piece]


def drive(bodies: list[list[bytes]], *, accepts_prefill: bool, continue_on_max_tokens: bool) -> list[Any]:
    """Run one call through the engine with these response bodies (one per attempt, as chunks), as a
    driver does; return the decisions. Fails the test on any exception a caller should not see."""
    policy = longcall.Policy(max_attempts=len(bodies), continue_on_max_tokens=continue_on_max_tokens)
    params = {
        "model": "claude-haiku-4-5",
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    gen = Generation(
        params, policy, emit=True, accepts_prefill=accepts_prefill, now=0.0, wall=0.0, random=lambda: 0.5
    )
    decisions = []
    for chunks in bodies:
        request = gen.request(1.0, 1.0)
        json.dumps(request, default=str)  # the next request is sendable
        error: BaseException | None = None
        try:
            for chunk in chunks:
                if gen.feed(chunk, 1.0):
                    break
        except ENGINE_RAISES as exc:
            error = exc
        gen.take_events()
        decision = gen.end(error, 1.0, 1.0)
        decisions.append(decision)
        if decision.error is not None:
            assert isinstance(decision.error, longcall.LongcallError), repr(decision.error)
            str(decision.error)
            break
        if decision.message is not None:
            decision.message.content  # noqa: B018 - building it must work
            break
    return decisions


@SETTINGS
@given(
    st.lists(st.tuples(mutated_body(), st.lists(st.integers(0, 5000), max_size=8)), min_size=1, max_size=3),
    st.booleans(),
    st.booleans(),
)
def test_engine_takes_any_mutated_stream_with_longcall_errors_only(
    attempts: list[tuple[bytes, list[int]]], accepts_prefill: bool, continue_on_max_tokens: bool
) -> None:
    bodies = [chunked(body, cuts) for body, cuts in attempts]
    drive(bodies, accepts_prefill=accepts_prefill, continue_on_max_tokens=continue_on_max_tokens)


@SETTINGS
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=6))
def test_engine_takes_random_bytes_with_longcall_errors_only(chunks: list[bytes]) -> None:
    drive([chunks], accepts_prefill=True, continue_on_max_tokens=False)


@SETTINGS
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=20))
def test_sse_decoder_takes_any_bytes_in_any_chunking(body: bytes, cuts: list[int]) -> None:
    whole = SSEDecoder()
    expected = whole.feed(body) + whole.flush()
    pieces = SSEDecoder()
    got = [event for chunk in chunked(body, cuts) for event in pieces.feed(chunk)] + pieces.flush()
    assert got == expected
    assert sum(len(data) for _, data in got) <= len(body)


text_with_scripts = st.text(
    alphabet=st.sampled_from(list("ab cd.\n\t,") + list("中文字。，") + ["\u3000", "é", "🙂"]), max_size=80
)


@SETTINGS
@given(
    sent=text_with_scripts,
    gap=st.sampled_from(["", " ", "\n\n", " \t", "\u3000"]),
    shown=st.sampled_from(["", "fr", "中"]),
    answer=text_with_scripts,
    remove_overlap=st.booleans(),
    cuts=st.lists(st.integers(0, 80), max_size=10),
)
def test_seam_is_chunking_invariant_and_only_removes_a_prefix(
    sent: str, gap: str, shown: str, answer: str, remove_overlap: bool, cuts: list[int]
) -> None:
    def stitch(pieces: list[str]) -> tuple[str, str]:
        seam = Seam(sent=sent, gap=gap, shown=shown, remove_overlap=remove_overlap)
        kept, live = [], []
        for piece in pieces:
            block, shown_live = seam.feed(piece)
            kept.append(block)
            live.append(shown_live)
        block, shown_live = seam.finish()
        return "".join(kept) + block, "".join(live) + shown_live

    one_shot = stitch([answer])
    points = sorted({min(len(answer), cut) for cut in cuts})
    pieces = [answer[a:b] for a, b in zip([0, *points], [*points, len(answer)], strict=True)]
    assert stitch(pieces) == one_shot
    block, live = one_shot
    assert answer.endswith(block)
    assert block.endswith(live)


@SETTINGS
@given(sent=text_with_scripts, gap=st.sampled_from(["", " ", "\n\n"]), answer=text_with_scripts)
def test_seam_holds_back_a_bounded_amount(sent: str, gap: str, answer: str) -> None:
    seam = Seam(sent=sent, gap=gap, shown="", remove_overlap=True)
    long_answer = answer + "x" * (MAX_OVERLAP + len(gap) + 2)
    seam.feed(long_answer)
    assert seam.done


def _feed_one_line(size: int, chunk: int) -> float:
    decoder = SSEDecoder()
    line = b"data: " + b"x" * size
    started = time.process_time()
    for start in range(0, len(line), chunk):
        decoder.feed(line[start : start + chunk])
    events = decoder.feed(b"\n\n")
    assert len(events) == 1
    return time.process_time() - started


def test_sse_decoder_time_is_linear_in_one_long_line() -> None:
    """A line arriving in many chunks is joined once, not copied at every chunk (quadratic)."""
    small = min(_feed_one_line(2 << 20, 16384) for _ in range(3))
    large = min(_feed_one_line(16 << 20, 16384) for _ in range(2))
    assert large < 0.05 + small * 8 * 2, f"2 MB: {small:.3f} s, 16 MB: {large:.3f} s (8x the bytes)"


def test_sse_decoder_memory_is_bounded_by_the_input() -> None:
    decoder = SSEDecoder()
    size = 8 << 20
    line = b"data: " + b"y" * size
    tracemalloc.start()
    try:
        for start in range(0, len(line), 65536):
            decoder.feed(line[start : start + 65536])
        decoder.feed(b"\n\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * size, f"peak {peak:,} bytes for an {size:,}-byte line"


def _decode(body: bytes, chunks: list[bytes], max_size: int) -> list[tuple[str, bytes]] | str:
    decoder = SSEDecoder(max_size=max_size)
    try:
        return [event for chunk in chunks for event in decoder.feed(chunk)] + decoder.flush()
    except EventTooLarge:
        return "too large"


@SETTINGS
@given(
    st.lists(
        st.sampled_from(
            [b"data: ", b"event: x", b":", b"id: 1", b"\n", b"\r", b"\r\n", b"\n\n", b"y" * 50, b"z" * 300]
        ),
        max_size=30,
    ),
    st.integers(1, 400),
    st.lists(st.integers(0, 3000), max_size=20),
)
def test_the_size_limit_does_not_depend_on_the_chunking(
    parts: list[bytes], max_size: int, cuts: list[int]
) -> None:
    """A line or event over the limit is refused however the bytes were split, and only then."""
    body = b"".join(parts)
    assert _decode(body, chunked(body, cuts), max_size) == _decode(body, [body], max_size)


@pytest.mark.parametrize("chunks", [[b"a\r", b"\n"], [b"\na\r", b"\n"]], ids=["alone", "after_a_line"])
def test_a_carriage_return_held_at_a_chunk_end_is_not_part_of_the_line(chunks: list[bytes]) -> None:
    # Found by scripts/fuzz.py sse: b"a" is within a limit of 1 byte; the \r that ends it, held until
    # the next chunk says whether a \n follows, is not part of it.
    body = b"".join(chunks)
    assert _decode(body, chunks, 1) == _decode(body, [body], 1)


def test_a_line_over_the_limit_raises_a_clear_error() -> None:
    decoder = SSEDecoder(max_size=100_000)
    with pytest.raises(EventTooLarge) as raised:
        for _ in range(100):
            decoder.feed(b"data: " + b"z" * 10_000)
    assert isinstance(raised.value, ProtocolViolation)
    assert "60 bytes" in str(raised.value)


def test_an_event_over_policy_max_event_bytes_fails_the_call_clearly(emulator: Emulator) -> None:
    """End to end: events over the limit are a StreamProtocolError that says so. (The emulator writes
    long text in short deltas, so the limit is set below one event's size.)"""
    import anthropic

    emulator.script("huge", Script(content=[{"type": "text", "text": "x" * 300_000}]))
    policy = longcall.Policy(max_event_bytes=60, max_attempts=2, backoff_initial=0.01)
    with (
        longcall.wrap(
            anthropic.Anthropic(base_url=emulator.url, api_key="k", max_retries=0), journal=None
        ) as c,
        pytest.raises(longcall.StreamProtocolError) as raised,
    ):
        c.messages.create(
            model="claude-haiku-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "huge"}],
            longcall_policy=policy,
        )
    assert "60 bytes" in str(raised.value)


def _mutate_first(body: bytes, kind: str, change: Any) -> bytes:
    """The body with `change` applied to the payload of its first event of type `kind`."""
    events = split_events(body)
    for number, event in enumerate(events):
        head, sep, data = event.partition(b"data: ")
        try:
            payload = json.loads(data)
        except ValueError:
            continue
        if payload.get("type") == kind:
            change(payload)
            events[number] = head + sep + json.dumps(payload).encode() + b"\n\n"
            return b"".join(events)
    raise AssertionError(f"no {kind} event")


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("message_delta", lambda p: p["usage"].update(output_tokens="12")),
        ("message_delta", lambda p: p["usage"].update(output_tokens=[12])),
        ("message_start", lambda p: p["message"]["usage"].update(input_tokens="3")),
        ("content_block_delta", lambda p: p["delta"].update(text=None)),
        ("content_block_delta", lambda p: p["delta"].update(text=7)),
        ("content_block_start", lambda p: p["content_block"].update(text=["x"])),
    ],
)
def test_a_field_of_the_wrong_type_fails_the_call_as_a_protocol_error(kind: str, change: Any) -> None:
    # Found by the fuzzer: these raised ValueError / TypeError from deep inside the engine.
    body = _mutate_first(recorded()[0], kind, change)
    decisions = drive([[body]], accepts_prefill=True, continue_on_max_tokens=False)
    assert isinstance(decisions[-1].error, longcall.StreamProtocolError), decisions[-1]
