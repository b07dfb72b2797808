"""A run's state: one SQLite file next to the output (`OUT.jsonl.longcall.db`), and the output file.

The state file holds, per item, where it stands (`pending`, `running`, `submitted` to a Message
Batch, `done` with its output record), the journal call that streams it (its checkpoints live in the
same file, written by `longcall.Journal`), and for `--via batches` the batches created, each recorded
before anything else is done with it.

Invariants:
- An item's record is committed here before its line is appended to the output, so a killed run
  loses nothing: on the next start, `reconcile()` cuts a torn last line off the output and appends
  every finished record the output lacks. No id is ever written twice.
- An output without a state file (the state was deleted) still counts: its ids are taken as done.
- Each write is one short transaction (WAL): a `kill -9` loses nothing committed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .._errors import LongcallError
from ._records import dumps

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batch_items (
    key TEXT PRIMARY KEY,
    line INTEGER NOT NULL,
    status TEXT NOT NULL,
    call_id TEXT,
    batch_id TEXT,
    rounds INTEGER NOT NULL DEFAULT 0,
    strategy TEXT,
    next_params TEXT,
    partial TEXT,
    record TEXT,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS batch_items_status ON batch_items (status);
CREATE TABLE IF NOT EXISTS batch_batches (
    id TEXT PRIMARY KEY,
    round INTEGER NOT NULL,
    created_at REAL NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL,
    counts TEXT,
    collected INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS batch_intents (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    keys TEXT NOT NULL
);
"""


class StateError(LongcallError):
    """The state file cannot be used for this run."""


def default_state_path(output: str | os.PathLike[str]) -> Path:
    return Path(str(output) + ".longcall.db")


@dataclass
class ItemState:
    key: str
    line: int
    status: str
    call_id: str | None
    batch_id: str | None
    rounds: int
    strategy: str | None
    next_params: dict[str, Any] | None
    partial: dict[str, Any] | None
    record: dict[str, Any] | None


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class RunState:
    """The state file of one run (one output, one shard)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        existed = self.path.exists()
        if not existed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        try:
            self.db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StateError(f"The state file {str(self.path)!r} cannot be opened: {exc}.") from exc
        self.new = not existed

    def close(self) -> None:
        self.db.close()

    # -- meta -------------------------------------------------------------------------------------

    def meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM batch_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO batch_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def check_shard(self, shard: tuple[int, int] | None) -> None:
        saved = self.meta("shard")
        wanted = list(shard) if shard else None
        if saved is None and self.meta("started_at") is None:
            self.set_meta("shard", wanted)
            return
        if saved != wanted:

            def name(value: Any) -> str:
                return f"shard {value[0]}/{value[1]}" if value else "the whole input"

            raise StateError(
                f"The state file {str(self.path)!r} belongs to a run of {name(saved)}, not {name(wanted)}; "
                "use another -o or --state."
            )

    # -- items ------------------------------------------------------------------------------------

    def add_items(self, rows: list[tuple[str, int, dict[str, Any] | None]]) -> None:
        """Make sure every (key, line, params) has a row; existing rows are kept as they are."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO batch_items (key, line, status, next_params, updated_at) "
                "VALUES (?, ?, 'pending', ?, ?) ON CONFLICT (key) DO NOTHING",
                [(key, line, _dumps(params), now) for key, line, params in rows],
            )

    def items(self, status: str | None = None) -> Iterator[ItemState]:
        if status is None:
            return self.items_where("1", ())
        return self.items_where("status = ?", (status,))

    def item(self, key: str) -> ItemState | None:
        for item in self.items_where("key = ?", (key,)):
            return item
        return None

    def items_where(self, where: str, args: tuple[Any, ...]) -> Iterator[ItemState]:
        query = "SELECT key, line, status, call_id, batch_id, rounds, strategy, next_params, partial, record "
        for row in self.db.execute(f"{query} FROM batch_items WHERE {where} ORDER BY line", args).fetchall():
            key, line, status, call_id, batch_id, rounds, strategy, next_params, partial, record = row
            yield ItemState(
                key,
                line,
                status,
                call_id,
                batch_id,
                rounds,
                strategy,
                _loads(next_params),
                _loads(partial),
                _loads(record),
            )

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM batch_items GROUP BY status").fetchall())

    def done_keys(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT key FROM batch_items WHERE status = 'done'")}

    def set_running(self, key: str) -> None:
        self.db.execute(
            "UPDATE batch_items SET status = 'running', updated_at = ? WHERE key = ? AND status != 'done'",
            (time.time(), key),
        )

    def set_call(self, key: str, call_id: str) -> None:
        self.db.execute("UPDATE batch_items SET call_id = ? WHERE key = ?", (call_id, key))

    def finish(self, key: str, record: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE batch_items SET status = 'done', record = ?, batch_id = NULL, updated_at = ? "
            "WHERE key = ?",
            (_dumps(record), time.time(), key),
        )

    def update(self, key: str, **fields: Any) -> None:
        """Set columns of one item (JSON columns take Python values)."""
        columns = []
        values: list[Any] = []
        for name, value in fields.items():
            columns.append(f"{name} = ?")
            values.append(_dumps(value) if name in ("next_params", "partial", "record") else value)
        columns.append("updated_at = ?")
        values.append(time.time())
        self.db.execute(f"UPDATE batch_items SET {', '.join(columns)} WHERE key = ?", (*values, key))

    # -- batches (--via batches) ------------------------------------------------------------------

    def add_intent(self, keys: list[str]) -> int:
        cursor = self.db.execute(
            "INSERT INTO batch_intents (created_at, keys) VALUES (?, ?)", (time.time(), json.dumps(keys))
        )
        return int(cursor.lastrowid or 0)

    def intents(self) -> list[tuple[int, float, list[str]]]:
        rows = self.db.execute("SELECT id, created_at, keys FROM batch_intents ORDER BY id").fetchall()
        return [(row[0], row[1], json.loads(row[2])) for row in rows]

    def add_batch(self, intent: int, batch_id: str, round_: int, keys: list[str]) -> None:
        """Record a created batch and its items, in one transaction with dropping the intent."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO batch_batches (id, round, created_at, size, status) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                (batch_id, round_, now, len(keys), "in_progress"),
            )
            self.db.executemany(
                "UPDATE batch_items SET status = 'submitted', batch_id = ?, rounds = rounds + 1, "
                "updated_at = ? WHERE key = ?",
                [(batch_id, now, key) for key in keys],
            )
            self.db.execute("DELETE FROM batch_intents WHERE id = ?", (intent,))

    def drop_intent(self, intent: int) -> None:
        self.db.execute("DELETE FROM batch_intents WHERE id = ?", (intent,))

    def batches(self, *, collected: bool | None = None) -> list[dict[str, Any]]:
        query = "SELECT id, round, created_at, size, status, counts, collected FROM batch_batches"
        if collected is not None:
            query += f" WHERE collected = {int(collected)}"
        rows = self.db.execute(query + " ORDER BY created_at").fetchall()
        return [
            {
                "id": row[0],
                "round": row[1],
                "created_at": row[2],
                "size": row[3],
                "status": row[4],
                "counts": _loads(row[5]),
                "collected": bool(row[6]),
            }
            for row in rows
        ]

    def set_batch(self, batch_id: str, status: str, counts: dict[str, int] | None) -> None:
        self.db.execute(
            "UPDATE batch_batches SET status = ?, counts = ? WHERE id = ?", (status, _dumps(counts), batch_id)
        )

    def collected(self, batch_id: str) -> None:
        self.db.execute("UPDATE batch_batches SET collected = 1 WHERE id = ?", (batch_id,))


class Output:
    """The output JSONL file, appended to as results arrive; flushed after every line."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: TextIO | None = None

    def written_ids(self) -> dict[str, dict[str, Any]]:
        """The records already in the output, by key; a torn last line (a killed run) is cut off."""
        if not self.path.exists():
            return {}
        records: dict[str, dict[str, Any]] = {}
        with self.path.open("rb+") as file:
            data = file.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                file.truncate(end)
        for raw in data[:end].splitlines():
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                records[record_key(record)] = record
        return records

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def record_key(record: dict[str, Any]) -> str:
    custom_id = record.get("custom_id")
    return custom_id if isinstance(custom_id, str) else f"#line-{record.get('line')}"


def reconcile(state: RunState, output: Output) -> int:
    """Make the output hold exactly the finished records, once each. Returns how many were added."""
    written = output.written_ids()
    if state.new and written:
        # The state was deleted but the output kept: what it holds is done.
        for key, record in written.items():
            state.db.execute(
                "INSERT INTO batch_items (key, line, status, record, updated_at) VALUES (?, ?, 'done', ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET status = 'done', record = excluded.record",
                (key, int(record.get("line") or 0), _dumps(record), time.time()),
            )
    added = 0
    for item in state.items("done"):
        if item.key not in written and item.record is not None:
            output.write(item.record)
            added += 1
    return added
