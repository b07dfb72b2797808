"""The journal: every call longcall makes, in a SQLite file, so no generation is ever lost.

A `Journal` is an `Observer` of the engine (see `longcall._engine`): it records a call when its first
request starts, checkpoints the partial message while it streams, records every attempt, and stores
the final message (or what arrived before a failure or a Ctrl-C) with its usage and cost. `resume()`
continues a journaled call from its last checkpoint, after the process that started it died.

Invariants:
- Recording never breaks a generation: a failure to write warns once (`JournalWarning`) per journal
  and the call goes on. Reading (`get`, `recent`) raises `JournalError`.
- Secrets are never written: `extra_headers` (except `anthropic-beta`), `extra_query`, `extra_body`,
  `timeout`, and any parameter whose name contains "key", "auth" or "token" (other than `max_tokens`
  and `budget_tokens`) are dropped before anything is stored, at every depth outside message content.
- The file is created readable by its owner only (0600; SQLite gives its WAL files the same mode) in
  a folder created 0700.
- Each write is one short transaction (WAL, `synchronous=NORMAL`: a killed process loses nothing that
  was committed). Checkpoints are throttled twice: by the engine (`Policy.checkpoint_interval` and
  `checkpoint_bytes`), and here, so the journal takes at most about 5% of a stream's time however
  large the message grows (a checkpoint stores the whole partial message).
- The schema is versioned with `PRAGMA user_version` and migrated forward in place, in one
  transaction, by the numbered functions in `MIGRATIONS`; a journal from a newer longcall is never
  written to.

One connection per journal, shared by threads under a lock (an async caller writes from its event
loop thread; the writes are small). A forked child opens its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._catalog import cost as price_of
from ._catalog import lookup
from ._engine import Generation, Hooks, LongcallMessage, Observer, build_message
from ._errors import JournalError
from ._policy import Policy
from ._record import Attempt

if TYPE_CHECKING:
    import anthropic

__all__ = [
    "MIGRATIONS",
    "STATUSES",
    "SCHEMA_VERSION",
    "CallRecord",
    "Journal",
    "JournalWarning",
    "aresume",
    "resume",
    "safe_params",
]

STATUSES = ("streaming", "done", "failed", "interrupted")  # what `CallRecord.status` can be
# Fraction of a stream's time the journal may spend checkpointing (the rest waits for the next one).
_CHECKPOINT_SHARE = 0.05
_BUSY_TIMEOUT = 2.0
_PROMPT_PREVIEW = 300
_DROPPED_PARAMS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
_KEPT_TOKEN_PARAMS = frozenset({"max_tokens", "budget_tokens"})
_SECRET_PARTS = ("key", "auth", "token")
# Message content is what the user wrote, not configuration: it is kept as it is.
_CONTENT_PARAMS = frozenset({"messages", "system", "input_schema"})
_HOOKS = frozenset({"on_text", "on_thinking", "on_tool_input", "on_event", "on_attempt"})


class JournalWarning(UserWarning):
    """The journal could not record a call; the generation went on without it."""


# -- what is stored -------------------------------------------------------------------------------


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return lowered not in _KEPT_TOKEN_PARAMS and any(part in lowered for part in _SECRET_PARTS)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: (val if key in _CONTENT_PARAMS else _scrub(val))
            for key, val in value.items()
            if not (isinstance(key, str) and _is_secret(key))
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(item) for item in value]
    return value


def safe_params(params: dict[str, Any]) -> dict[str, Any]:
    """The request parameters as the journal stores them: everything needed to send the request
    again, nothing secret.

    Dropped: `extra_headers` (only an `anthropic-beta` header is kept: it changes what the model may
    do, and it is not a secret), `extra_query`, `extra_body`, `timeout`, and any key containing
    "key", "auth" or "token" except `max_tokens` and `budget_tokens`, at any depth outside `messages`,
    `system` and tool input schemas (content, kept as written).
    """
    kept: dict[str, Any] = {}
    for name, value in params.items():
        if name in _HOOKS or name == "longcall_policy":
            continue
        if name == "extra_headers" and isinstance(value, dict):
            betas = {
                k: v for k, v in value.items() if str(k).lower() == "anthropic-beta" and isinstance(v, str)
            }
            if betas:
                kept[name] = betas
            continue
        if name in _DROPPED_PARAMS or _is_secret(name):
            continue
        kept[name] = value if name in _CONTENT_PARAMS else _scrub(value)
    return kept


def _prompt_preview(params: dict[str, Any]) -> str:
    """The last user turn's text, shortened: shown by `longcall logs` and searched by `--search`."""
    for message in reversed(params.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            text = content
        else:
            text = " ".join(
                block.get("text", "")
                for block in content or []
                if isinstance(block, dict) and block.get("type") == "text"
            )
        text = " ".join(text.split())
        return text if len(text) <= _PROMPT_PREVIEW else text[: _PROMPT_PREVIEW - 1] + "…"
    return ""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _policy_dict(policy: Policy) -> dict[str, Any]:
    return dataclasses.asdict(policy)


def _policy_from(data: dict[str, Any] | None) -> Policy | None:
    if not data:
        return None
    names = {f.name for f in dataclasses.fields(Policy)}
    try:
        return Policy(**{k: v for k, v in data.items() if k in names})
    except (TypeError, ValueError):
        return None


def _usage_so_far(gen: Generation) -> dict[str, Any]:
    """Usage over every attempt, counting the deltas of a request still streaming as output tokens."""
    usage = gen.acc.total_usage()
    reported = int(gen.acc.attempt_usage.get("output_tokens") or 0)
    if not gen.finished and gen.acc.deltas > reported:
        usage["output_tokens"] = int(usage.get("output_tokens") or 0) + gen.acc.deltas - reported
    return usage


def _message_so_far(gen: Generation) -> dict[str, Any]:
    message = gen.acc.message_dict()
    message["usage"] = _usage_so_far(gen)
    return message


def _status_of(message: LongcallMessage | None, error: BaseException | None) -> str:
    if message is not None:
        return "done"
    if error is None or isinstance(error, (KeyboardInterrupt, GeneratorExit, SystemExit)):
        return "interrupted"
    if type(error).__name__ == "CancelledError":  # asyncio's, without importing asyncio here
        return "interrupted"
    return "failed"


def _error_text(error: BaseException | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, (KeyboardInterrupt, GeneratorExit)) or type(error).__name__ == "CancelledError":
        return f"interrupted ({type(error).__name__})"
    text = str(error) or type(error).__name__
    return text if len(text) <= 2000 else text[:1999] + "…"


def _pid_alive(pid: int | None) -> bool:
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
        return self.status == "streaming" and not _pid_alive(self.pid)

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


# -- the schema -----------------------------------------------------------------------------------


def _v1_calls(db: sqlite3.Connection) -> None:
    """One row per call; the attempts as a JSON list on the row."""
    db.execute(
        """CREATE TABLE calls (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            model TEXT NOT NULL,
            params TEXT NOT NULL,
            status TEXT NOT NULL,
            message TEXT,
            usage TEXT,
            cost REAL,
            error TEXT,
            attempts TEXT NOT NULL DEFAULT '[]'
        )"""
    )


def _v2_attempts(db: sqlite3.Connection) -> None:
    """Attempts move to their own table (a checkpoint rewrites one attempt, not all of them); indices
    for `longcall logs`."""
    rows = db.execute("SELECT id, attempts FROM calls").fetchall()
    # SQLite before 3.35 has no DROP COLUMN: rebuild the table without it (foreign keys are off while
    # migrating, as SQLite's procedure for this asks).
    db.execute(
        """CREATE TABLE calls_v2 (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            model TEXT NOT NULL,
            params TEXT NOT NULL,
            status TEXT NOT NULL,
            message TEXT,
            usage TEXT,
            cost REAL,
            error TEXT
        )"""
    )
    db.execute(
        "INSERT INTO calls_v2 SELECT id, created_at, updated_at, model, params, status, message, usage, cost,"
        " error FROM calls"
    )
    db.execute("DROP TABLE calls")
    db.execute("ALTER TABLE calls_v2 RENAME TO calls")
    db.execute("CREATE INDEX calls_by_time ON calls (created_at)")
    db.execute("CREATE INDEX calls_by_model ON calls (model, created_at)")
    db.execute(
        """CREATE TABLE attempts (
            call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
            run INTEGER NOT NULL,
            number INTEGER NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (call_id, run, number)
        )"""
    )
    for call_id, raw in rows:
        try:
            attempts = json.loads(raw or "[]")
        except ValueError:
            attempts = []
        for position, attempt in enumerate(attempts if isinstance(attempts, list) else [], start=1):
            number = attempt.get("number", position) if isinstance(attempt, dict) else position
            db.execute(
                "INSERT OR REPLACE INTO attempts VALUES (?, 1, ?, ?)", (call_id, number, _dumps(attempt))
            )


def _v3_logs(db: sqlite3.Connection) -> None:
    """What `longcall logs` shows and filters on, without parsing JSON: the prompt, the stop reason,
    the writing process (to tell a crashed call from a live one) and the policy (for `resume`)."""
    db.execute("ALTER TABLE calls ADD COLUMN prompt TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE calls ADD COLUMN stop_reason TEXT")
    db.execute("ALTER TABLE calls ADD COLUMN pid INTEGER")
    db.execute("ALTER TABLE calls ADD COLUMN policy TEXT")
    db.execute("CREATE INDEX calls_by_status ON calls (status, created_at)")
    for call_id, params, message in db.execute("SELECT id, params, message FROM calls").fetchall():
        try:
            prompt = _prompt_preview(json.loads(params))
            stop = (json.loads(message) or {}).get("stop_reason") if message else None
        except (ValueError, AttributeError):
            continue
        db.execute("UPDATE calls SET prompt = ?, stop_reason = ? WHERE id = ?", (prompt, stop, call_id))


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1_calls, _v2_attempts, _v3_logs)
SCHEMA_VERSION = len(MIGRATIONS)


def _refuse_newer(db: sqlite3.Connection) -> None:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"The journal has schema version {version}, newer than this longcall's {SCHEMA_VERSION}; "
            "upgrade longcall to use it (it was left untouched)."
        )


def migrate(db: sqlite3.Connection, *, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema forward to `target` in one transaction; return the version found before.

    Raises:
        JournalError: the file's schema is newer than this longcall knows.
    """
    db.execute("BEGIN IMMEDIATE")  # the write lock: two processes never migrate at once
    try:
        _refuse_newer(db)
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        for number in range(version, target):
            MIGRATIONS[number](db)
        if target > version:
            db.execute(f"PRAGMA user_version = {int(target)}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return version


# -- the journal ----------------------------------------------------------------------------------


def _home() -> Path:
    home = os.environ.get("LONGCALL_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("longcall", appauthor=False))


def _create_private(path: Path) -> None:
    """Create the folder (0700) and the empty file (0600) before SQLite opens it with its own mode."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)


class Journal:
    """A SQLite journal of calls, and the `Observer` that writes it.

    ```python
    client = longcall.wrap(anthropic.Anthropic())                      # the per-user journal
    client = longcall.wrap(anthropic.Anthropic(), journal=Journal("calls.db"))
    Journal.default().recent(5)
    ```

    Args:
        path: the database file; created (0600, folder 0700) on first use.
        clock: monotonic seconds, for the checkpoint throttle (tests inject one).
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path).expanduser()
        self._clock = clock
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._warned = False
        self._runs: dict[str, int] = {}
        self._next_checkpoint: dict[str, float] = {}
        self.checkpoints_written = 0
        self.checkpoints_skipped = 0
        self.checkpoint_seconds = 0.0

    @classmethod
    def default(cls) -> Journal:
        """The per-user journal: `journal.db` in `$LONGCALL_HOME`, else in the platform's user data
        folder (`platformdirs.user_data_dir("longcall")`)."""
        return cls(_home() / "journal.db")

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    # -- connection -------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None and self._pid == os.getpid():
            return self._db
        try:
            _create_private(self.path)
            db = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"The journal {str(self.path)!r} could not be opened: {exc}.") from exc
        try:
            _refuse_newer(db)  # before anything changes the file, even its journal mode
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = OFF")  # while migrating (a table rebuild must not cascade)
            migrate(db)
            db.execute("PRAGMA foreign_keys = ON")
        except JournalError:
            db.close()
            raise
        except sqlite3.Error as exc:
            db.close()
            raise JournalError(f"The journal {str(self.path)!r} could not be prepared: {exc}.") from exc
        self._db, self._pid = db, os.getpid()
        return db

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # also when COMMIT itself failed: never leave one open
                    db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None

    def _warn(self, exc: BaseException) -> None:
        if self._warned:
            return
        self._warned = True
        warnings.warn(
            f"longcall could not write its journal {str(self.path)!r} ({exc}); the generation goes on, "
            "but it is not recorded.",
            JournalWarning,
            stacklevel=4,
        )

    def _safely(self, write: Callable[[], None]) -> None:
        try:
            write()
        except Exception as exc:  # noqa: BLE001 - a journal failure never breaks a generation
            self._warn(exc)

    # -- Observer ---------------------------------------------------------------------------------

    def call_started(self, call: Generation) -> None:
        """The first request of `call` is about to be sent (also when `resume` continues it)."""
        self._safely(lambda: self._started(call))

    def checkpoint(self, call: Generation) -> None:
        """Save the partial message, unless the last save was too recent for what it cost."""
        now = self._clock()
        if now < self._next_checkpoint.get(call.call_id, 0.0):
            self.checkpoints_skipped += 1
            return

        def write() -> None:
            self._save(call, "streaming", _message_so_far(call), None, attempt=call.attempts[-1])
            spent = self._clock() - now
            self.checkpoints_written += 1
            self.checkpoint_seconds += spent
            self._next_checkpoint[call.call_id] = now + spent / _CHECKPOINT_SHARE

        self._safely(write)

    def attempt_ended(self, call: Generation, attempt: Attempt) -> None:
        self._safely(lambda: self._save_attempt(call, attempt))

    def call_ended(
        self, call: Generation, message: LongcallMessage | None, error: BaseException | None
    ) -> None:
        status = _status_of(message, error)
        self._next_checkpoint.pop(call.call_id, None)

        def write() -> None:
            self._save(call, status, _message_so_far(call), _error_text(error))
            self._runs.pop(call.call_id, None)

        self._safely(write)

    # -- writing ----------------------------------------------------------------------------------

    def _started(self, call: Generation) -> None:
        now = time.time()
        params = safe_params(call.params)
        with self._write() as db:
            row = db.execute(
                "SELECT COALESCE(MAX(run), 0) FROM attempts WHERE call_id = ?", (call.call_id,)
            ).fetchone()
            self._runs[call.call_id] = int(row[0]) + 1
            db.execute(
                """INSERT INTO calls (id, created_at, updated_at, model, params, status, usage, prompt, pid,
                                      policy)
                   VALUES (?, ?, ?, ?, ?, 'streaming', '{}', ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET status = 'streaming', updated_at = excluded.updated_at,
                       pid = excluded.pid, policy = excluded.policy, error = NULL""",
                (
                    call.call_id,
                    call.started_wall,
                    now,
                    str(call.params.get("model")),
                    _dumps(params),
                    _prompt_preview(params),
                    os.getpid(),
                    _dumps(_policy_dict(call.policy)),
                ),
            )

    def _save(
        self,
        call: Generation,
        status: str,
        message: dict[str, Any],
        error: str | None,
        attempt: Attempt | None = None,
    ) -> None:
        usage = message.get("usage") or {}
        try:  # the model was looked up before the call started: no unknown-model warning here
            cost: float | None = price_of(usage, str(call.params.get("model")))
        except Exception:  # noqa: BLE001 - a bad price file must not stop the record
            cost = None
        payload = _dumps(message)
        with self._write() as db:
            updated = db.execute(
                """UPDATE calls SET updated_at = ?, status = ?, message = ?, usage = ?, cost = ?, error = ?,
                       stop_reason = ?, pid = ? WHERE id = ?""",
                (
                    time.time(),
                    status,
                    payload,
                    _dumps(usage),
                    cost,
                    error,
                    message.get("stop_reason"),
                    os.getpid(),
                    call.call_id,
                ),
            ).rowcount
            if not updated:  # call_started could not write: record the call now
                db.execute(
                    """INSERT INTO calls (id, created_at, updated_at, model, params, status, message, usage,
                                          cost, error, prompt, stop_reason, pid, policy)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        call.call_id,
                        call.started_wall,
                        time.time(),
                        str(call.params.get("model")),
                        _dumps(safe_params(call.params)),
                        status,
                        payload,
                        _dumps(usage),
                        cost,
                        error,
                        _prompt_preview(call.params),
                        message.get("stop_reason"),
                        os.getpid(),
                        _dumps(_policy_dict(call.policy)),
                    ),
                )
            if attempt is not None:
                self._put_attempt(db, call, attempt)

    def _save_attempt(self, call: Generation, attempt: Attempt) -> None:
        with self._write() as db:
            exists = db.execute("SELECT 1 FROM calls WHERE id = ?", (call.call_id,)).fetchone()
            if exists:
                self._put_attempt(db, call, attempt)

    def _put_attempt(self, db: sqlite3.Connection, call: Generation, attempt: Attempt) -> None:
        run = self._runs.get(call.call_id, 1)
        db.execute(
            "INSERT OR REPLACE INTO attempts (call_id, run, number, data) VALUES (?, ?, ?, ?)",
            (call.call_id, run, attempt.number, _dumps(attempt.to_dict())),
        )

    # -- reading ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connect()
            try:
                yield db
            except sqlite3.Error as exc:
                raise JournalError(f"The journal {str(self.path)!r} could not be read: {exc}.") from exc

    def get(self, call_id: str) -> CallRecord | None:
        """The call with this id, or with this unique id prefix; None if there is none.

        Raises:
            JournalError: the journal cannot be read, or the prefix matches several calls.
        """
        with self._read() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM calls WHERE id = ?", (call_id,)).fetchall()
            if not rows and call_id:
                pattern = call_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM calls WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (pattern,)
                ).fetchall()
                if len(rows) > 1:
                    raise JournalError(f"More than one call id starts with {call_id!r}; give more of it.")
            if not rows:
                return None
            record = _record(rows[0])
            record.attempts = [
                {**json.loads(data), "run": run}
                for run, data in db.execute(
                    "SELECT run, data FROM attempts WHERE call_id = ? ORDER BY run, number", (record.id,)
                )
            ]
            return record

    def recent(
        self,
        limit: int = 20,
        *,
        model: str | None = None,
        status: str | None = None,
        search: str | None = None,
    ) -> list[CallRecord]:
        """The latest calls, newest first, without their attempts.

        Args:
            limit: at most this many.
            model: only calls to this model (exact id, or a prefix ending in "*": "claude-opus*").
            status: only calls with this status; "crashed" finds streaming calls whose process died.
            search: only calls whose prompt or output contains this text (case-insensitive).

        Raises:
            JournalError: the journal cannot be read.
        """
        where: list[str] = []
        args: list[Any] = []
        if model:
            if model.endswith("*"):
                where.append("model LIKE ? ESCAPE '\\'")
                args.append(model[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
            else:
                where.append("model = ?")
                args.append(model)
        if status:
            where.append("status = ?")
            args.append("streaming" if status == "crashed" else status)
        if search:
            where.append("(prompt LIKE ? ESCAPE '\\' OR message LIKE ? ESCAPE '\\')")
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [pattern, pattern]
        sql = f"SELECT {_COLUMNS} FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC LIMIT ?"
        with self._read() as db:
            records = [_record(row) for row in db.execute(sql, [*args, -1 if status == "crashed" else limit])]
        if status == "crashed":
            records = [record for record in records if record.crashed][:limit]
        return records

    def integrity_check(self) -> str:
        """SQLite's `PRAGMA integrity_check`: "ok" for a sound file."""
        with self._read() as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])


_COLUMNS = (
    "id, created_at, updated_at, model, params, status, message, usage, cost, error, prompt, stop_reason,"
    " pid, policy"
)


def _record(row: tuple[Any, ...]) -> CallRecord:
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
    )


# -- resuming after a crash -------------------------------------------------------------------------


def _prepare_resume(
    call_id: str,
    journal: Journal | None,
    policy: Policy | None,
    observers: list[Observer] | None,
    hooks: dict[str, Any],
) -> tuple[Journal, CallRecord, Generation | None]:
    unknown = set(hooks) - _HOOKS
    if unknown:
        raise TypeError(f"resume() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    journal = journal if journal is not None else Journal.default()
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
    policy = policy or _policy_from(record.policy) or Policy()
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
        journal: the journal holding the call; `Journal.default()` if None.
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
    from ._drivers import run_sync

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
    from ._drivers import run_async

    _, record, gen = _prepare_resume(call_id, journal, policy, observers, hooks)
    if gen is None:
        return _finished(record)
    return await run_async(_raw_messages(client), gen)
