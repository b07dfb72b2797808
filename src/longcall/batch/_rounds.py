"""The Message Batches API in rounds: what to submit, and what each result means. Pure: no I/O.

The Batches API neither streams nor continues: a request that stops at `max_tokens` just ends there,
and requests it could not finish in 24 hours expire. So longcall runs rounds:
- a result that stopped at `max_tokens`, when continuation is asked for, is continued in the next
  round: the continuation request is built by the same code as in streaming mode
  (`longcall._resume.plan_continuation`: prefill where the model accepts it, by instruction
  otherwise) and its answer is stitched on by the same accumulator and seam, so the text reads as
  one answer exactly as it would have streamed;
- `errored` results with a transient error (overloaded, api_error, rate limit, timeout), `expired` and
  `canceled` results are submitted again as they were;
- a continuation the model refuses as a prefill is submitted again by instruction;
- everything else, or an item out of rounds, is an error record (what arrived so far kept in it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .._accumulate import Accumulator
from .._catalog import lookup
from .._resume import choose_strategy, is_prefill_refusal, plan_continuation
from .._retry import RETRY_ERROR_TYPES

REQUEST_OVERHEAD = 64  # bytes around each request in the create body: {"custom_id":...,"params":...},


def request_size(custom_id: str, params: dict[str, Any]) -> int:
    return len(json.dumps({"custom_id": custom_id, "params": params}, ensure_ascii=False).encode()) + 2


def split(
    requests: Iterable[tuple[str, dict[str, Any]]], *, max_requests: int, max_bytes: int
) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Requests in groups that fit one batch each: at most `max_requests` and `max_bytes` of body.
    A single request larger than `max_bytes` goes alone (the API will say what it thinks)."""
    group: list[tuple[str, dict[str, Any]]] = []
    size = REQUEST_OVERHEAD
    for custom_id, params in requests:
        needed = request_size(custom_id, params)
        if group and (len(group) >= max_requests or size + needed > max_bytes):
            yield group
            group, size = [], REQUEST_OVERHEAD
        group.append((custom_id, params))
        size += needed
    if group:
        yield group


def strategy_for(params: dict[str, Any], requested: str) -> str:
    return choose_strategy(
        requested, params, accepts_prefill=lookup(str(params.get("model"))).accepts_prefill
    )


def _events(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A finished Message as the events that would have streamed it, for the accumulator."""
    head = {
        key: value for key, value in message.items() if key not in ("content", "stop_reason", "stop_sequence")
    }
    yield {"type": "message_start", "message": {**head, "content": [], "stop_reason": None}}
    for index, block in enumerate(message.get("content") or []):
        kind = block.get("type")
        if kind == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}  # the text arrives in a delta
            yield {"type": "content_block_start", "index": index, "content_block": start}
            for citation in block.get("citations") or []:
                delta = {"type": "citations_delta", "citation": citation}
                yield {"type": "content_block_delta", "index": index, "delta": delta}
            delta = {"type": "text_delta", "text": block.get("text") or ""}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            yield {"type": "content_block_start", "index": index, "content_block": start}
            delta = {"type": "thinking_delta", "thinking": block.get("thinking") or ""}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
            delta = {"type": "signature_delta", "signature": block.get("signature") or ""}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
        elif kind in ("tool_use", "server_tool_use"):
            start = {**block, "input": {}}
            yield {"type": "content_block_start", "index": index, "content_block": start}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.get("input") or {})}
            yield {"type": "content_block_delta", "index": index, "delta": delta}
        else:
            yield {"type": "content_block_start", "index": index, "content_block": block}
        yield {"type": "content_block_stop", "index": index}
    stop = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    yield {"type": "message_delta", "delta": stop, "usage": message.get("usage") or {}}
    yield {"type": "message_stop"}


@dataclass
class Continued:
    """The request that continues a partial answer, and the accumulator ready to stitch its result."""

    params: dict[str, Any]
    accumulator: Accumulator


def continue_from(original: dict[str, Any], partial: dict[str, Any], strategy: str) -> Continued:
    """The next round's request for an answer cut at `max_tokens` (`partial`, the message so far).
    Deterministic: the same inputs give the same request and the same stitching, after a restart."""
    accumulator = Accumulator()
    accumulator.restore(partial)
    plan = plan_continuation(
        original,
        accumulator,
        strategy=strategy,
        cache_resume=False,  # batch requests run far apart: a 5-minute cache entry would not be read
        max_tokens=int(original["max_tokens"]),
    )
    accumulator.begin_attempt(plan.continuation)
    return Continued(plan.params, accumulator)


def stitch(
    original: dict[str, Any], partial: dict[str, Any] | None, result: dict[str, Any], strategy: str
) -> dict[str, Any]:
    """The whole message: `result` (a continuation's answer) stitched onto `partial`, usage summed."""
    if partial is None:
        return result
    continued = continue_from(original, partial, strategy)
    accumulator = continued.accumulator
    for event in _events(result):
        accumulator.feed(event)
    accumulator.finish_attempt()
    message = accumulator.message_dict()
    message["id"] = partial.get("id", message.get("id"))
    return message


@dataclass(frozen=True)
class Outcome:
    """What to do with an item after one of its batch results.

    action: "done" (record it), "continue" (submit `params` next round, `partial` the message so
    far), "again" (submit the same request again), or "fail" (record the error).
    """

    action: str
    params: dict[str, Any] | None = None
    partial: dict[str, Any] | None = None
    strategy: str | None = None
    error_type: str = ""
    error_message: str = ""
    status: str = "errored"


def judge(
    original: dict[str, Any],
    partial: dict[str, Any] | None,
    submitted: dict[str, Any],
    result: dict[str, Any],
    *,
    strategy: str,
    continue_on_max_tokens: bool,
    output_budget: int | None,
    rounds_left: int,
) -> Outcome:
    """Decide what one batch result means for its item (see the module docstring)."""
    kind = result.get("type")
    if kind == "succeeded":
        message = stitch(original, partial, result["message"], strategy)
        output = int((message.get("usage") or {}).get("output_tokens") or 0)
        budget_left = output_budget is None or output < output_budget
        if (
            message.get("stop_reason") == "max_tokens"
            and continue_on_max_tokens
            and rounds_left > 0
            and budget_left
            and any(block.get("type") == "text" for block in message.get("content") or [])
        ):
            continued = continue_from(original, message, strategy)
            params = continued.params
            if output_budget is not None:
                params["max_tokens"] = max(1, min(int(params["max_tokens"]), output_budget - output))
            return Outcome("continue", params=params, partial=message, strategy=strategy)
        return Outcome("done", partial=message)
    if kind == "errored":
        error = (result.get("error") or {}).get("error") or result.get("error") or {}
        error_type = str(error.get("type") or "api_error")
        text = str(error.get("message") or error_type)
        if partial is not None and strategy == "prefill" and is_prefill_refusal(text) and rounds_left > 0:
            continued = continue_from(original, partial, "instruction")
            return Outcome("continue", params=continued.params, partial=partial, strategy="instruction")
        if error_type in RETRY_ERROR_TYPES and rounds_left > 0:
            return Outcome("again", params=submitted, partial=partial, strategy=strategy)
        return Outcome("fail", partial=partial, error_type=error_type, error_message=text)
    if kind in ("expired", "canceled"):
        if rounds_left > 0:
            return Outcome("again", params=submitted, partial=partial, strategy=strategy)
        return Outcome(
            "fail",
            partial=partial,
            error_type=f"{kind}",
            error_message=f"the request {kind} in every one of its batches",
            status=str(kind),
        )
    return Outcome(
        "fail", partial=partial, error_type="api_error", error_message=f"unknown result type {kind!r}"
    )
