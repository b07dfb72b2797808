"""The engine without a network: any chunking of a response's bytes gives the same events and the
same final message; decisions follow the policy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import longcall
from longcall._engine import Generation

START = {
    "type": "message_start",
    "message": {
        "id": "m1",
        "type": "message",
        "role": "assistant",
        "model": "x",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    },
}


def events() -> list[dict[str, Any]]:
    text = ["Héllo", " wörld", " ☃", "\n\nNext"]
    return [
        START,
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": t}}
            for t in ["a", "b c"]
        ),
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        *(
            {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": t}}
            for t in text
        ),
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
        },
        *(
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": p},
            }
            for p in ['{"k": ', '"v☃"', ', "n": [1', ", 2]}"]
        ),
        {"type": "content_block_stop", "index": 2},
        {"type": "content_block_start", "index": 3, "content_block": {"type": "mystery", "x": 1}},
        {"type": "content_block_delta", "index": 3, "delta": {"type": "mystery_delta", "y": 2}},
        {"type": "content_block_stop", "index": 3},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 42},
        },
        {"type": "message_stop"},
    ]


BODY = "".join(
    f"event: {e['type']}\r\ndata: {json.dumps(e, ensure_ascii=False)}\r\n\r\n" for e in events()
).encode()


def run(chunks: list[bytes]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    gen = Generation(
        {"model": "x", "max_tokens": 100, "messages": []},
        longcall.Policy(),
        hooks=longcall.Hooks(on_event=seen.append),
        now=0.0,
        wall=0.0,
        random=lambda: 0.5,
    )
    gen.request(0.0, 0.0)
    for chunk in chunks:
        if gen.feed(chunk, 0.0):
            break
    decision = gen.end(None, 0.0, 0.0)
    assert decision.message is not None
    return gen.acc.message_dict(), seen


ONE_SHOT = run([BODY])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, len(BODY)), max_size=40))
def test_any_rechunking_gives_the_same_events_and_message(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [BODY[a:b] for a, b in zip([0, *points], [*points, len(BODY)], strict=True)]
    assert run(chunks) == ONE_SHOT


def test_one_shot_message() -> None:
    message, seen = ONE_SHOT
    assert seen == events()
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use", "mystery"]
    assert message["content"][0] == {"type": "thinking", "thinking": "ab c", "signature": "sig"}
    assert message["content"][1]["text"] == "Héllo wörld ☃\n\nNext"
    assert message["content"][2]["input"] == {"k": "v☃", "n": [1, 2]}
    assert message["content"][3] == {
        "type": "mystery",
        "x": 1,
        "unknown_deltas": [{"type": "mystery_delta", "y": 2}],
    }
    assert message["usage"] == {"input_tokens": 5, "output_tokens": 42}
    assert message["stop_reason"] == "tool_use"


def test_tool_json_is_parsed_once_at_block_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = json.loads

    def counting(data: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(data, str):
            calls.append(len(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    run([BODY])
    assert len(calls) == 1  # the tool input; event payloads are bytes


def test_policy_is_immutable_and_readable() -> None:
    policy = longcall.Policy(max_attempts=3, strategy="instruction")
    with pytest.raises(AttributeError):
        policy.max_attempts = 4  # type: ignore[misc]
    assert "max_attempts=3" in repr(policy) and "strategy='instruction'" in repr(policy)
    assert policy.replace(resume=False).resume is False and policy.resume is True


@pytest.mark.parametrize(
    "bad", [{"max_attempts": 0}, {"strategy": "guess"}, {"idle_timeout": -1}, {"max_output_tokens_total": 0}]
)
def test_policy_rejects_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        longcall.Policy(**bad)


def test_backoff_is_capped_and_jittered() -> None:
    policy = longcall.Policy(backoff_initial=1, backoff_max=8)
    assert [policy.backoff(n, 0.999999) for n in (1, 2, 3, 4, 5)] == pytest.approx([1, 2, 4, 8, 8], rel=1e-3)
    assert policy.backoff(3, 0.0) == 2.0  # jitter spreads over [wait/2, wait]
    assert longcall.Policy(jitter=False).backoff(2, 0.0) == 1.0


def test_public_names() -> None:
    public = {name for name in dir(longcall) if not name.startswith("_")} - {"openai", "testing", "journal"}
    modules = {name for name in public if type(getattr(longcall, name)).__name__ == "module"}
    assert sorted(longcall.__all__) == longcall.__all__
    assert set(longcall.__all__) - {"__version__"} == public - modules


# -- policy and decisions without a network ----------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"idle_timeout": 0},
        {"deadline": 0},
        {"deadline": -5},
        {"connect_timeout": 0},
        {"backoff_initial": 0},
        {"backoff_max": -1},
        {"checkpoint_interval": 0},
        {"checkpoint_bytes": 0},
        {"max_event_bytes": 0},
        {"max_segments": 0},
        {"max_output_tokens_total": -1},
        {"max_attempts": 1.5},
        {"deadline": float("nan")},
    ],
)
def test_policy_rejects_zero_and_negative_times_and_sizes(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        longcall.Policy(**bad)


def text_body(words: list[str], stop: str | None = None, usage: int | None = None) -> bytes:
    events: list[dict[str, Any]] = [
        START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}
            for w in words
        ),
    ]
    if stop is not None:
        events += [
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": usage}},
            {"type": "message_stop"},
        ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def engine(policy: longcall.Policy, max_tokens: int = 100, model: str = "claude-haiku-4-5") -> Generation:
    return Generation(
        {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": "go"}]},
        policy,
        now=0.0,
        wall=0.0,
        random=lambda: 0.5,
    )


def test_failures_without_content_back_off_even_after_content_arrived() -> None:
    import httpx2

    gen = engine(longcall.Policy(backoff_initial=1, jitter=False))
    gen.request(0.0, 0.0)
    gen.feed(text_body(["Hello ", "world "]), 0.0)
    assert gen.end(ConnectionResetError("reset"), 0.0, 0.0).delay == 0.0  # content was flowing
    waits = []
    for _ in range(3):
        gen.request(0.0, 0.0)
        waits.append(gen.end(httpx2.ConnectError("refused"), 0.0, 0.0).delay)
    assert waits == [1.0, 2.0, 4.0]


def test_a_broken_attempt_asks_for_a_count_and_estimates_when_it_fails() -> None:
    gen = engine(longcall.Policy())
    gen.counts_tokens = True
    gen.request(0.0, 0.0)
    gen.feed(text_body(["Hello ", "wide ", "world "]), 0.0)
    decision = gen.end(ConnectionResetError("reset"), 0.0, 0.0)
    assert decision.count is not None
    assert decision.count[0]["messages"][0]["content"] == "Hello wide world "
    decision = gen.counted([None], 0.0, 0.0)
    attempt = gen.attempts[0]
    assert attempt.usage_source == "estimated" and attempt.usage["output_tokens"] >= 3
    assert decision.count is None and decision.message is None and decision.error is None  # resumes
    # counted: the text's count less the count of the probe alone, plus the probe's own token
    gen.request(0.0, 0.0)
    gen.feed(text_body(["More ", "words "]), 0.0)
    assert gen.end(ConnectionResetError("reset"), 0.0, 0.0).count is not None
    gen.counted([9, 8], 0.0, 0.0)
    assert gen.attempts[1].usage_source == "counted" and gen.attempts[1].usage["output_tokens"] == 2


def test_a_resume_asks_only_for_what_is_left_of_max_tokens_and_the_budget() -> None:
    gen = engine(longcall.Policy(max_output_tokens_total=150), max_tokens=200)
    assert gen.request(0.0, 0.0)["max_tokens"] == 150  # the budget is below max_tokens
    gen.feed(text_body(["w "] * 10), 0.0)
    gen.end(ConnectionResetError("reset"), 0.0, 0.0)  # estimated: 10 tokens
    assert gen.request(0.0, 0.0)["max_tokens"] == 140


def test_a_model_at_its_output_limit_is_never_asked_for_more() -> None:
    gen = engine(longcall.Policy(strategy="instruction"), max_tokens=64_000, model="claude-sonnet-4-6")
    assert gen.request(0.0, 0.0)["max_tokens"] == 64_000
    gen.feed(text_body(["w "] * 10), 0.0)
    gen.end(ConnectionResetError("reset"), 0.0, 0.0)
    assert gen.request(0.0, 0.0)["max_tokens"] == 64_000 - 10


def test_message_delta_with_a_stop_reason_is_complete_without_message_stop() -> None:
    gen = engine(longcall.Policy())
    gen.request(0.0, 0.0)
    body = text_body(["Done."], stop="end_turn", usage=1)
    gen.feed(body[: body.rindex(b"event: message_stop")], 0.0)
    decision = gen.end(ConnectionResetError("reset"), 0.0, 0.0)
    assert decision.message is not None and decision.message.stop_reason == "end_turn"
    assert gen.attempts[0].usage_source == "server" and gen.attempts[0].error is None


def test_time_to_first_token_is_the_chunk_with_the_first_delta() -> None:
    gen = engine(longcall.Policy())
    gen.request(0.0, 0.0)
    body = text_body(["a ", "b "])
    first_delta = body.index(b"event: content_block_delta")
    gen.feed(body[:first_delta], 0.5)
    gen.feed(body[first_delta : body.index(b"\n\n", first_delta) + 2], 1.0)
    gen.feed(body[body.index(b"\n\n", first_delta) + 2 :], 9.0)
    assert gen.attempts[0].time_to_first_token == 1.0
