"""Recording calls without making them wait: the `Observer` half of `Journal`, and its writer thread.

Invariants:
- An observer method never touches the file and never waits for a lock another process may hold: it
  takes a snapshot of what is new (for a checkpoint, the parts that arrived since the previous one)
  and queues it. One writer thread per journal (per process) writes the queue in order, everything
  queued at once in one transaction. So an event loop never stalls on the journal, even while another
  process holds the write lock, and 1,000 concurrent calls share a few transactions.
- What is queued is written before `flush()`, `close()` and any read return, and at the
  interpreter's exit. A killed process (SIGKILL, power loss) loses what was queued and not yet
  written: at most about one checkpoint interval.
- While another process holds the write lock, the writer waits and retries; nothing queued is
  dropped. Any other failure drops that write, and the caller's thread warns once (`JournalWarning`)
  at its next call into the journal.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import queue
import sqlite3
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._catalog import cost as price_of
from .._engine import Generation, LongcallMessage
from .._record import Attempt
from ._blobs import externalize
from ._checkpoint import Checkpoint, Progress
from ._params import dumps, prompt_preview, safe_params
from ._records import error_text, head_so_far, message_so_far, policy_dict, status_of
from ._schema import store_blobs

Write = Callable[[sqlite3.Connection], None]
_STOP = object()
_RETRY_LIMIT = 0.5  # seconds between two tries while another process holds the write lock
_EXIT_WAIT = 10.0  # seconds the interpreter's exit waits for what is queued
_IDLE = 30.0  # seconds without a write after which the writer thread ends (the next write starts one)
_GATHER = 0.005  # seconds the writer waits after a first write for others to come with it


class JournalWarning(UserWarning):
    """The journal could not record a call; the generation went on without it."""


def _busy(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
            return True
        exc = exc.__cause__
    return False


def _cost(usage: dict[str, Any], model: str) -> float | None:
    try:  # the model was looked up before the call started: no unknown-model warning here
        return price_of(usage, model)
    except Exception:  # noqa: BLE001 - a bad price file must not stop the record
        return None


_ATTEMPT_FIELDS = tuple(f.name for f in dataclasses.fields(Attempt))


def _attempt_snapshot(attempt: Attempt) -> dict[str, Any]:
    """`Attempt.to_dict()` one level deep (what it holds below is not changed later): a checkpoint
    takes one, and `dataclasses.asdict` copying every nested value was its largest cost."""
    data = {name: getattr(attempt, name) for name in _ATTEMPT_FIELDS}
    for name, value in data.items():
        if isinstance(value, (dict, list)):
            data[name] = value.copy()
    return data


class Recorder:
    """The writing half of `Journal` (which provides the connection, its lock and the size cap)."""

    _path: Path
    _lock: threading.RLock
    max_bytes: int | None

    def _connect(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _enforce_cap(self) -> None:
        raise NotImplementedError

    def _init_recorder(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._queue_pid = 0
        self._writer_pid = 0
        self._start_lock = threading.Lock()
        self._failure: BaseException | None = None
        self._warned = False
        self._progress: dict[str, Progress] = {}  # per call; touched only by the call's own thread
        self._losses = 0  # writes that failed so far
        self._runs: dict[str, int] = {}  # the writer's: which run of a call its attempts belong to
        self._finishing: set[str] = set()  # calls whose call_ended is queued
        self._call_ended_in_batch = False
        self._queued: set[str] = set()  # calls with a checkpoint in the queue
        self.checkpoints_skipped = 0
        self.bytes_queued = 0  # what the checkpoints handed to the writer (for the benchmark)

    # -- the writer -------------------------------------------------------------------------------

    def _submit(self, write: Write) -> None:
        if self._queue_pid != os.getpid():
            with self._start_lock:
                if self._queue_pid != os.getpid():  # first use, or a forked child: a queue of its own
                    self._queue, self._queue_pid = queue.SimpleQueue(), os.getpid()
                    self._writer, self._writer_pid = None, 0
        self._queue.put(write)
        if self._writer_pid != os.getpid():  # checked after the put: see the idle exit below
            with self._start_lock:
                if self._writer_pid != os.getpid():
                    self._writer = threading.Thread(
                        target=self._write_loop, args=(self._queue,), name="longcall-journal", daemon=True
                    )
                    self._writer.start()
                    self._writer_pid = os.getpid()
                    _OPEN.add(self)

    def _write_loop(self, jobs: queue.SimpleQueue[Any]) -> None:
        while True:
            try:
                first = jobs.get(timeout=_IDLE)
            except queue.Empty:
                # Idle: end, so that a journal nobody uses any more (one per wrap() call, say) can go.
                # Under the lock, and only if nothing came: a write queued later starts a new writer.
                with self._start_lock:
                    if jobs.empty():
                        self._writer, self._writer_pid = None, 0
                        return
                continue
            batch = [first]
            time.sleep(_GATHER)  # let what comes with it arrive: one transaction, one wake-up for all
            while True:
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            self._apply([job for job in batch if callable(job)])
            for job in batch:
                if isinstance(job, threading.Event):
                    job.set()
            if any(job is _STOP for job in batch):
                return

    def _apply(self, writes: list[Write]) -> None:
        if not writes:
            return
        pause = 0.01
        while True:
            try:
                with self._lock:
                    db = self._connect()
                    db.execute("BEGIN IMMEDIATE")
                    try:
                        for write in writes:
                            db.execute("SAVEPOINT one")
                            try:
                                write(db)
                            except Exception as exc:  # noqa: BLE001 - one bad write does not undo the others
                                db.execute("ROLLBACK TO one")
                                self._failed(exc)
                            db.execute("RELEASE one")
                        db.execute("COMMIT")
                    except BaseException:
                        if db.in_transaction:
                            db.execute("ROLLBACK")
                        raise
                break
            except Exception as exc:  # noqa: BLE001 - the writer never dies
                if _busy(exc):  # another process holds the write lock: wait for it, drop nothing
                    time.sleep(pause)
                    pause = min(pause * 2, _RETRY_LIMIT)
                    continue
                self._failed(exc)
                return
        if self._call_ended_in_batch:  # after the commit: a failure here must not write the batch again
            self._call_ended_in_batch = False
            try:
                self._enforce_cap()
            except Exception as exc:  # noqa: BLE001 - the calls are recorded; only the cap waits
                self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self._losses += 1  # what was lost may include checkpoints: the next ones start afresh

    @property
    def write_failure(self) -> BaseException | None:
        """The first write of this journal that failed (the calls since may not be recorded), or None."""
        return self._failure

    def _surface(self) -> None:
        """Warn, on the caller's thread, about a write that failed in the writer."""
        if self._failure is not None and not self._warned:
            self._warned = True
            warnings.warn(
                f"longcall could not write its journal {str(self._path)!r} ({self._failure}); the "
                "generation goes on, but it is not recorded.",
                JournalWarning,
                stacklevel=3,
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued by this process is written (or `timeout` seconds passed);
        True if it was. Warns (`JournalWarning`) if a write failed."""
        writer = self._writer
        if self._queue_pid != os.getpid() or writer is None or threading.current_thread() is writer:
            return True
        done = threading.Event()
        self._queue.put(done)
        written = done.wait(timeout)
        self._surface()
        return written

    def _stop_writer(self, timeout: float | None = None) -> None:
        writer = self._writer
        if self._writer_pid == os.getpid() and writer is not None and writer.is_alive():
            self._queue.put(_STOP)
            writer.join(timeout)
        self._writer, self._writer_pid = None, 0
        self._surface()

    # -- Observer ---------------------------------------------------------------------------------

    def call_started(self, call: Generation) -> None:
        """The first request of `call` is about to be sent (also when `resume` continues it)."""
        self._surface()
        self._progress.pop(call.call_id, None)
        call_id, model, params = call.call_id, str(call.params.get("model")), call.params
        created, now, pid, policy = call.started_wall, time.time(), os.getpid(), policy_dict(call.policy)
        self._submit(lambda db: self._write_started(db, call_id, created, now, model, params, pid, policy))

    def checkpoint(self, call: Generation) -> None:
        """Queue what arrived since the last checkpoint (the engine decides when: see `Policy`).

        Skipped while this call's previous checkpoint is still queued: when the writer falls behind
        (1,000 streams, a slow disk, another process holding the lock), checkpoints come less often
        and each carries more, instead of piling up."""
        self._surface()
        call_id = call.call_id
        if call_id in self._queued:
            self.checkpoints_skipped += 1
            return
        progress = self._progress.get(call_id)
        if progress is None or progress.losses != self._losses:  # a first, or after a lost write
            progress = self._progress[call_id] = Progress(self._losses)
        head = head_so_far(call)
        snapshot = progress.take(call.acc.blocks, head)
        self.bytes_queued += snapshot.size()
        attempt = call.attempts[-1]
        number, data = attempt.number, _attempt_snapshot(attempt)
        model, usage, now, pid = str(call.params.get("model")), head["usage"], time.time(), os.getpid()

        def write(db: sqlite3.Connection) -> None:
            try:
                self._write_checkpoint(db, call_id, model, snapshot, usage, head.get("stop_reason"), now, pid)
                self._write_attempt(db, call_id, number, data)
            finally:
                self._queued.discard(call_id)

        self._queued.add(call_id)
        self._submit(write)

    def attempt_ended(self, call: Generation, attempt: Attempt) -> None:
        self._surface()
        call_id, number, data = call.call_id, attempt.number, _attempt_snapshot(attempt)
        self._submit(lambda db: self._write_attempt(db, call_id, number, data))
        if call.finished:
            # The engine runs the caller's on_attempt hook before call_ended; if the hook raises,
            # call_ended never comes. Record the end now; call_ended, when it comes, has the last word.
            done = call.acc.stopped and attempt.error is None
            self._queue_end(call, "done" if done else "failed", attempt.error, provisional=True)

    def call_ended(
        self, call: Generation, message: LongcallMessage | None, error: BaseException | None
    ) -> None:
        self._surface()
        self._progress.pop(call.call_id, None)
        self._finishing.add(call.call_id)
        self._queue_end(call, status_of(message, error), error_text(error), provisional=False)

    def _queue_end(self, call: Generation, status: str, error: str | None, *, provisional: bool) -> None:
        call_id, model, now, pid = call.call_id, str(call.params.get("model")), time.time(), os.getpid()
        created, params, policy = call.started_wall, call.params, policy_dict(call.policy)
        # A finished call's accumulator changes no more: the provisional end, usually not needed,
        # reads it in the writer; the final one snapshots it here.
        final = None if provisional else message_so_far(call)

        def write(db: sqlite3.Connection) -> None:
            if provisional and call_id in self._finishing:
                return  # call_ended came after all: its write is queued
            if not provisional:
                self._finishing.discard(call_id)
                self._runs.pop(call_id, None)
                self._call_ended_in_batch = True
            message = final if final is not None else message_so_far(call)
            self._write_end(db, call_id, model, status, message, error, now, pid, created, params, policy)

        self._submit(write)

    # -- writes (in the writer thread) ------------------------------------------------------------

    def _write_started(
        self,
        db: sqlite3.Connection,
        call_id: str,
        created: float,
        now: float,
        model: str,
        params: dict[str, Any],
        pid: int,
        policy: dict[str, Any],
    ) -> None:
        kept = safe_params(params)
        blobs: dict[str, str] = {}
        stored = externalize(kept, blobs)
        row = db.execute(
            "SELECT COALESCE(MAX(run), 0) FROM attempts WHERE call_id = ?", (call_id,)
        ).fetchone()
        self._runs[call_id] = int(row[0]) + 1
        db.execute(
            """INSERT INTO calls (id, created_at, updated_at, model, params, status, usage, prompt, pid,
                                  policy)
               VALUES (?, ?, ?, ?, ?, 'streaming', '{}', ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET status = 'streaming', updated_at = excluded.updated_at,
                   pid = excluded.pid, policy = excluded.policy, error = NULL""",
            (call_id, created, now, model, dumps(stored), prompt_preview(kept), pid, dumps(policy)),
        )
        store_blobs(db, call_id, blobs)

    def _write_checkpoint(
        self,
        db: sqlite3.Connection,
        call_id: str,
        model: str,
        snapshot: Checkpoint,
        usage: dict[str, Any],
        stop_reason: str | None,
        now: float,
        pid: int,
    ) -> None:
        updated = db.execute(
            """UPDATE calls SET updated_at = ?, status = 'streaming', message = ?, usage = ?, cost = ?,
                   stop_reason = ?, pid = ? WHERE id = ?""",
            (now, snapshot.head, dumps(usage), _cost(usage, model), stop_reason, pid, call_id),
        ).rowcount
        if not updated:
            return  # call_started could not be written: the end of the call records it whole
        if snapshot.truncate_at is not None:
            for table in ("checkpoint_blocks", "checkpoint_chunks"):
                db.execute(
                    f"DELETE FROM {table} WHERE call_id = ? AND position >= ?",
                    (call_id, snapshot.truncate_at),
                )
        db.executemany(
            "INSERT OR REPLACE INTO checkpoint_blocks (call_id, position, skeleton) VALUES (?, ?, ?)",
            [(call_id, position, skeleton) for position, skeleton in snapshot.skeletons],
        )
        db.executemany(
            "INSERT INTO checkpoint_chunks (call_id, position, field, text) VALUES (?, ?, ?, ?)",
            [(call_id, position, name, text) for position, name, text in snapshot.chunks],
        )

    def _write_attempt(self, db: sqlite3.Connection, call_id: str, number: int, data: dict[str, Any]) -> None:
        if db.execute("SELECT 1 FROM calls WHERE id = ?", (call_id,)).fetchone():
            db.execute(
                # an upsert changes the row in place (a REPLACE deletes and inserts: more pages)
                """INSERT INTO attempts (call_id, run, number, data) VALUES (?, ?, ?, ?)
                   ON CONFLICT (call_id, run, number) DO UPDATE SET data = excluded.data""",
                (call_id, self._runs.get(call_id, 1), number, dumps(data)),
            )

    def _write_end(
        self,
        db: sqlite3.Connection,
        call_id: str,
        model: str,
        status: str,
        message: dict[str, Any],
        error: str | None,
        now: float,
        pid: int,
        created: float,
        params: dict[str, Any],
        policy: dict[str, Any],
    ) -> None:
        usage = message.get("usage") or {}
        values = (
            status,
            dumps(message),
            dumps(usage),
            _cost(usage, model),
            error,
            message.get("stop_reason"),
            pid,
        )
        updated = db.execute(
            """UPDATE calls SET updated_at = ?, status = ?, message = ?, usage = ?, cost = ?, error = ?,
                   stop_reason = ?, pid = ? WHERE id = ?""",
            (now, *values, call_id),
        ).rowcount
        if not updated:  # call_started could not be written: record the call now
            self._write_started(db, call_id, created, now, model, params, pid, policy)
            db.execute(
                """UPDATE calls SET status = ?, message = ?, usage = ?, cost = ?, error = ?, stop_reason = ?,
                       pid = ? WHERE id = ?""",
                (*values, call_id),
            )
        for table in ("checkpoint_blocks", "checkpoint_chunks"):
            db.execute(f"DELETE FROM {table} WHERE call_id = ?", (call_id,))


_OPEN: weakref.WeakSet[Recorder] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for journal in list(_OPEN):
        journal._stop_writer(_EXIT_WAIT)


def _after_fork() -> None:
    """Locks held by a thread of the parent at the fork stay held in the child: start afresh."""
    for journal in list(_OPEN):
        journal._lock = threading.RLock()
        journal._start_lock = threading.Lock()
        journal._writer, journal._writer_pid, journal._queue_pid = None, 0, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
