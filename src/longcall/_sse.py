"""Bytes to server-sent events, incrementally, by the WHATWG event-stream rules.

`SSEDecoder.feed(chunk)` takes bytes as they come off the socket, in any chunking, and returns the
events completed by them as `(event_type, data)` pairs; `flush()` ends the stream. No I/O here.

Rules kept (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
- a line ends at `\\r\\n`, `\\n` or `\\r`; a `\\r` at the end of a chunk waits for the next one, since a `\\n`
  may follow it;
- a line starting with `:` is a comment; a field without `:` has an empty value; one space after the
  `:` is dropped; `id`, `retry` and unknown fields are ignored (the Messages API does not use them);
- several `data` lines join with `\\n`; an event with no `data` line is not dispatched;
- a missing `event` field gives the type `message`; a leading byte order mark is dropped.
One deliberate difference: at the end of the stream, an event that has data but no blank line after
it is still dispatched (the spec drops it), so a server that omits the last blank line loses nothing.

Memory is bounded: a line (ended or not), or an event's data lines together, longer than `max_size`
bytes raise `EventTooLarge` however the bytes were split (a `ProtocolViolation`: the engine fails the
attempt with `StreamProtocolError`) instead of growing without end on a stream that never sends a
newline.

`data` stays bytes: lines are split on `\\n` only, which never occurs inside a UTF-8 sequence, and
`json.loads` takes bytes directly, so no text is decoded twice.
"""

from __future__ import annotations

from ._accumulate import ProtocolViolation

_BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_SIZE = 64 * 1024 * 1024


class EventTooLarge(ProtocolViolation):
    """One SSE line or event is larger than the decoder's limit."""


class SSEDecoder:
    """Incremental event-stream parser. Cost is linear in the bytes fed."""

    __slots__ = ("_pending", "_parts", "_parts_size", "_event", "_data", "_data_size", "_started", "max_size")

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1 byte, not {max_size}")
        self.max_size = max_size
        self._pending = b""  # bytes of a line not yet ended
        # Chunks of one long line, joined once when the line ends (not once per chunk: quadratic).
        self._parts: list[bytes] = []
        self._parts_size = 0
        self._event = ""
        self._data: list[bytes] = []
        self._data_size = 0
        self._started = False

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        """Add bytes; return the events they complete, in order."""
        if self._pending:  # per-event chunks (the API at generation speed) skip all of this
            if (
                self._started
                and b"\n" not in chunk
                and b"\r" not in chunk
                and not self._pending.endswith(b"\r")  # a held \r ends a line unless \n follows
            ):
                self._parts.append(chunk)  # the line goes on: keep the chunk, join later
                self._parts_size += len(chunk)
                if len(self._pending) + self._parts_size > self.max_size:
                    self._too_large("a line")
                return []
            if self._parts:
                self._pending += b"".join(self._parts)
                self._parts = []
                self._parts_size = 0
            buffer = self._pending + chunk
        else:
            buffer = chunk
        if not self._started:
            if len(buffer) < 3 and _BOM.startswith(buffer):
                self._pending = buffer
                return []
            self._started = True
            if buffer.startswith(_BOM):
                buffer = buffer[3:]
        held = b""
        if b"\r" in buffer:
            if buffer.endswith(b"\r"):  # may be the first half of a \r\n split across chunks
                held = b"\r"
                buffer = buffer[:-1]
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = buffer.rfind(b"\n")
        # The size checks leave out a held \r: it ends the line, it is not part of it.
        if end < 0:
            self._pending = buffer + held
            if len(buffer) > self.max_size:
                self._too_large("a line", len(buffer))
            return []
        self._pending = buffer[end + 1 :] + held
        if len(buffer) - end - 1 > self.max_size:
            self._too_large("a line", len(buffer) - end - 1)
        if self._data_size + end <= self.max_size:  # the limit cannot be reached in these lines
            return self._lines_unchecked(buffer[:end].split(b"\n"))
        return self._lines(buffer[:end].split(b"\n"), end)

    def _too_large(self, what: str, size: int | None = None) -> None:
        if size is None:
            size = len(self._pending) + self._parts_size if what == "a line" else self._data_size
        self._pending = b""
        self._parts = []
        self._parts_size = 0
        self._data = []
        self._data_size = 0
        raise EventTooLarge(
            f"{what} of the event stream is over {self.max_size} bytes ({size} bytes so far, without an "
            "end); the stream was abandoned rather than held in memory"
        )

    def flush(self) -> list[tuple[str, bytes]]:
        """End of stream: dispatch what is left, including a last event with no blank line after it."""
        rest = self._pending + b"".join(self._parts)
        self._pending = b""
        self._parts = []
        self._parts_size = 0
        if not self._started and rest.startswith(_BOM):
            rest = rest[3:]
        self._started = True
        lines = rest.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n") if rest else []
        lines.append(b"")
        return self._lines(lines, len(rest))

    def _lines(self, lines: list[bytes], span: int) -> list[tuple[str, bytes]]:
        """Apply the lines of `span` bytes. The size limit is checked once for them all when it can
        not be reached (an event's data grows by at most `span` here), line by line only near it."""
        if self._data_size + span <= self.max_size:
            return self._lines_unchecked(lines)
        events: list[tuple[str, bytes]] = []
        event = self._event
        data = self._data
        size = self._data_size
        limit = self.max_size
        for line in lines:
            if len(line) > limit:  # as a line still pending would be: the same whatever the chunking
                self._too_large("a line", len(line))
            if not line:
                if data:
                    events.append((event or "message", data[0] if len(data) == 1 else b"\n".join(data)))
                    data = []
                    size = 0
                event = ""
            elif line.startswith(b"data:"):
                value = line[6:] if line[5:6] == b" " else line[5:]
                size += len(value) + (1 if data else 0)  # joined with newlines
                if size > limit:
                    self._data_size = size
                    self._too_large("an event's data")
                data.append(value)
            elif line.startswith(b"event:"):
                event = (line[7:] if line[6:7] == b" " else line[6:]).decode("utf-8", "replace")
            elif line[0] == 58:  # ":" comment
                continue
            elif line == b"data":
                data.append(b"")
            elif line == b"event":
                event = ""
            # id, retry and unknown fields: ignored
        self._event = event
        self._data = data
        self._data_size = size
        return events

    def _lines_unchecked(self, lines: list[bytes]) -> list[tuple[str, bytes]]:
        # The per-event hot path: the same rules as `_lines`, no size bookkeeping per line.
        events: list[tuple[str, bytes]] = []
        event = self._event
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append((event or "message", data[0] if len(data) == 1 else b"\n".join(data)))
                    data = []
                event = ""
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line.startswith(b"event:"):
                event = (line[7:] if line[6:7] == b" " else line[6:]).decode("utf-8", "replace")
            elif line[0] == 58:  # ":" comment
                continue
            elif line == b"data":
                data.append(b"")
            elif line == b"event":
                event = ""
        self._event = event
        self._data = data
        # An event still open carries its size to the next chunk (joined with newlines).
        self._data_size = sum(map(len, data)) + len(data) - 1 if data else 0
        return events
