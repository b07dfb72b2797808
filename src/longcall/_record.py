"""What happened in one call: the record of every request (attempt) made for it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pydantic


@dataclass
class Attempt:
    """One request made for a call.

    Attributes:
        number: 1 for the first request, then 2, 3, ...
        kind: "initial", "retry" (nothing kept from the one before), "resume" (continues a broken
            stream) or "continue" (continues past max_tokens).
        strategy: "prefill" or "instruction" for resume/continue requests, else None.
        started_at, ended_at: wall-clock times (seconds since the epoch).
        bytes_received, events: what arrived.
        request_id: the server's `request-id`, when it sent one.
        stop_reason: the stop reason the server gave, if the stream got that far.
        error: one sentence on how it failed, or None.
        usage: the usage of this request (estimated when the stream broke before the server sent it).
        usage_estimated: True when the stream broke before the server reported usage, so the output
            tokens are not the server's own figure (see `usage_source`).
        usage_source: where `usage["output_tokens"]` comes from: "server" (its `message_delta`),
            "counted" (the content received, counted by the free `count_tokens` endpoint; 0 when
            nothing arrived), or "estimated" (from the characters received, when counting failed).
        regenerated: characters received in earlier attempts that this one had to generate again
            (a word fragment cut back, a thinking or tool block broken in the middle).
        dropped: the blocks given up for regeneration, as received (nothing is lost).
        aside: thinking the model did before continuing, kept here rather than in the message.
        removed_overlap: text the model repeated at the seam and longcall removed.
        time_to_first_token: seconds from sending the request to the first content delta.
    """

    number: int
    kind: str = "initial"
    strategy: str | None = None
    started_at: float = 0.0
    ended_at: float | None = None
    bytes_received: int = 0
    events: int = 0
    request_id: str | None = None
    stop_reason: str | None = None
    error: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    usage_estimated: bool = False
    usage_source: str = "server"
    regenerated: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)
    aside: list[dict[str, Any]] = field(default_factory=list)
    removed_overlap: str = ""
    time_to_first_token: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Recorded(pydantic.BaseModel):
    """What longcall adds to the SDK's message classes (`LongcallMessage`, `LongcallBetaMessage`,
    the parsed ones): how the message was made, as private attributes that `to_dict()` and
    `model_dump()` leave out.

    `attempts` lists every request made for it; `call_id` names its journal entry (None without one);
    `stopped_by` names the longcall budget that ended it ("max_output_tokens_total", "max_segments"
    or "deadline", with `stop_reason` "max_tokens"), None when the model or the caller's `max_tokens`
    did.
    """

    _attempts: list[Attempt] = pydantic.PrivateAttr(default_factory=list)
    _call_id: str | None = pydantic.PrivateAttr(default=None)
    _stopped_by: str | None = pydantic.PrivateAttr(default=None)

    @property
    def stopped_by(self) -> str | None:
        return self._stopped_by

    @property
    def attempts(self) -> list[Attempt]:
        return self._attempts

    @property
    def call_id(self) -> str | None:
        return self._call_id
