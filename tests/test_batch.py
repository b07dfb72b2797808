"""Pure parts of the batch runner: input lines, ids, shards, records, the state file, pacing,
splitting into batches, and stitching a batch continuation onto what an earlier round returned."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longcall.batch import _records
from longcall.batch._input import BadLine, InputRefused, Item, in_shard, parse_line, parse_shard, read_input
from longcall.batch._pacing import Concurrency, Pacer, read_rate_limits, spend_limit_message
from longcall.batch._progress import describe
from longcall.batch._rounds import continue_from, judge, split, stitch
from longcall.batch._state import Output, RunState, reconcile

MODEL = "claude-haiku-4-5"


def _params(text: str = "hello", **extra):
    return {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": text}], **extra}


# -- input --------------------------------------------------------------------------------------


def test_the_three_line_shapes_give_the_same_kind_of_item():
    batches_shape = parse_line(json.dumps({"custom_id": "a", "params": _params(stream=True)}).encode(), 1)
    plain = parse_line(json.dumps({"custom_id": "b", **_params()}).encode(), 2)
    openai = parse_line(
        json.dumps(
            {
                "id": "c",
                "model": MODEL,
                "max_completion_tokens": 50,
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
            }
        ).encode(),
        3,
    )
    assert isinstance(batches_shape, Item) and batches_shape.params == _params()  # stream dropped
    assert isinstance(plain, Item) and plain.params == _params() and plain.custom_id == "b"
    assert isinstance(openai, Item)
    assert openai.params["system"] == [{"type": "text", "text": "Be brief."}]
    assert openai.params["max_tokens"] == 50
    assert openai.params["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"not json", "line 4 is not JSON"),
        (b"[1, 2]", "line 4 is a JSON list, not an object"),
        (b'{"params": {}}', "line 4 has no custom_id"),
        (b'{"custom_id": "x", "model": "m"}', "line 4 has parameters that cannot be sent"),
        (b"\xff\xfe", "line 4 is not UTF-8"),
    ],
)
def test_a_malformed_line_names_its_number(raw, expected):
    entry = parse_line(raw, 4)
    assert isinstance(entry, BadLine)
    assert entry.message.startswith(expected)
    assert entry.line == 4


def test_bad_and_duplicate_ids_refuse_the_whole_input(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [
        {"custom_id": "ok-1", "params": _params()},
        {"custom_id": "has space", "params": _params()},
        {"custom_id": "x" * 65, "params": _params()},
        {"custom_id": "ok-1", "params": _params()},
        {"custom_id": 7, "params": _params()},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with pytest.raises(InputRefused) as caught:
        read_input(path)
    problems = caught.value.problems
    assert len(problems) == 4
    assert problems[0].startswith("line 2: custom_id 'has space'")
    assert "line 3" in problems[1]
    assert problems[2] == "line 4: custom_id 'ok-1' is also on line 1"
    assert "line 5" in problems[3]
    assert isinstance(caught.value, ValueError)


def test_blank_lines_are_skipped_and_line_numbers_kept(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"custom_id": "a", **_params()}) + "\n\n   \n" + "oops\n")
    entries = read_input(path)
    assert [(type(e).__name__, e.line) for e in entries] == [("Item", 1), ("BadLine", 4)]


@given(
    st.lists(st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True), unique=True, max_size=60),
    st.integers(1, 7),
)
def test_shards_split_the_ids_into_disjoint_parts_that_cover_them(ids, count):
    owners = [[k for k in range(1, count + 1) if in_shard(custom_id, (k, count))] for custom_id in ids]
    assert all(len(owner) == 1 for owner in owners)


@pytest.mark.parametrize("custom_id", ["item-1", "item-2", "Z", "a" * 64])
def test_the_shard_of_an_id_is_the_documented_hash(custom_id):
    # The first 8 bytes of SHA-256, big-endian, modulo N: the same on every machine and every Python
    # (no PYTHONHASHSEED), and computable by other tools that split the same input.
    number = int(hashlib.sha256(custom_id.encode()).hexdigest()[:16], 16) % 4 + 1
    assert [k for k in range(1, 5) if in_shard(custom_id, (k, 4))] == [number]


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0"])
def test_a_bad_shard_is_refused(text):
    with pytest.raises(ValueError):
        parse_shard(text)


# -- records and the state file -----------------------------------------------------------------


def test_records_carry_cost_at_the_batch_price():
    message = {"model": "claude-sonnet-4-5", "usage": {"input_tokens": 1_000_000, "output_tokens": 0}}
    streamed = _records.success("a", 1, message, 1)
    batched = _records.success("a", 1, message, 1, batch=True)
    assert streamed["cost"] == pytest.approx(3.0)
    assert batched["cost"] == pytest.approx(1.5)


def test_a_killed_run_leaves_the_output_consistent(tmp_path):
    out = tmp_path / "out.jsonl"
    state = RunState(tmp_path / "state.db")
    state.add_items([("a", 1, _params()), ("b", 2, _params()), ("c", 3, _params())])
    record_a = _records.success("a", 1, {"model": MODEL, "usage": {}}, 1)
    record_b = _records.success("b", 2, {"model": MODEL, "usage": {}}, 1)
    state.finish("a", record_a)
    state.finish("b", record_b)
    # The process died while writing b's line: a whole, b torn.
    out.write_text(_records.dumps(record_a) + "\n" + _records.dumps(record_b)[:20])
    output = Output(out)
    assert reconcile(state, output) == 1
    output.close()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["custom_id"] for line in lines] == ["a", "b"]
    # Again: nothing to add, nothing written twice.
    output = Output(out)
    assert reconcile(state, output) == 0
    output.close()
    assert len(out.read_text().splitlines()) == 2
    state.close()


def test_the_state_lists_its_items_in_input_order_all_or_by_status(tmp_path):
    state = RunState(tmp_path / "state.db")
    state.add_items([("b", 2, _params()), ("a", 1, None), ("c", 3, _params())])
    state.finish("c", _records.success("c", 3, {"model": MODEL, "usage": {}}, 1))
    assert [(item.key, item.line, item.status) for item in state.items()] == [
        ("a", 1, "pending"),
        ("b", 2, "pending"),
        ("c", 3, "done"),
    ]
    assert [item.key for item in state.items("pending")] == ["a", "b"]
    (done,) = state.items("done")
    assert done.record is not None and done.record["custom_id"] == "c" and done.next_params == _params()
    assert state.item("a") is not None and state.item("a").next_params is None  # type: ignore[union-attr]
    state.close()


def test_an_output_whose_state_was_deleted_still_counts_as_done(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text(_records.dumps(_records.success("a", 1, {"model": MODEL, "usage": {}}, 1)) + "\n")
    state = RunState(tmp_path / "fresh.db")
    reconcile(state, Output(out))
    assert state.done_keys() == {"a"}
    state.close()


def test_the_state_file_refuses_another_shard(tmp_path):
    from longcall.batch import StateError

    state = RunState(tmp_path / "s.db")
    state.check_shard((1, 4))
    state.set_meta("started_at", 1.0)
    with pytest.raises(StateError, match="shard 1/4, not shard 2/4"):
        state.check_shard((2, 4))
    state.close()


# -- pacing ---------------------------------------------------------------------------------------


def test_concurrency_grows_only_while_in_use_and_halves_once_per_burst():
    limit = Concurrency(4, maximum=64)
    limit.succeeded(in_flight=2)  # not using the limit: no reason to grow
    assert limit.limit == 4
    for _ in range(4):
        limit.succeeded(in_flight=limit.limit)
    assert limit.limit == 8  # slow start: +1 per success, doubling per round
    epoch = limit.epoch
    assert limit.throttled(epoch) is True
    assert limit.limit == 4
    # The rest of the same burst (requests started before the decrease) changes nothing.
    assert limit.throttled(epoch) is False
    assert limit.limit == 4
    for _ in range(8):
        limit.succeeded(in_flight=limit.limit)
    assert limit.limit == 5  # after a throttle: about +1 per `limit` successes, not +8
    assert (limit.lowest, limit.highest) == (4, 8)


def test_concurrency_stays_within_its_bounds():
    limit = Concurrency(2, minimum=1, maximum=3)
    for _ in range(10):
        limit.succeeded(in_flight=limit.limit)
    assert limit.limit == 3
    for _ in range(5):
        limit.throttled(limit.epoch)
    assert limit.limit == 1


def test_rate_limit_headers_pause_until_their_reset():
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:30Z",
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "7000",
        "anthropic-ratelimit-output-tokens-reset": "2026-01-01T00:00:10Z",
    }
    now = 1767225600.0  # 2026-01-01T00:00:00Z
    limits = read_rate_limits(headers, now)
    assert [(limit.kind, limit.limit, limit.remaining) for limit in limits] == [
        ("requests", 50, 0),
        ("output-tokens", 8000, 7000),
    ]
    pacer = Pacer()
    pacer.response(headers, now)
    assert pacer.wait(now) == pytest.approx(30.0)
    assert "requests rate limit" in pacer.why
    pacer.retry_after(5, now)  # shorter than the pause already set: no change
    assert pacer.wait(now) == pytest.approx(30.0)


def test_a_retry_after_pauses_everyone():
    pacer = Pacer()
    pacer.retry_after(3, 100.0)
    assert pacer.wait(101.0) == pytest.approx(2.0)
    assert pacer.wait(104.0) == 0.0


def test_the_spend_limit_is_told_apart_from_a_rate_limit():
    spend = {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "limit",
            "details": {"error_code": "enforced_spend_limit_reached"},
        },
    }
    rate = {"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests"}}
    usage = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "You have reached your specified API usage limits. Access returns on 2026-02-01.",
        },
    }
    assert spend_limit_message(429, spend) == "limit"
    assert spend_limit_message(429, rate) is None
    assert spend_limit_message(400, usage) is not None
    assert spend_limit_message(400, rate) is None


def test_the_progress_line_has_every_number():
    snapshot = {
        "via": "stream",
        "total": 100,
        "done": 40,
        "done_before": 10,
        "failed": 2,
        "output_tokens": 60_000,
        "cost": 1.25,
        "started": 0.0,
        "in_flight": 12,
        "concurrency": 16,
        "paused": "",
    }
    line = describe(snapshot, 30.0)
    assert line.startswith("40/100 done · 2 failed · 60,000 out tokens · $1.2500 · 12 in flight (limit 16)")
    assert "2,000 tok/s" in line
    assert "ETA 1m00s" in line  # 30 done in 30 s this run, 60 left


# -- Message Batches rounds -----------------------------------------------------------------------


def test_requests_are_split_within_the_limits():
    requests = [(f"id{i}", _params("x" * 100)) for i in range(10)]
    assert [len(group) for group in split(requests, max_requests=4, max_bytes=10**6)] == [4, 4, 2]
    one = len(json.dumps({"custom_id": "id0", "params": requests[0][1]})) + 2
    groups = list(split(requests, max_requests=100, max_bytes=64 + 3 * one + 1))
    assert [len(group) for group in groups] == [3, 3, 3, 1]
    assert [key for group in groups for key, _ in group] == [key for key, _ in requests]


def _message(text: str, stop: str, output_tokens: int = 10) -> dict:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": output_tokens},
    }


# Words do not repeat: by instruction, a continuation that starts by repeating the last words is
# taken for the model's overlap and removed (the seam's documented rule, "had had" aside), so a text
# that repeats itself at the cut is ambiguous by design, not a stitching error.
ENGLISH = st.lists(
    st.sampled_from(["river", "stone", "light", "a", "garden", "of", "café", "évening", "bridge", "→"]),
    min_size=3,
    max_size=10,
    unique=True,
).map(" ".join)
CHINESE = st.lists(  # no spaces; characters do not repeat, for the same reason
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=3, max_size=80, unique=True
).map("".join)


@settings(max_examples=60, deadline=None)
@given(st.one_of(ENGLISH, CHINESE), st.data(), st.sampled_from(["prefill", "instruction"]))
def test_a_continuation_round_stitches_back_the_exact_text(text, data, strategy):
    cut = data.draw(st.integers(1, len(text) - 1))
    original = _params("Write")
    partial = _message(text[:cut], "max_tokens")
    request = continue_from(original, partial, strategy).params
    assistant = [m for m in request["messages"] if m["role"] == "assistant"]
    sent = assistant[-1]["content"][-1]["text"] if assistant else ""
    assert text.startswith(sent)
    if strategy == "instruction":
        assert request["messages"][-1]["role"] == "user"  # the instruction to continue
    # The model goes on exactly from where the request left it.
    whole = stitch(original, partial, _message(text[len(sent) :], "end_turn", 7), strategy)
    assert "".join(block["text"] for block in whole["content"]) == text
    assert whole["stop_reason"] == "end_turn"
    assert whole["usage"]["output_tokens"] == 17  # summed over both rounds
    assert whole["usage"]["input_tokens"] == 10


def test_judge_continues_resubmits_and_gives_up():
    original = _params()
    succeeded = {"type": "succeeded", "message": _message("part one ", "max_tokens")}
    cont = judge(
        original,
        None,
        original,
        succeeded,
        strategy="prefill",
        continue_on_max_tokens=True,
        output_budget=None,
        rounds_left=3,
    )
    assert cont.action == "continue" and cont.params is not None
    assert cont.params["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "part one"}],
    }
    done = judge(
        original,
        None,
        original,
        succeeded,
        strategy="prefill",
        continue_on_max_tokens=False,
        output_budget=None,
        rounds_left=3,
    )
    assert done.action == "done"
    budget = judge(
        original,
        None,
        original,
        succeeded,
        strategy="prefill",
        continue_on_max_tokens=True,
        output_budget=10,
        rounds_left=3,
    )
    assert budget.action == "done"  # the 10 tokens of the budget are spent
    overloaded = {
        "type": "errored",
        "error": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    }
    assert (
        judge(
            original,
            None,
            original,
            overloaded,
            strategy="prefill",
            continue_on_max_tokens=False,
            output_budget=None,
            rounds_left=1,
        ).action
        == "again"
    )
    bad = {
        "type": "errored",
        "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}},
    }
    failed = judge(
        original,
        None,
        original,
        bad,
        strategy="prefill",
        continue_on_max_tokens=False,
        output_budget=None,
        rounds_left=5,
    )
    assert (failed.action, failed.error_type, failed.error_message) == (
        "fail",
        "invalid_request_error",
        "bad",
    )
    for kind in ("expired", "canceled"):
        assert (
            judge(
                original,
                None,
                original,
                {"type": kind},
                strategy="prefill",
                continue_on_max_tokens=False,
                output_budget=None,
                rounds_left=1,
            ).action
            == "again"
        )
        last = judge(
            original,
            None,
            original,
            {"type": kind},
            strategy="prefill",
            continue_on_max_tokens=False,
            output_budget=None,
            rounds_left=0,
        )
        assert (last.action, last.status) == ("fail", kind)


def test_a_refused_prefill_continues_by_instruction():
    original = _params()
    partial = _message("part one ", "max_tokens")
    refused = {
        "type": "errored",
        "error": {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "This model does not support assistant message prefill.",
            },
        },
    }
    outcome = judge(
        original,
        partial,
        original,
        refused,
        strategy="prefill",
        continue_on_max_tokens=True,
        output_budget=None,
        rounds_left=2,
    )
    assert outcome.action == "continue" and outcome.strategy == "instruction"
    assert outcome.params is not None and outcome.params["messages"][-1]["role"] == "user"


def test_summary_counts_errors_by_type():
    summary = _records.Summary(total=3)
    summary.add(
        _records.success("a", 1, {"model": MODEL, "usage": {"input_tokens": 3, "output_tokens": 4}}, 1)
    )
    summary.add(_records.failure("b", 2, "overloaded_error", "x"))
    summary.add(_records.failure("c", 3, "overloaded_error", "x"))
    assert (summary.succeeded, summary.failed, summary.input_tokens, summary.output_tokens) == (1, 2, 3, 4)
    assert Counter(summary.errors_by_type) == Counter({"overloaded_error": 2})
    assert summary.line().startswith("1 succeeded, 2 failed of 3")


def test_the_progress_view_prints_plain_lines_and_a_live_table():
    import asyncio
    import io

    from longcall.batch._progress import ProgressView, _table

    snapshot = {
        "via": "batches",
        "total": 10,
        "done": 4,
        "done_before": 0,
        "failed": 1,
        "output_tokens": 800,
        "cost": 0.5,
        "started": 0.0,
        "in_flight": 0,
        "concurrency": 0,
        "paused": "",
        "batches": {
            "msgbatch_1": {"status": "in_progress", "counts": {"processing": 6}},
            "msgbatch_0": {"status": "ended", "counts": {"succeeded": 3, "errored": 1}},
        },
    }
    file = io.StringIO()
    view = ProgressView(lambda: snapshot, file=file, live=False, refresh=0.01, clock=lambda: 8.0)

    async def two_lines() -> None:
        task = asyncio.ensure_future(view.run())
        while file.getvalue().count("\n") < 2:
            await asyncio.sleep(0.005)
        task.cancel()

    asyncio.run(two_lines())
    first = file.getvalue().splitlines()[0]
    assert first.startswith("longcall batch: 4/10 done · 1 failed · 800 out tokens · $0.5000")
    assert "2 batches (1 in progress, 6 requests processing)" in first and "ETA 12s" in first
    from rich.console import Console

    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(_table(snapshot, 8.0))
    table = console.file.getvalue()
    cells = [line.split() for line in table.splitlines()]
    rows = {row[0]: row[1:] for row in cells if row and row[0].startswith("msgbatch")}
    assert rows == {
        "msgbatch_1": ["in_progress", "6", "0", "0", "0", "0"],
        "msgbatch_0": ["ended", "0", "3", "1", "0", "0"],
    }
