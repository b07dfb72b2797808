"""The `Journal`: the SQLite file, its reads and its controls (the writing is `_recorder`'s).

Invariants:
- Recording never breaks a generation (see `_recorder`). Reading (`get`, `recent`, ...) and the
  controls (`prune`, `delete`, `link`) raise `JournalError`; each first waits for what this process
  queued, so it sees its own calls.
- The file is created readable by its owner only (0600; SQLite gives its WAL files the same mode) in
  a folder created 0700.
- WAL, `synchronous=NORMAL`: a killed process loses nothing that was committed.
- Removing calls (`prune`, `delete`, the size cap) vacuums the file, so it shrinks and what was
  removed is no longer in it; a large request string shared by several calls goes with the last one.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .._errors import JournalError
from ._blobs import internalize
from ._checkpoint import restore_content
from ._recorder import JournalWarning, Recorder
from ._records import COLUMNS, CallRecord, record_from_row, removable
from ._schema import migrate, refuse_newer

_BUSY_TIMEOUT = 2.0
_READ_WAIT = 10.0  # seconds a read waits for this process's queued writes before reading anyway
_OFF = frozenset({"off", "0", "false", "no", "none"})
# The size cap prunes down to this share of it, so that it does not vacuum again at the next call.
_CAP_SLACK = 0.9


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


def parse_size(text: str) -> int:
    """ "500MB", "2G", "10000": bytes (K, M, G are powers of 1024)."""
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = 1
    for suffix, factor in (("K", 1024), ("M", 1024**2), ("G", 1024**3)):
        if value.endswith(suffix):
            value, scale = value[:-1], factor
            break
    try:
        size = int(float(value) * scale)
    except ValueError:
        raise ValueError(f"{text!r} is not a size; give bytes, or a number with K, M or G.") from None
    if size <= 0:
        raise ValueError(f"{text!r} is not a size; give a positive number of bytes.")
    return size


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Journal(Recorder):
    """A SQLite journal of calls, and the `Observer` that writes it.

    ```python
    client = longcall.wrap(anthropic.Anthropic())                      # the per-user journal
    client = longcall.wrap(anthropic.Anthropic(), journal=Journal("calls.db"))
    client = longcall.wrap(anthropic.Anthropic(), journal=None)        # no journal
    Journal.default().recent(5)
    ```

    Args:
        path: the database file; created (0600, folder 0700) on first use.
        max_bytes: a size cap: when the file grows past it, the oldest finished calls are removed
            (down to 90% of it). None (the default) keeps everything until `prune` or `delete`.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int | None = None) -> None:
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}.")
        self._path = Path(path).expanduser()
        self.max_bytes = max_bytes
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._init_recorder()

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @staticmethod
    def default_path() -> Path:
        """Where the per-user journal is: `journal.db` in `$LONGCALL_HOME`, else in the platform's user
        data folder (`platformdirs.user_data_dir("longcall")`), whether or not recording is off."""
        return _home() / "journal.db"

    @classmethod
    def default(cls) -> Journal | None:
        """The per-user journal (at `default_path()`), or None when `LONGCALL_JOURNAL=off` (also "0",
        "false", "no"): then `wrap()` and the `longcall` command record nothing.

        `LONGCALL_JOURNAL_MAX_BYTES` ("500MB", "2G", bytes) sets its size cap; a value that is not a
        size warns (`JournalWarning`) and sets none (a setting never stops a generation).
        """
        if os.environ.get("LONGCALL_JOURNAL", "").strip().lower() in _OFF:
            return None
        cap = os.environ.get("LONGCALL_JOURNAL_MAX_BYTES", "").strip()
        max_bytes = None
        if cap:
            try:
                max_bytes = parse_size(cap)
            except ValueError as exc:
                warnings.warn(
                    f"LONGCALL_JOURNAL_MAX_BYTES: {exc} The journal has no size cap.", JournalWarning, 2
                )
        return cls(cls.default_path(), max_bytes=max_bytes)

    def __repr__(self) -> str:
        return f"Journal({str(self._path)!r})"

    # -- connection -------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None and self._pid == os.getpid():
            return self._db
        try:
            _create_private(self._path)
            db = sqlite3.connect(
                self._path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"The journal {str(self._path)!r} could not be opened: {exc}.") from exc
        try:
            refuse_newer(db)  # before anything changes the file, even its journal mode
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
            raise JournalError(f"The journal {str(self._path)!r} could not be prepared: {exc}.") from exc
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
        """Write what is queued and close the file (it opens again on next use)."""
        self._stop_writer()
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None

    # -- reading ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        self.flush(_READ_WAIT)
        with self._lock:
            try:
                db = self._connect()
                yield db
            except sqlite3.Error as exc:
                raise JournalError(f"The journal {str(self._path)!r} could not be read: {exc}.") from exc

    def _resolve(self, db: sqlite3.Connection, call_id: str) -> str | None:
        """The id of the call with this id or unique id prefix; None if there is none."""
        if db.execute("SELECT 1 FROM calls WHERE id = ?", (call_id,)).fetchone():
            return call_id
        if not call_id:
            return None
        rows = db.execute(
            "SELECT id FROM calls WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (_like(call_id),)
        ).fetchall()
        if len(rows) > 1:
            raise JournalError(f"More than one call id starts with {call_id!r}; give more of it.")
        return str(rows[0][0]) if rows else None

    def _require(self, db: sqlite3.Connection, call_id: str) -> str:
        found = self._resolve(db, call_id)
        if found is None:
            raise JournalError(f"There is no call {call_id!r} in the journal {str(self._path)!r}.")
        return found

    def get(self, call_id: str) -> CallRecord | None:
        """The call with this id, or with this unique id prefix; None if there is none.

        Raises:
            JournalError: the journal cannot be read, or the prefix matches several calls.
        """
        with self._read() as db:
            found = self._resolve(db, call_id)
            if found is None:
                return None
            row = db.execute(f"SELECT {COLUMNS} FROM calls WHERE id = ?", (found,)).fetchone()
            record = _complete(db, record_from_row(row))
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
                args.append(_like(model[:-1]))
            else:
                where.append("model = ?")
                args.append(model)
        if status:
            where.append("status = ?")
            args.append("streaming" if status == "crashed" else status)
        if search:
            where.append(
                "(prompt LIKE ? ESCAPE '\\' OR message LIKE ? ESCAPE '\\' OR id IN"
                " (SELECT call_id FROM checkpoint_chunks WHERE field = 'text' AND text LIKE ? ESCAPE '\\'))"
            )
            pattern = "%" + _like(search)
            args += [pattern, pattern, pattern]
        sql = f"SELECT {COLUMNS} FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC LIMIT ?"
        with self._read() as db:
            rows = db.execute(sql, [*args, -1 if status == "crashed" else limit]).fetchall()
            records = [_complete(db, record_from_row(row)) for row in rows]
        if status == "crashed":
            records = [record for record in records if record.crashed][:limit]
        return records

    def latest(self) -> CallRecord | None:
        """The most recently started call (what `longcall -c` continues), without its attempts; None
        in an empty journal.

        Raises:
            JournalError: the journal cannot be read.
        """
        found = self.recent(1)
        return found[0] if found else None

    def conversation(self, call_id: str) -> list[CallRecord]:
        """The turns of the conversation that `call_id` ends, root first, through `link`ed parents;
        `[that call]` alone for a call that follows none. Without their attempts.

        Raises:
            JournalError: no such call, an ambiguous prefix, or the journal cannot be read.
        """
        with self._read() as db:
            found = self._require(db, call_id)
            rows = db.execute(
                f"""WITH RECURSIVE chain(id, depth) AS (
                        SELECT id, 0 FROM calls WHERE id = ?
                        UNION ALL
                        SELECT calls.parent_id, chain.depth + 1 FROM calls JOIN chain ON calls.id = chain.id
                        WHERE calls.parent_id IS NOT NULL AND chain.depth < 100000
                    )
                    SELECT {COLUMNS} FROM chain JOIN calls ON calls.id = chain.id
                    ORDER BY chain.depth DESC""",
                (found,),
            ).fetchall()
            return [_complete(db, record_from_row(row)) for row in rows]

    def integrity_check(self) -> str:
        """SQLite's `PRAGMA integrity_check`: "ok" for a sound file."""
        with self._read() as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])

    # -- controls ---------------------------------------------------------------------------------

    def link(self, call_id: str, parent_id: str) -> None:
        """Record that `call_id` is the next turn after `parent_id` in a conversation (ids or unique
        prefixes). Linking again replaces the parent.

        Raises:
            JournalError: either call is missing, the link would make a loop, or the journal cannot
                be written.
        """
        with self._controlling() as db:
            child = self._require(db, call_id)
            parent = self._require(db, parent_id)
            ancestors = {
                row[0]
                for row in db.execute(
                    """WITH RECURSIVE up(id) AS (SELECT ? UNION SELECT calls.parent_id FROM calls
                           JOIN up ON calls.id = up.id WHERE calls.parent_id IS NOT NULL)
                       SELECT id FROM up""",
                    (parent,),
                )
            }
            if child in ancestors:
                raise JournalError(
                    f"Call {parent} already follows {child} in its conversation; the link was not made."
                )
            db.execute("UPDATE calls SET parent_id = ? WHERE id = ?", (parent, child))

    def delete(self, call_ids: Iterable[str]) -> int:
        """Remove these calls (ids or unique prefixes) and everything stored for them; return how many
        were removed. Ids that match nothing are skipped. The file is vacuumed, so what was removed is
        gone from it.

        Raises:
            JournalError: a prefix matches several calls (then nothing is removed), or the journal
                cannot be written.
        """
        with self._controlling() as db:
            found = {self._resolve(db, call_id) for call_id in call_ids} - {None}
            removed = self._remove(db, sorted(str(call_id) for call_id in found))
        if removed:
            self._vacuum()
        return removed

    def prune(self, *, older_than: datetime.timedelta | None = None, max_bytes: int | None = None) -> int:
        """Remove finished calls: those last updated longer than `older_than` ago, then the oldest
        until the file holds at most `max_bytes`; return how many were removed. A call still
        streaming in a live process is never removed (a crashed one is). The file is vacuumed.

        Raises:
            ValueError: neither limit is given, or one is not positive.
            JournalError: the journal cannot be written.
        """
        if older_than is None and max_bytes is None:
            raise ValueError("prune() needs older_than or max_bytes; nothing was removed.")
        if older_than is not None and older_than.total_seconds() <= 0:
            raise ValueError(f"older_than must be positive, not {older_than}; nothing was removed.")
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}; nothing was removed.")
        removed = 0
        with self._controlling() as db:
            if older_than is not None:
                cutoff = time.time() - older_than.total_seconds()
                rows = db.execute(
                    "SELECT id, status, pid FROM calls WHERE updated_at < ? ORDER BY created_at", (cutoff,)
                ).fetchall()
                removed += self._remove(db, [row[0] for row in rows if removable(row[1], row[2])])
            if max_bytes is not None:
                removed += self._shrink(db, max_bytes)
        if removed:
            self._vacuum()
        return removed

    @contextlib.contextmanager
    def _controlling(self) -> Iterator[sqlite3.Connection]:
        self.flush(_READ_WAIT)
        try:
            with self._write() as db:
                yield db
        except sqlite3.Error as exc:
            raise JournalError(f"The journal {str(self._path)!r} could not be changed: {exc}.") from exc

    def _remove(self, db: sqlite3.Connection, call_ids: list[str]) -> int:
        removed = 0
        for start in range(0, len(call_ids), 500):  # SQLite limits the number of parameters
            batch = call_ids[start : start + 500]
            marks = ",".join("?" * len(batch))
            for table in ("attempts", "checkpoint_blocks", "checkpoint_chunks", "call_blobs"):
                db.execute(f"DELETE FROM {table} WHERE call_id IN ({marks})", batch)
            removed += db.execute(f"DELETE FROM calls WHERE id IN ({marks})", batch).rowcount
        db.execute("DELETE FROM blobs WHERE hash NOT IN (SELECT hash FROM call_blobs)")
        return removed

    def _shrink(self, db: sqlite3.Connection, max_bytes: int) -> int:
        """Remove the oldest finished calls until the pages in use fit in `max_bytes`."""
        page_size = int(db.execute("PRAGMA page_size").fetchone()[0])

        def in_use() -> int:
            pages = int(db.execute("PRAGMA page_count").fetchone()[0])
            free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
            return (pages - free) * page_size

        excess = in_use() - max_bytes
        if excess <= 0:
            return 0
        removed = 0
        rows = db.execute(
            """SELECT id, status, pid, LENGTH(params) + IFNULL(LENGTH(message), 0) + IFNULL(LENGTH(usage), 0)
                   + (SELECT IFNULL(SUM(LENGTH(data)), 0) FROM attempts WHERE call_id = calls.id)
                   + (SELECT IFNULL(SUM(LENGTH(text)), 0) FROM checkpoint_chunks WHERE call_id = calls.id)
               FROM calls ORDER BY created_at"""
        ).fetchall()
        candidates = [(row[0], int(row[3]) + 200) for row in rows if removable(row[1], row[2])]
        while excess > 0 and candidates:
            batch: list[str] = []
            freed = 0
            while candidates and freed < excess:
                call_id, size = candidates.pop(0)
                batch.append(call_id)
                freed += size
            removed += self._remove(db, batch)
            excess = in_use() - max_bytes
        return removed

    def _vacuum(self) -> None:
        with self._lock:
            try:
                db = self._connect()
                db.execute("VACUUM")
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # the calls are removed; only the space is not given back yet
                raise JournalError(
                    f"The calls were removed from {str(self._path)!r}, but it could not be vacuumed: {exc}."
                ) from exc

    def _enforce_cap(self) -> None:
        if self.max_bytes is None:
            return
        size = sum(
            os.stat(path).st_size for path in (self._path, Path(f"{self._path}-wal")) if os.path.exists(path)
        )
        if size > self.max_bytes:
            self.prune(max_bytes=int(self.max_bytes * _CAP_SLACK))


def _complete(db: sqlite3.Connection, record: CallRecord) -> CallRecord:
    """Put back what is stored apart: large request strings (by hash), and the content of a call
    that is (or was, when its process died) streaming, from its appended checkpoints."""
    if record.message is not None and "content" not in record.message:
        skeletons = db.execute(
            "SELECT position, skeleton FROM checkpoint_blocks WHERE call_id = ?", (record.id,)
        ).fetchall()
        chunks = db.execute(
            "SELECT position, field, text FROM checkpoint_chunks WHERE call_id = ? ORDER BY rowid",
            (record.id,),
        ).fetchall()
        record.message["content"] = restore_content(skeletons, chunks)
    blobs = dict(
        db.execute(
            "SELECT blobs.hash, data FROM call_blobs JOIN blobs ON blobs.hash = call_blobs.hash"
            " WHERE call_id = ?",
            (record.id,),
        ).fetchall()
    )
    if blobs:
        record.params = internalize(record.params, blobs)
    return record
