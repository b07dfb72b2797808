"""The journal's controls: prune, delete, the size cap, conversations, turning it off."""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path

import pytest

import longcall
from longcall._errors import JournalError
from longcall.journal import Journal, JournalWarning, parse_size
from longcall.testing import Emulator

from .test_journal import _close_clients, sdk  # noqa: F401 - an autouse fixture: clients are closed

SECRET = "sk-ant-test-secret-0123456789"
MODEL = "claude-haiku-4-5"


def params(words: int = 40, prompt: str = "harbors"):
    return {
        "model": MODEL,
        "max_tokens": 64000,
        "messages": [{"role": "user", "content": f"Write {words} words about {prompt}"}],
    }


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.db")


def client_for(emulator: Emulator, journal: Journal | None):
    return longcall.wrap(sdk(emulator), journal=journal)


def _age(journal: Journal, call_id: str, days: float) -> None:
    """Make a call look as if it was last written `days` ago."""
    journal.close()
    with sqlite3.connect(journal.path) as db:
        stamp = datetime.datetime.now().timestamp() - days * 86400
        db.execute("UPDATE calls SET created_at = ?, updated_at = ? WHERE id = ?", (stamp, stamp, call_id))


def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.name.startswith(path.name))


def test_path_is_the_database_file(tmp_path: Path):
    journal = Journal(tmp_path / "x" / "j.db")
    assert journal.path == tmp_path / "x" / "j.db"
    with pytest.raises(AttributeError):
        journal.path = tmp_path  # type: ignore[misc]


def test_prune_older_than_removes_old_calls_and_shrinks_the_file(emulator: Emulator, journal: Journal):
    client = client_for(emulator, journal)
    old = [client.messages.create(**params(800 + n)).call_id for n in range(5)]
    new = client.messages.create(**params(30)).call_id
    for call_id in old:
        _age(journal, call_id, days=40)
    journal.close()
    before = _file_bytes(journal.path)

    removed = journal.prune(older_than=datetime.timedelta(days=30))

    assert removed == 5
    assert [r.id for r in journal.recent()] == [new]
    assert all(journal.get(call_id) is None for call_id in old)
    journal.close()
    assert _file_bytes(journal.path) < before / 2
    with sqlite3.connect(journal.path) as db:
        assert db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 1
    assert journal.prune(older_than=datetime.timedelta(days=30)) == 0


def test_prune_never_removes_a_call_streaming_in_a_live_process(journal: Journal, emulator: Emulator):
    done = client_for(emulator, journal).messages.create(**params()).call_id
    gen = longcall._engine.Generation(
        params(),
        longcall.Policy(),
        hooks=longcall._engine.Hooks(observers=[journal]),
        now=0.0,
        wall=0.0,
        random=lambda: 0.5,
    )
    gen.request(0.0, 0.0)  # recorded as streaming, by this (live) process
    for call_id in (done, gen.call_id):
        _age(journal, call_id, days=400)

    assert journal.prune(older_than=datetime.timedelta(days=1)) == 1
    assert [r.id for r in journal.recent()] == [gen.call_id]


def test_prune_max_bytes_removes_the_oldest_first(emulator: Emulator, journal: Journal):
    client = client_for(emulator, journal)
    ids = [client.messages.create(**params(4000, prompt=f"topic {n}")).call_id for n in range(8)]
    journal.close()
    before = _file_bytes(journal.path)

    removed = journal.prune(max_bytes=before // 2)

    journal.close()
    assert 0 < removed < 8
    assert _file_bytes(journal.path) <= before // 2
    kept = {r.id for r in journal.recent()}
    assert kept == set(ids[removed:])  # the newest survive


def test_prune_needs_a_limit(journal: Journal):
    with pytest.raises(ValueError, match="older_than or max_bytes"):
        journal.prune()
    with pytest.raises(ValueError, match="positive"):
        journal.prune(older_than=datetime.timedelta(0))


def test_delete_removes_calls_by_id_or_prefix_and_their_text_from_the_file(
    emulator: Emulator, journal: Journal
):
    client = client_for(emulator, journal)
    secret_call = client.messages.create(**params(50, prompt="a private matter zq81")).call_id
    other = client.messages.create(**params(50)).call_id

    assert journal.delete([secret_call[:8], "no-such-call"]) == 1

    assert journal.get(secret_call) is None and journal.get(other) is not None
    journal.close()
    for path in journal.path.parent.iterdir():
        assert b"zq81" not in path.read_bytes()
    assert journal.delete([]) == 0


def test_the_size_cap_prunes_the_oldest_finished_calls(emulator: Emulator, tmp_path: Path):
    capped = Journal(tmp_path / "capped.db", max_bytes=150_000)
    client = client_for(emulator, capped)
    ids = [client.messages.create(**params(2000, prompt=f"topic {n}")).call_id for n in range(16)]
    capped.close()

    assert _file_bytes(capped.path) <= 150_000 * 1.3  # the last call may pass it until the next
    kept = [r.id for r in capped.recent(100)]
    assert 0 < len(kept) < 16 and kept == ids[::-1][: len(kept)]
    assert capped.integrity_check() == "ok"


def test_conversations_link_turns_root_first(emulator: Emulator, journal: Journal):
    client = client_for(emulator, journal)
    first, second, third = (client.messages.create(**params(20 + n)).call_id for n in range(3))
    journal.link(second, first)
    journal.link(third[:7], second)

    assert [r.id for r in journal.conversation(third)] == [first, second, third]
    assert [r.id for r in journal.conversation(second)] == [first, second]
    assert [r.id for r in journal.conversation(first)] == [first]
    assert journal.get(third).parent_id == second  # type: ignore[union-attr]
    assert journal.latest().id == third  # type: ignore[union-attr]
    with pytest.raises(JournalError, match="loop|follows"):
        journal.link(first, third)
    with pytest.raises(JournalError, match="no call"):
        journal.link(first, "missing")
    with pytest.raises(JournalError, match="no call"):
        journal.conversation("missing")


def test_latest_of_an_empty_journal(journal: Journal):
    assert journal.latest() is None


def test_journal_off_by_environment(monkeypatch, tmp_path: Path, emulator: Emulator):
    monkeypatch.setenv("LONGCALL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LONGCALL_JOURNAL", "off")
    assert Journal.default() is None
    assert Journal.default_path() == tmp_path / "home" / "journal.db"

    message = longcall.wrap(sdk(emulator)).messages.create(**params())

    assert message.content[0].text
    assert not (tmp_path / "home").exists()
    monkeypatch.setenv("LONGCALL_JOURNAL", "on")
    journal = Journal.default()
    assert journal is not None and journal.path == Journal.default_path()


def test_the_size_cap_from_the_environment(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("LONGCALL_HOME", str(tmp_path))
    monkeypatch.setenv("LONGCALL_JOURNAL_MAX_BYTES", "50MB")
    assert Journal.default().max_bytes == 50 * 1024**2  # type: ignore[union-attr]
    monkeypatch.setenv("LONGCALL_JOURNAL_MAX_BYTES", "lots")
    with pytest.warns(JournalWarning, match="not a size.*no size cap"):
        journal = Journal.default()
    assert journal is not None and journal.max_bytes is None


@pytest.mark.parametrize(
    ("text", "size"),
    [("10000", 10000), ("2K", 2048), ("1.5MB", 1572864), ("1GiB", 1024**3), ("3 m", 3 * 1024**2)],
)
def test_parse_size(text: str, size: int):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-5", "0", "many"])
def test_parse_size_refuses(text: str):
    with pytest.raises(ValueError):
        parse_size(text)
