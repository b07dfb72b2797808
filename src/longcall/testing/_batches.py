"""The emulator's Message Batches API, and a rate limiter for its Messages endpoint.

`MessageBatches(emulator).install()` adds the endpoints the SDK's `client.messages.batches` (and
`client.beta.messages.batches`) call: create, retrieve, list, cancel, delete, and the results as JSONL
(in an order that is shuffled, deterministically, as the API promises no order). It validates what
the API validates when a batch is created: 1 to `max_requests` requests, at most `max_bytes` of body,
each `custom_id` 1 to 64 of `a-zA-Z0-9_-` and unique in the batch, `params` without `stream`. Each
request's parameters are checked as the Messages endpoint checks them when the batch is processed:
a bad one becomes an `errored` result, as in the API.

A batch is `in_progress` for `processing_seconds` after its creation, then `ended`, with every result
made by the same deterministic model as POST /v1/messages. Per-request outcomes can be injected with
`inject(custom_id, "errored" | "expired" | "canceled" | "succeeded" | {result dict}, ...)`: each
batch that contains the id takes the next one (so a resubmission can succeed). `break_downloads(n)`
cuts the next n results downloads halfway.

`ShortWindowLimits(...).install(emulator)` answers POST /v1/messages with the
`anthropic-ratelimit-requests-*` and `-output-tokens-*` headers and, past a limit per window (fixed
windows of any length, so tests see 429s and resets in a fraction of a second; the emulator's own
`rate_limits=` models the API's per-minute buckets), a real 429 `rate_limit_error` with
`retry-after`; `spend_limit_after=N` answers every request after the N-th with the API's
spend-limit 429 (`error.details.error_code: enforced_spend_limit_reached`, no retry-after).
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._model import RequestError
from ._wire import error_body

CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MAX_REQUESTS = 100_000
MAX_BYTES = 256 * 1024 * 1024
_PREFIX = "/v1/messages/batches"
_DAY = 24 * 3600
_RESULT_TYPES = ("succeeded", "errored", "expired", "canceled")


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class _Batch:
    id: str
    created_at: float
    requests: list[dict[str, Any]]
    results: list[dict[str, Any]]
    ends_at: float
    cancel_initiated_at: float | None = None
    ended_at: float | None = None
    deleted: bool = False


@dataclass
class MessageBatches:
    """The Message Batches endpoints of an `Emulator` (see the module docstring).

    Args:
        emulator: the emulator to serve them on; `install()` adds the route.
        processing_seconds: how long a batch stays `in_progress` after it is created.
        max_requests, max_bytes: the per-batch limits (the API's: 100,000 requests, 256 MB).
        clock: wall-clock epoch seconds (tests may inject one).
    """

    emulator: Any
    processing_seconds: float = 0.0
    max_requests: int = MAX_REQUESTS
    max_bytes: int = MAX_BYTES
    clock: Callable[[], float] = time.time
    _batches: dict[str, _Batch] = field(default_factory=dict)
    _injected: dict[str, deque[Any]] = field(default_factory=dict)
    _broken_downloads: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: int = 0
    processed: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def install(self) -> MessageBatches:
        self.emulator.interceptors.append(self.route)
        return self

    def reset(self) -> None:
        with self._lock:
            self._batches.clear()
            self._injected.clear()
            self._broken_downloads = 0
            self.processed.clear()

    def inject(self, custom_id: str, *results: str | dict[str, Any]) -> None:
        """The next batches containing `custom_id` give it these results, one per batch."""
        for result in results:
            if isinstance(result, str) and result not in _RESULT_TYPES:
                raise ValueError(f"a result is one of {', '.join(_RESULT_TYPES)}, not {result!r}")
        with self._lock:
            self._injected.setdefault(custom_id, deque()).extend(results)

    def break_downloads(self, count: int = 1) -> None:
        """Cut the next `count` results downloads halfway through."""
        with self._lock:
            self._broken_downloads += count

    def end_now(self) -> None:
        """Let every batch in progress end now (as if its processing time had passed)."""
        now = self.clock()
        with self._lock:
            for batch in self._batches.values():
                batch.ends_at = min(batch.ends_at, now)

    @property
    def created(self) -> list[str]:
        """The ids of the batches created, oldest first."""
        with self._lock:
            return list(self._batches)

    # -- the route ---------------------------------------------------------------------------------

    def route(self, handler: Any, method: str, path: str, body: Any) -> bool:
        if not path.startswith(_PREFIX):
            return False
        rest = path[len(_PREFIX) :].strip("/")
        parts = rest.split("/") if rest else []
        if method == "POST" and not parts:
            self._send(handler, 200, self._create(handler, body))
        elif method == "GET" and not parts:
            self._send(handler, 200, self._list(handler))
        elif method == "GET" and len(parts) == 1:
            self._send(handler, 200, self._object(self._get(parts[0])))
        elif method == "DELETE" and len(parts) == 1:
            self._send(handler, 200, self._delete(parts[0]))
        elif method == "POST" and len(parts) == 2 and parts[1] == "cancel":
            self._send(handler, 200, self._cancel(parts[0]))
        elif method == "GET" and len(parts) == 2 and parts[1] == "results":
            self._results(handler, parts[0])
        else:
            raise RequestError(404, "not_found_error", "Not found")
        return True

    def _send(self, handler: Any, status: int, payload: dict[str, Any]) -> None:
        handler._send_json(status, json.dumps(payload).encode())

    # -- endpoints ---------------------------------------------------------------------------------

    def _create(self, handler: Any, body: Any) -> dict[str, Any]:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list):
            raise RequestError(400, "invalid_request_error", "requests: Field required")
        if not requests:
            raise RequestError(400, "invalid_request_error", "requests: List should have at least 1 item")
        if len(requests) > self.max_requests:
            raise RequestError(
                400,
                "invalid_request_error",
                f"requests: List should have at most {self.max_requests} items after validation, "
                f"not {len(requests)}",
            )
        size = len(json.dumps(body).encode())
        if size > self.max_bytes:
            raise RequestError(
                413, "request_too_large", f"Request exceeds the maximum allowed number of bytes ({size})."
            )
        seen: set[str] = set()
        for index, request in enumerate(requests):
            if not isinstance(request, dict) or not isinstance(request.get("params"), dict):
                raise RequestError(400, "invalid_request_error", f"requests.{index}.params: Field required")
            custom_id = request.get("custom_id")
            if not isinstance(custom_id, str):
                raise RequestError(
                    400, "invalid_request_error", f"requests.{index}.custom_id: Field required"
                )
            if len(custom_id) > 64:
                raise RequestError(
                    400,
                    "invalid_request_error",
                    f"requests.{index}.custom_id: String should have at most 64 characters",
                )
            if not CUSTOM_ID.fullmatch(custom_id):
                raise RequestError(
                    400,
                    "invalid_request_error",
                    f"requests.{index}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'",
                )
            if custom_id in seen:
                raise RequestError(
                    400,
                    "invalid_request_error",
                    f"requests.{index}.custom_id: Duplicate custom_id {custom_id!r}; each must be unique",
                )
            seen.add(custom_id)
            if "stream" in request["params"]:
                raise RequestError(
                    400,
                    "invalid_request_error",
                    f"requests.{index}.params.stream: Extra inputs are not permitted",
                )
        now = self.clock()
        with self._lock:
            self._counter += 1
            batch_id = f"msgbatch_emu_{self._counter:06d}"
            results = [self._process(batch_id, request) for request in requests]
            batch = _Batch(batch_id, now, requests, results, now + self.processing_seconds)
            self._batches[batch_id] = batch
        return self._object(batch)

    def _process(self, batch_id: str, request: dict[str, Any]) -> dict[str, Any]:
        """One request's result, made as POST /v1/messages would make it (or as injected)."""
        custom_id = request["custom_id"]
        queue = self._injected.get(custom_id)
        injected = queue.popleft() if queue else None
        self.processed.append((batch_id, custom_id, request["params"]))
        if isinstance(injected, dict):
            return {"custom_id": custom_id, "result": injected}
        if injected in ("expired", "canceled"):
            return {"custom_id": custom_id, "result": {"type": injected}}
        if injected == "errored":
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}
        try:
            # As POST /v1/messages answers it, strict checks included.
            message = self.emulator.message_for(request["params"])
        except RequestError as error:
            body = json.loads(error_body(error.error_type, error.message, "req_emu_batch"))
            body.pop("request_id", None)
            return {"custom_id": custom_id, "result": {"type": "errored", "error": body}}
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}

    def _get(self, batch_id: str) -> _Batch:
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None or batch.deleted:
            raise RequestError(404, "not_found_error", f"message_batch: {batch_id}")
        return batch

    def _status(self, batch: _Batch) -> str:
        now = self.clock()
        if batch.ended_at is None and (now >= batch.ends_at or batch.cancel_initiated_at is not None):
            if batch.cancel_initiated_at is not None and now < batch.ends_at:
                # Cancelled before it finished: nothing of it was processed.
                batch.results = [
                    {"custom_id": r["custom_id"], "result": {"type": "canceled"}} for r in batch.results
                ]
                batch.ended_at = now
                return "canceling"
            batch.ended_at = max(batch.ends_at, batch.cancel_initiated_at or 0.0)
        return "ended" if batch.ended_at is not None else "in_progress"

    def _object(self, batch: _Batch) -> dict[str, Any]:
        status = self._status(batch)
        counts = dict.fromkeys(("processing", *_RESULT_TYPES), 0)
        if status == "ended":
            for result in batch.results:
                counts[result["result"]["type"]] += 1
        else:
            counts["processing"] = len(batch.requests)
        ended = status == "ended"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "ended_at": _rfc3339(batch.ended_at) if ended and batch.ended_at else None,
            "created_at": _rfc3339(batch.created_at),
            "expires_at": _rfc3339(batch.created_at + _DAY),
            "archived_at": None,
            "cancel_initiated_at": _rfc3339(batch.cancel_initiated_at) if batch.cancel_initiated_at else None,
            "results_url": f"{self.emulator.url}{_PREFIX}/{batch.id}/results" if ended else None,
        }

    def _list(self, handler: Any) -> dict[str, Any]:
        query = parse_qs(urlsplit(handler.path).query)
        limit = max(1, min(1000, int(query.get("limit", ["20"])[0])))
        with self._lock:
            batches = [b for b in reversed(self._batches.values()) if not b.deleted]  # newest first
        ids = [b.id for b in batches]
        if "after_id" in query and query["after_id"][0] in ids:
            batches = batches[ids.index(query["after_id"][0]) + 1 :]
        elif "before_id" in query and query["before_id"][0] in ids:
            end = ids.index(query["before_id"][0])
            batches = batches[max(0, end - limit) : end]
        page = batches[:limit]
        data = [self._object(b) for b in page]
        return {
            "data": data,
            "has_more": len(batches) > limit,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def _cancel(self, batch_id: str) -> dict[str, Any]:
        batch = self._get(batch_id)
        if self._status(batch) == "in_progress":
            batch.cancel_initiated_at = self.clock()
        return self._object(batch)

    def _delete(self, batch_id: str) -> dict[str, Any]:
        batch = self._get(batch_id)
        if self._status(batch) != "ended":
            raise RequestError(
                400,
                "invalid_request_error",
                f"Batch {batch_id} cannot be deleted while it is in progress; cancel it first.",
            )
        batch.deleted = True
        return {"id": batch_id, "type": "message_batch_deleted"}

    def _results(self, handler: Any, batch_id: str) -> None:
        batch = self._get(batch_id)
        if self._status(batch) != "ended":
            raise RequestError(
                400,
                "invalid_request_error",
                f"Batch {batch_id} has not finished processing; its results are not ready.",
            )
        order = list(batch.results)
        random.Random(batch_id).shuffle(order)  # the API promises no order
        payload = b"".join(json.dumps(result).encode() + b"\n" for result in order)
        with self._lock:
            broken = self._broken_downloads > 0
            if broken:
                self._broken_downloads -= 1
        handler._send_headers(200, "application/binary", [("content-length", str(len(payload)))])
        if broken:
            handler.wfile.write(payload[: len(payload) // 2])
            handler.wfile.flush()
            handler._abort()
        handler.wfile.write(payload)


@dataclass
class ShortWindowLimits:
    """Rate limits on POST /v1/messages, with the API's headers and 429s (see the module docstring).

    Args:
        requests: requests allowed per window (None: no limit, headers still sent).
        output_tokens: output tokens allowed per window, counted at `max_tokens` when a request
            starts, as the API estimates them (None: no limit).
        window: seconds per window (the API's is a minute; tests use less).
        spend_limit_after: answer every request after this many with the spend-limit 429.
        clock: monotonic seconds; wall: epoch seconds (for the reset headers).
    """

    requests: int | None = None
    output_tokens: int | None = None
    window: float = 60.0
    spend_limit_after: int | None = None
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    refused: int = 0
    accepted: int = 0
    _start: float | None = None
    _used_requests: int = 0
    _used_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, emulator: Any) -> ShortWindowLimits:
        emulator.interceptors.insert(0, self.route)
        return self

    def route(self, handler: Any, method: str, path: str, body: Any) -> bool:
        if method != "POST" or path != "/v1/messages":
            return False
        tokens = int(body.get("max_tokens") or 0) if isinstance(body, dict) else 0
        with self._lock:
            now = self.clock()
            if self._start is None or now >= self._start + self.window:
                self._start, self._used_requests, self._used_tokens = now, 0, 0
            left = self._start + self.window - now
            reset = _rfc3339(self.wall() + left)
            if self.spend_limit_after is not None and self.accepted >= self.spend_limit_after:
                self.refused += 1
                spend = True
                over = False
            else:
                spend = False
                over = (self.requests is not None and self._used_requests >= self.requests) or (
                    self.output_tokens is not None and self._used_tokens + tokens > self.output_tokens
                )
                if over:
                    self.refused += 1
                else:
                    self.accepted += 1
                    self._used_requests += 1
                    self._used_tokens += tokens
            headers = self._headers(reset)
        if spend:
            message = "You have reached your organization's monthly usage limit; access resumes on the 1st."
            payload = json.loads(error_body("rate_limit_error", message, handler._request_id))
            payload["error"]["details"] = {"error_code": "enforced_spend_limit_reached"}
            handler._send_json(429, json.dumps(payload).encode(), headers)
            return True
        if over:
            retry = [("retry-after", str(max(1, math.ceil(left))))]
            handler._send_error(
                429,
                "rate_limit_error",
                "Number of requests has exceeded your rate limit.",
                [*retry, *headers],
            )
            return True
        handler.extra_headers.extend(headers)
        return False

    def _headers(self, reset: str) -> list[tuple[str, str]]:
        headers = []
        for kind, limit, used in (
            ("requests", self.requests, self._used_requests),
            ("output-tokens", self.output_tokens, self._used_tokens),
        ):
            if limit is None:
                continue
            headers += [
                (f"anthropic-ratelimit-{kind}-limit", str(limit)),
                (f"anthropic-ratelimit-{kind}-remaining", str(max(0, limit - used))),
                (f"anthropic-ratelimit-{kind}-reset", reset),
            ]
        return headers
