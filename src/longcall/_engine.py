"""One call as a state machine: bytes in, decisions out. Shared by the sync and async drivers.

A driver asks `request()` for the parameters of the next HTTP request, feeds the response body to
`feed()` chunk by chunk (or parsed events to `feed_event()`), then hands what ended the attempt
(an exception, or None) to `end()`, which answers with a `Decision`: the finished message, a wait
and another attempt, or an exception to raise. Every attempt shares one budget
(`Policy.max_attempts`); every failure keeps what was received.

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
from pydantic import PrivateAttr

from . import _errors
from ._accumulate import Accumulator, Continuation, ProtocolViolation
from ._policy import Policy
from ._record import Attempt
from ._resume import PREFILL_REFUSED, choose_strategy, is_prefill_refusal, plan_continuation, thinking_on
from ._retry import DeadlinePassed, Failure, classify
from ._sse import SSEDecoder

# json.loads' own C scanner without its per-call Python wrapper (encoding sniffing, two regex
# matches): about 3x faster on the small objects of a stream. Unusual input takes the json.loads path.
_scan = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # typeshed: the decoder is the context

# Continuation by instruction: the model may repeat some words before going on; leave room for them.
_OVERLAP_ALLOWANCE = 64


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


class LongcallMessage(Message):
    """An `anthropic.types.Message` that also knows how it was made.

    `attempts` lists every request made for it; `call_id` names its journal entry (None without one).
    Neither appears in `to_dict()` / `model_dump()`.
    """

    _attempts: list[Attempt] = PrivateAttr(default_factory=list)
    _call_id: str | None = PrivateAttr(default=None)

    @property
    def attempts(self) -> list[Attempt]:
        return self._attempts

    @property
    def call_id(self) -> str | None:
        return self._call_id


def build_message(data: dict[str, Any], attempts: list[Attempt], call_id: str | None) -> LongcallMessage:
    message = LongcallMessage.construct(**data)
    message._attempts = attempts
    message._call_id = call_id
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
    """What the driver does next: return `message`, raise `error`, or wait `delay` and try again."""

    message: LongcallMessage | None = None
    error: BaseException | None = None
    delay: float = 0.0


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
        self.max_tokens = int(params["max_tokens"])
        self.segment_output = 0  # output tokens of the current max_tokens segment, earlier attempts
        self.total_output = 0
        self._random = random
        self._attempt: Attempt | None = None
        self._decoder = SSEDecoder()
        self._next_kind = "initial"
        self._next_continuation: Continuation | None = None
        self._next_params: dict[str, Any] = params
        self._checkpoint_at = 0.0
        self._checkpoint_bytes = 0
        self._attempt_started = now
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
        self._decoder = SSEDecoder()
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
        if self.policy.deadline is not None:
            left = max(0.001, self.policy.deadline - (now - self.started))
            timeout = left if timeout is None else min(timeout, left)
        return timeout

    def response_started(self, request_id: str | None) -> None:
        assert self._attempt is not None
        self._attempt.request_id = request_id

    def feed(self, chunk: bytes, now: float) -> bool:
        """Take bytes of the response body; True once `message_stop` arrived (stop reading)."""
        attempt = self._attempt
        assert attempt is not None
        attempt.bytes_received += len(chunk)
        if attempt.time_to_first_token is None and self.acc.deltas:
            attempt.time_to_first_token = now - self._attempt_started
        if self.policy.deadline is not None and now - self.started >= self.policy.deadline:
            raise DeadlinePassed()
        events = self._decoder.feed(chunk)
        if events:
            attempt.events += len(events)
            self._dispatch(events)
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
        stopped = self.acc.stopped  # message_stop arrived: an error while closing changes nothing
        self._settle_usage(attempt, complete=stopped)
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
        if self.hooks.on_attempt is not None:
            self.hooks.on_attempt(attempt)
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
        self._settle_usage(attempt, complete=False)
        for observer in self.hooks.observers:
            observer.attempt_ended(self, attempt)
            observer.call_ended(self, None, error)

    # -- decisions --------------------------------------------------------------------------------

    def _after_stop(self, attempt: Attempt, now: float) -> Decision:
        policy = self.policy
        output = int(self.acc.attempt_usage.get("output_tokens") or 0)
        self.total_output += output
        if attempt.stop_reason == "max_tokens" and policy.continue_on_max_tokens:
            budget_left = (
                None
                if policy.max_output_tokens_total is None
                else (policy.max_output_tokens_total - self.total_output)
            )
            if (
                (budget_left is None or budget_left > 0)
                and len(self.attempts) < policy.max_attempts
                and not self._past_deadline(now)
            ):
                self.segment_output = 0
                limit = self.max_tokens if budget_left is None else min(self.max_tokens, budget_left)
                self._plan("continue", limit)
                return Decision(delay=0.0)
        return Decision(message=self.message())

    def _after_failure(
        self, attempt: Attempt, failure: Failure, error: BaseException | None, now: float
    ) -> Decision:
        attempt.error = failure.message
        self.segment_output += int(self.acc.attempt_usage.get("output_tokens") or 0)
        self.total_output += int(self.acc.attempt_usage.get("output_tokens") or 0)
        has_content = bool(self.acc.blocks)
        resuming = attempt.kind in ("resume", "continue")
        if (
            failure.kind == "http"
            and failure.status == 400
            and resuming
            and attempt.strategy == "prefill"
            and is_prefill_refusal(failure.message)
        ):
            # The model refuses prefill: remember it and continue by instruction instead.
            PREFILL_REFUSED.add(str(self.params.get("model")))
            self.strategy = "instruction"
            return self._again(attempt, now, failure, delay=0.0)
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
                "server": _errors.ServerError,
                "http": _errors.ResumeRejected,
                "stall": _errors.StreamStalled,
            }.get(failure.kind, _errors.GenerationFailed)
            return self._fail(cls, failure, error)
        if has_content and not self.policy.resume:
            return self._fail(self._failure_class(failure), failure, error)
        if len(self.attempts) >= self.policy.max_attempts:
            return self._fail(self._failure_class(failure), failure, error, exhausted=True)
        if self._past_deadline(now):
            return self._fail(_errors.StreamStalled, Failure("stall", False, "the deadline passed"), error)
        retries = sum(1 for a in self.attempts if a.error is not None)
        delay = (
            failure.retry_after
            if failure.retry_after is not None
            else self.policy.backoff(retries, self._random())
        )
        if failure.kind in ("stall", "incomplete", "network") and has_content:
            delay = 0.0  # content was flowing: a broken connection is not a reason to wait
        if self.policy.deadline is not None:
            delay = min(delay, max(0.0, self.policy.deadline - (now - self.started)))
        return self._again(attempt, now, failure, delay)

    def _again(self, attempt: Attempt, now: float, failure: Failure, delay: float) -> Decision:
        self._plan("resume", max(1, self.max_tokens - self.segment_output))
        return Decision(delay=delay)

    def _plan(self, kind: str, max_tokens: int) -> None:
        """Prepare the next request: continue what `acc` holds, or start over when nothing can be kept."""
        if self.acc.blocks and kind != "retry" and self.strategy == "instruction":
            max_tokens += _OVERLAP_ALLOWANCE
        plan = plan_continuation(
            self.params,
            self.acc,
            strategy=self.strategy,
            cache_resume=self.policy.cache_resume,
            max_tokens=max_tokens,
        )
        if plan.continuation is None:  # nothing to continue from: the same request again, in full
            kind = "retry"
            self.segment_output = 0
            plan.params["max_tokens"] = self.max_tokens
        thinking = plan.params.get("thinking")
        if thinking_on(plan.params) and isinstance(thinking, dict) and thinking.get("type") == "enabled":
            budget = int(thinking.get("budget_tokens") or 0)
            if plan.params["max_tokens"] <= budget:  # the API wants max_tokens above the thinking budget
                plan.params["max_tokens"] = budget + plan.params["max_tokens"]
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

    def _settle_usage(self, attempt: Attempt, complete: bool) -> None:
        usage = self.acc.attempt_usage
        if not complete:
            # The server bills what it generated; a broken stream never said how much. Count deltas.
            reported = int(usage.get("output_tokens") or 0)
            if self.acc.deltas > reported:
                usage["output_tokens"] = self.acc.deltas
                attempt.usage_estimated = True
            usage.setdefault("input_tokens", 0)
        attempt.usage = dict(usage)
        attempt.aside = [block.to_dict() for block in self.acc.aside]
        attempt.removed_overlap = self.acc.removed_overlap

    # -- results ----------------------------------------------------------------------------------

    def message(self) -> LongcallMessage:
        return build_message(self.acc.message_dict(), self.attempts, self.call_id)

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
        """The closing events of the stitched stream: one message_delta with the summed usage, then stop."""
        stop = dict(self.acc.stop)
        return [
            {"type": "message_delta", "delta": stop, "usage": self.acc.total_usage()},
            {"type": "message_stop"},
        ]

    # -- restoring a journaled call ---------------------------------------------------------------

    def _restore(self, saved: dict[str, Any]) -> None:
        """Start from a message saved earlier (a crashed process): the next request continues it."""
        self.acc.restore(saved)
        self.segment_output = int(self.acc.usage.get("output_tokens") or 0)
        self.total_output = self.segment_output
        self._plan("resume", max(1, self.max_tokens - self.segment_output))


def _kept(partial: Message | None) -> str:
    if partial is None:
        return "nothing had arrived"
    chars = 0
    for block in partial.content:
        chars += len(getattr(block, "text", None) or getattr(block, "thinking", None) or "")
    return f"the {len(partial.content)} content block(s) received ({chars} characters) are kept on .partial"
