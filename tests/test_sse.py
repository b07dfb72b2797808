"""The SSE decoder: any chunking of the same bytes gives the same events, by the WHATWG rules."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longcall._sse import SSEDecoder


def reference(stream: bytes) -> list[tuple[str, bytes]]:
    """The spec's algorithm, written plainly over the whole stream at once."""
    if stream.startswith(b"\xef\xbb\xbf"):
        stream = stream[3:]
    lines = re.split(rb"\r\n|\r|\n", stream)
    events, event, data = [], "", []
    for line in [*lines, b""]:
        if line == b"":
            if data:
                events.append((event or "message", b"\n".join(data)))
            event, data = "", []
            continue
        if line.startswith(b":"):
            continue
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode()
    return events


def decode(stream: bytes, cuts: list[int]) -> list[tuple[str, bytes]]:
    decoder = SSEDecoder()
    events, last = [], 0
    for cut in sorted(set(cuts)):
        events += decoder.feed(stream[last:cut])
        last = cut
    events += decoder.feed(stream[last:])
    return events + decoder.flush()


field_line = st.one_of(
    st.builds(
        lambda v: b"data: " + v, st.sampled_from([b'{"type":"ping"}', b"x", b"", b" two", "é€😀".encode()])
    ),
    st.builds(lambda v: b"data:" + v, st.sampled_from([b"tight", b"", b"  spaced"])),
    st.just(b"data"),
    st.builds(lambda v: b"event: " + v, st.sampled_from([b"content_block_delta", b"error", b""])),
    st.just(b"event:message_stop"),
    st.just(b"event"),
    st.just(b": a comment"),
    st.just(b"id: 7"),
    st.just(b"retry: 100"),
    st.just(b"unknown: x"),
    st.just(b""),
)
newline = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(field_line, newline), max_size=40))
    body = b"".join(line + end for line, end in lines)
    if draw(st.booleans()):
        body = body.rstrip(b"\r\n")  # no blank line after the last event
    if draw(st.booleans()):
        body = b"\xef\xbb\xbf" + body
    return body


@given(streams(), st.data())
def test_any_chunking_gives_the_reference_events(stream: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    assert decode(stream, cuts) == reference(stream)


@given(streams())
def test_byte_by_byte_equals_one_shot(stream: bytes) -> None:
    assert decode(stream, list(range(len(stream)))) == decode(stream, [])


def test_real_shape() -> None:
    stream = (
        b'event: message_start\ndata: {"a":1}\n\n: keep-alive\n\nevent: ping\r\ndata:{"b":2}\r\n\r\n'
        b"data: line1\ndata: line2\n\n"
    )
    assert decode(stream, []) == [
        ("message_start", b'{"a":1}'),
        ("ping", b'{"b":2}'),
        ("message", b"line1\nline2"),
    ]


def test_cr_split_from_lf_across_chunks_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == []
    assert decoder.feed(b"\ndata: b\n\n") == [("message", b"a"), ("message", b"b")]


def test_an_event_without_data_is_not_dispatched() -> None:
    assert decode(b"event: ping\n\n: only a comment\n\n", []) == []


def test_last_event_without_blank_line_is_kept() -> None:
    assert decode(b'event: message_stop\ndata: {"type":"message_stop"}', []) == [
        ("message_stop", b'{"type":"message_stop"}')
    ]


def test_utf8_split_inside_a_character() -> None:
    body = "data: snow ☃ man\n\n".encode()
    cut = body.index("☃".encode()) + 1
    assert decode(body, [cut]) == [("message", "snow ☃ man".encode())]


def test_a_line_longer_than_the_limit_raises_instead_of_growing() -> None:
    from longcall._sse import EventTooLarge

    decoder = SSEDecoder(max_size=1000)
    decoder.feed(b"event: ping\n")
    with pytest.raises(EventTooLarge, match="over 1000 bytes"):
        for _ in range(100):
            decoder.feed(b"data: " + b"x" * 50)  # never a newline
    assert decoder.feed(b"") == []  # nothing was kept


def test_an_event_whose_data_lines_add_up_past_the_limit_raises() -> None:
    from longcall._sse import EventTooLarge

    decoder = SSEDecoder(max_size=1000)
    with pytest.raises(EventTooLarge, match="event's data"):
        decoder.feed(b"".join(b"data: " + b"y" * 90 + b"\n" for _ in range(20)))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 300), st.data())
def test_events_within_the_limit_pass_in_any_chunking(size: int, data: st.DataObject) -> None:
    body = b"event: x\ndata: " + b"z" * size + b"\n\n" + b"data: end\n\n"
    decoder = SSEDecoder(max_size=max(map(len, body.split(b"\n"))))  # the longest line: just within
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(body)), max_size=10))))
    events = []
    for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True):
        events += decoder.feed(body[a:b])
    events += decoder.flush()
    assert events == [("x", b"z" * size), ("message", b"end")]
