"""The journal: schema migrations, what is (and is never) written, file mode, checkpoints, resume."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

import longcall
from longcall import _catalog
from longcall._engine import Generation, Hooks
from longcall._errors import GenerationFailed, JournalError
from longcall.journal import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Journal,
    JournalWarning,
    aresume,
    migrate,
    resume,
    safe_params,
)
from longcall.testing import Emulator, Fault

SECRET = "sk-ant-test-secret-0123456789"
MODEL = "claude-haiku-4-5"


def params(words: int = 400, **extra):
    return {
        "model": MODEL,
        "max_tokens": 64000,
        "messages": [{"role": "user", "content": f"Write {words} words about harbors"}],
        **extra,
    }


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "calls" / "journal.db")


_OPENED: list[anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Close the SDK clients a test opened. One left to the garbage collector is freed with a cycle
    (client <-> its resources), in which its pooled socket may be finalized before the client closes it:
    an unclosed-socket ResourceWarning, an error in whichever test runs then."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def sdk(emulator: Emulator | None = None) -> anthropic.Anthropic:
    """An SDK client on the emulator, closed when the test ends."""
    client = anthropic.Anthropic(base_url=emulator.url if emulator else None, api_key=SECRET)
    _OPENED.append(client)
    return client


def client_for(emulator: Emulator, journal: Journal | None, **options):
    return longcall.wrap(sdk(emulator), journal=journal, **options)


def schema(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as db:
        tables = [
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        shape = {table: db.execute(f"PRAGMA table_info({table})").fetchall() for table in tables}
        shape["indices"] = db.execute(
            "SELECT name, tbl_name FROM sqlite_master"
            " WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
    return shape


# -- migrations -------------------------------------------------------------------------------------


def test_a_new_journal_is_created_at_the_latest_schema(journal: Journal):
    assert journal.recent() == []
    with sqlite3.connect(journal.path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal.integrity_check() == "ok"


def _old_journal(path: Path, version: int) -> None:
    """A journal as longcall wrote it at schema `version`, with one finished call."""
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, target=version)
    call_params = json.dumps(params(50))
    message = json.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [{"type": "text", "text": "Old words."}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 3},
        }
    )
    attempt = {"number": 1, "kind": "initial", "bytes_received": 999, "stop_reason": "end_turn"}
    if version == 1:
        db.execute(
            "INSERT INTO calls (id, created_at, updated_at, model, params, status, message, usage, cost,"
            " error, attempts) VALUES ('old1', 1.0, 2.0, ?, ?, 'done', ?, '{\"output_tokens\": 3}', 0.1,"
            " NULL, ?)",
            (MODEL, call_params, message, json.dumps([attempt])),
        )
    else:
        db.execute(
            "INSERT INTO calls (id, created_at, updated_at, model, params, status, message, usage, cost,"
            " error) VALUES ('old1', 1.0, 2.0, ?, ?, 'done', ?, '{\"output_tokens\": 3}', 0.1, NULL)",
            (MODEL, call_params, message),
        )
        db.execute("INSERT INTO attempts VALUES ('old1', 1, 1, ?)", (json.dumps(attempt),))
    if version >= 3:  # as longcall wrote them from then on
        db.execute(
            "UPDATE calls SET prompt = 'Write 50 words about harbors', stop_reason = 'end_turn', pid = 1"
        )
    db.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_every_older_schema_is_migrated_in_place_without_losing_a_call(tmp_path: Path, version: int):
    old = tmp_path / "old.db"
    _old_journal(old, version)
    fresh = Journal(tmp_path / "fresh.db")
    fresh.recent()

    journal = Journal(old)
    record = journal.get("old1")

    assert record is not None
    assert (record.status, record.text, record.cost, record.output_tokens) == ("done", "Old words.", 0.1, 3)
    assert record.attempts == [
        {"number": 1, "kind": "initial", "bytes_received": 999, "stop_reason": "end_turn", "run": 1}
    ]
    assert record.prompt == "Write 50 words about harbors"  # filled in by the migration that added it
    assert record.stop_reason == "end_turn"
    assert schema(old) == schema(tmp_path / "fresh.db")
    assert journal.integrity_check() == "ok"
    with sqlite3.connect(old) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_failed_migration_leaves_the_old_journal_as_it_was(tmp_path: Path, monkeypatch):
    path = tmp_path / "old.db"
    _old_journal(path, 1)
    before = schema(path)

    def broken(db):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr("longcall.journal._schema.MIGRATIONS", (MIGRATIONS[0], MIGRATIONS[1], broken))
    with pytest.raises(JournalError):
        Journal(path).get("old1")
    assert schema(path) == before
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1


def test_a_journal_from_a_newer_longcall_is_never_written(tmp_path: Path, emulator: Emulator):
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE future (x)")
        db.execute("PRAGMA user_version = 99")
    before = path.read_bytes()
    journal = Journal(path)

    with pytest.raises(JournalError, match="newer"):
        journal.recent()
    with pytest.warns(JournalWarning, match="newer"):
        message = client_for(emulator, journal).messages.create(**params(50))
        journal.flush()

    assert message.content[0].text == emulator.document(params(50))
    assert path.read_bytes() == before


# -- what is written --------------------------------------------------------------------------------


def test_safe_params_drop_every_secret_and_keep_what_a_resume_needs():
    given = {
        "model": MODEL,
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "my token is in my prompt"}]}],
        "system": "keep",
        "thinking": {"type": "enabled", "budget_tokens": 500},
        "metadata": {"user_id": "u-1"},
        "tools": [
            {"name": "t", "input_schema": {"type": "object", "properties": {"api_key": {"type": "string"}}}}
        ],
        "mcp_servers": [{"type": "url", "url": "https://mcp", "name": "m", "authorization_token": SECRET}],
        "extra_headers": {"x-api-key": SECRET, "Authorization": f"Bearer {SECRET}", "anthropic-beta": "b-1"},
        "extra_query": {"key": SECRET},
        "extra_body": {"temperature": 0.2, "nested": {"x-api-key": SECRET, "author": "Ann"}},
        "output_config": {
            "format": {"type": "json_schema", "schema": {"properties": {"token": {}, "auth": {}}}}
        },
        "timeout": 30,
        "api_key": SECRET,
        "auth_token": SECRET,
        "Authorization": SECRET,
        "keywords": ["kept"],
        "on_text": print,
    }

    kept = safe_params(given)

    assert SECRET not in json.dumps(kept)
    assert kept == {
        "model": MODEL,
        "max_tokens": 1000,
        "messages": given["messages"],
        "system": "keep",
        "thinking": {"type": "enabled", "budget_tokens": 500},
        "metadata": {"user_id": "u-1"},
        "tools": given["tools"],  # a schema property named api_key is content, not a secret
        "mcp_servers": [{"type": "url", "url": "https://mcp", "name": "m"}],
        "extra_headers": {"anthropic-beta": "b-1"},
        # a sampling parameter sent through extra_body is part of the request a resume replays
        "extra_body": {"temperature": 0.2, "nested": {"author": "Ann"}},
        "output_config": given["output_config"],  # schema properties are content, whatever their names
        "keywords": ["kept"],  # a field that merely contains "key" is not a credential
    }


def test_a_call_records_parameters_attempts_message_usage_and_cost(emulator: Emulator, journal: Journal):
    emulator.add_faults(Fault(drop_after_bytes=3000))
    call = params(300, stop_sequences=["never appears"])
    message = client_for(emulator, journal).messages.create(
        **call,
        # the API version that still takes sampling parameters (2026-10-21 refuses them)
        extra_headers={"x-api-key": SECRET, "anthropic-beta": "b-1", "anthropic-version": "2023-06-01"},
        extra_body={"temperature": 0.5},
        timeout=60,
    )

    record = journal.get(message.call_id)

    assert record is not None
    assert record.status == record.state == "done"
    assert record.params == {
        **call,
        "extra_headers": {"anthropic-beta": "b-1", "anthropic-version": "2023-06-01"},
        "extra_body": {"temperature": 0.5},
    }
    assert record.text == emulator.document(call) == message.content[0].text
    assert record.message is not None and record.message["stop_reason"] == "end_turn"
    assert record.usage == message.usage.model_dump(exclude_none=True)
    assert record.cost == pytest.approx(_catalog.cost(message.usage, MODEL))
    assert [(a["run"], a["number"], a["kind"]) for a in record.attempts] == [
        (1, 1, "initial"),
        (1, 2, "resume"),
    ]
    assert record.attempts[0]["error"] and record.attempts[0]["bytes_received"] == 3000
    assert record.prompt == "Write 300 words about harbors"
    assert record.policy is not None and record.policy["max_attempts"] == longcall.Policy().max_attempts


def test_no_secret_ever_reaches_the_file(emulator: Emulator, journal: Journal):
    emulator.add_faults(Fault(drop_after_bytes=5000))
    client_for(emulator, journal).messages.create(
        **params(2000), extra_headers={"x-api-key": SECRET}, extra_query={"api_key": SECRET}
    )
    journal.close()

    files = [p for p in journal.path.parent.iterdir() if p.name.startswith("journal.db")]
    assert {p.name for p in files} >= {"journal.db"}
    for path in files:
        assert SECRET.encode() not in path.read_bytes()


def test_the_file_and_its_folder_are_private(emulator: Emulator, journal: Journal):
    client_for(emulator, journal).messages.create(**params(50))
    journal.flush()  # the writer thread creates the file

    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.path.parent.stat().st_mode) == 0o700
    for sibling in ("journal.db-wal", "journal.db-shm"):
        path = journal.path.parent / sibling
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_default_journal_lives_in_longcall_home(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LONGCALL_HOME", str(tmp_path / "home"))
    assert Journal.default().path == tmp_path / "home" / "journal.db"


# -- failures never break a generation ----------------------------------------------------------------


def test_a_journal_that_cannot_be_written_warns_once_and_the_calls_go_on(tmp_path: Path, emulator: Emulator):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the journal's folder should be")
    journal = Journal(blocker / "journal.db")
    client = client_for(emulator, journal)
    assert journal.write_failure is None

    with pytest.warns(JournalWarning, match="could not write its journal") as warned:
        first = client.messages.create(**params(100))
        second = client.messages.create(**params(120))
        journal.flush()  # a failed write is reported on the caller's thread, at the latest here

    assert len(warned) == 1
    assert isinstance(journal.write_failure, JournalError)  # what the CLI reads: no `resume` hint then
    assert first.content[0].text == emulator.document(params(100))
    assert second.content[0].text == emulator.document(params(120))


def test_reading_a_broken_journal_raises_journal_error(tmp_path: Path):
    path = tmp_path / "journal.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError):
        Journal(path).recent()


# -- checkpoints ------------------------------------------------------------------------------------


def _sse(event: dict) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _start() -> bytes:
    message = {
        "id": "msg_x",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 7, "output_tokens": 1},
    }
    return _sse({"type": "message_start", "message": message}) + _sse(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )


def _delta(text: str) -> bytes:
    return _sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})


def _generation(journal: Journal, call_id: str | None = None, **policy) -> Generation:
    return Generation(
        params(50),
        longcall.Policy(**policy),
        hooks=Hooks(observers=[journal]),
        now=0.0,
        wall=0.0,
        random=lambda: 0.5,
        call_id=call_id,
    )


def test_the_engine_checkpoints_once_a_second_or_every_few_kilobytes(tmp_path: Path):
    journal = Journal(tmp_path / "j.db")
    calls = []
    journal.checkpoint = calls.append  # type: ignore[method-assign]
    gen = _generation(journal, checkpoint_interval=1.0, checkpoint_bytes=8192)
    gen.request(0.0, 0.0)
    gen.feed(_start(), 0.0)
    for tick in range(1, 51):  # 50 small deltas, 0.1 s apart: 5 seconds
        gen.feed(_delta("word "), tick * 0.1)
    assert len(calls) == 5
    gen.feed(_delta("x" * 9000), 5.05)  # a burst of bytes: sooner
    assert len(calls) == 6


def test_a_checkpoint_holds_the_partial_message_and_the_current_attempt(tmp_path: Path):
    journal = Journal(tmp_path / "j.db")
    gen = _generation(journal)
    gen.request(0.0, 0.0)
    gen.feed(_start() + _delta("Hello ") + _delta("harbor"), 0.0)
    journal.checkpoint(gen)

    record = journal.get(gen.call_id)
    assert record is not None
    assert (record.status, record.text, record.state) == ("streaming", "Hello harbor", "streaming")
    assert record.usage["output_tokens"] == 2  # counted from the deltas while the server has not said
    assert record.attempts[0]["bytes_received"] > 0 and record.attempts[0]["ended_at"] is None


# -- reading -------------------------------------------------------------------------------------------


def test_recent_filters_by_model_status_and_text(emulator: Emulator, journal: Journal):
    client = client_for(emulator, journal)
    first = client.messages.create(**params(30))
    second = client.messages.create(**{**params(40), "model": "claude-opus-4-6"})
    emulator.add_faults(Fault(status=400, message="bad"))
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(**params(45))

    assert [r.id for r in journal.recent()][1:] == [second.call_id, first.call_id]
    assert [r.id for r in journal.recent(1)] != [first.call_id]
    assert [r.id for r in journal.recent(model="claude-opus-4-6")] == [second.call_id]
    assert [r.id for r in journal.recent(model="claude-opus*")] == [second.call_id]
    assert [r.status for r in journal.recent(status="failed")] == ["failed"]
    assert [r.id for r in journal.recent(search="40 WORDS")] == [second.call_id]
    word = first.content[0].text.split()[3].strip(".,")
    assert first.call_id in [r.id for r in journal.recent(search=word)]
    assert journal.get(first.call_id[:6]).id == first.call_id  # type: ignore[union-attr]
    assert journal.get("nope") is None


def test_an_ambiguous_prefix_is_an_error(journal: Journal):
    for call_id in ("abc123", "abc456"):
        _generation(journal, call_id=call_id).request(0.0, 0.0)
    with pytest.raises(JournalError, match="More than one"):
        journal.get("abc")
    assert journal.get("abc4").id == "abc456"  # type: ignore[union-attr]


def test_threads_share_a_journal(emulator: Emulator, journal: Journal):
    client = client_for(emulator, journal)
    errors: list[BaseException] = []

    def call(words: int) -> None:
        try:
            client.messages.create(**params(words))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(200 + n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(r.status for r in journal.recent()) == ["done"] * 6
    assert journal.integrity_check() == "ok"


# -- resume ---------------------------------------------------------------------------------------------


def test_resume_continues_a_failed_call_on_the_same_entry(emulator: Emulator, journal: Journal):
    call = params(1500)
    emulator.add_faults(Fault(drop_after_bytes=40_000))
    with pytest.raises(GenerationFailed) as failed:
        client_for(emulator, journal, policy=longcall.Policy(max_attempts=1)).messages.create(**call)
    call_id = failed.value.call_id
    saved = journal.get(call_id)
    assert (
        saved is not None and saved.status == "failed" and 0 < len(saved.text) < len(emulator.document(call))
    )

    new_text: list[str] = []
    message = resume(
        call_id,
        sdk(emulator),
        journal=journal,
        on_text=new_text.append,
    )

    record = journal.get(call_id)
    assert message.content[0].text == emulator.document(call) == record.text  # type: ignore[union-attr]
    assert saved.text + "".join(new_text) == message.content[0].text
    assert message.call_id == call_id
    assert record.status == "done"  # type: ignore[union-attr]
    assert [(a["run"], a["number"]) for a in record.attempts] == [(1, 1), (2, 1)]  # type: ignore[union-attr]
    assert record.usage["output_tokens"] == message.usage.output_tokens  # type: ignore[union-attr]
    assert len(journal.recent()) == 1


def test_resume_after_the_process_exits_mid_stream(emulator: Emulator, journal: Journal):
    """A hook that exits the process mid-stream: the call is kept as interrupted, and resumes.
    (A SIGKILL, which nothing can catch, is tested with a real process in test_cli.)"""
    call = params(3000)
    seen = [0]

    def die(text: str) -> None:
        seen[0] += 1
        if seen[0] == 1500:
            raise SystemExit("simulated crash")

    policy = longcall.Policy(checkpoint_bytes=4096)
    with pytest.raises(SystemExit):
        client_for(emulator, journal, policy=policy, on_text=die).messages.create(**call)
    saved = journal.recent()[0]
    assert saved.status == "interrupted" and 0 < len(saved.text) < len(emulator.document(call))

    wrapped = longcall.wrap(sdk(emulator), journal=None)
    message = resume(saved.id, wrapped, journal=journal)

    assert message.content[0].text == emulator.document(call)
    assert journal.get(saved.id).status == "done"  # type: ignore[union-attr]


def test_resume_of_an_interrupted_call_by_instruction(emulator: Emulator, journal: Journal):
    call = {**params(800), "model": "claude-sonnet-4-6"}  # refuses prefill: continued by instruction
    count = [0]

    def interrupt(text: str) -> None:
        count[0] += 1
        if count[0] == 300:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client_for(emulator, journal, on_text=interrupt).messages.create(**call)
    saved = journal.recent()[0]
    assert saved.status == "interrupted" and saved.text

    message = resume(saved.id, sdk(emulator), journal=journal)

    assert message.content[0].text == emulator.document(call)
    assert message.attempts[-1].strategy == "instruction"


def test_resume_of_a_finished_call_sends_nothing(emulator: Emulator, journal: Journal):
    done = client_for(emulator, journal).messages.create(**params(60))
    sent = len(emulator.requests)

    message = resume(done.call_id, sdk(emulator), journal=journal)

    assert len(emulator.requests) == sent
    assert message.content[0].text == done.content[0].text
    assert [a.number for a in message.attempts] == [1]


def test_resume_of_an_unknown_call(journal: Journal):
    with pytest.raises(JournalError, match="no call"):
        resume("nothing", sdk(), journal=journal)


def test_aresume_with_the_async_client(emulator: Emulator, journal: Journal):
    call = params(1200)
    emulator.add_faults(Fault(drop_after_bytes=20_000))
    with pytest.raises(GenerationFailed) as failed:
        client_for(emulator, journal, policy=longcall.Policy(max_attempts=1)).messages.create(**call)

    async def go():
        client = anthropic.AsyncAnthropic(base_url=emulator.url, api_key=SECRET)
        try:
            return await aresume(failed.value.call_id, client, journal=journal)
        finally:
            await client.close()

    message = asyncio.run(go())
    assert message.content[0].text == emulator.document(call)
    assert journal.get(failed.value.call_id).status == "done"  # type: ignore[union-attr]


def test_async_calls_are_journaled(emulator: Emulator, journal: Journal):
    async def go():
        client = longcall.wrap(
            anthropic.AsyncAnthropic(base_url=emulator.url, api_key=SECRET), journal=journal
        )
        try:
            return await asyncio.gather(*(client.messages.create(**params(100 + n)) for n in range(3)))
        finally:
            await client.close()

    messages = asyncio.run(go())
    assert {r.id for r in journal.recent()} == {m.call_id for m in messages}
    assert {r.status for r in journal.recent()} == {"done"}


def test_a_record_in_a_dead_process_counts_as_crashed(journal: Journal):
    gen = _generation(journal)
    gen.request(0.0, 0.0)
    journal.flush()
    with journal._write() as db:
        db.execute("UPDATE calls SET pid = ? WHERE id = ?", (_dead_pid(), gen.call_id))
    record = journal.get(gen.call_id)
    assert record is not None and record.crashed and record.state == "crashed"
    assert [r.id for r in journal.recent(status="crashed")] == [gen.call_id]


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_resumed_call_replays_the_same_request_sampling_parameters_included(
    emulator: Emulator, journal: Journal
):
    # SDK 2.x sends sampling parameters only through extra_body (its create() has no temperature), and
    # only API version 2023-06-01 takes them
    call = params(1500, stop_sequences=["never appears"], metadata={"user_id": "u-7"})
    emulator.add_faults(Fault(drop_after_bytes=20_000))
    client = client_for(emulator, journal, policy=longcall.Policy(max_attempts=1))
    with pytest.raises(GenerationFailed) as failed:
        client.messages.create(
            **call,
            extra_body={"temperature": 0.3, "top_k": 7},
            extra_headers={"anthropic-version": "2023-06-01"},
        )
    # the last Messages request (a count_tokens request follows a break)
    first = [r for r in emulator.requests if r.path == "/v1/messages"][-1].body

    message = resume(failed.value.call_id, sdk(emulator), journal=journal)

    again = [r for r in emulator.requests if r.path == "/v1/messages"][-1].body
    assert message.content[0].text == emulator.document(call)
    assert first["top_k"] == 7 and first["temperature"] == 0.3
    unchanged = {k: v for k, v in first.items() if k not in ("messages", "max_tokens")}
    assert {k: again.get(k) for k in unchanged} == unchanged


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_an_on_attempt_hook_that_raises_leaves_the_call_recorded(
    emulator: Emulator, journal: Journal, driver: str
):
    call = params(300)

    def hook(attempt) -> None:
        raise RuntimeError("the caller's hook broke")

    if driver == "sync":
        with pytest.raises(RuntimeError, match="hook broke"):
            client_for(emulator, journal, on_attempt=hook).messages.create(**call)
    else:

        async def go() -> None:
            client = longcall.wrap(
                anthropic.AsyncAnthropic(base_url=emulator.url, api_key=SECRET),
                journal=journal,
                on_attempt=hook,
            )
            try:
                await client.messages.create(**call)
            finally:
                await client.close()

        with pytest.raises(RuntimeError, match="hook broke"):
            asyncio.run(go())

    (record,) = journal.recent()
    assert (record.status, record.text) == ("done", emulator.document(call))
    assert record.message is not None and record.message["stop_reason"] == "end_turn"


def test_an_on_attempt_hook_that_raises_before_a_retry_leaves_what_arrived(
    emulator: Emulator, journal: Journal
):
    emulator.add_faults(Fault(drop_after_bytes=6000))

    def hook(attempt) -> None:
        raise RuntimeError("the caller's hook broke")

    with pytest.raises(RuntimeError, match="hook broke"):
        client_for(emulator, journal, on_attempt=hook).messages.create(**params(800))

    (record,) = journal.recent()
    assert record.status == "failed" and "hook broke" in (record.error or "")
    assert record.text and emulator.document(params(800)).startswith(record.text)


def test_migrating_moves_large_stored_prompts_into_blobs(tmp_path: Path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, target=4)
    document = "the harbor's tide table, row after row. " * 400
    stored = {**params(50), "system": document}
    for call_id in ("a1", "a2"):
        db.execute(
            "INSERT INTO calls (id, created_at, updated_at, model, params, status)"
            " VALUES (?, 1, 1, ?, ?, 'done')",
            (call_id, MODEL, json.dumps(stored)),
        )
    db.close()

    journal = Journal(path)
    assert journal.get("a1").params == stored  # type: ignore[union-attr]
    assert journal.get("a2").params == stored  # type: ignore[union-attr]
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 1
        assert all(document not in row[0] for row in raw.execute("SELECT params FROM calls"))
