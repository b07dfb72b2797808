"""The batch runner end to end: the real `anthropic` client against the emulator over loopback, in
streaming mode and through the emulator's Message Batches API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

import longcall
from longcall.batch import BatchOptions, BatchRun, InputRefused, arun_batch, run_batch
from longcall.batch._cli import status_text
from longcall.batch._state import RunState
from longcall.cli import main
from longcall.testing import Emulator, Fault
from longcall.testing._batches import MessageBatches, ShortWindowLimits

from .drivers import api_requests

PREFILL_MODEL = "claude-haiku-4-5"
INSTRUCTION_MODEL = "claude-sonnet-4-6"  # the emulator refuses prefill for it
FAST = longcall.Policy(backoff_initial=0.01, backoff_max=0.05, idle_timeout=5, max_attempts=10)
QUICK_POLL = {"poll_initial": 0.02, "poll_max": 0.05}


@pytest.fixture(scope="module")
def server():
    with Emulator() as emulator:
        batches = MessageBatches(emulator).install()
        yield emulator, batches


@pytest.fixture
def emu(server):
    emulator, batches = server
    emulator.reset()
    batches.reset()
    batches.processing_seconds = 0.0
    emulator.interceptors[:] = [batches.route]
    return emulator, batches


def params(n: int, words: int = 60, model: str = PREFILL_MODEL, max_tokens: int = 400) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": f"Write {words} words about lighthouse number {n}"}],
    }


def write_input(path: Path, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    lines = [{"custom_id": f"item-{n:03d}", "params": params(n, **kwargs)} for n in range(count)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return lines


def read_output(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def text_of(record: dict[str, Any]) -> str:
    return "".join(block.get("text", "") for block in record["message"]["content"])


_OPENED: list[anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Close the SDK clients a test opened: one left to the garbage collector can have its pooled
    socket finalized before the client closes it (an unclosed-socket ResourceWarning, in a later test)."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def client_for(emulator: Emulator) -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=emulator.url, api_key="test-key")
    _OPENED.append(client)
    return client


def prompt_of(body: dict[str, Any]) -> str:
    """The original prompt of a request (the first user turn; a resume may have made it a block list)."""
    content = body["messages"][0]["content"]
    return content if isinstance(content, str) else "".join(block.get("text", "") for block in content)


def is_continuation(body: dict[str, Any]) -> bool:
    return any(m["role"] == "assistant" for m in body["messages"])


# -- streaming mode ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_every_item_is_written_once_with_the_exact_text(emu, tmp_path, kind):
    emulator, _ = emu
    lines = write_input(tmp_path / "in.jsonl", 12)
    with (tmp_path / "in.jsonl").open("a") as file:
        file.write("{not json\n")
    # Two streams break mid-way: each is resumed, not sent again from the start.
    emulator.add_faults(Fault(drop_after_bytes=900), Fault(drop_after_bytes=1500))
    out = tmp_path / "out.jsonl"
    options = BatchOptions(concurrency=4, policy=FAST)
    if kind == "sync":
        summary = run_batch(tmp_path / "in.jsonl", out, client=client_for(emulator), options=options)
    else:

        async def main() -> Any:
            client = anthropic.AsyncAnthropic(base_url=emulator.url, api_key="test-key")
            async with client:
                return await arun_batch(tmp_path / "in.jsonl", out, client=client, options=options)

        summary = asyncio.run(main())
    records = read_output(out)
    assert (summary.succeeded, summary.failed, summary.total) == (12, 1, 13)
    assert sorted(r["custom_id"] or "" for r in records) == ["", *(line["custom_id"] for line in lines)]
    by_id = {r["custom_id"]: r for r in records}
    for line in lines:
        record = by_id[line["custom_id"]]
        assert record["status"] == "succeeded"
        assert text_of(record) == emulator.document(line["params"])
        assert record["usage"]["output_tokens"] >= 60
        assert record["cost"] > 0
    assert sum(r["attempts"] for r in records if r["status"] == "succeeded") == 14  # 12 + 2 resumes
    bad = by_id[None]
    assert bad["error"]["type"] == "invalid_input" and bad["error"]["message"].startswith(
        "line 13 is not JSON"
    )
    assert summary.requests == 14
    assert summary.output_tokens == sum(r["usage"].get("output_tokens", 0) for r in records)


def test_a_second_run_sends_nothing_for_finished_items(emu, tmp_path):
    emulator, _ = emu
    write_input(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out.jsonl"
    run_batch(tmp_path / "in.jsonl", out, client=client_for(emulator))
    sent = len(api_requests(emulator))
    again = run_batch(tmp_path / "in.jsonl", out, client=client_for(emulator))
    assert (again.skipped, again.succeeded, again.requests) == (5, 0, 0)
    assert len(api_requests(emulator)) == sent
    assert len(read_output(out)) == 5


def test_a_stopped_run_continues_without_repeating_a_request(emu, tmp_path):
    emulator, _ = emu
    lines = write_input(tmp_path / "in.jsonl", 20, words=150)
    out = tmp_path / "out.jsonl"
    emulator.add_faults(*[Fault(tokens_per_second=1500)] * 20)
    batch = BatchRun(
        tmp_path / "in.jsonl",
        out,
        client=client_for(emulator),
        options=BatchOptions(concurrency=5, adaptive=False, policy=FAST),
    )

    async def stop_at_half() -> Any:
        task = asyncio.ensure_future(batch.arun())
        while batch.summary.done < 8:
            await asyncio.sleep(0.01)
        batch.stop("interrupted")
        return await task

    first = asyncio.run(stop_at_half())
    assert first.stopped == "interrupted" and 8 <= first.succeeded < 20 and first.left > 0
    done_first = {r["custom_id"] for r in read_output(out)}
    emulator.reset()
    second = run_batch(
        tmp_path / "in.jsonl", out, client=client_for(emulator), options=BatchOptions(policy=FAST)
    )
    assert second.succeeded == 20 - len(done_first) and second.skipped == len(done_first)
    prompts = {prompt_of(line["params"]): line["custom_id"] for line in lines}
    requested = [prompts[prompt_of(r.body)] for r in api_requests(emulator) if r.path == "/v1/messages"]
    assert not set(requested) & done_first  # nothing finished was sent again
    records = read_output(out)
    assert sorted(r["custom_id"] for r in records) == sorted(line["custom_id"] for line in lines)
    for line, record in zip(lines, sorted(records, key=lambda r: r["custom_id"]), strict=True):
        assert text_of(record) == emulator.document(line["params"])


def test_429s_shrink_the_concurrency_and_everything_still_finishes(emu, tmp_path):
    emulator, _ = emu
    limits = ShortWindowLimits(requests=8, window=0.3).install(emulator)
    write_input(tmp_path / "in.jsonl", 16, words=20)
    summary = run_batch(
        tmp_path / "in.jsonl",
        tmp_path / "out.jsonl",
        client=client_for(emulator),
        options=BatchOptions(concurrency=12, max_concurrency=40, policy=FAST.replace(max_attempts=30)),
    )
    assert summary.succeeded == 16
    assert limits.refused > 0 and summary.throttled == limits.refused
    assert summary.concurrency_min < 12  # halved for everyone
    assert all(r["status"] == "succeeded" for r in read_output(tmp_path / "out.jsonl"))


def test_rate_limit_headers_pace_the_runner_before_a_429(emu, tmp_path):
    emulator, _ = emu
    limits = ShortWindowLimits(requests=4, window=0.3).install(emulator)
    write_input(tmp_path / "in.jsonl", 12, words=10)
    summary = run_batch(
        tmp_path / "in.jsonl",
        tmp_path / "out.jsonl",
        client=client_for(emulator),
        options=BatchOptions(concurrency=1, adaptive=False, policy=FAST),
    )
    # One at a time, the runner sees "remaining 0" on the 4th response and waits for the reset.
    assert summary.succeeded == 12
    assert limits.refused == 0
    assert summary.wall_seconds >= 0.5


def test_a_requests_per_minute_cap_is_kept(emu, tmp_path):
    emulator, _ = emu
    write_input(tmp_path / "in.jsonl", 8, words=5)
    started = time.monotonic()
    summary = run_batch(
        tmp_path / "in.jsonl",
        tmp_path / "out.jsonl",
        client=client_for(emulator),
        options=BatchOptions(concurrency=8, requests_per_minute=600),  # 10 a second
    )
    assert summary.succeeded == 8
    assert time.monotonic() - started >= 0.6  # 8 requests at 10/s: the last one 0.7 s after the first


def test_a_spend_limit_stops_the_run_and_loses_nothing(emu, tmp_path):
    emulator, _ = emu
    limits = ShortWindowLimits(spend_limit_after=3).install(emulator)
    write_input(tmp_path / "in.jsonl", 10, words=10)
    out = tmp_path / "out.jsonl"
    first = run_batch(
        tmp_path / "in.jsonl",
        out,
        client=client_for(emulator),
        options=BatchOptions(concurrency=1, policy=FAST),
    )
    assert first.stopped is not None and "spend limit" in first.stopped
    assert first.succeeded == 3 and first.failed == 0 and first.left == 7
    assert len(read_output(out)) == 3
    emulator.interceptors.remove(limits.route)  # the limit was raised
    second = run_batch(
        tmp_path / "in.jsonl", out, client=client_for(emulator), options=BatchOptions(policy=FAST)
    )
    assert (second.succeeded, second.skipped, second.stopped) == (7, 3, None)
    assert len(read_output(out)) == 10


def test_bad_ids_are_refused_before_anything_is_sent(emu, tmp_path):
    emulator, _ = emu
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps({"custom_id": "a", "params": params(1)})
        + "\n"
        + json.dumps({"custom_id": "a", "params": params(2)})
        + "\n"
    )
    with pytest.raises(InputRefused, match="custom_id 'a' is also on line 1"):
        run_batch(path, tmp_path / "out.jsonl", client=client_for(emulator))
    assert api_requests(emulator) == []
    assert not (tmp_path / "out.jsonl").exists()


def test_shards_split_the_work_and_their_outputs_concatenate(emu, tmp_path):
    emulator, _ = emu
    lines = write_input(tmp_path / "in.jsonl", 12, words=5)
    ids: list[str] = []
    for k in (1, 2, 3):
        out = tmp_path / f"part{k}.jsonl"
        run_batch(tmp_path / "in.jsonl", out, client=client_for(emulator), shard=(k, 3))
        ids += [r["custom_id"] for r in read_output(out)]
    assert sorted(ids) == sorted(line["custom_id"] for line in lines)
    assert len(api_requests(emulator)) == 12


def test_continuation_past_max_tokens_in_streaming_mode(emu, tmp_path):
    emulator, _ = emu
    lines = write_input(tmp_path / "in.jsonl", 3, words=300, max_tokens=100)
    summary = run_batch(
        tmp_path / "in.jsonl",
        tmp_path / "out.jsonl",
        client=client_for(emulator),
        options=BatchOptions(continue_on_max_tokens=True, policy=FAST),
    )
    assert summary.succeeded == 3
    for line, record in zip(
        lines, sorted(read_output(tmp_path / "out.jsonl"), key=lambda r: r["custom_id"]), strict=True
    ):
        assert text_of(record) == emulator.document(line["params"])
        assert record["message"]["stop_reason"] == "end_turn" and record["attempts"] >= 3


# -- the emulator's Message Batches API, through the SDK --------------------------------------------


def test_the_emulator_validates_batches_as_the_api_does(emu):
    emulator, batches = emu
    client = client_for(emulator)
    with pytest.raises(anthropic.BadRequestError, match=r"requests.1.custom_id: String should match pattern"):
        client.messages.batches.create(
            requests=[{"custom_id": "ok", "params": params(1)}, {"custom_id": "not ok", "params": params(2)}]
        )
    with pytest.raises(anthropic.BadRequestError, match="at most 64 characters"):
        client.messages.batches.create(requests=[{"custom_id": "x" * 65, "params": params(1)}])
    with pytest.raises(anthropic.BadRequestError, match="params.stream"):
        client.messages.batches.create(requests=[{"custom_id": "s", "params": {**params(1), "stream": True}}])
    with pytest.raises(anthropic.BadRequestError, match="Duplicate custom_id"):
        client.messages.batches.create(requests=[{"custom_id": "d", "params": params(1)}] * 2)
    batches.max_requests = 2
    try:
        with pytest.raises(anthropic.BadRequestError, match="at most 2 items"):
            client.messages.batches.create(
                requests=[{"custom_id": f"r{i}", "params": params(i)} for i in range(3)]
            )
    finally:
        batches.max_requests = 100_000
    assert batches.created == []


def test_the_emulator_serves_the_whole_batches_surface(emu):
    emulator, batches = emu
    client = client_for(emulator)
    batches.processing_seconds = 30
    slow = client.messages.batches.create(requests=[{"custom_id": "a", "params": params(1)}])
    assert slow.processing_status == "in_progress" and slow.request_counts.processing == 1
    assert slow.results_url is None
    with pytest.raises(anthropic.BadRequestError, match="cancel it first"):
        client.messages.batches.delete(slow.id)
    canceling = client.messages.batches.cancel(slow.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    ended = client.messages.batches.retrieve(slow.id)
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 1
    assert [r.result.type for r in client.messages.batches.results(slow.id)] == ["canceled"]
    batches.processing_seconds = 0
    batches.inject("b", "expired")
    batches.inject("c", "errored")
    fast = client.messages.batches.create(
        requests=[{"custom_id": cid, "params": params(i)} for i, cid in enumerate("abcd")]
        + [{"custom_id": "bad", "params": {**params(9), "max_tokens": -1}}]
    )
    done = client.messages.batches.retrieve(fast.id)
    assert done.request_counts.to_dict() == {
        "processing": 0,
        "succeeded": 2,
        "errored": 2,
        "expired": 1,
        "canceled": 0,
    }
    results = {r.custom_id: r.result for r in client.messages.batches.results(fast.id)}
    assert results["a"].type == "succeeded"
    assert results["a"].message.content[0].text == emulator.document(params(0))
    assert results["bad"].type == "errored" and results["bad"].error.error.type == "invalid_request_error"
    order = [r.custom_id for r in client.messages.batches.results(fast.id)]
    assert order != sorted(order)  # "in any order": shuffled, the same way every time
    assert [b.id for b in client.messages.batches.list(limit=10)] == [fast.id, slow.id]
    assert client.messages.batches.delete(fast.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(fast.id)


# -- --via batches --------------------------------------------------------------------------------


def test_via_batches_writes_the_same_records_at_half_the_price(emu, tmp_path):
    emulator, batches = emu
    lines = write_input(tmp_path / "in.jsonl", 6)
    batches.processing_seconds = 0.1
    streamed = run_batch(tmp_path / "in.jsonl", tmp_path / "streamed.jsonl", client=client_for(emulator))
    batched = run_batch(
        tmp_path / "in.jsonl",
        tmp_path / "batched.jsonl",
        client=client_for(emulator),
        options=BatchOptions(via="batches", max_batch_requests=4, **QUICK_POLL),
    )
    assert (batched.succeeded, batched.batches) == (6, 2)  # split within the limit
    assert batched.cost == pytest.approx(streamed.cost / 2)
    by_id = {r["custom_id"]: r for r in read_output(tmp_path / "batched.jsonl")}
    for line in lines:
        assert text_of(by_id[line["custom_id"]]) == emulator.document(line["params"])
        assert set(by_id[line["custom_id"]]) == set(read_output(tmp_path / "streamed.jsonl")[0])


@pytest.mark.parametrize("model", [PREFILL_MODEL, INSTRUCTION_MODEL])
def test_answers_cut_at_max_tokens_are_continued_in_rounds(emu, tmp_path, model):
    emulator, batches = emu
    lines = write_input(tmp_path / "in.jsonl", 3, words=250, max_tokens=100, model=model)
    summary = run_batch(
        tmp_path / "in.jsonl",
        tmp_path / "out.jsonl",
        client=client_for(emulator),
        options=BatchOptions(via="batches", continue_on_max_tokens=True, **QUICK_POLL),
    )
    assert summary.succeeded == 3 and summary.rounds >= 3
    continuations = [body for _, _, body in batches.processed if is_continuation(body)]
    assert continuations
    if model == INSTRUCTION_MODEL:
        assert all(body["messages"][-1]["role"] == "user" for body in continuations)  # by instruction
    else:
        assert all(body["messages"][-1]["role"] == "assistant" for body in continuations)  # prefill
    for line, record in zip(
        lines, sorted(read_output(tmp_path / "out.jsonl"), key=lambda r: r["custom_id"]), strict=True
    ):
        assert text_of(record) == emulator.document(line["params"])
        assert record["message"]["stop_reason"] == "end_turn"
        assert record["usage"]["output_tokens"] >= 250


def test_expired_canceled_and_transient_errors_are_submitted_again(emu, tmp_path):
    emulator, batches = emu
    write_input(tmp_path / "in.jsonl", 5)
    batches.inject("item-000", "expired")
    batches.inject("item-001", "canceled", "errored")
    batches.inject(
        "item-002",
        {
            "type": "errored",
            "error": {
                "type": "error",
                "error": {"type": "invalid_request_error", "message": "prompt is too long"},
            },
        },
    )
    batches.inject("item-003", "expired", "expired", "expired")
    batches.break_downloads(1)
    summary = run_batch(
        tmp_path / "in.jsonl",
        tmp_path / "out.jsonl",
        client=client_for(emulator),
        options=BatchOptions(via="batches", max_rounds=3, **QUICK_POLL),
    )
    by_id = {r["custom_id"]: r for r in read_output(tmp_path / "out.jsonl")}
    assert len(by_id) == 5
    assert by_id["item-000"]["status"] == "succeeded" and by_id["item-000"]["attempts"] == 2
    assert by_id["item-001"]["status"] == "succeeded" and by_id["item-001"]["attempts"] == 3
    assert by_id["item-002"]["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long",
        "request_id": None,
    }
    assert by_id["item-003"]["status"] == "expired" and by_id["item-003"]["attempts"] == 3
    assert by_id["item-004"]["status"] == "succeeded" and by_id["item-004"]["attempts"] == 1
    assert (summary.succeeded, summary.failed, summary.batches) == (3, 2, 3)


def test_a_stopped_batches_run_reattaches_instead_of_submitting_again(emu, tmp_path):
    emulator, batches = emu
    write_input(tmp_path / "in.jsonl", 4)
    batches.processing_seconds = 60
    out = tmp_path / "out.jsonl"
    batch = BatchRun(
        tmp_path / "in.jsonl",
        out,
        client=client_for(emulator),
        options=BatchOptions(via="batches", **QUICK_POLL),
    )

    async def stop_after_submit() -> Any:
        task = asyncio.ensure_future(batch.arun())
        while not batches.created:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        batch.stop("interrupted")
        return await task

    first = asyncio.run(stop_after_submit())
    assert (first.stopped, first.left, first.batches) == ("interrupted", 4, 1)
    state = RunState(tmp_path / "out.jsonl.longcall.db")
    assert "round 1  in_progress" in status_text(state) and "4 submitted" in status_text(state)
    state.close()
    batches.end_now()  # it ended meanwhile
    second = run_batch(
        tmp_path / "in.jsonl",
        out,
        client=client_for(emulator),
        options=BatchOptions(via="batches", **QUICK_POLL),
    )
    assert (second.succeeded, second.batches) == (4, 0)
    assert len(batches.created) == 1
    assert len(read_output(out)) == 4


def test_a_batch_killed_between_create_and_record_is_found_again(emu, tmp_path):
    emulator, batches = emu
    write_input(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    # As if the process died right after the create call returned: an intent, a batch, no record.
    state = RunState(tmp_path / "out.jsonl.longcall.db")
    state.add_items([(f"item-{n:03d}", n + 1, params(n)) for n in range(3)])
    state.add_intent([f"item-{n:03d}" for n in range(3)])
    state.close()
    client_for(emulator).messages.batches.create(
        requests=[{"custom_id": f"item-{n:03d}", "params": params(n)} for n in range(3)]
    )
    summary = run_batch(
        tmp_path / "in.jsonl",
        out,
        client=client_for(emulator),
        options=BatchOptions(via="batches", **QUICK_POLL),
    )
    assert (summary.succeeded, summary.batches) == (3, 0)
    assert len(batches.created) == 1


# -- the command ------------------------------------------------------------------------------------


def _env(emulator: Emulator, home: Path) -> dict[str, str]:
    src = str(Path(longcall.__file__).resolve().parents[1])
    return {
        **os.environ,
        "ANTHROPIC_BASE_URL": emulator.url,
        "ANTHROPIC_API_KEY": "test-key",
        "LONGCALL_HOME": str(home),
        "PYTHONPATH": src,
    }


def _command(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "longcall",
        "batch",
        str(tmp_path / "in.jsonl"),
        "-o",
        str(tmp_path / "out.jsonl"),
        *extra,
    ]


def _wait_lines(path: Path, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.005)
    raise AssertionError(f"{path} did not reach {count} lines")


def test_a_run_killed_at_half_restarts_with_no_request_repeated(emu, tmp_path):
    emulator, _ = emu
    lines = write_input(tmp_path / "in.jsonl", 40, words=120)
    emulator.add_faults(*[Fault(tokens_per_second=1200)] * 40)
    process = subprocess.Popen(
        _command(tmp_path, "-c", "4", "--fixed", "--no-progress"),
        env=_env(emulator, tmp_path),
        stderr=subprocess.DEVNULL,
    )
    _wait_lines(tmp_path / "out.jsonl", 20)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_first = {r["custom_id"] for r in read_output(tmp_path / "out.jsonl")}
    assert 20 <= len(done_first) < 40
    emulator.reset()  # no more slow streams; count only the second run's requests
    finished = subprocess.run(
        _command(tmp_path, "--no-progress"),
        env=_env(emulator, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    prompts = {prompt_of(line["params"]): line["custom_id"] for line in lines}
    second = [
        (prompts[prompt_of(r.body)], is_continuation(r.body))
        for r in api_requests(emulator)
        if r.path == "/v1/messages"
    ]
    requested = Counter(custom_id for custom_id, _ in second)
    assert not set(requested) & done_first  # 0 requests repeated for what was done
    assert set(requested) == {line["custom_id"] for line in lines} - done_first
    assert all(count == 1 for count in requested.values())
    records = read_output(tmp_path / "out.jsonl")
    assert sorted(r["custom_id"] for r in records) == sorted(line["custom_id"] for line in lines)  # once each
    for line, record in zip(lines, sorted(records, key=lambda r: r["custom_id"]), strict=True):
        assert text_of(record) == emulator.document(line["params"])


def test_ctrl_c_stops_cleanly_and_says_how_to_continue(emu, tmp_path):
    emulator, _ = emu
    write_input(tmp_path / "in.jsonl", 30, words=120)
    emulator.add_faults(*[Fault(tokens_per_second=600)] * 30)
    process = subprocess.Popen(
        _command(tmp_path, "-c", "3", "--no-progress"),
        env=_env(emulator, tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_lines(tmp_path / "out.jsonl", 3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130
    assert "stopping (Ctrl-C again stops at once)" in stderr
    assert f"To continue: longcall batch {tmp_path / 'in.jsonl'} -o {tmp_path / 'out.jsonl'}" in stderr
    assert "Traceback" not in stderr
    state = RunState(tmp_path / "out.jsonl.longcall.db")
    status = status_text(state)
    state.close()
    assert "not finished" in status and "stopped: interrupted" in status


def test_the_command_refuses_a_bad_input_with_exit_2(emu, tmp_path, monkeypatch, capsys):
    emulator, _ = emu
    monkeypatch.setenv("ANTHROPIC_BASE_URL", emulator.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    (tmp_path / "in.jsonl").write_text('{"custom_id": "a b", "params": {}}\n')
    assert main(["batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl")]) == 2
    assert "refused before anything was sent: line 1: custom_id 'a b'" in capsys.readouterr().err
    assert api_requests(emulator) == []
    assert main(["batch", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "out.jsonl")]) == 2
    assert "there is no input file" in capsys.readouterr().err
    assert main(["batch", "--status", "-o", str(tmp_path / "out.jsonl")]) == 2


def test_the_command_runs_a_batch_and_shows_its_status(emu, tmp_path, monkeypatch, capsys):
    emulator, _ = emu
    monkeypatch.setenv("ANTHROPIC_BASE_URL", emulator.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    write_input(tmp_path / "in.jsonl", 3, words=10)
    with (tmp_path / "in.jsonl").open("a") as file:
        file.write("[]\n")
    argv = ["batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--no-progress", "--json"]
    assert main(argv) == 1  # one record is an error
    captured = capsys.readouterr()
    assert json.loads(captured.out)["succeeded"] == 3
    assert "3 succeeded, 1 failed of 4" in captured.err
    assert main(["batch", "--status", "-o", str(tmp_path / "out.jsonl")]) == 0
    status = capsys.readouterr().out
    assert "items: 4; done 4 (1 errored, 3 succeeded); not finished 0" in status
    assert "last run: 3 succeeded, 1 failed" in status
