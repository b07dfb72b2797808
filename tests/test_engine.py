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
