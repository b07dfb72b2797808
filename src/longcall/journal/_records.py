"""What the journal hands back (`CallRecord`), and what of a running call it stores. Pure code."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from dataclasses import dataclass, field
from typing import Any

from .._engine import Generation, LongcallMessage
from .._policy import Policy

STATUSES = ("streaming", "done", "failed", "interrupted")  # what `CallRecord.status` can be


@functools.lru_cache(maxsize=64)
def _policy_items(policy: Policy) -> tuple[tuple[str, Any], ...]:
    return tuple(dataclasses.asdict(policy).items())


def policy_dict(policy: Policy) -> dict[str, Any]:
    """The policy's fields (a frozen, hashable dataclass: converted once, not once per write)."""
    try:
        return dict(_policy_items(policy))
    except TypeError:  # a field that is not hashable
        return dataclasses.asdict(policy)


def policy_from(data: dict[str, Any] | None) -> Policy | None:
    if not data:
        return None
    names = {f.name for f in dataclasses.fields(Policy)}
    try:
        return Policy(**{k: v for k, v in data.items() if k in names})
    except (TypeError, ValueError):
        return None


def usage_so_far(gen: Generation) -> dict[str, Any]:
    """Usage over every attempt, counting the deltas of a request still streaming as output tokens."""
    usage = gen.acc.total_usage()
    reported = int(gen.acc.attempt_usage.get("output_tokens") or 0)
    if not gen.finished and gen.acc.deltas > reported:
        usage["output_tokens"] = int(usage.get("output_tokens") or 0) + gen.acc.deltas - reported
    return usage


def message_so_far(gen: Generation) -> dict[str, Any]:
    message = gen.acc.message_dict()
    message["usage"] = usage_so_far(gen)
    return message


def status_of(message: LongcallMessage | None, error: BaseException | None) -> str:
    if message is not None:
        return "done"
    if error is None or isinstance(error, (KeyboardInterrupt, GeneratorExit, SystemExit)):
        return "interrupted"
    if type(error).__name__ == "CancelledError":  # asyncio's, without importing asyncio here
        return "interrupted"
    return "failed"


def error_text(error: BaseException | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, (KeyboardInterrupt, GeneratorExit)) or type(error).__name__ == "CancelledError":
        return f"interrupted ({type(error).__name__})"
    text = str(error) or type(error).__name__
    return text if len(text) <= 2000 else text[:1999] + "…"


def pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, but belongs to someone else
        return True
    return True


@dataclass
class CallRecord:
    """One journaled call.

    Attributes:
        id: the call id (also `LongcallMessage.call_id` and `GenerationFailed.call_id`).
        created_at, updated_at: epoch seconds.
        model: the model asked for.
        params: the request parameters, secrets removed (see `safe_params`).
        status: "streaming", "done", "failed" or "interrupted".
        message: the final message as the API's JSON, or the last checkpoint of a call that did not
            finish; None if nothing was saved.
        usage: usage summed over every attempt (output counted from the deltas for a broken stream).
        cost: USD, from the model's price table; None when it could not be computed.
        error: how the call failed or stopped, one sentence.
        prompt: the last user turn's text, shortened.
        stop_reason: the final message's stop reason.
        pid: the process that recorded it last.
        policy: the `Policy` fields the call ran with.
        parent_id: the call this one follows in a conversation (see `Journal.link`), or None.
        attempts: every request made for it, in order (`Attempt.to_dict()` plus "run": 1 for the
            first process, 2 for the first `resume`, ...).
    """

    id: str
    created_at: float
    updated_at: float
    model: str
    params: dict[str, Any]
    status: str
    message: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    cost: float | None = None
    error: str | None = None
    prompt: str = ""
    stop_reason: str | None = None
    pid: int | None = None
    policy: dict[str, Any] | None = None
    parent_id: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The text blocks of the message (so far), concatenated."""
        content = (self.message or {}).get("content") or []
        return "".join(
            block.get("text") or ""
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )

    @property
    def crashed(self) -> bool:
        """Still marked streaming, but the process that was writing it is gone."""
        return self.status == "streaming" and not pid_alive(self.pid)

    @property
    def state(self) -> str:
        """The status for people: "crashed" for a streaming call whose process died."""
        return "crashed" if self.crashed else self.status

    @property
    def output_tokens(self) -> int:
        return int(self.usage.get("output_tokens") or 0)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state
        data["text"] = self.text
        return data


def head_so_far(gen: Generation) -> dict[str, Any]:
    """The message so far without its content (for a checkpoint, which stores content as pieces)."""
    acc = gen.acc
    blocks, acc.blocks = acc.blocks, []  # the accumulator's own head logic, without joining any text
    try:
        head = acc.message_dict()
    finally:
        acc.blocks = blocks
    del head["content"]
    head["usage"] = usage_so_far(gen)
    return head


def removable(status: str, pid: int | None) -> bool:
    """May prune remove it: anything but a call still streaming in a live process."""
    return status != "streaming" or not pid_alive(pid)


COLUMNS = (
    "calls.id, created_at, updated_at, model, params, status, message, usage, cost, error, prompt,"
    " stop_reason, pid, policy, parent_id"
)


def record_from_row(row: tuple[Any, ...]) -> CallRecord:
    (
        call_id,
        created,
        updated,
        model,
        params,
        status,
        message,
        usage,
        cost,
        error,
        prompt,
        stop,
        pid,
        policy,
        parent,
    ) = row
    return CallRecord(
        id=call_id,
        created_at=created,
        updated_at=updated,
        model=model,
        params=json.loads(params),
        status=status,
        message=json.loads(message) if message else None,
        usage=json.loads(usage or "{}"),
        cost=cost,
        error=error,
        prompt=prompt or "",
        stop_reason=stop,
        pid=pid,
        policy=json.loads(policy) if policy else None,
        parent_id=parent,
    )
