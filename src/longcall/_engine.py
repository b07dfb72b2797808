"""One call as a state machine: bytes in, decisions out. Shared by the sync and async drivers.

A driver asks `request()` for the parameters of the next HTTP request, feeds the response body to
`feed()` chunk by chunk (or parsed events to `feed_event()`), then hands what ended the attempt
(an exception, or None) to `end()`, which answers with a `Decision`: the finished message, a wait
and another attempt, an exception to raise, or first a token count to make (`Decision.count`: the
driver asks the free `count_tokens` endpoint and gives the answer to `counted()`). Every failure
keeps what was received.

Budgets, each enforced here and nowhere else:
- failures: `Policy.max_attempts - 1` retries and resumes over the whole call;
- continuation past `max_tokens`: `Policy.max_segments` segments and `Policy.max_output_tokens_total`
  output tokens; a call ended by one of these says so in `LongcallMessage.stopped_by`;
- output: a segment never generates more than the caller's `max_tokens` over all its attempts
  (a resume asks for what is left of it, never for an allowance on top), no request asks for more
  than the model's output limit or than what is left of `max_output_tokens_total`;
- time: `Policy.deadline` over everything, waits included; a `retry-after` longer than what is
  left of it fails at once.

Usage: an attempt that ended with `message_delta` reports the server's own usage. A broken one
never got it: its output tokens are the received content counted by the `count_tokens` endpoint
(`Attempt.usage_source == "counted"`), or estimated from the characters when that fails
("estimated").

The engine never does I/O, never sleeps and never reads a clock: `now` (monotonic seconds) and
`wall` (epoch seconds) come from the driver, and randomness for jitter from `random`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from json.scanner import make_scanner
from typing import Any, Protocol

from anthropic.types import Message

from . import _catalog, _errors, _models_api
from ._accumulate import Accumulator, Continuation, ProtocolViolation
from ._policy import Policy
from ._record import Attempt, Recorded
from ._resume import (
    PREFILL_REFUSED,
    choose_strategy,
    copy_params,
    is_prefill_refusal,
    plan_continuation,
    thinking_on,
)
from ._retry import DeadlinePassed, Failure, classify
from ._sse import SSEDecoder

# json.loads' own C scanner without its per-call Python wrapper (encoding sniffing, two regex
# matches): about 3x faster on the small objects of a stream. Unusual input takes the json.loads path.
_scan = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed: the decoder is the context

# The API's smallest thinking budget; a continuation with less room than this continues without thinking.
_MIN_THINKING_BUDGET = 1024
_COUNT_PROBE = "."  # counted alone, to take the count's fixed per-request tokens off


class HookFailed(Exception):
    """A caller's hook raised: not a stream failure. The driver re-raises `error` as it was."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


def _guarded(hook: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
    """The hook, with its exceptions marked as the caller's own, so they are never retried."""
    if hook is None:
        return None

    def call(value: Any) -> None:
        try:
            hook(value)
        except Exception as exc:
            raise HookFailed(exc) from exc

    return call


class LongcallMessage(Recorded, Message):
    """An `anthropic.types.Message` that also knows how it was made: `attempts`, `call_id` and
    `stopped_by` (see `_record.Recorded`). None of these appear in `to_dict()` / `model_dump()`.
    """


def build_message(
    data: dict[str, Any], attempts: list[Attempt], call_id: str | None, stopped_by: str | None = None
) -> LongcallMessage:
    message = LongcallMessage.construct(**data)
    message._attempts = attempts
    message._call_id = call_id
    message._stopped_by = stopped_by
    return message


class Observer(Protocol):
    """Follows a call: the journal and the CLI's display implement it. Must be quick."""

    def call_started(self, call: Generation) -> None: ...
    def checkpoint(self, call: Generation) -> None: ...
    def attempt_ended(self, call: Generation, attempt: Attempt) -> None: ...
    def call_ended(
        self, call: Generation, message: LongcallMessage | None, error: BaseException | None
    ) -> None: ...


@dataclass
class Hooks:
    """Live callbacks. Each takes the new text (or the event) and returns nothing."""

    on_text: Callable[[str], None] | None = None
    on_thinking: Callable[[str], None] | None = None
    on_tool_input: Callable[[str], None] | None = None
    on_event: Callable[[Any], None] | None = None
    on_attempt: Callable[[Attempt], None] | None = None
    observers: list[Observer] = field(default_factory=list)


@dataclass
class Decision:
    """What the driver does next: return `message`, raise `error`, or wait `delay` and try again; but
    first, when `count` is set, ask `messages.count_tokens(**params)` for each and give the
    `input_tokens` (None for a failure) to `Generation.counted()`, which decides again."""

    message: LongcallMessage | None = None
    error: BaseException | None = None
    delay: float = 0.0
    count: list[dict[str, Any]] | None = None


class Generation:
    """Everything about one call, across all of its attempts."""

    def __init__(
        self,
        params: dict[str, Any],
        policy: Policy,
        *,
        hooks: Hooks | None = None,
        emit: bool = False,
        accepts_prefill: bool = True,
        now: float,
        wall: float,
        random: Callable[[], float],
        call_id: str | None = None,
        resume_from: dict[str, Any] | None = None,
    ) -> None:
        # A copy: a chat program appending to its history while this call runs changes nothing here.
        params = copy_params(params)
        self.params = params
        self.policy = policy
        self.hooks = hooks or Hooks()
        self.call_id = call_id or uuid.uuid4().hex[:12]
        self.acc = Accumulator(
            on_text=_guarded(self.hooks.on_text),
            on_thinking=_guarded(self.hooks.on_thinking),
            on_tool_input=_guarded(self.hooks.on_tool_input),
            emit=emit,
        )
        self._on_event = _guarded(self.hooks.on_event)
        self.attempts: list[Attempt] = []
        self.strategy = choose_strategy(policy.strategy, params, accepts_prefill=accepts_prefill)
        self.started = now
        self.started_wall = wall
        self.max_tokens = int(params["max_tokens"])  # the caller's: the most one segment may generate
        self.output_limit = _output_limit(params)  # the model's, None when the catalog does not know it
        self.segment_output = 0  # output tokens of the current max_tokens segment, earlier attempts
        self.total_output = 0
        self.segments = 1
        self.failures = 0
        self._empty_failures = 0  # failures in a row that received no content: they back off
        self._random = random
        self._attempt: Attempt | None = None
        self._decoder = SSEDecoder(policy.max_event_bytes)
        self._next_kind = "initial"
        self._next_continuation: Continuation | None = None
        self._next_params: dict[str, Any] = {**params, "max_tokens": self._fit(self.max_tokens)}
        _fit_thinking(self._next_params)
        self._checkpoint_at = 0.0
        self._checkpoint_bytes = 0
        self._attempt_started = now
        self._ending: tuple[BaseException | None, bool] | None = None  # (error, stopped) while counting
        self._probe_tokens: int | None = None
        # Set by a driver that can answer `Decision.count`; without it broken attempts are estimated.
        self.counts_tokens = False
        self.finished = False
        self.next_delay: float | None = None  # seconds the driver waits before the next attempt
        if resume_from is not None:
            self._restore(resume_from)

    # -- the driver's side ------------------------------------------------------------------------

    def request(self, now: float, wall: float) -> dict[str, Any]:
        """Start the next attempt; return the keyword arguments for `messages.create(stream=True)`."""
        attempt = Attempt(
            number=len(self.attempts) + 1,
            kind=self._next_kind,
            started_at=wall,
            strategy=self.strategy if self._next_kind in ("resume", "continue") else None,
        )
        self.attempts.append(attempt)
        self._attempt = attempt
        self._decoder = SSEDecoder(self.policy.max_event_bytes)
        self.acc.begin_attempt(self._next_continuation)
        self._checkpoint_at = now
        self._checkpoint_bytes = 0
        self._attempt_started = now
        if len(self.attempts) == 1:
            for observer in self.hooks.observers:
                observer.call_started(self)
        return {**self._next_params, "stream": True}

    def read_timeout(self, now: float) -> float | None:
        """Seconds a read may wait: the idle timeout, or less when the deadline is closer."""
        timeout = self.policy.idle_timeout
        left = self.time_left(now)
        if left is not None:
            left = max(0.001, left)
            timeout = left if timeout is None else min(timeout, left)
        return timeout

    def time_left(self, now: float) -> float | None:
        """Seconds left of `Policy.deadline` (negative once passed), or None without one."""
        if self.policy.deadline is None:
            return None
        return self.policy.deadline - (now - self.started)

    def response_started(self, request_id: str | None) -> None:
        assert self._attempt is not None
        self._attempt.request_id = request_id

    def feed(self, chunk: bytes, now: float) -> bool:
        """Take bytes of the response body; True once `message_stop` arrived (stop reading)."""
        attempt = self._attempt
        assert attempt is not None
        attempt.bytes_received += len(chunk)
        if self.policy.deadline is not None and now - self.started >= self.policy.deadline:
            raise DeadlinePassed()
        events = self._decoder.feed(chunk)
        if events:
            attempt.events += len(events)
            self._dispatch(events)
            if attempt.time_to_first_token is None and self.acc.deltas:
                attempt.time_to_first_token = now - self._attempt_started
        if self.hooks.observers:
            self._checkpoint_bytes += len(chunk)
            if (
                self._checkpoint_bytes >= self.policy.checkpoint_bytes
                or now - self._checkpoint_at >= self.policy.checkpoint_interval
            ):
                self._checkpoint_at = now
                self._checkpoint_bytes = 0
                for observer in self.hooks.observers:
                    observer.checkpoint(self)
        return self.acc.stopped

    def _dispatch(self, events: list[tuple[str, bytes]]) -> None:
        scan = _scan
        feed = self.acc.feed
        on_event = self._on_event
        for name, data in events:
            try:
                text = data.decode()
                event, end = scan(text, 0)
                if end != len(text):
                    raise ValueError
            except (ValueError, StopIteration):  # unusual input: json.loads decides, with its message
                try:
                    event = json.loads(data)
                except ValueError:
                    raise ProtocolViolation(f"an event's data is not JSON: {data[:200]!r}") from None
            if type(event) is not dict:
                raise ProtocolViolation(f"an event's data is not a JSON object: {data[:200]!r}")
            if name == "error" and event.get("type") != "error":
                event = {"type": "error", "error": event.get("error", event)}
            try:
                feed(event)
            except (KeyError, TypeError, AttributeError) as exc:  # a field missing or of the wrong type
                raise ProtocolViolation(
                    f"a {event.get('type')} event is malformed ({exc!r}): {data[:200]!r}"
                ) from None
            if on_event is not None:
                on_event(event)

    def feed_event(self, event: dict[str, Any]) -> bool:
        """Take one already parsed event (for transports that do not speak SSE, such as Bedrock)."""
        self.acc.feed(event)
        if self._on_event is not None:
            self._on_event(event)
        return self.acc.stopped

    def take_events(self) -> list[dict[str, Any]]:
        """The stitched events produced since the last call (only when built with emit=True)."""
        out = self.acc.out
        self.acc.out = []
        return out

    def end(self, error: BaseException | None, now: float, wall: float) -> Decision:
        """The attempt is over: `error` ended it, or None for the end of the body. Say what is next."""
        attempt = self._attempt
        assert attempt is not None
        if error is None and not self.acc.stopped:
            try:  # the body ended: a last event may lack its blank line
                events = self._decoder.flush()
                attempt.events += len(events)
                self._dispatch(events)
            except Exception as exc:  # noqa: BLE001 - what ends the attempt is classified below
                error = exc
        self.acc.finish_attempt()
        attempt.ended_at = wall
        # message_stop arrived, or message_delta with its stop reason and only message_stop was lost:
        # the message is complete either way, and an error while closing changes nothing.
        stopped = self.acc.stopped or (self.acc.started and self.acc.stop.get("stop_reason") is not None)
        if stopped:
            self.acc.stopped = True
        elif self._past_deadline(now):
            error = DeadlinePassed()
        if not stopped and self.counts_tokens:
            count = self._count_requests()
            if count is not None:
                self._ending = (error, stopped)
                return Decision(count=count)
        return self._conclude(error, stopped, None, now)

    def counted(self, counts: list[int | None], now: float, wall: float) -> Decision:
        """The answers to `Decision.count` (None for each that failed); decide what is next."""
        assert self._ending is not None
        error, stopped = self._ending
        self._ending = None
        tokens: int | None = None
        if len(counts) == 2 and counts[0] is not None and counts[1] is not None:
            self._probe_tokens = counts[1]
            tokens = max(0, counts[0] - counts[1] + 1)
        elif len(counts) == 1 and counts[0] is not None and self._probe_tokens is not None:
            tokens = max(0, counts[0] - self._probe_tokens + 1)
        return self._conclude(error, stopped, tokens, now)

    def _conclude(
        self, error: BaseException | None, stopped: bool, counted: int | None, now: float
    ) -> Decision:
        attempt = self._attempt
        assert attempt is not None
        self._settle_usage(attempt, complete=stopped, counted=counted)
        if stopped:
            attempt.stop_reason = self.acc.stop.get("stop_reason")
            decision = self._after_stop(attempt, now)
        else:
            decision = self._after_failure(attempt, classify(error), error, now)
        if decision.message is not None or decision.error is not None:
            self.finished = True
        self.next_delay = None if self.finished else decision.delay  # for a countdown while waiting
        for observer in self.hooks.observers:
            observer.attempt_ended(self, attempt)
        try:
            if self.hooks.on_attempt is not None:
                self.hooks.on_attempt(attempt)  # the caller's exception goes on, as it was raised
        finally:  # and the journal records the end of the call all the same
            if self.finished:
                for observer in self.hooks.observers:
                    observer.call_ended(self, decision.message, decision.error)
        return decision

    def interrupt(self, error: BaseException, now: float, wall: float) -> None:
        """The caller stopped the call (Ctrl-C, cancellation, an abandoned stream): record what arrived."""
        if self.finished or self._attempt is None:
            return
        self.finished = True
        attempt = self._attempt
        self.acc.finish_attempt()
        attempt.ended_at = wall
        attempt.error = f"interrupted ({type(error).__name__})"
        self._settle_usage(attempt, complete=False, counted=None)
        for observer in self.hooks.observers:
            observer.attempt_ended(self, attempt)
            observer.call_ended(self, None, error)

    # -- decisions --------------------------------------------------------------------------------

    def _budget_left(self) -> int | None:
        total = self.policy.max_output_tokens_total
        return None if total is None else total - self.total_output

    def _fit(self, wanted: int) -> int:
        """`wanted` output tokens, within the model's limit and what is left of the output budget."""
        limit = wanted
        if self.output_limit is not None:
            limit = min(limit, self.output_limit)
        budget_left = self._budget_left()
        if budget_left is not None:
            limit = min(limit, budget_left)
        return max(1, limit)

    def _after_stop(self, attempt: Attempt, now: float) -> Decision:
        policy = self.policy
        output = int(self.acc.attempt_usage.get("output_tokens") or 0)
        self.total_output += output
        self.segment_output += output
        stopped_by = None
        if attempt.stop_reason == "max_tokens":
            stopped_by = self._continuation_stop(now)
            if stopped_by is None and policy.continue_on_max_tokens:
                self._next_segment()
                return Decision()
        return self._finish(stopped_by)

    def _continuation_stop(self, now: float) -> str | None:
        """At max_tokens: the continuation budget that stops the call, or None when none does."""
        budget_left = self._budget_left()
        budget_spent = budget_left is not None and budget_left <= 0
        if not self.policy.continue_on_max_tokens:
            # Without continuation the caller's max_tokens ends the call, unless the budget came first.
            first = budget_spent and self.segment_output < self.max_tokens
            return "max_output_tokens_total" if first else None
        if budget_spent:
            return "max_output_tokens_total"
        if self.segments >= self.policy.max_segments:
            return "max_segments"
        if self._past_deadline(now):
            return "deadline"
        return None

    def _next_segment(self) -> None:
        self.segments += 1
        self.segment_output = 0
        self._plan("continue", self._fit(self.max_tokens), cut_at_max_tokens=True)

    def _finish(self, stopped_by: str | None = None) -> Decision:
        try:
            self.acc.finish_message()
        except ProtocolViolation as exc:  # a tool input cut so badly that not even a partial parse works
            return self._fail(_errors.ToolInputInvalid, classify(exc), exc)
        if stopped_by is not None or not self.acc.stop.get("stop_reason"):
            self.acc.stop = {**self.acc.stop, "stop_reason": "max_tokens", "stop_sequence": None}
        return Decision(message=self.message(stopped_by))

    def _after_failure(
        self, attempt: Attempt, failure: Failure, error: BaseException | None, now: float
    ) -> Decision:
        attempt.error = failure.message
        output = int(self.acc.attempt_usage.get("output_tokens") or 0)
        self.segment_output += output
        self.total_output += output
        self.failures += 1
        got_content = bool(self.acc.generated)
        self._empty_failures = 0 if got_content else self._empty_failures + 1
        has_content = bool(self.acc.blocks)
        resuming = attempt.kind in ("resume", "continue")
        if (
            failure.kind == "http"
            and failure.status == 400
            and resuming
            and attempt.strategy == "prefill"
            and is_prefill_refusal(failure.message)
        ):
            model = str(self.params.get("model"))
            PREFILL_REFUSED.add(model)
            _models_api.remember_refuses_prefill(model)  # for later processes too
            if self.policy.strategy == "prefill":  # asked for explicitly: not ours to change
                return self._fail(
                    _errors.ResumeRejected,
                    Failure(
                        "http",
                        False,
                        f"{failure.message} (the model refuses prefill, and Policy.strategy='prefill' "
                        "asks for it; use strategy='auto' or 'instruction')",
                    ),
                    error,
                )
            self.strategy = "instruction"  # continue by instruction instead; the attempt still counts
            failure = Failure("http", True, failure.message, 0.0, failure.status)
        if not failure.transient:
            if (
                failure.kind in ("http", "unexpected")
                and not has_content
                and not resuming
                and error is not None
            ):
                return Decision(error=error)  # the SDK's own exception (or a bug of ours), unchanged
            cls = {
                "protocol": _errors.StreamProtocolError,
                "tool_json": _errors.ToolInputInvalid,
                "server": _errors.ServerError,
                "http": _errors.ResumeRejected,
                "stall": _errors.StreamStalled,
            }.get(failure.kind, _errors.GenerationFailed)
            return self._fail(cls, failure, error)
        if has_content and not self.policy.resume:
            return self._fail(self._failure_class(failure), failure, error)
        if self.failures >= self.policy.max_attempts:
            return self._fail(self._failure_class(failure), failure, error, exhausted=True)
        if self._past_deadline(now):
            return self._fail(_errors.StreamStalled, Failure("stall", False, "the deadline passed"), error)
        budget_left = self._budget_left()
        if budget_left is not None and budget_left <= 0:
            return self._finish("max_output_tokens_total")
        if self.max_tokens - self.segment_output <= 0 and self.acc.blocks:
            # The broken attempts used all of the caller's max_tokens: the segment is over.
            stopped_by = self._continuation_stop(now)
            if stopped_by is None and self.policy.continue_on_max_tokens:
                self._next_segment()
                return Decision()
            return self._finish(stopped_by)
        if got_content and failure.kind in ("stall", "incomplete", "network"):
            delay = 0.0  # content was flowing: a broken connection is not a reason to wait
        elif failure.retry_after is not None:
            delay = failure.retry_after
        else:
            delay = self.policy.backoff(max(1, self._empty_failures), self._random())
        left = self.time_left(now)
        if left is not None:
            if failure.retry_after is not None and failure.retry_after > left:
                return self._fail(
                    self._failure_class(failure),
                    Failure(
                        failure.kind,
                        False,
                        f"{failure.message}, and the server asked to wait {failure.retry_after:g} s "
                        f"before retrying, more than the {max(0.0, left):.1f} s left of Policy.deadline",
                    ),
                    error,
                )
            delay = min(delay, max(0.0, left))
        # A continuation past max_tokens that failed before any content is still one: its text block,
        # though stopped, was cut, and the retry must extend it rather than start a new block.
        failed = self._next_continuation
        still_cut = not got_content and failed is not None and failed.merge
        self._plan("resume", self._fit(self.max_tokens - self.segment_output), cut_at_max_tokens=still_cut)
        return Decision(delay=delay)

    def _plan(self, kind: str, max_tokens: int, *, cut_at_max_tokens: bool = False) -> None:
        """Prepare the next request: continue what `acc` holds, or start over when nothing can be kept."""
        plan = plan_continuation(
            self.params,
            self.acc,
            strategy=self.strategy,
            cache_resume=self.policy.cache_resume,
            max_tokens=max_tokens,
            cut_at_max_tokens=cut_at_max_tokens,
        )
        if plan.continuation is None:  # nothing to continue from: the same request again, in full
            kind = "retry"
            self.segment_output = 0
            plan.params["max_tokens"] = self._fit(self.max_tokens)
        _fit_thinking(plan.params)
        self._next_kind = kind
        self._next_continuation = plan.continuation
        self._next_params = plan.params
        if self.attempts:
            self.attempts[-1].regenerated += plan.regenerated
            self.attempts[-1].dropped.extend(plan.dropped)

    def _failure_class(self, failure: Failure) -> type[_errors.GenerationFailed]:
        return {
            "stall": _errors.StreamStalled,
            "server": _errors.ServerError,
            "http": _errors.ServerError,
            "protocol": _errors.StreamProtocolError,
            "tool_json": _errors.ToolInputInvalid,
        }.get(failure.kind, _errors.StreamIncomplete)

    def _fail(
        self,
        cls: type[_errors.GenerationFailed],
        failure: Failure,
        error: BaseException | None,
        exhausted: bool = False,
    ) -> Decision:
        partial = self.partial()
        kept = _kept(partial)
        why = failure.message
        if exhausted:
            why += f", and all {self.policy.max_attempts} attempts are used"
        exc = cls(
            f"Generation failed: {why}; {kept}.",
            partial=partial,
            attempts=self.attempts,
            cause=error,
            call_id=self.call_id,
        )
        if error is not None:
            exc.__cause__ = error
        return Decision(error=exc)

    def _past_deadline(self, now: float) -> bool:
        return self.policy.deadline is not None and now - self.started >= self.policy.deadline

    # -- usage ------------------------------------------------------------------------------------

    def _count_requests(self) -> list[dict[str, Any]] | None:
        """The count_tokens requests that measure this broken attempt's output, or None if not needed."""
        text = "".join(self.acc.generated)
        if not text.strip():
            return None
        model = self.params.get("model")
        requests = [{"model": model, "messages": [{"role": "user", "content": text}]}]
        if self._probe_tokens is None:
            requests.append({"model": model, "messages": [{"role": "user", "content": _COUNT_PROBE}]})
        return requests

    def _settle_usage(self, attempt: Attempt, complete: bool, counted: int | None) -> None:
        usage = self.acc.attempt_usage
        if not complete:
            # The server bills what it generated, but a broken stream never says how much: count what
            # arrived (the model's own count when the endpoint answered), else estimate it.
            text = "".join(self.acc.generated)
            if not text:
                usage["output_tokens"] = 0
                attempt.usage_source = "counted"
            elif counted is not None:
                usage["output_tokens"] = counted
                attempt.usage_source = "counted"
            else:
                usage["output_tokens"] = max(self.acc.deltas, estimate_tokens(text))
                attempt.usage_source = "estimated"
            attempt.usage_estimated = True
            usage.setdefault("input_tokens", 0)
        attempt.usage = dict(usage)
        attempt.aside = [block.to_dict() for block in self.acc.aside]
        attempt.removed_overlap = self.acc.removed_overlap

    # -- results ----------------------------------------------------------------------------------

    def message(self, stopped_by: str | None = None) -> LongcallMessage:
        return build_message(self.acc.message_dict(), self.attempts, self.call_id, stopped_by)

    def partial(self) -> LongcallMessage | None:
        if self.acc.message is None and not self.acc.blocks:
            return None
        data = self.acc.message_dict()
        data.setdefault("id", "")
        data.setdefault("type", "message")
        data.setdefault("role", "assistant")
        data.setdefault("model", self.params.get("model"))
        data["stop_reason"] = None
        return build_message(data, self.attempts, self.call_id)

    def final_events(self) -> list[dict[str, Any]]:
        """The closing events of the stitched stream: what the accumulator held back until the end,
        one message_delta with the summed usage, then message_stop, then the unknown events the server
        sent after its message_stop."""
        stop = dict(self.acc.stop)
        tail, self.acc.after_stop = self.acc.after_stop, []
        return [
            *self.take_events(),
            {"type": "message_delta", "delta": stop, "usage": self.acc.total_usage()},
            {"type": "message_stop"},
            *tail,
        ]

    # -- restoring a journaled call ---------------------------------------------------------------

    def _restore(self, saved: dict[str, Any]) -> None:
        """Start from a message saved earlier (a crashed process): the next request continues it."""
        self.acc.restore(saved)
        self.segment_output = int(self.acc.usage.get("output_tokens") or 0)
        self.total_output = self.segment_output
        self._plan("resume", self._fit(max(1, self.max_tokens - self.segment_output)))


def estimate_tokens(text: str) -> int:
    """A rough token count, for when the count_tokens endpoint cannot be reached: about 4 characters a
    token in ASCII, 1.5 in other scripts (Chinese and Japanese run near one token a character)."""
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    return max(1, -(-(ascii_chars * 3 + (len(text) - ascii_chars) * 8) // 12))


def _betas(params: dict[str, Any]) -> list[str]:
    headers = params.get("extra_headers") or {}
    value = ""
    for name, header in headers.items():
        if str(name).lower() == "anthropic-beta":
            value = str(header)
    betas = [part.strip() for part in value.split(",") if part.strip()]
    listed = params.get("betas")
    if isinstance(listed, list):
        betas.extend(str(beta) for beta in listed)
    return betas


def _output_limit(params: dict[str, Any]) -> int | None:
    """The model's largest `max_tokens` with the request's beta headers, or None when not known."""
    model = params.get("model")
    if not isinstance(model, str):
        return None
    info = _models_api.known(model) or _catalog.exact(model) or _catalog._find(model)
    if info is None:
        return None
    limit = info.max_output
    if info.max_output_beta is not None and info.max_output_beta[1] in _betas(params):
        limit = max(limit, info.max_output_beta[0])
    return limit


def _fit_thinking(params: dict[str, Any]) -> None:
    """The API wants `max_tokens` above `thinking.budget_tokens`: lower the budget to fit inside
    `max_tokens` (never the other way round: that would run past the caller's limit), or continue
    without thinking when too little room is left for the API's smallest budget."""
    thinking = params.get("thinking")
    if not (thinking_on(params) and isinstance(thinking, dict) and thinking.get("type") == "enabled"):
        return
    budget = int(thinking.get("budget_tokens") or 0)
    max_tokens = int(params["max_tokens"])
    if budget < max_tokens:
        return
    if max_tokens - 1 >= _MIN_THINKING_BUDGET:
        params["thinking"] = {**thinking, "budget_tokens": max_tokens - 1}
    else:
        params["thinking"] = {"type": "disabled"}


def _kept(partial: Message | None) -> str:
    if partial is None:
        return "nothing had arrived"
    chars = 0
    for block in partial.content:
        chars += len(getattr(block, "text", None) or getattr(block, "thinking", None) or "")
    return f"the {len(partial.content)} content block(s) received ({chars} characters) are kept on .partial"
