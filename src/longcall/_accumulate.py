"""Events to one message, across every request made for a call.

`Accumulator` takes the Messages API's stream events (parsed JSON dicts) and keeps the message they
build. Invariants:
- cost is linear in the stream: streamed strings are lists of parts joined once when read, and a tool
  input's JSON is parsed once, when its block stops (never once per delta);
- any block or delta type is kept: a delta `<field>_delta` carrying `<field>` appends to the block's
  `<field>` (text, thinking, partial_json); `citations_delta` and `signature_delta` as the SDK does;
  anything else is stored on the block under `unknown_deltas`, never dropped;
- `message_delta` usage is cumulative: a field present overwrites, one absent keeps its earlier value.

One call may take several requests (retries, resumes, continuations past `max_tokens`). Each is an
attempt: `begin_attempt()` says where its blocks go. A continuation's first text block is merged into
the text block it continues when that block was cut (no `content_block_stop`, or stopped by
`max_tokens`), and appended as a new block after a finished one; either way through a `Seam`, which
removes repeated text. Thinking the model does before that text is kept on the attempt, not in the
message, since the message already has the thinking that led to its text; later blocks are appended.
A continuation that starts with another block (a tool call), or ends without text, gives the cut-back
word fragment back to the block it came from: received text is never lost. A continuation's text
block that stops while all its text may still be a repeat waits for the message_delta: cut short by
`max_tokens`, that text is dropped as a repeat; otherwise it is the model's. Usage is summed over
attempts.

Tool input: an empty `partial_json` leaves the block's `input` as it started (`{}`, as the SDK does);
a block still open when the message ends (cut by `max_tokens`) gets the SDK's partial parse, with the
raw JSON kept under `partial_json`; JSON that does not parse raises `InvalidToolJSON`.

The stitched event view (`emit=True`, for `create(stream=True)` and `messages.stream()`) keeps the
event protocol whatever happens between attempts: one `content_block_start` and one
`content_block_stop` per block, no delta after its block's stop. To keep it, a text block's stop is
held until the next block starts or the call ends (a continuation may still extend the block), and a
block that a resume could drop (thinking or a tool call after the last text) is held whole until a
text block follows it or the call ends; so such blocks reach stream consumers when they are final
(live hooks still see them as they stream).

The accumulator never does I/O and never reads a clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jiter

from ._seam import Seam


class ProtocolViolation(Exception):
    """The events break the Messages API's rules. Internal: the engine turns it into an error."""


class InvalidToolJSON(ProtocolViolation):
    """A tool block's input is not valid JSON. Internal: the engine raises `ToolInputInvalid`."""


class ServerReportedError(Exception):
    """An `error` event arrived in the stream. Internal: the engine classifies it."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("message") or error.get("type") or "error"))
        self.error = error


TextHook = Callable[[str], None]


class HeldEvent(dict):  # type: ignore[type-arg]
    """A stitched delta event released after its block finished (see the module docstring): `parts`
    is how many of the block's streamed pieces it had then, so a snapshot shows the block as it was."""

    parts: int = 0


class Block:
    """One content block as it streams."""

    __slots__ = (
        "start",
        "text",
        "thinking",
        "json",
        "citations",
        "signature",
        "unknown",
        "closed",
        "seam",
        "index",
        "input",
        "shown",
        "held",
        "partial",
    )

    def __init__(self, start: dict[str, Any], index: int) -> None:
        self.start = start
        self.index = index  # position in the message, or -1 for a block kept aside on the attempt
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.json: list[str] = []
        self.citations: list[Any] | None = None
        self.signature: str | None = None
        self.unknown: list[dict[str, Any]] | None = None
        self.closed = False
        self.seam: Seam | None = None
        self.input: Any = None
        self.shown = ""  # text shown live past the block's end (cut back for a continuation)
        self.held: list[dict[str, Any]] | None = None  # stitched events not yet released (emit mode)
        self.partial = False  # closed by the message's end, not by content_block_stop

    @property
    def type(self) -> str:
        return str(self.start.get("type"))

    def text_value(self) -> str:
        return (self.start.get("text") or "") + "".join(self.text)

    def thinking_value(self, parts: int | None = None) -> str:
        """The thinking, or its first `parts` streamed pieces."""
        pieces = self.thinking if parts is None else self.thinking[:parts]
        return (self.start.get("thinking") or "") + "".join(pieces)

    def raw_json(self, parts: int | None = None) -> str:
        """The tool input's JSON text, or its first `parts` streamed pieces."""
        return "".join(self.json if parts is None else self.json[:parts])

    def input_snapshot(self, parts: int | None = None) -> Any:
        """The tool input as the SDK's stream shows it: the partial parse of the JSON so far (of its
        first `parts` pieces), or the input it started with while that is empty."""
        raw = self.raw_json(parts)
        if not raw.strip():
            return self.start.get("input", {})
        return jiter.from_json(raw.encode(), partial_mode=True)

    def close(self) -> None:
        self.closed = True
        if self.json:
            raw = self.raw_json()
            if not raw.strip():  # a call without arguments: one empty delta, input stays as it started
                self.input = self.start.get("input", {})
                return
            try:
                self.input = json.loads(raw)
            except ValueError as exc:
                raise InvalidToolJSON(
                    f"the {self.type} block at index {self.index} ended with invalid input JSON ({exc})"
                ) from None

    def close_partial(self) -> None:
        """The message ended with this block open (cut by max_tokens): what the SDK's final message
        holds, the partial parse of the input, with the raw JSON kept too."""
        self.closed = True
        self.partial = True
        if self.json:
            raw = self.raw_json()
            if not raw.strip():
                self.input = self.start.get("input", {})
                return
            try:
                self.input = jiter.from_json(raw.encode(), partial_mode=True)
            except ValueError as exc:
                raise InvalidToolJSON(
                    f"the {self.type} block at index {self.index} was cut with input that is not even "
                    f"partial JSON ({exc})"
                ) from None

    def to_dict(self) -> dict[str, Any]:
        block = dict(self.start)
        if self.text:
            block["text"] = self.text_value()
        if self.thinking:
            block["thinking"] = self.thinking_value()
        if self.signature is not None:
            block["signature"] = self.signature
        if self.citations is not None:
            block["citations"] = (block.get("citations") or []) + self.citations
        if self.json:
            if self.closed:
                block["input"] = self.input
                if self.partial:
                    block["partial_json"] = self.raw_json()
            else:
                # Cut in the middle: never hand out half-parsed input; keep the raw text instead.
                block["partial_json"] = self.raw_json()
        if self.unknown is not None:
            block["unknown_deltas"] = self.unknown
        return block


def add_usage(total: dict[str, Any], usage: dict[str, Any]) -> None:
    """Add one request's usage into `total`: numbers sum, nested objects sum field by field."""
    for key, value in usage.items():
        if value is None:
            total.setdefault(key, None)
        elif isinstance(value, bool) or not isinstance(value, (int, float, dict)):
            total[key] = value  # a label such as service_tier: the latest wins
        elif isinstance(value, dict):
            inner = total.get(key)
            if not isinstance(inner, dict):
                inner = total[key] = {}
            add_usage(inner, value)
        else:
            previous = total.get(key)
            total[key] = value + previous if isinstance(previous, (int, float)) else value


class Continuation:
    """Where a continuation attempt's output goes: the text block it extends (`merge`) or follows (a
    finished block: the answer's text becomes a new block), and how to stitch it."""

    __slots__ = ("block", "sent", "gap", "shown", "remove_overlap", "merge")

    def __init__(
        self,
        block: Block | None,
        *,
        sent: str,
        gap: str,
        shown: str,
        remove_overlap: bool,
        merge: bool = True,
    ) -> None:
        self.block = block
        self.sent = sent
        self.gap = gap
        self.shown = shown
        self.remove_overlap = remove_overlap
        self.merge = merge


class Accumulator:
    """The message built from every attempt of one call."""

    def __init__(
        self,
        *,
        on_text: TextHook | None = None,
        on_thinking: TextHook | None = None,
        on_tool_input: TextHook | None = None,
        emit: bool = False,
    ) -> None:
        self.on_text = on_text
        self.on_thinking = on_thinking
        self.on_tool_input = on_tool_input
        self.emit = emit  # keep the stitched event view in `out` (for stream=True and messages.stream)
        self.out: list[dict[str, Any]] = []
        # emit mode: unknown events that came after this attempt's message_stop. The SDK yields them
        # after message_stop, so they wait for the stitched stream's own (`Generation.final_events`).
        self.after_stop: list[dict[str, Any]] = []
        self.message: dict[str, Any] | None = None
        self.blocks: list[Block] = []
        self.usage: dict[str, Any] = {}  # summed over finished attempts
        # per attempt
        self.attempt_usage: dict[str, Any] = {}
        self.aside: list[Block] = []
        self.deltas = 0
        self.started = False
        self.stopped = False
        self.stop: dict[str, Any] = {}
        self.unknown_events: list[dict[str, Any]] = []
        self.removed_overlap = ""  # what the model repeated at the seam and was removed, this attempt
        self.generated: list[str] = []  # the text, thinking and JSON the server streamed, this attempt
        self._held_stop: tuple[Block, dict[str, Any]] | None = None  # emit mode: see the docstring
        self._after_held_stop: list[dict[str, Any]] = []  # unknown events that came after it
        self._pending_start: tuple[Block, dict[str, Any]] | None = None  # a seam's new block, not yet shown
        self._gap_block: Block | None = None  # a new block after a finished one: empty if only whitespace
        self._map: dict[int, Block] = {}
        self._continuation: Continuation | None = None
        # A continuation's text block stopped while its answer may still be a repeat cut short: its
        # stop is taken when the message_delta says why the answer ended (see `_block_stop`).
        self._undecided_stop: tuple[Block, dict[str, Any]] | None = None
        self._first_attempt = True

    # -- attempts ---------------------------------------------------------------------------------

    def begin_attempt(self, continuation: Continuation | None) -> None:
        """Start taking events of a new request; `continuation` says which block it extends."""
        if not self._first_attempt:
            add_usage(self.usage, self.attempt_usage)
        self._first_attempt = False
        if self.after_stop:  # a segment that is continued: its tail goes on where it arrived
            self.out.extend(self.after_stop)
            self.after_stop = []
        self.attempt_usage = {}
        self.aside = []
        self.deltas = 0
        self.started = False
        self.stopped = False
        self.stop = {}
        self.unknown_events = []
        self.removed_overlap = ""
        self.generated = []
        self._map = {}
        self._continuation = continuation

    def finish_attempt(self) -> None:
        """The attempt is over. A seam still deciding means the stream broke while the model was
        repeating itself (or sending the stripped whitespace): what it holds is not new text, and
        the next continuation starts again from the block as it is (a block whose stop was waiting
        for the message_delta is open again: the stream broke before saying why it ended)."""
        if self._undecided_stop is not None:
            self._undecided_stop[0].closed = False
            self._undecided_stop = None
        for block in self._map.values():
            block.seam = None

    def total_usage(self) -> dict[str, Any]:
        total: dict[str, Any] = {}
        add_usage(total, self.usage)
        add_usage(total, self.attempt_usage)
        return total

    def restore(self, saved: dict[str, Any]) -> None:
        """Start from a message saved earlier (by the journal, before the process died)."""
        self.message = {key: value for key, value in saved.items() if key not in ("content", "usage")}
        usage = saved.get("usage")
        self.usage = dict(usage) if isinstance(usage, dict) else {}
        content = saved.get("content") or []
        for raw in content:
            block = Block(
                {k: v for k, v in raw.items() if k not in ("partial_json", "unknown_deltas")},
                len(self.blocks),
            )
            if "partial_json" in raw:  # a tool block cut in the middle: the resume drops it
                block.json.append(raw["partial_json"])
            elif raw is content[-1] and raw.get("type") == "text":
                pass  # the text the process was receiving when it died: open, to be continued
            else:
                block.closed = True
                block.input = raw.get("input")
            self.blocks.append(block)

    def truncate(self, keep: int) -> list[Block]:
        """Drop blocks from `keep` on (to be generated again); return them."""
        dropped = self.blocks[keep:]
        del self.blocks[keep:]
        return dropped

    # -- events -----------------------------------------------------------------------------------

    def feed(self, event: dict[str, Any]) -> None:
        """Apply one event. Raises ProtocolViolation or ServerReportedError."""
        kind = event.get("type")
        if kind == "content_block_delta":
            self._delta(event)
        elif kind == "content_block_start":
            self._block_start(event)
        elif kind == "content_block_stop":
            self._block_stop(event)
        elif kind == "ping":
            pass  # keep-alive: not part of the message, and the SDK's streams do not yield it either
        elif kind == "message_start":
            self._message_start(event)
        elif kind == "message_delta":
            self._message_delta(event)
        elif kind == "message_stop":
            self._require_started(kind)
            self.stopped = True
        elif kind == "error":
            error = event.get("error")
            raise ServerReportedError(error if isinstance(error, dict) else {"message": str(error)})
        elif isinstance(kind, str):
            # New event types may appear in the API; keep them and pass them on.
            self.unknown_events.append(event)
            if self.emit:
                if self.stopped:
                    self.after_stop.append(event)
                elif self._held_stop is not None:  # it came after that stop: it goes on after it
                    self._after_held_stop.append(event)
                else:
                    self.out.append(event)
        else:
            raise ProtocolViolation(f"an event has no type: {_excerpt(event)}")

    def _require_started(self, kind: str) -> None:
        if not self.started:
            raise ProtocolViolation(f"{kind} arrived before message_start")
        if self.stopped:
            raise ProtocolViolation(f"{kind} arrived after message_stop")

    def _message_start(self, event: dict[str, Any]) -> None:
        if self.started:
            raise ProtocolViolation("a second message_start arrived in one stream")
        message = event.get("message")
        if not isinstance(message, dict):
            raise ProtocolViolation(f"message_start has no message object: {_excerpt(event)}")
        self.started = True
        usage = message.get("usage")
        self.attempt_usage = dict(usage) if isinstance(usage, dict) else {}
        _require_counts(self.attempt_usage, event)
        if self.message is None:
            self.message = {key: value for key, value in message.items() if key != "content"}
            if self.emit:
                self.out.append(event)

    def _message_delta(self, event: dict[str, Any]) -> None:
        self._require_started("message_delta")
        delta = event.get("delta")
        if not isinstance(delta, dict):
            raise ProtocolViolation(f"message_delta has no delta object: {_excerpt(event)}")
        usage = event.get("usage")
        if isinstance(usage, dict):
            _require_counts(usage, event)  # before the stop is taken: this message_delta did not count
        self._settle_stop(cut_short=delta.get("stop_reason") == "max_tokens")
        self.stop = delta
        if isinstance(usage, dict):
            for key, value in usage.items():
                if value is not None:
                    self.attempt_usage[key] = value

    def _block_start(self, event: dict[str, Any]) -> None:
        self._require_started("content_block_start")
        index = event.get("index")
        start = event.get("content_block")
        if not isinstance(index, int) or not isinstance(start, dict):
            raise ProtocolViolation(f"content_block_start is malformed: {_excerpt(event)}")
        if index in self._map:
            raise ProtocolViolation(f"content_block_start for index {index} arrived twice")
        if start.get("text") is not None and not isinstance(start["text"], str):
            raise ProtocolViolation(
                f"content_block_start with a text that is not a string: {_excerpt(event)}"
            )
        self._settle_stop(cut_short=False)  # the model went on to another block: its text was its own
        continuation = self._continuation
        seam: Seam | None = None
        if continuation is not None and continuation.block is not None:
            kind = start.get("type")
            if kind in ("thinking", "redacted_thinking"):
                # Thinking about how to continue: kept on the attempt, not in the message.
                block = Block(start, -1)
                self.aside.append(block)
                self._map[index] = block
                return
            self._continuation = None
            if kind != "text":
                self._give_back(continuation)  # the model moved on: the text block ends as received
            else:
                seam = Seam(
                    sent=continuation.sent,
                    gap=continuation.gap,
                    shown=continuation.shown,
                    remove_overlap=continuation.remove_overlap,
                )
                if continuation.merge:
                    block = continuation.block
                    if self._held_stop is not None and self._held_stop[0] is block:
                        self._held_stop = None  # reopened: its stop comes when it really ends
                        self.out.extend(self._after_held_stop)
                        self._after_held_stop = []
                    block.closed = False
                    block.seam = seam
                    if start.get("text"):
                        self._append_text(block, start["text"])
                    if start.get("citations"):
                        block.citations = (block.citations or []) + list(start["citations"])
                    self._map[index] = block
                    return
                continuation.block.shown = ""  # a finished block had nothing cut back
        block = Block(start, len(self.blocks))
        self.blocks.append(block)
        self._map[index] = block
        if self.emit:
            self._release_stop()
            out = {**event, "index": block.index} if block.index != index else event
            if block.type == "text":
                self._release_provisional()
                if seam is not None:  # it may hold nothing new (only the whitespace): wait for text
                    self._pending_start = (block, out)
                else:
                    self.out.append(out)
            else:
                block.held = [out]  # a resume may drop it: held until a text block follows
        if seam is not None:
            block.seam = seam
            self._gap_block = block
            block.start = {**start, "text": ""}
            if start.get("text"):
                self._append_text(block, start["text"])

    def _give_back(self, continuation: Continuation) -> None:
        """The continuation will not extend its text block: the fragment cut back from it is put back
        (it was received, and shown), and the block is closed where it stands."""
        block = continuation.block
        assert block is not None
        if block.shown:
            block.text.append(block.shown)
            block.shown = ""
        if not block.closed:
            block.closed = True
            if self.emit:
                self._release_stop()
                self.out.append({"type": "content_block_stop", "index": block.index})

    def _release_stop(self) -> None:
        if self._held_stop is not None:
            self.out.append(self._held_stop[1])
            self._held_stop = None
            self.out.extend(self._after_held_stop)
            self._after_held_stop = []

    def _release_provisional(self) -> None:
        for block in self.blocks:
            if block.held is not None:
                self.out.extend(block.held)
                block.held = None

    def _out(self, block: Block, event: dict[str, Any]) -> None:
        if self._pending_start is not None and self._pending_start[0] is block:
            self.out.append(self._pending_start[1])
            self._pending_start = None
        if block.held is not None:
            if event.get("type") == "content_block_delta":
                held = HeldEvent(event)
                held.parts = len(block.json) or len(block.thinking)
                event = held
            block.held.append(event)
        else:
            self.out.append(event)

    def finish_message(self) -> None:
        """The call ends with this message: close what is still open (a block cut by max_tokens gets
        the partial parse of its input), give back an unused cut-back fragment, release held events."""
        self._settle_stop(cut_short=False)
        continuation = self._continuation
        if continuation is not None and continuation.block is not None:
            self._continuation = None
            self._give_back(continuation)
        for block in self.blocks:
            if not block.closed:
                block.seam = None
                if block.shown:  # cut back for a continuation that never got past it: received
                    block.text.append(block.shown)
                    block.shown = ""
                block.close_partial()
                if self.emit:
                    if block.type == "text":
                        self._release_stop()
                        if self._pending_start is not None and self._pending_start[0] is block:
                            self.out.append(self._pending_start[1])
                            self._pending_start = None
                        self.out.append({"type": "content_block_stop", "index": block.index})
                    else:
                        self._out(block, {"type": "content_block_stop", "index": block.index})
        if self.emit:
            self._release_stop()
            self._release_provisional()

    def _block_stop(self, event: dict[str, Any]) -> None:
        block = self._map.get(event.get("index"))  # type: ignore[arg-type]
        if block is None:
            raise ProtocolViolation(f"content_block_stop for index {event.get('index')} that never started")
        if block.closed:
            raise ProtocolViolation(f"content_block_stop for index {event.get('index')} arrived twice")
        if block.seam is not None and block.seam.cut_short():
            # All of the answer is the start of a repeat. Cut short by max_tokens, it is no new text
            # (kept, it would double what the block has); ended by the model, it is its text. Only
            # the message_delta says which: until then the block is closed and its text waits.
            block.closed = True
            self._undecided_stop = (block, event)
            return
        self._stop_block(block, event)

    def _settle_stop(self, *, cut_short: bool) -> None:
        """Take the stop that waited for the reason the answer ended (see `_block_stop`)."""
        if self._undecided_stop is None:
            return
        block, event = self._undecided_stop
        self._undecided_stop = None
        if cut_short and block.seam is not None:
            block.seam.drop_repeat()
        block.closed = False
        self._stop_block(block, event)

    def _stop_block(self, block: Block, event: dict[str, Any]) -> None:
        if block.seam is not None:
            seam = block.seam
            block.seam = None
            kept, live = seam.finish()
            if seam.ended_in_shown:  # the answer stopped inside the cut-back fragment: it was received
                kept, live = block.shown, ""
            block.shown = ""
            self.removed_overlap += seam.removed_overlap
            if kept:
                block.text.append(kept)
                self._live_text(block, live)
        if block is self._gap_block:
            self._gap_block = None
            if not block.text_value() and not block.citations and block is self.blocks[-1]:
                # A continuation's first block held only the whitespace already in the block before.
                self.blocks.pop()
                block.closed = True
                self._pending_start = None
                return
        block.close()
        if self.emit and block.index >= 0:
            if self._pending_start is not None and self._pending_start[0] is block:
                self.out.append(self._pending_start[1])
                self._pending_start = None
            stop = {"type": "content_block_stop", "index": block.index}
            if block.type == "text" and block.held is None:
                self._release_stop()
                self._held_stop = (block, stop)  # a continuation past max_tokens may extend it
            else:
                self._out(block, stop)

    def _delta(self, event: dict[str, Any]) -> None:
        block = self._map.get(event.get("index"))  # type: ignore[arg-type]
        delta = event.get("delta")
        if block is None or block.closed or not isinstance(delta, dict):
            raise ProtocolViolation(self._delta_problem(event, block))
        self.deltas += 1
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if not isinstance(text, str):  # a null or a number would break the text later, far from here
                raise ProtocolViolation(f"text_delta without a text string: {_excerpt(event)}")
            self.generated.append(text)
            if block.seam is not None:
                self._append_text(block, text)
                return
            block.text.append(text)
            if self.on_text is not None:
                self.on_text(text)
        elif kind == "input_json_delta":
            piece = _string_field(delta, "partial_json", event)
            self.generated.append(piece)
            block.json.append(piece)
            if self.on_tool_input is not None:
                self.on_tool_input(piece)
        elif kind == "thinking_delta":
            piece = _string_field(delta, "thinking", event)
            self.generated.append(piece)
            block.thinking.append(piece)
            if self.on_thinking is not None:
                self.on_thinking(piece)
        elif kind == "signature_delta":
            block.signature = _string_field(delta, "signature", event)
        elif kind == "citations_delta":
            citation = delta.get("citation")
            if not isinstance(citation, dict):
                raise ProtocolViolation(f"citations_delta without a citation object: {_excerpt(event)}")
            if block.citations is None:
                block.citations = []
            block.citations.append(citation)
        else:
            if block.unknown is None:
                block.unknown = []
            block.unknown.append(delta)
        if self.emit and block.index >= 0:
            if block.index != event["index"]:
                event = {**event, "index": block.index}
            if block.held is None and self._pending_start is None:
                self.out.append(event)  # the usual case: nothing held, no per-event bookkeeping
            else:
                self._out(block, event)

    def _append_text(self, block: Block, text: str) -> None:
        seam = block.seam
        assert seam is not None
        kept, live = seam.feed(text)
        if seam.done:
            block.seam = None
            block.shown = ""
            self.removed_overlap += seam.removed_overlap
        if kept:
            block.text.append(kept)
            self._live_text(block, live)

    def _live_text(self, block: Block, live: str) -> None:
        if live and self.on_text is not None:
            self.on_text(live)
        if live and self.emit:
            self._out(
                block,
                {
                    "type": "content_block_delta",
                    "index": block.index,
                    "delta": {"type": "text_delta", "text": live},
                },
            )

    def _delta_problem(self, event: dict[str, Any], block: Block | None) -> str:
        if not isinstance(event.get("delta"), dict):
            return f"content_block_delta has no delta object: {_excerpt(event)}"
        if block is None:
            return f"content_block_delta for index {event.get('index')} that never started"
        return f"content_block_delta for index {event.get('index')} after its content_block_stop"

    # -- results ----------------------------------------------------------------------------------

    def message_dict(self) -> dict[str, Any]:
        """The message so far, as the API's JSON shape."""
        message = dict(self.message or {})
        message["content"] = [block.to_dict() for block in self.blocks]
        message["usage"] = self.total_usage()
        stop = self.stop
        message["stop_reason"] = stop.get("stop_reason")
        message["stop_sequence"] = stop.get("stop_sequence")
        for key, value in stop.items():
            if key not in ("stop_reason", "stop_sequence") and (value is not None or key != "container"):
                message[key] = value
        return message


def _string_field(delta: dict[str, Any], name: str, event: dict[str, Any]) -> str:
    """The delta's `name` field, which must be a string: a null or a number would break the block
    later, far from here."""
    value = delta.get(name)
    if not isinstance(value, str):
        raise ProtocolViolation(f"{delta.get('type')} without a {name} string: {_excerpt(event)}")
    return value


def _require_counts(usage: dict[str, Any], event: dict[str, Any]) -> None:
    """Token counts are integers (or null): the engine adds them up and compares them."""
    for key, value in usage.items():
        if key.endswith("_tokens") and value is not None and type(value) is not int:
            raise ProtocolViolation(f"usage.{key} is not a whole number: {_excerpt(event)}")


def _excerpt(event: Any) -> str:
    text = json.dumps(event) if not isinstance(event, str) else event
    return text if len(text) <= 200 else text[:200] + "..."
