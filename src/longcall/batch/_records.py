"""Output records, one JSON line per item, and the run's summary. Pure: no I/O.

A record:
    {"custom_id": "a1", "line": 3, "status": "succeeded" | "errored" | "expired" | "canceled",
     "message": {...the API's Message JSON...} | null,
     "error": {"type": ..., "message": ..., "request_id": ...} | null,
     "partial": {...what arrived before a failure...} (only when something did),
     "usage": {...summed over every request...}, "cost": 0.0123, "attempts": 2}

`cost` is in USD at the model's list price (half of it for `--via batches`, the Batches API's price).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .._catalog import cost as price_of

BATCH_DISCOUNT = 0.5  # the Message Batches API bills every token at half the Messages API's price


def _cost(usage: dict[str, Any] | None, model: Any, *, batch: bool) -> float:
    if not usage or not isinstance(model, str):
        return 0.0
    try:
        value = price_of(usage, model)
    except Exception:  # noqa: BLE001 - an unknown model or odd usage must not lose the record
        return 0.0
    return round(value * (BATCH_DISCOUNT if batch else 1.0), 8)


def success(
    custom_id: str, line: int, message: dict[str, Any], attempts: int, *, batch: bool = False
) -> dict[str, Any]:
    usage = message.get("usage") or {}
    return {
        "custom_id": custom_id,
        "line": line,
        "status": "succeeded",
        "message": message,
        "error": None,
        "usage": usage,
        "cost": _cost(usage, message.get("model"), batch=batch),
        "attempts": attempts,
    }


def failure(
    custom_id: str | None,
    line: int,
    error_type: str,
    message: str,
    *,
    request_id: str | None = None,
    status: str = "errored",
    usage: dict[str, Any] | None = None,
    model: Any = None,
    attempts: int = 0,
    partial: dict[str, Any] | None = None,
    batch: bool = False,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "custom_id": custom_id,
        "line": line,
        "status": status,
        "message": None,
        "error": {"type": error_type, "message": message, "request_id": request_id},
        "usage": usage or {},
        "cost": _cost(usage, model, batch=batch),
        "attempts": attempts,
    }
    if partial is not None and partial.get("content"):
        record["partial"] = partial
    return record


def from_exception(
    custom_id: str, line: int, error: BaseException, model: Any, *, batch: bool = False
) -> dict[str, Any]:
    """The record of an item whose call raised: the SDK's errors, longcall's, anything else."""
    attempts = list(getattr(error, "attempts", None) or [])
    usage: dict[str, Any] = {}
    from .._accumulate import add_usage

    for attempt in attempts:
        add_usage(usage, dict(getattr(attempt, "usage", None) or {}))
    request_id = getattr(error, "request_id", None)
    if request_id is None and attempts:
        request_id = getattr(attempts[-1], "request_id", None)
    error_type = type(error).__name__
    body = getattr(error, "body", None)
    cause = getattr(error, "cause", None)
    if body is None and cause is not None:
        body = getattr(cause, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error_type = str(body["error"].get("type") or error_type)
    partial = getattr(error, "partial", None)
    partial_dict = partial.to_dict() if partial is not None and hasattr(partial, "to_dict") else None
    return failure(
        custom_id,
        line,
        error_type,
        str(error),
        request_id=request_id,
        usage=usage,
        model=model,
        attempts=len(attempts) or (1 if request_id else 0),
        partial=partial_dict,
        batch=batch,
    )


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Summary:
    """What a run did: counts over the whole input (this shard), tokens, cost, time."""

    total: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0  # finished by an earlier run of the same command
    left: int = 0  # not finished: the run stopped (Ctrl-C, a spend limit) before them
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    wall_seconds: float = 0.0
    requests: int = 0  # HTTP requests sent to the Messages API (streaming mode)
    throttled: int = 0  # 429/529 answers and overloaded errors seen
    concurrency_min: int = 0
    concurrency_max: int = 0
    batches: int = 0  # Message Batches created (--via batches)
    rounds: int = 0
    stopped: str | None = None  # why the run stopped early, one sentence
    output: str = ""
    state: str = ""
    errors_by_type: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    def add(self, record: dict[str, Any]) -> None:
        if record.get("status") == "succeeded":
            self.succeeded += 1
        else:
            self.failed += 1
            kind = str((record.get("error") or {}).get("type") or "error")
            self.errors_by_type[kind] = self.errors_by_type.get(kind, 0) + 1
        usage = record.get("usage") or {}
        self.input_tokens += (
            int(usage.get("input_tokens") or 0)
            + int(usage.get("cache_creation_input_tokens") or 0)
            + int(usage.get("cache_read_input_tokens") or 0)
        )
        self.output_tokens += int(usage.get("output_tokens") or 0)
        self.cost += float(record.get("cost") or 0.0)

    def line(self) -> str:
        """One sentence for people."""
        parts = [
            f"{self.succeeded:,} succeeded",
            f"{self.failed:,} failed",
        ]
        if self.left:
            parts.append(f"{self.left:,} not finished")
        if self.skipped:
            parts.append(f"{self.skipped:,} done by an earlier run")
        text = (
            f"{', '.join(parts)} of {self.total:,}; {self.input_tokens:,} input and "
            f"{self.output_tokens:,} output tokens, ${self.cost:.4f}, {self.wall_seconds:.1f} s"
        )
        return text

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        data["done"] = self.done
        return data
