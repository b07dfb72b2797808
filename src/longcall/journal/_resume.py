"""Continuing a journaled call after the process that started it died, failed or was interrupted."""

from __future__ import annotations

import os
import random
import time
from typing import TYPE_CHECKING, Any

from .._catalog import lookup
from .._engine import Generation, Hooks, LongcallMessage, Observer, build_message
from .._errors import JournalError
from .._policy import Policy
from .._record import Attempt
from ._params import HOOKS
from ._records import CallRecord, policy_from
from ._store import Journal

if TYPE_CHECKING:
    import anthropic


def _prepare_resume(
    call_id: str,
    journal: Journal | None,
    policy: Policy | None,
    observers: list[Observer] | None,
    hooks: dict[str, Any],
) -> tuple[Journal, CallRecord, Generation | None]:
    unknown = set(hooks) - HOOKS
    if unknown:
        raise TypeError(f"resume() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    journal = journal if journal is not None else Journal(Journal.default_path())
    record = journal.get(call_id)
    if record is None:
        raise JournalError(f"There is no call {call_id!r} in the journal {str(journal.path)!r}.")
    if record.status == "done" and record.message is not None:
        return journal, record, None
    if record.status == "streaming" and not record.crashed and record.pid != os.getpid():
        raise JournalError(
            f"Call {record.id} is still streaming in process {record.pid}; wait for it, or stop that process "
            "first."
        )
    policy = policy or policy_from(record.policy) or Policy()
    gen = Generation(
        dict(record.params),
        policy,
        hooks=Hooks(**hooks, observers=[journal, *(observers or [])]),
        call_id=record.id,
        resume_from=record.message if record.message and record.message.get("content") else None,
        now=time.monotonic(),
        wall=time.time(),
        random=random.random,
        accepts_prefill=lookup(record.model).accepts_prefill,
    )
    gen.started_wall = record.created_at
    return journal, record, gen


def _finished(record: CallRecord) -> LongcallMessage:
    assert record.message is not None
    attempts = [Attempt(**{k: v for k, v in data.items() if k != "run"}) for data in record.attempts]
    return build_message(record.message, attempts, record.id)


def _raw_messages(client: Any) -> Any:
    client = getattr(client, "unwrapped", client)
    return client.with_options(max_retries=0).messages.with_streaming_response


def resume(
    call_id: str,
    client: anthropic.Anthropic | Any,
    *,
    journal: Journal | None = None,
    policy: Policy | None = None,
    observers: list[Observer] | None = None,
    **hooks: Any,
) -> LongcallMessage:
    """Continue a journaled call from its last checkpoint, and record the result on the same entry.

    For a call whose process died (a crash, `kill -9`, a closed laptop), was interrupted or failed.
    The received content is continued through the resume machinery (prefill or instruction, as for a
    broken stream), so the final message reads as one answer.

    Args:
        call_id: the call's id, or a unique prefix of it.
        client: an `anthropic.Anthropic` (or a `longcall.wrap`ped one) to send the requests with.
        journal: the journal holding the call; the per-user one if None (also when
            `LONGCALL_JOURNAL=off`: resuming a journaled call reads and updates its journal).
        policy: how to retry and continue; the policy the call was started with if None.
        observers: more `Observer`s of the call (the journal is always one).
        **hooks: `on_text`, `on_thinking`, `on_tool_input`, `on_event`, `on_attempt`, as for `wrap()`;
            they see only what arrives now, not what was saved.

    Returns:
        The whole message, with usage summed over every attempt of every process. A call that had
        already finished is returned from the journal without any request.

    Raises:
        JournalError: no such call, or it is still streaming in a live process.
        GenerationFailed: the continuation failed too (the journal keeps the longer partial).
    """
    from .._drivers import run_sync

    _, record, gen = _prepare_resume(call_id, journal, policy, observers, hooks)
    if gen is None:
        return _finished(record)
    return run_sync(_raw_messages(client), gen)


async def aresume(
    call_id: str,
    client: anthropic.AsyncAnthropic | Any,
    *,
    journal: Journal | None = None,
    policy: Policy | None = None,
    observers: list[Observer] | None = None,
    **hooks: Any,
) -> LongcallMessage:
    """`resume` with an `anthropic.AsyncAnthropic` (or a wrapped one)."""
    from .._drivers import run_async

    _, record, gen = _prepare_resume(call_id, journal, policy, observers, hooks)
    if gen is None:
        return _finished(record)
    return await run_async(_raw_messages(client), gen)
