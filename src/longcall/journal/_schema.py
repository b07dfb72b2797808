"""The journal's schema: numbered migrations, applied forward in place in one transaction.

`PRAGMA user_version` is the number of migrations applied. A journal from a newer longcall (a larger
number) is never written to. Every migration is tested from every older schema (tests/test_journal.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from .._errors import JournalError
from ._blobs import externalize
from ._params import dumps as _dumps
from ._params import prompt_preview as _prompt_preview


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


def _v4_conversations(db: sqlite3.Connection) -> None:
    """A call may follow another in a conversation (`longcall -c`): the turn it answers after."""
    db.execute("ALTER TABLE calls ADD COLUMN parent_id TEXT")
    db.execute("CREATE INDEX calls_by_parent ON calls (parent_id)")


def _v5_appended_checkpoints_and_blobs(db: sqlite3.Connection) -> None:
    """A streaming call's content as appended pieces (see `_checkpoint`), and large request strings
    stored once by hash (see `_blobs`); the parameters of calls already stored are moved there too."""
    db.execute(
        """CREATE TABLE checkpoint_blocks (
            call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            skeleton TEXT NOT NULL,
            PRIMARY KEY (call_id, position)
        )"""
    )
    db.execute(
        """CREATE TABLE checkpoint_chunks (
            call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            field TEXT NOT NULL,
            text TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX checkpoint_chunks_by_call ON checkpoint_chunks (call_id, position)")
    db.execute("CREATE TABLE blobs (hash TEXT PRIMARY KEY, data TEXT NOT NULL)")
    db.execute(
        """CREATE TABLE call_blobs (
            call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
            hash TEXT NOT NULL,
            PRIMARY KEY (call_id, hash)
        )"""
    )
    db.execute("CREATE INDEX call_blobs_by_hash ON call_blobs (hash)")
    for call_id, raw in db.execute("SELECT id, params FROM calls").fetchall():
        try:
            params = json.loads(raw)
        except ValueError:
            continue
        blobs: dict[str, str] = {}
        stored = externalize(params, blobs)
        if blobs:
            store_blobs(db, call_id, blobs)
            db.execute("UPDATE calls SET params = ? WHERE id = ?", (_dumps(stored), call_id))


def store_blobs(db: sqlite3.Connection, call_id: str, blobs: dict[str, str]) -> None:
    db.executemany("INSERT OR IGNORE INTO blobs (hash, data) VALUES (?, ?)", blobs.items())
    db.executemany(
        "INSERT OR IGNORE INTO call_blobs (call_id, hash) VALUES (?, ?)", [(call_id, h) for h in blobs]
    )


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _v1_calls,
    _v2_attempts,
    _v3_logs,
    _v4_conversations,
    _v5_appended_checkpoints_and_blobs,
)
SCHEMA_VERSION = len(MIGRATIONS)


def refuse_newer(db: sqlite3.Connection) -> None:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"The journal has schema version {version}, newer than this longcall's {SCHEMA_VERSION}; "
            "upgrade longcall to use it (it was left untouched)."
        )


def migrate(db: sqlite3.Connection, *, target: int | None = None) -> int:
    """Bring the schema forward to `target` (the latest by default) in one transaction; return the
    version found before.

    Raises:
        JournalError: the file's schema is newer than this longcall knows.
    """
    target = len(MIGRATIONS) if target is None else target
    db.execute("BEGIN IMMEDIATE")  # the write lock: two processes never migrate at once
    try:
        refuse_newer(db)
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
