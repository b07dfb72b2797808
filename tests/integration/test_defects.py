"""Regression tests for the engine defects of the strict-emulator issue (#9, item 2) and the usage and
stream=True rules of the reliability issue (#11). Each ran against longcall 0.1.0 and failed there;
each runs the real `anthropic` client against the strict emulator over loopback HTTP unless the case
needs bytes the emulator never sends (then a replay server, or a tiny scripted HTTP server)."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import httpx2
import pytest

import longcall
from longcall.testing import Emulator, Fault, Script

from ..protocol import check_events, check_usage
from ..replay import ReplayServer, sse
from .drivers import client, create

PREFILL_MODEL = "claude-haiku-4-5"  # accepts prefill; thinking "enabled"; 64k output
INSTRUCTION_MODEL = "claude-opus-4-6"  # refuses prefill: continued by instruction
LIMITED_MODEL = "claude-sonnet-4-6"  # refuses prefill, output limit 64,000
FAST = longcall.Policy(backoff_initial=0.01, backoff_max=0.05, idle_timeout=5, max_attempts=10)


def params(model: str, prompt: str = "Write 300 words about lighthouses", **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 8000, "messages": [{"role": "user", "content": prompt}], **extra}


def body_of(emulator: Emulator, request: dict[str, Any]) -> bytes:
    """The fault-free SSE body the emulator sends for `request` (then forgotten by a reset)."""
    response = httpx2.post(
        f"{emulator.url}/v1/messages",
        json={**request, "stream": True},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 200, response.text
    return response.content


def generating(emulator: Emulator) -> list[Any]:
    return [record for record in emulator.requests if record.path == "/v1/messages"]


def stream_events(kind: str, url: str, policy: longcall.Policy, **request: Any) -> list[Any]:
    if kind == "sync":
        with client(kind, url, policy=policy) as wrapped:
            return list(wrapped.messages.create(stream=True, **request))

    async def collect() -> list[Any]:
        async with client(kind, url, policy=policy) as wrapped:
            stream = await wrapped.messages.create(stream=True, **request)
            return [event async for event in stream]

    return asyncio.run(collect())


# -- output limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_resume_never_asks_for_more_than_the_models_output_limit(emulator: Emulator, kind: str) -> None:
    # The CLI's default: max_tokens at the model's limit, continued by instruction (no prefill).
    request = {**params(LIMITED_MODEL), "max_tokens": 64_000}
    emulator.add_faults(Fault(drop_after_bytes=4000))
    message = create(kind, emulator.url, {"policy": FAST}, **request)
    assert message.content[0].text == emulator.document(request)
    first_output = int(message.attempts[0].usage["output_tokens"])
    assert [record.body["max_tokens"] for record in generating(emulator)] == [64_000, 64_000 - first_output]


@pytest.mark.parametrize("model", [PREFILL_MODEL, INSTRUCTION_MODEL])
def test_a_200_token_call_that_breaks_once_stops_at_200_with_max_tokens(
    emulator: Emulator, model: str
) -> None:
    request = {**params(model, "Write 2000 words about lighthouses"), "max_tokens": 200}
    emulator.add_faults(Fault(drop_after_bytes=9000, overlap="repeat_words"))
    message = create("sync", emulator.url, {"policy": FAST}, **request)
    assert message.stop_reason == "max_tokens" and message.stopped_by is None
    assert message.usage.output_tokens == 200  # what the server generated over both requests
    assert all(record.body["max_tokens"] <= 200 for record in generating(emulator))
    assert emulator.document(request).startswith(message.content[0].text)
    check_usage(message, emulator.requests)


def test_the_thinking_budget_fits_inside_the_callers_max_tokens(emulator: Emulator) -> None:
    request = {
        **params(PREFILL_MODEL, "Write 3000 words about lighthouses"),
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1500},
    }
    size = len(body_of(emulator, request))
    emulator.reset()
    emulator.add_faults(Fault(drop_after_bytes=size * 3 // 4))
    message = create("sync", emulator.url, {"policy": FAST}, **request)
    bodies = [record.body for record in generating(emulator)]
    assert all(body["max_tokens"] <= 2000 for body in bodies)
    for body in bodies:
        thinking = body.get("thinking") or {}
        if thinking.get("type") == "enabled":
            assert thinking["budget_tokens"] < body["max_tokens"]
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens <= 2000


# -- the cut-back before a continuation by instruction -----------------------------------------------


@pytest.mark.parametrize("overlap", ["none", "repeat_words", "restart_sentence"])
@pytest.mark.parametrize("prompt", ["Write 300 words in Chinese", "Write 300 words, unbroken"])
def test_the_cut_back_is_bounded_in_chinese_and_long_tokens(
    emulator: Emulator, overlap: str, prompt: str
) -> None:
    request = params(INSTRUCTION_MODEL, prompt)
    size = len(body_of(emulator, request))
    emulator.reset()
    drops = [size // 4] * 3  # each continuation's body is shorter than the one before
    emulator.add_faults(*[Fault(drop_after_bytes=n, overlap=overlap) for n in drops], Fault(overlap=overlap))
    message = create("sync", emulator.url, {"policy": FAST}, **request)
    assert message.content[0].text == emulator.document(request)
    limit = 4 if "Chinese" in prompt else 24
    assert all(attempt.regenerated <= limit for attempt in message.attempts), [
        attempt.regenerated for attempt in message.attempts
    ]
    assert [attempt.kind for attempt in message.attempts[1:]] == ["resume"] * 3  # never a restart


# -- tool input ------------------------------------------------------------------------------------

TOOLS = [{"name": "now", "description": "The time", "input_schema": {"type": "object", "properties": {}}}]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_tool_call_without_arguments_has_empty_input(emulator: Emulator, kind: str) -> None:
    emulator.script(
        "what time is it",
        Script(
            content=[{"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}],
            stop_reason="tool_use",
        ),
    )
    request = {**params(PREFILL_MODEL, "what time is it"), "tools": TOOLS}
    message = create(kind, emulator.url, {"policy": FAST}, **request)
    assert message.content[0].type == "tool_use" and message.content[0].input == {}
    events = stream_events(kind, emulator.url, FAST, **request)
    assert check_events(events).content[0].input == {}


def _tool_body(partial: str, stop: bool) -> bytes:
    start = {
        "type": "message_start",
        "message": {
            "id": "m1",
            "type": "message",
            "role": "assistant",
            "model": PREFILL_MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        },
    }
    tool = {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {}}
    events = [
        start,
        {"type": "content_block_start", "index": 0, "content_block": tool},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": partial},
        },
        *([{"type": "content_block_stop", "index": 0}] if stop else []),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
            "usage": {"output_tokens": 7},
        },
        {"type": "message_stop"},
    ]
    return sse(events)


def test_a_tool_block_cut_at_max_tokens_gets_the_sdks_partial_parse(replay: ReplayServer) -> None:
    partial = '{"city": "Paris", "days": [1, 2'
    body = _tool_body(partial, stop=False)
    sdk = anthropic.Anthropic(base_url=replay.url, api_key="k", max_retries=0)
    replay.reply(body)
    with sdk.messages.stream(
        model=PREFILL_MODEL, max_tokens=7, messages=[{"role": "user", "content": "x"}]
    ) as s:
        expected = s.get_final_message()
    replay.reply(body)
    ours = longcall.wrap(sdk, journal=None, policy=FAST).messages.create(
        model=PREFILL_MODEL, max_tokens=7, messages=[{"role": "user", "content": "x"}]
    )
    assert ours.stop_reason == "max_tokens"
    assert ours.content[0].input == expected.content[0].input == {"city": "Paris", "days": [1, 2]}
    assert ours.content[0].to_dict()["partial_json"] == partial  # the raw JSON is kept too


def test_invalid_tool_json_raises_an_error_that_is_also_a_value_error(replay: ReplayServer) -> None:
    replay.reply(_tool_body('{"city": }', stop=True))
    sdk = anthropic.Anthropic(base_url=replay.url, api_key="k", max_retries=0)
    with pytest.raises(ValueError) as caught:
        longcall.wrap(sdk, journal=None, policy=FAST).messages.create(
            model=PREFILL_MODEL, max_tokens=7, messages=[{"role": "user", "content": "x"}]
        )
    assert isinstance(caught.value, longcall.StreamProtocolError)
    assert "not JSON" in str(caught.value) and len(caught.value.attempts) == 1


# -- the caller's objects --------------------------------------------------------------------------


def test_the_callers_messages_system_and_tools_are_neither_mutated_nor_aliased(emulator: Emulator) -> None:
    history: list[dict[str, Any]] = [{"role": "user", "content": "Write 300 words about lighthouses"}]
    system = [{"type": "text", "text": "You are terse."}]
    tools = copy.deepcopy(TOOLS)
    before = copy.deepcopy((history, system, tools))
    appended = False

    def chat_program_appends(text: str) -> None:  # a chat UI adding the assistant turn as it streams
        nonlocal appended
        if not appended:
            history.append({"role": "assistant", "content": "(streaming...)"})
            appended = True

    emulator.add_faults(Fault(drop_after_bytes=3000))
    request = {**params(PREFILL_MODEL), "messages": history, "system": system, "tools": tools}
    message = create("sync", emulator.url, {"policy": FAST, "on_text": chat_program_appends}, **request)
    resume = generating(emulator)[1].body
    assert len(resume["messages"]) == 2 and resume["messages"][1]["role"] == "assistant"
    assert "(streaming...)" not in json.dumps(resume)
    assert message.content[0].text == emulator.document({**request, "messages": before[0]})
    assert (history[:1], system, tools) == (before[0], before[1], before[2])  # nothing of ours in them
    assert all("cache_control" not in json.dumps(part) for part in (history, system, tools))


# -- blocks, citations and the stream=True protocol -------------------------------------------------

CITATION = {
    "type": "char_location",
    "cited_text": "The sky is blue.",
    "document_index": 0,
    "document_title": "Sky",
    "start_char_index": 0,
    "end_char_index": 16,
}
TWO_TEXT_BLOCKS = [
    {"type": "text", "text": "According to the report:"},
    {"type": "text", "text": "the sky is blue.", "citations": [CITATION]},
    {"type": "text", "text": " That is all it says."},
]


@pytest.mark.parametrize("model", [PREFILL_MODEL, INSTRUCTION_MODEL])
def test_a_break_between_blocks_never_merges_a_new_block_into_a_finished_one(
    emulator: Emulator, model: str
) -> None:
    emulator.script("cite it", Script(content=TWO_TEXT_BLOCKS))
    request = params(model, "cite it")
    body = body_of(emulator, request)
    emulator.reset()
    emulator.script("cite it", Script(content=TWO_TEXT_BLOCKS))
    first_stop = body.index(b"event: content_block_stop")
    drop = body.index(b"\n\n", first_stop) + 2 + 10  # inside the next block's start event
    emulator.add_faults(Fault(drop_after_bytes=drop))
    message = create("sync", emulator.url, {"policy": FAST}, **request)
    got = [block.to_dict() for block in message.content]
    assert [block["text"] for block in got] == [block["text"] for block in TWO_TEXT_BLOCKS]
    assert [block.get("citations") or [] for block in got] == [[], [CITATION], []]
    assert message.attempts[1].kind == "resume"


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("model", [PREFILL_MODEL, INSTRUCTION_MODEL])
def test_stream_true_keeps_the_block_protocol_across_max_tokens_continuations(
    emulator: Emulator, kind: str, model: str
) -> None:
    request = {**params(model, "Write 500 words about lighthouses"), "max_tokens": 120}
    size = len(body_of(emulator, {**request, "max_tokens": 120}))
    emulator.reset()
    emulator.add_faults(Fault(), Fault(drop_after_bytes=size // 2), Fault())  # and a break in segment 2
    policy = FAST.replace(continue_on_max_tokens=True)
    events = stream_events(kind, emulator.url, policy, **request)
    accumulated = check_events(events)
    assert len(accumulated.content) == 1
    assert accumulated.content[0].text == emulator.document(request)
    assert accumulated.stop_reason == "end_turn"


TOOL_SCRIPT = [
    {"type": "thinking", "thinking": "The user wants weather for two cities; call the tool for each. " * 3},
    {"type": "text", "text": "Let me check the weather in each of the two cities you named."},
    {
        "type": "tool_use",
        "id": "toolu_A",
        "name": "get_weather",
        "input": {"city": "Paris", "notes": "x" * 300},
    },
    {"type": "tool_use", "id": "toolu_B", "name": "get_weather", "input": {"city": "Oslo"}},
]


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95])
def test_stream_true_never_restarts_a_block_generated_again(emulator: Emulator, fraction: float) -> None:
    """A thinking or tool block broken in the middle is generated again: the stream shows it once."""
    emulator.script("weather please", Script(content=TOOL_SCRIPT, stop_reason="tool_use"))
    request = {**params(INSTRUCTION_MODEL, "weather please"), "thinking": {"type": "adaptive"}}
    size = len(body_of(emulator, request))
    emulator.reset()
    emulator.script("weather please", Script(content=TOOL_SCRIPT, stop_reason="tool_use"))
    emulator.add_faults(Fault(drop_after_bytes=int(size * fraction)))
    events = stream_events("sync", emulator.url, FAST, **request)
    accumulated = check_events(events)
    assert [block.type for block in accumulated.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert accumulated.content[2].input == TOOL_SCRIPT[2]["input"]
    assert accumulated.content[1].text == TOOL_SCRIPT[1]["text"]


# -- retrying and waiting --------------------------------------------------------------------------


def test_a_resume_that_gets_nothing_back_backs_off(emulator: Emulator) -> None:
    # Content, then three responses with no body at all (a restarting server): each waits longer.
    emulator.add_faults(Fault(drop_after_bytes=3000), *[Fault(drop_after_bytes=0)] * 3)
    policy = FAST.replace(backoff_initial=0.2, backoff_max=2.0, jitter=False)
    message = create("sync", emulator.url, {"policy": policy}, **params(PREFILL_MODEL))
    a = message.attempts
    waits = [a[i + 1].started_at - (a[i].ended_at or 0) for i in range(4)]
    assert waits[0] < 0.15  # content was flowing: resumed at once (after counting what arrived)
    assert waits[1] >= 0.19 and waits[2] >= 0.39 and waits[3] >= 0.79, waits
    assert message.content[0].text == emulator.document(params(PREFILL_MODEL))


def test_message_delta_received_and_only_message_stop_lost_is_complete(emulator: Emulator) -> None:
    request = params(PREFILL_MODEL)
    body = body_of(emulator, request)
    emulator.reset()
    emulator.add_faults(Fault(drop_after_bytes=body.rindex(b"event: message_stop") + 3))
    message = create("sync", emulator.url, {"policy": FAST}, **request)
    assert len(generating(emulator)) == 1 and len(message.attempts) == 1
    assert message.stop_reason == "end_turn" and message.content[0].text == emulator.document(request)


# -- budgets ---------------------------------------------------------------------------------------


def test_the_output_budget_is_a_cap_on_every_request(emulator: Emulator) -> None:
    request = {**params(PREFILL_MODEL, "Write 2000 words about lighthouses"), "max_tokens": 1000}
    emulator.add_faults(Fault(drop_after_bytes=6000))
    policy = FAST.replace(continue_on_max_tokens=True, max_output_tokens_total=300)
    message = create("sync", emulator.url, {"policy": policy}, **request)
    spent = 0
    for record in generating(emulator):
        assert record.body["max_tokens"] <= 300 - spent
        spent += record.output_tokens_sent
    assert message.usage.output_tokens == 300
    assert message.stop_reason == "max_tokens" and message.stopped_by == "max_output_tokens_total"


def test_continuation_has_its_own_budget_apart_from_failures(emulator: Emulator) -> None:
    request = {**params(PREFILL_MODEL, "Write 500 words about lighthouses"), "max_tokens": 100}
    policy = FAST.replace(continue_on_max_tokens=True, max_attempts=2)
    emulator.add_faults(Fault(drop_after_bytes=3000))
    message = create("sync", emulator.url, {"policy": policy}, **request)  # 6 segments, one failure
    assert message.stop_reason == "end_turn" and message.content[0].text == emulator.document(request)
    assert message.stopped_by is None and sum(a.kind == "continue" for a in message.attempts) >= 4


def test_a_call_stopped_by_the_segment_budget_says_so(emulator: Emulator) -> None:
    request = {**params(PREFILL_MODEL, "Write 500 words about lighthouses"), "max_tokens": 100}
    policy = FAST.replace(continue_on_max_tokens=True, max_segments=3)
    message = create("sync", emulator.url, {"policy": policy}, **request)
    assert message.stop_reason == "max_tokens" and message.stopped_by == "max_segments"
    assert len(message.attempts) == 3 and message.usage.output_tokens == 300


# -- the deadline ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_deadline_holds_within_a_second_whatever_the_idle_timeout(emulator: Emulator, kind: str) -> None:
    # 2.5 s of slow tokens, then silence: a read that began before the deadline must not outlive it.
    emulator.add_faults(Fault(tokens_per_second=20, stall_after_events=50, stall_seconds=6))
    policy = FAST.replace(deadline=3.0, idle_timeout=30)
    started = time.monotonic()
    with pytest.raises(longcall.StreamStalled, match="deadline") as caught:
        create(kind, emulator.url, {"policy": policy}, **params(PREFILL_MODEL, "Write 2000 words"))
    assert time.monotonic() - started < 4.0
    assert caught.value.partial is not None


def test_a_retry_after_longer_than_the_deadline_fails_at_once(emulator: Emulator) -> None:
    emulator.add_faults(Fault(status=529, retry_after=30))
    started = time.monotonic()
    with pytest.raises(longcall.ServerError, match="retry") as caught:
        create("sync", emulator.url, {"policy": FAST.replace(deadline=5.0)}, **params(PREFILL_MODEL))
    assert time.monotonic() - started < 1.0
    assert "30 s" in str(caught.value) and "deadline" in str(caught.value)


# -- what the server says about retrying --------------------------------------------------------------


class ScriptedHTTP:
    """Answers each POST with the next (status, headers, JSON body) queued; records the paths."""

    def __init__(self) -> None:
        self.replies: deque[tuple[int, dict[str, str], dict[str, Any]]] = deque()
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.paths.append(self.path)
                status, headers, body = outer.replies.popleft()
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[ScriptedHTTP]:
    server = ScriptedHTTP()
    yield server
    server.close()


def _error(kind: str, message: str, **details: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if details:
        error["details"] = details
    return {"type": "error", "error": error}


def test_x_should_retry_false_is_honoured(scripted: ScriptedHTTP) -> None:
    scripted.replies.append((529, {"x-should-retry": "false"}, _error("overloaded_error", "Overloaded")))
    with pytest.raises(anthropic.APIStatusError):
        create("sync", scripted.url, {"policy": FAST}, **params(PREFILL_MODEL))
    assert scripted.paths == ["/v1/messages"]


def test_a_spend_limit_429_is_not_retried(scripted: ScriptedHTTP) -> None:
    body = _error("rate_limit_error", "Spend limit reached.", error_code="enforced_spend_limit_reached")
    scripted.replies.append((429, {"retry-after": "1"}, body))
    with pytest.raises(anthropic.RateLimitError):
        create("sync", scripted.url, {"policy": FAST}, **params(PREFILL_MODEL))
    assert scripted.paths == ["/v1/messages"]


# -- cache breakpoints -----------------------------------------------------------------------------


def test_a_continuation_never_carries_more_than_four_cache_breakpoints(emulator: Emulator) -> None:
    # Four already: two in system, one on a tool, one nested in a tool result's content.
    ephemeral = {"type": "ephemeral"}
    request = {
        "model": PREFILL_MODEL,
        "max_tokens": 8000,
        "system": [
            {"type": "text", "text": "You are a lighthouse keeper.", "cache_control": ephemeral},
            {"type": "text", "text": "Answer at length.", "cache_control": ephemeral},
        ],
        "tools": [{**TOOLS[0], "cache_control": ephemeral}],
        "messages": [
            {"role": "user", "content": "What time is it?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "Nine o'clock.", "cache_control": ephemeral}],
                    },
                    {"type": "text", "text": "Thanks. Write 300 words about lighthouses"},
                ],
            },
        ],
    }
    emulator.add_faults(Fault(drop_after_bytes=3000))
    message = create("sync", emulator.url, {"policy": FAST}, **request)
    assert message.stop_reason == "end_turn" and message.attempts[1].kind == "resume"
    assert all(json.dumps(r.body).count('"cache_control"') <= 4 for r in generating(emulator))


# -- attempt records -------------------------------------------------------------------------------


def test_time_to_first_token_is_measured_at_the_first_content_delta(emulator: Emulator) -> None:
    # message_start, content_block_start, ping, the first text delta; then a pause before the second.
    emulator.add_faults(Fault(stall_after_events=4, stall_seconds=0.6))
    message = create("sync", emulator.url, {"policy": FAST}, **params(PREFILL_MODEL))
    ttft = message.attempts[0].time_to_first_token
    assert ttft is not None and ttft < 0.4


def test_an_explicit_prefill_strategy_is_not_overridden_by_a_refusal(emulator: Emulator) -> None:
    emulator.add_faults(Fault(drop_after_bytes=3000))
    policy = FAST.replace(strategy="prefill")
    with pytest.raises(longcall.ResumeRejected, match="strategy='prefill'") as caught:
        create("sync", emulator.url, {"policy": policy}, **params(INSTRUCTION_MODEL))
    assert [a.strategy for a in caught.value.attempts] == [None, "prefill"]
    assert caught.value.partial is not None and caught.value.partial.content[0].text


def test_a_prefill_refusal_counts_against_the_attempt_budget(emulator: Emulator) -> None:
    model = "claude-experimental-y"  # unknown: prefill is tried first, and refused
    emulator.add_model(model, accepts_prefill=False)
    emulator.add_faults(Fault(drop_after_bytes=3000))
    # the Models API describes the model (so no UnknownModelWarning) but says nothing of prefill
    with pytest.raises(longcall.GenerationFailed) as caught:
        create("sync", emulator.url, {"policy": FAST.replace(max_attempts=2)}, **params(model))
    assert len(caught.value.attempts) == 2


# -- usage -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_usage_after_a_break_counts_what_the_server_generated(emulator: Emulator, kind: str) -> None:
    request = params(INSTRUCTION_MODEL, "Write 600 words about lighthouses")
    size = len(body_of(emulator, request))
    emulator.reset()
    emulator.add_faults(
        Fault(drop_after_bytes=size // 3, overlap="repeat_words"), Fault(error_after_events=200), Fault()
    )
    message = create(kind, emulator.url, {"policy": FAST}, **request)
    assert message.content[0].text == emulator.document(request)
    assert [a.usage_source for a in message.attempts] == ["counted", "counted", "server"]
    check_usage(message, emulator.requests)
    billed = sum(record.output_tokens_sent for record in generating(emulator))
    assert abs(message.usage.output_tokens - billed) <= 4  # repeated words included: the server made them
    assert any(record.path == "/v1/messages/count_tokens" for record in emulator.requests)


@pytest.mark.parametrize("model", [PREFILL_MODEL, INSTRUCTION_MODEL])
@pytest.mark.parametrize(
    "prompt",
    [
        "Write 1500 words about lighthouses",
        "Write 1500 words in Chinese about lighthouses",
        "Write 1500 words of unbroken text about lighthouses",
    ],
)
def test_a_broken_call_reports_exactly_the_fault_free_output_tokens(
    emulator: Emulator, model: str, prompt: str
) -> None:
    # The broken attempt's output is counted by count_tokens (minus the "." probe, plus one) with the
    # emulator's own tokenizer: the sum is exact in English, in Chinese and across unbroken strings.
    request = params(model, prompt)
    fault_free = create("sync", emulator.url, {"policy": FAST}, **request)
    size = sum(record.bytes_sent for record in generating(emulator))
    emulator.reset()
    emulator.add_faults(Fault(drop_after_bytes=size // 3), Fault(drop_after_bytes=size // 4))
    message = create("sync", emulator.url, {"policy": FAST}, **request)
    assert message.content[0].text == fault_free.content[0].text
    assert [a.usage_source for a in message.attempts] == ["counted", "counted", "server"]
    assert message.usage.output_tokens == fault_free.usage.output_tokens == 1500


# -- bounded events ---------------------------------------------------------------------------------


def test_an_event_larger_than_the_limit_fails_with_a_clear_error(replay: ReplayServer) -> None:
    huge = b"event: ping\ndata: " + b"x" * 300_000  # a line that never ends
    replay.reply(huge, cuts=range(0, len(huge), 4096))
    sdk = anthropic.Anthropic(base_url=replay.url, api_key="k", max_retries=0)
    policy = FAST.replace(max_event_bytes=100_000, max_attempts=1)
    with pytest.raises(longcall.StreamProtocolError, match="over 100000 bytes"):
        longcall.wrap(sdk, journal=None, policy=policy).messages.create(
            model=PREFILL_MODEL, max_tokens=7, messages=[{"role": "user", "content": "x"}]
        )


# -- hooks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [None, Fault(drop_after_bytes=3000)])
def test_an_on_attempt_hook_that_raises_still_leaves_the_call_in_the_journal(
    emulator: Emulator, tmp_path: Any, fault: Fault | None
) -> None:
    class HookError(Exception):
        pass

    def on_attempt(attempt: Any) -> None:
        raise HookError(f"attempt {attempt.number}")

    if fault is not None:
        emulator.add_faults(fault)
    journal = longcall.Journal(str(tmp_path / "journal.db"))
    with pytest.raises(HookError):
        create(
            "sync",
            emulator.url,
            {"policy": FAST, "journal": journal, "on_attempt": on_attempt},
            **params(PREFILL_MODEL),
        )
    (listed,) = journal.recent()
    record = journal.get(listed.id)
    assert record is not None
    assert record.status in ("done", "failed", "interrupted")  # recorded as ended, never "streaming"
    assert record.attempts and record.message is not None
    journal.close()


@pytest.mark.parametrize("status", [429, 529, 500])
@pytest.mark.parametrize("model", [PREFILL_MODEL, INSTRUCTION_MODEL])
def test_a_continuation_retried_after_an_http_error_still_extends_its_text_block(
    emulator: Emulator, model: str, status: int
) -> None:
    # Found by the fault soak (seed 362610, case 12): the retry became a new block after the cut one.
    request = {**params(model, "Write 400 words about lighthouses"), "max_tokens": 120}
    emulator.add_faults(Fault(), Fault(status=status, retry_after=0))  # the first continuation fails
    message = create("sync", emulator.url, {"policy": FAST.replace(continue_on_max_tokens=True)}, **request)
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == emulator.document(request)
    assert message.stop_reason == "end_turn"
    assert any(attempt.error for attempt in message.attempts)


@pytest.mark.parametrize("max_tokens", [60, 100, 137])
def test_a_repeat_after_a_cut_inside_an_unbroken_token_is_removed(
    emulator: Emulator, max_tokens: int
) -> None:
    # The cut-back leaves a long token mid-way; the model repeats its last words, the first partial.
    emulator.continuation_overlap = "repeat_words"
    request = {
        **params(INSTRUCTION_MODEL, "Write 300 words of unbroken text about x"),
        "max_tokens": max_tokens,
    }
    message = create("sync", emulator.url, {"policy": FAST.replace(continue_on_max_tokens=True)}, **request)
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == emulator.document(request)
    assert message.stop_reason == "end_turn"
    assert any(attempt.strategy == "instruction" for attempt in message.attempts)


# -- the seam defect of issue 11: a repeat cut short, a repeat from a long token's start ------------


def events_before_delta(body: bytes, deltas: int) -> int:
    """How many SSE events of `body` come up to and including its `deltas`-th text delta."""
    seen = 0
    for number, event in enumerate(body.split(b"\n\n"), start=1):
        if b'"text_delta"' in event:
            seen += 1
            if seen == deltas:
                return number
    raise AssertionError(f"the body has fewer than {deltas} text deltas")


def stitched_by_surface(surface: str, url: str, policy: longcall.Policy, request: dict[str, Any]) -> Any:
    """The final message of `request` through `create()`, `messages.stream()` or `create(stream=True)`
    (checked against the event protocol), with its text as the caller saw it live."""
    if surface == "create":
        live: list[str] = []
        message = create("sync", url, {"policy": policy}, **request, on_text=live.append)
        assert "".join(live) == message.content[0].text
        return message
    if surface == "stream":
        with client("sync", url, policy=policy) as wrapped, wrapped.messages.stream(**request) as stream:
            text = "".join(stream.text_stream)
            message = stream.get_final_message()
        assert text == message.content[0].text
        return message
    return check_events(stream_events("sync", url, policy, **request))


@pytest.mark.parametrize("surface", ["create", "stream", "raw"])
@pytest.mark.parametrize("prompt", ["Write 300 words about lighthouses", "Write 300 words in Chinese"])
def test_a_resume_that_spends_its_budget_repeating_itself_adds_nothing(
    emulator: Emulator, surface: str, prompt: str
) -> None:
    # Soak seed 7 cases 369 and 811: a break 2 tokens before max_tokens; the resume asks for the 2
    # tokens left, and the model spends them repeating its last words. The seam kept them, the next
    # segment continued a text the model never wrote (every later segment went wrong with it).
    emulator.continuation_overlap = "repeat_words"
    request = {**params(INSTRUCTION_MODEL, prompt), "max_tokens": 100}
    body = body_of(emulator, request)
    emulator.reset()
    emulator.continuation_overlap = "repeat_words"
    emulator.add_faults(Fault(error_after_events=events_before_delta(body, 98)))
    message = stitched_by_surface(surface, emulator.url, FAST.replace(continue_on_max_tokens=True), request)
    resume = generating(emulator)[1]
    assert resume.body["max_tokens"] == 2 and resume.output_tokens_sent == 2  # spent on the repeat
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == emulator.document(request)
    assert message.stop_reason == "end_turn"


@pytest.mark.parametrize("surface", ["create", "stream", "raw"])
def test_a_repeat_from_the_first_character_of_a_long_token_is_removed(
    emulator: Emulator, surface: str
) -> None:
    # Soak seed 7 cases 153, 615, 968, 1067: cut 36 characters into a URL, base64 or code (three of
    # the emulator's 12-character pieces), the model repeats its last three tokens: the whole token
    # from its first character, which the seam did not take for a repeat.
    from longcall.testing._model import document_for

    emulator.continuation_overlap = "repeat_words"
    request = params(INSTRUCTION_MODEL, "Write 300 words of unbroken text about x")
    document = document_for(INSTRUCTION_MODEL, None, request["messages"])
    run_start = next(
        i
        for i in range(1, len(document.tokens) - 4)
        if document.tokens[i - 1][-1:].isspace() and all(len(t) == 12 for t in document.tokens[i : i + 4])
    )
    body = body_of(emulator, request)
    emulator.reset()
    emulator.continuation_overlap = "repeat_words"
    emulator.add_faults(Fault(error_after_events=events_before_delta(body, run_start + 3)))
    attempts: list[Any] = []
    message = stitched_by_surface(surface, emulator.url, FAST, {**request, "on_attempt": attempts.append})
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == emulator.document(request)
    assert attempts[1].removed_overlap == "".join(document.tokens[run_start : run_start + 3])
