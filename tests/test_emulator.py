"""The Messages API emulator, driven over loopback by the real `anthropic` client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import anthropic
import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import longcall
from longcall.testing import (
    DEFAULT_MODEL,
    PREFILL_REFUSED,
    TRAILING_WHITESPACE,
    Emulator,
    Fault,
    Script,
    _document,
)

API_KEY = "sk-ant-test-secret"
VERSION = anthropic._constants.ANTHROPIC_API_VERSION
MODEL = DEFAULT_MODEL
PROMPT = "Write 60 words about rivers"


def ask(prompt: str) -> Any:
    return [{"role": "user", "content": prompt}]


def tokens(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


def text_of(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def stream_final(client: anthropic.Anthropic, **params: Any) -> Any:
    params.setdefault("model", MODEL)
    params.setdefault("max_tokens", 4000)
    with client.messages.stream(**params) as stream:
        return stream.get_final_message()


def error_of(excinfo: pytest.ExceptionInfo[anthropic.APIStatusError]) -> dict[str, Any]:
    body = excinfo.value.body
    assert isinstance(body, dict)
    return body


@pytest.fixture
def client(emulator: Emulator) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
def raw(emulator: Emulator) -> Iterator[httpx2.Client]:
    headers = {"x-api-key": API_KEY, "anthropic-version": VERSION}
    with httpx2.Client(base_url=emulator.url, headers=headers) as raw:
        yield raw


# -- the document ---------------------------------------------------------------------------------


def test_create_returns_the_document(emulator: Emulator, client: anthropic.Anthropic) -> None:
    response = client.messages.with_raw_response.create(model=MODEL, max_tokens=1000, messages=ask(PROMPT))
    message = response.parse()
    document = emulator.document(PROMPT)
    assert text_of(message) == document
    assert len(tokens(document)) == 60
    assert document[0].isupper() and document.endswith(".")
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 60
    assert message.usage.input_tokens == 5
    assert message.id.startswith("msg_emu_")
    assert re.fullmatch(r"req_emu_\d+", response.headers["request-id"])


def test_stream_accumulates_to_the_document(emulator: Emulator, client: anthropic.Anthropic) -> None:
    message = stream_final(client, messages=ask(PROMPT))
    assert text_of(message) == emulator.document(PROMPT)
    assert message.usage.output_tokens == 60
    assert message.stop_reason == "end_turn"


def test_document_depends_on_model_system_and_messages(emulator: Emulator) -> None:
    base = {"model": MODEL, "messages": ask(PROMPT)}
    assert emulator.document(base) == emulator.document(PROMPT)
    assert emulator.document({**base, "model": "claude-opus-4-6"}) != emulator.document(base)
    assert emulator.document({**base, "system": "Be terse."}) != emulator.document(base)
    assert emulator.document("Write 60 words about stones") != emulator.document(base)
    block_content = {
        "model": MODEL,
        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
    }
    assert emulator.document(block_content) == emulator.document(base)
    assert len(tokens(emulator.document("Tell me something"))) == 200


def test_wire_events_are_exactly_shaped(raw: httpx2.Client) -> None:
    body = {"model": MODEL, "max_tokens": 3, "stream": True, "messages": ask(PROMPT)}
    response = raw.post("/v1/messages", json=body)
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["transfer-encoding"] == "chunked"
    events = response.text.split("\n\n")
    assert events[-1] == ""
    names = [event.split("\n")[0] for event in events[:-1]]
    assert names == [
        "event: message_start",
        "event: content_block_start",
        "event: ping",
        *["event: content_block_delta"] * 3,
        "event: content_block_stop",
        "event: message_delta",
        "event: message_stop",
    ]
    assert events[2] == 'event: ping\ndata: {"type": "ping"}'
    start = json.loads(events[0].split("data: ", 1)[1])
    assert start["message"]["usage"] == {
        "input_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    assert start["message"]["stop_details"] is None
    delta = json.loads(events[-3].split("data: ", 1)[1])
    assert delta == {  # the API's message_delta usage is cumulative, input and cache counts included
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens", "stop_sequence": None, "stop_details": None},
        "usage": {
            "input_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 3,
        },
    }


def test_max_tokens_truncates(emulator: Emulator, client: anthropic.Anthropic) -> None:
    message = stream_final(client, messages=ask(PROMPT), max_tokens=7)
    assert text_of(message) == "".join(tokens(emulator.document(PROMPT))[:7])
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 7


def test_stop_sequences(emulator: Emulator, client: anthropic.Anthropic) -> None:
    document = emulator.document(PROMPT)
    sequence = tokens(document)[9].strip(" ,.\n")
    message = stream_final(client, messages=ask(PROMPT), stop_sequences=["never-there", sequence])
    assert text_of(message) == document[: document.index(sequence)]
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == sequence


def test_thinking_comes_first_and_counts_against_max_tokens(
    emulator: Emulator, client: anthropic.Anthropic
) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    message = stream_final(client, messages=ask(PROMPT), max_tokens=2000, thinking=thinking)
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert len(tokens(message.content[0].thinking)) == 40
    assert message.content[0].signature.startswith("sig_")
    assert text_of(message) == emulator.document(PROMPT)
    assert message.usage.output_tokens == 100
    adaptive = "claude-sonnet-4-6"
    short = stream_final(
        client, model=adaptive, messages=ask(PROMPT), max_tokens=42, thinking={"type": "adaptive"}
    )
    assert [block.type for block in short.content] == ["thinking", "text"]
    assert text_of(short) == "".join(tokens(emulator.document(PROMPT, model=adaptive))[:2])
    assert short.stop_reason == "max_tokens"


# -- scripts --------------------------------------------------------------------------------------

SCRIPTED: list[dict[str, Any]] = [
    {"type": "thinking", "thinking": "Let me look this up.", "signature": "sig_given"},
    {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"},
    {
        "type": "server_tool_use",
        "id": "srvtoolu_1",
        "name": "web_search",
        "input": {"query": "longest rivers"},
    },
    {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_1",
        "content": [
            {"type": "web_search_result", "url": "https://example.com", "title": "Rivers", "page_age": None}
        ],
    },
    {
        "type": "text",
        "text": "The Nile is the longest river.",
        "citations": [
            {
                "type": "char_location",
                "cited_text": "The Nile",
                "document_index": 0,
                "document_title": "Rivers",
                "start_char_index": 0,
                "end_char_index": 8,
            }
        ],
    },
    {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "get_weather",
        "input": {"city": "Cairo", "days": [1, 2, 3]},
    },
    {"type": "mystery_block", "payload": {"x": 1}},
]


# Older SDKs (2.10) warn while accumulating a web search result block in their own stream helper.
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
def test_scripted_blocks_come_through_the_stream_accumulator(
    emulator: Emulator, client: anthropic.Anthropic
) -> None:
    emulator.script("Which river is longest?", Script(content=SCRIPTED, stop_reason="tool_use"))
    streamed = stream_final(client, messages=ask("Which river is longest?"))
    assert [block.to_dict(warnings=False) for block in streamed.content] == SCRIPTED
    assert streamed.stop_reason == "tool_use"
    created = client.messages.create(model=MODEL, max_tokens=100, messages=ask("Which river is longest?"))
    assert [block.to_dict(warnings=False) for block in created.content] == SCRIPTED
    assert created.usage.output_tokens == streamed.usage.output_tokens > 0
    assert emulator.document("Which river is longest?") == "The Nile is the longest river."


def test_script_fills_in_ids_signatures_and_raw_deltas(emulator: Emulator, raw: httpx2.Client) -> None:
    content: list[dict[str, Any]] = [
        {"type": "thinking", "thinking": "Hmm."},
        {"type": "tool_use", "name": "f", "input": {}},
        {"type": "mystery_block"},
    ]
    odd_delta = {"type": "mystery_delta", "value": 7}
    emulator.script(
        "go", Script(content=content, raw_deltas={2: [odd_delta]}, usage_extra={"output_tokens": 9})
    )
    body = {"model": MODEL, "max_tokens": 100, "messages": ask("go")}
    message = raw.post("/v1/messages", json=body).json()
    assert message["content"][0]["signature"].startswith("sig_")
    assert message["content"][1]["id"].startswith("toolu_emu_")
    assert message["usage"]["output_tokens"] == 9
    streamed = raw.post("/v1/messages", json={**body, "stream": True}).text
    assert json.dumps(odd_delta, separators=(",", ":")) in streamed
    events = [json.loads(line[6:]) for line in streamed.splitlines() if line.startswith("data: ")]
    assert [event["usage"]["output_tokens"] for event in events if event["type"] == "message_delta"] == [9]
    # A tool call without arguments is a single empty `partial_json` delta, as the API sends it.
    tool_deltas = [event["delta"] for event in events if event.get("index") == 1 and "delta" in event]
    assert tool_deltas == [{"type": "input_json_delta", "partial_json": ""}]


# -- prefill --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(min_value=1, max_value=10_000))
def test_prefill_continues_the_document_exactly(emulator_server: Emulator, cut: int) -> None:
    document = emulator_server.document(PROMPT)
    cut = cut % (len(document) - 1) + 1
    prefix = document[:cut].rstrip()
    messages: Any = [*ask(PROMPT), {"role": "assistant", "content": prefix}]
    with anthropic.Anthropic(base_url=emulator_server.url, api_key=API_KEY, max_retries=0) as client:
        message = client.messages.create(model=MODEL, max_tokens=1000, messages=messages)
    assert prefix + text_of(message) == document
    assert message.stop_reason == "end_turn"


def test_prefill_mid_word_and_token_counts(emulator: Emulator, client: anthropic.Anthropic) -> None:
    document = emulator.document(PROMPT)
    words = tokens(document)
    prefix = "".join(words[:10]) + words[10][:2]
    messages: Any = [*ask(PROMPT), {"role": "assistant", "content": [{"type": "text", "text": prefix}]}]
    message = stream_final(client, messages=messages, max_tokens=3)
    assert text_of(message) == words[10][2:] + words[11] + words[12]
    assert message.usage.output_tokens == 3
    assert message.stop_reason == "max_tokens"


def test_prefill_not_from_the_document_starts_afresh(client: anthropic.Anthropic) -> None:
    messages: Any = [*ask(PROMPT), {"role": "assistant", "content": "Once upon a time"}]
    message = client.messages.create(model=MODEL, max_tokens=1000, messages=messages)
    assert text_of(message).startswith(" ") and text_of(message)[1].isupper()
    assert message.usage.output_tokens == 60


def test_prefill_with_trailing_whitespace_is_refused(client: anthropic.Anthropic) -> None:
    messages: Any = [*ask(PROMPT), {"role": "assistant", "content": "The river "}]
    with pytest.raises(anthropic.BadRequestError) as excinfo:
        client.messages.create(model=MODEL, max_tokens=100, messages=messages)
    assert error_of(excinfo)["error"] == {"type": "invalid_request_error", "message": TRAILING_WHITESPACE}
    assert TRAILING_WHITESPACE == "messages: final assistant content cannot end with trailing whitespace"


def test_models_that_refuse_prefill(emulator: Emulator, client: anthropic.Anthropic) -> None:
    messages: Any = [*ask(PROMPT), {"role": "assistant", "content": "The"}]
    expected = {
        "type": "invalid_request_error",
        "message": "This model does not support assistant message prefill. "
        "The conversation must end with a user message.",
    }
    assert expected["message"] == PREFILL_REFUSED
    with pytest.raises(anthropic.BadRequestError) as excinfo:
        client.messages.create(model="claude-sonnet-4-6", max_tokens=100, messages=messages)
    assert error_of(excinfo)["error"] == expected
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    with pytest.raises(anthropic.BadRequestError) as excinfo:
        client.messages.create(model=MODEL, max_tokens=2000, messages=messages, thinking=thinking)
    assert error_of(excinfo)["error"]["message"].startswith(
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`. When "
        "`thinking` is enabled, a final `assistant` message must start with a thinking block"
    )
    signed = client.messages.create(model=MODEL, max_tokens=2000, messages=ask(PROMPT), thinking=thinking)
    after_thinking: Any = [
        *ask(PROMPT),
        {"role": "assistant", "content": [signed.content[0].to_dict(), "The"]},
    ]
    after_thinking[1]["content"][1] = {"type": "text", "text": "The"}
    with pytest.raises(anthropic.BadRequestError) as excinfo:
        client.messages.create(model=MODEL, max_tokens=2000, messages=after_thinking, thinking=thinking)
    assert error_of(excinfo)["error"] == expected
    emulator.refuse_prefill_models.discard("claude-sonnet-4-6")
    message = client.messages.create(model="claude-sonnet-4-6", max_tokens=100, messages=messages)
    assert message.stop_reason == "end_turn"
    emulator.reset()
    assert "claude-sonnet-4-6" in emulator.refuse_prefill_models


# -- continuing by instruction --------------------------------------------------------------------


def continue_messages(partial: str) -> Any:
    return [
        *ask(PROMPT),
        {"role": "assistant", "content": partial},
        {"role": "user", "content": "Continue exactly where you left off."},
    ]


@pytest.mark.parametrize("keep_space", [False, True])
def test_continue_without_overlap(emulator: Emulator, client: anthropic.Anthropic, keep_space: bool) -> None:
    document = emulator.document(PROMPT)
    partial = "".join(tokens(document)[:23])
    partial = partial if keep_space else partial.rstrip()
    message = stream_final(client, messages=continue_messages(partial))
    assert partial + text_of(message) == document
    assert emulator.document({"messages": continue_messages(partial)}) == document


def test_continue_repeating_words(emulator: Emulator, client: anthropic.Anthropic) -> None:
    emulator.continuation_overlap = "repeat_words"
    document = emulator.document(PROMPT)
    partial = "".join(tokens(document)[:23]).rstrip()
    message = stream_final(client, messages=continue_messages(partial))
    third_last_word = [match.start() for match in re.finditer(r"\S+", partial)][-3]
    assert text_of(message) == document[third_last_word:]
    assert message.usage.output_tokens == 60 - 20


def test_continue_restarting_the_sentence(emulator: Emulator, client: anthropic.Anthropic) -> None:
    document = emulator.document(PROMPT)
    partial = "".join(tokens(document)[:23]).rstrip()
    fault = Fault(overlap="restart_sentence")
    for cut in (partial, partial[:-1]):  # mid-sentence, and mid-word
        emulator.add_faults(fault)
        message = stream_final(client, messages=continue_messages(cut))
        ends = [match.end() for match in re.finditer(r"\.\s+", cut)]
        assert text_of(message) == document[(ends[-1] if ends else 0) :]
    assert emulator.continuation_overlap == "none"


def test_continue_with_thinking_thinks_again(emulator: Emulator, client: anthropic.Anthropic) -> None:
    document = emulator.document(PROMPT)
    partial = "".join(tokens(document)[:30]).rstrip()
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    message = stream_final(client, messages=continue_messages(partial), thinking=thinking)
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert partial + text_of(message) == document


# -- usage ----------------------------------------------------------------------------------------

SYSTEM: Any = [
    {"type": "text", "text": "You are a patient writer. " * 10, "cache_control": {"type": "ephemeral"}}
]


def test_prompt_cache_created_then_read(emulator: Emulator, client: anthropic.Anthropic) -> None:
    first = client.messages.create(model=MODEL, max_tokens=5, system=SYSTEM, messages=ask(PROMPT))
    second = stream_final(client, max_tokens=5, system=SYSTEM, messages=ask(PROMPT))
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (50, 0)
    assert (second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens) == (0, 50)
    assert first.usage.input_tokens == second.usage.input_tokens == 5
    emulator.reset()
    third = client.messages.create(model=MODEL, max_tokens=5, system=SYSTEM, messages=ask(PROMPT))
    assert third.usage.cache_creation_input_tokens == 50
    plain = client.messages.create(model=MODEL, max_tokens=5, messages=ask(PROMPT))
    assert (plain.usage.cache_creation_input_tokens, plain.usage.cache_read_input_tokens) == (0, 0)


def test_count_tokens_matches_usage(client: anthropic.Anthropic) -> None:
    tools = [{"name": "get_weather", "description": "Weather for a city", "input_schema": {"type": "object"}}]
    messages: Any = [
        {"role": "user", "content": [{"type": "text", "text": "What is the weather in Cairo?"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "Hot and dry"}]},
    ]
    params: dict[str, Any] = {"model": MODEL, "system": "Be brief.", "tools": tools, "messages": messages}
    counted = client.messages.count_tokens(**params)
    message = client.messages.create(max_tokens=5, **params)
    # words of text, +1 per tool_use, +1 per tool_result plus its words, + len(json(tool)) // 4 per tool
    assert (
        counted.input_tokens
        == message.usage.input_tokens
        == 2 + 6 + 1 + (1 + 3) + len(json.dumps(tools[0])) // 4
    )


SCRIPTS = {
    "english": "Write 2000 words about rivers",
    "chinese": "Write 2000 words in Chinese about rivers",
    "unbroken": "Write 2000 words of unbroken text about rivers",
}


@pytest.mark.parametrize("script", SCRIPTS)
def test_counting_what_the_emulator_wrote_gives_its_output_tokens(
    client: anthropic.Anthropic, script: str
) -> None:
    prompt = ask(SCRIPTS[script])
    message = client.messages.create(model=MODEL, max_tokens=3000, messages=prompt)
    text = text_of(message)
    assert message.usage.output_tokens == 2000
    alone = client.messages.count_tokens(model=MODEL, messages=ask(text))
    assert alone.input_tokens == message.usage.output_tokens
    turn: Any = [*prompt, {"role": "assistant", "content": text}]
    with_turn = client.messages.count_tokens(model=MODEL, messages=turn)
    without = client.messages.count_tokens(model=MODEL, messages=prompt)
    assert with_turn.input_tokens - without.input_tokens == message.usage.output_tokens


@settings(max_examples=200, deadline=None)
@given(
    script=st.sampled_from(sorted(SCRIPTS)),
    seed=st.integers(min_value=0, max_value=10_000),
    length=st.integers(min_value=1, max_value=400),
    data=st.data(),
)
def test_any_run_of_a_documents_tokens_tokenizes_back_to_those_tokens(
    script: str, seed: int, length: int, data: st.DataObject
) -> None:
    # A broken attempt's text is such a run (it starts where the previous attempt's text ended), and
    # its output tokens are counted from it alone: counting must be exact on any run, not only prefixes.
    document = _document.generate(_document.seed_of(seed), length, cast(Any, script))
    assert len(document.tokens) == length
    assert _document.tokenize(document.text) == list(document.tokens)
    start = data.draw(st.integers(min_value=0, max_value=length))
    end = data.draw(st.integers(min_value=start, max_value=length))
    run = list(document.tokens[start:end])
    assert _document.tokenize("".join(run)) == run


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_call_broken_mid_stream_reports_the_fault_free_output_tokens(
    emulator: Emulator, script: str
) -> None:
    params: Any = {"model": MODEL, "max_tokens": 3000, "messages": ask(SCRIPTS[script])}
    policy = longcall.Policy(backoff_initial=0.01, backoff_max=0.05)
    with anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0) as raw_client:
        wrapped = longcall.wrap(raw_client, journal=None, policy=policy)
        fault_free = wrapped.messages.create(**params)
        emulator.reset()
        emulator.add_faults(Fault(drop_after_bytes=60_000))
        broken = wrapped.messages.create(**params)
    assert [attempt.usage_source for attempt in broken.attempts] == ["counted", "server"]
    assert text_of(broken) == text_of(fault_free)
    assert broken.usage.output_tokens == fault_free.usage.output_tokens == 2000


# -- faults ---------------------------------------------------------------------------------------


def test_http_error_fault_with_retry_after(emulator: Emulator, client: anthropic.Anthropic) -> None:
    emulator.add_faults(Fault(status=529, retry_after=3, retry_after_ms=3000))
    with pytest.raises(anthropic.APIStatusError) as excinfo:
        client.messages.create(model=MODEL, max_tokens=5, messages=ask(PROMPT))
    error = excinfo.value
    assert error.status_code == 529
    assert error.response.headers["retry-after"] == "3"
    assert error.response.headers["retry-after-ms"] == "3000"
    assert error.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": error.response.headers["request-id"],
    }
    assert error.request_id == error.response.headers["request-id"]
    assert emulator.requests[-1].fault == Fault(status=529, retry_after=3, retry_after_ms=3000)
    assert emulator.requests[-1].status == 529


def test_faults_are_taken_in_order_then_none(emulator: Emulator, client: anthropic.Anthropic) -> None:
    emulator.add_faults(Fault(status=429), Fault(status=500, message="boom"))
    with pytest.raises(anthropic.RateLimitError) as rate_limited:
        client.messages.create(model=MODEL, max_tokens=5, messages=ask(PROMPT))
    with pytest.raises(anthropic.InternalServerError) as server_error:
        client.messages.create(model=MODEL, max_tokens=5, messages=ask(PROMPT))
    assert error_of(rate_limited)["error"]["type"] == "rate_limit_error"
    assert error_of(server_error)["error"] == {"type": "api_error", "message": "boom"}
    assert client.messages.create(model=MODEL, max_tokens=5, messages=ask(PROMPT)).stop_reason == "max_tokens"


def test_error_event_mid_stream(emulator: Emulator, client: anthropic.Anthropic) -> None:
    emulator.add_faults(Fault(error_after_events=6))
    received: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as excinfo,
        client.messages.stream(model=MODEL, max_tokens=100, messages=ask(PROMPT)) as stream,
    ):
        received.extend(stream.text_stream)
    assert error_of(excinfo)["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert excinfo.value.status_code == 200
    assert "".join(received) == "".join(tokens(emulator.document(PROMPT))[:3])
    assert emulator.requests[-1].output_tokens_sent == 3


def test_drop_after_bytes(emulator: Emulator, client: anthropic.Anthropic, raw: httpx2.Client) -> None:
    emulator.add_faults(Fault(drop_after_bytes=700))
    body = {"model": MODEL, "max_tokens": 100, "stream": True, "messages": ask(PROMPT)}
    received = b""
    with pytest.raises(httpx2.TransportError), raw.stream("POST", "/v1/messages", json=body) as response:
        for chunk in response.iter_bytes():
            received += chunk
    assert len(received) == 700
    full = raw.post("/v1/messages", json=body).content

    def same_id(data: bytes) -> bytes:
        return re.sub(rb"msg_emu_\d+", b"msg_emu_N", data)

    assert same_id(full).startswith(same_id(received))

    emulator.add_faults(Fault(drop_after_bytes=900))
    with (
        pytest.raises((httpx2.TransportError, anthropic.APIConnectionError)),
        client.messages.stream(model=MODEL, max_tokens=100, messages=ask(PROMPT)) as stream,
    ):
        for _ in stream:
            pass
    emulator.add_faults(Fault(drop_after_bytes=50))
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(model=MODEL, max_tokens=100, messages=ask(PROMPT))


def _is_reset(error: BaseException) -> bool:
    """Whether ECONNRESET is behind `error` (an httpx2 error wraps the OSError it caught)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionResetError) or "Connection reset by peer" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@pytest.mark.parametrize("after", [0, 1, 700, 5001])
def test_reset_after_bytes_delivers_exactly_n_bytes_then_econnreset(
    emulator: Emulator, raw: httpx2.Client, after: int
) -> None:
    body = {"model": MODEL, "max_tokens": 100, "stream": True, "messages": ask(PROMPT)}
    full = raw.post("/v1/messages", json=body).content
    emulator.add_faults(Fault(reset_after_bytes=after))
    received = b""
    with (
        pytest.raises(httpx2.ReadError) as excinfo,
        raw.stream("POST", "/v1/messages", json=body) as response,
    ):
        assert response.status_code == 200  # the reset comes after the headers
        for chunk in response.iter_bytes():
            received += chunk
    assert _is_reset(excinfo.value), repr(excinfo.value)
    assert len(received) == after
    assert re.sub(rb"msg_emu_\d+", b"N", full).startswith(re.sub(rb"msg_emu_\d+", b"N", received))
    record = emulator.requests[-1]
    assert (record.cut, record.bytes_sent, record.status) == (True, after, 200)
    # every token delta whose event arrived whole is counted, no more
    assert record.output_tokens_sent == received.count(b'"text_delta"') - (
        b'"text_delta"' in received.rsplit(b"\n\n", 1)[-1]
    )
    assert "faults=reset_after_bytes=" in record.log_line() and "status=cut" in record.log_line()


def test_a_drop_closes_cleanly_and_a_reset_resets(emulator: Emulator, raw: httpx2.Client) -> None:
    body = {"model": MODEL, "max_tokens": 100, "stream": True, "messages": ask(PROMPT)}
    emulator.add_faults(Fault(drop_after_bytes=700), Fault(reset_after_bytes=700, drop_after_bytes=900))
    errors = []
    for _ in range(2):
        with (
            pytest.raises(httpx2.TransportError) as excinfo,
            raw.stream("POST", "/v1/messages", json=body) as r,
        ):
            r.read()
        errors.append(excinfo.value)
    drop, reset = errors
    assert isinstance(drop, httpx2.RemoteProtocolError) and not _is_reset(drop)  # FIN: body incomplete
    assert isinstance(reset, httpx2.ReadError) and _is_reset(reset)  # RST: the earlier count acted
    assert emulator.requests[-1].bytes_sent == 700


def test_reset_before_status_answers_nothing(emulator: Emulator, raw: httpx2.Client) -> None:
    # before the credentials check too: a network fault does not wait for the API's answer
    emulator.add_faults(Fault(reset_before_status=True, status=529))
    with pytest.raises(httpx2.ReadError) as excinfo:
        raw.post(
            "/v1/messages",
            json={"model": MODEL, "max_tokens": 5, "messages": ask(PROMPT)},
            headers={"x-api-key": ""},
        )
    assert _is_reset(excinfo.value)
    record = emulator.requests[-1]
    assert (record.cut, record.status, record.bytes_sent) == (True, None, 0)
    assert (
        raw.post("/v1/messages", json={"model": MODEL, "max_tokens": 5, "messages": ask(PROMPT)}).status_code
        == 200
    )


RESETS = {
    "before the status line": Fault(reset_before_status=True),
    "after the headers": Fault(reset_after_bytes=0),
    "mid-body": Fault(reset_after_bytes=500),
}


@pytest.mark.parametrize("where", RESETS)
def test_what_the_sdk_raises_on_a_reset(emulator: Emulator, client: anthropic.Anthropic, where: str) -> None:
    # create(): the SDK reads the whole body inside its request, so a reset is an APIConnectionError
    # wherever it lands; its cause is the httpx2.ReadError of the ECONNRESET
    emulator.add_faults(RESETS[where])
    with pytest.raises(anthropic.APIConnectionError) as create_error:
        client.messages.create(model=MODEL, max_tokens=100, messages=ask(PROMPT))
    assert not isinstance(create_error.value, anthropic.APITimeoutError)
    assert _is_reset(create_error.value)
    # a stream: before the status line the SDK's request fails (APIConnectionError); once the
    # response has begun, the SDK lets the transport's error through as it is: httpx2.ReadError
    emulator.add_faults(RESETS[where])
    expected = anthropic.APIConnectionError if where == "before the status line" else httpx2.ReadError
    with (
        pytest.raises(expected) as stream_error,
        client.messages.stream(model=MODEL, max_tokens=100, messages=ask(PROMPT)) as stream,
    ):
        stream.get_final_message()
    assert _is_reset(stream_error.value)


def test_the_sdk_retries_a_reset_before_the_status_line(emulator: Emulator) -> None:
    emulator.add_faults(Fault(reset_before_status=True), Fault(reset_before_status=True))
    with anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=2) as client:
        message = client.messages.create(model=MODEL, max_tokens=4000, messages=ask(PROMPT))
    assert text_of(message) == emulator.document(PROMPT)
    assert [record.cut for record in emulator.requests] == [True, True, False]


RESUMED_PROMPT = "Write 1500 words about harbors"
THROUGH_RESETS = (
    Fault(reset_after_bytes=3000),
    Fault(reset_before_status=True),
    Fault(reset_after_bytes=0),
    Fault(reset_after_bytes=20_000, overlap="repeat_words"),
)


def _wrapped_sync(emulator: Emulator, surface: str) -> tuple[str, Any]:
    policy = longcall.Policy(backoff_initial=0.005, backoff_max=0.02)
    with anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0) as sdk:
        client = longcall.wrap(sdk, journal=None, policy=policy)
        params: Any = {"model": MODEL, "max_tokens": 4000, "messages": ask(RESUMED_PROMPT)}
        if surface == "create":
            message = client.messages.create(**params)
            return text_of(message), message
        with client.messages.stream(**params) as stream:
            live = "".join(stream.text_stream)
            message = stream.get_final_message()
        assert live == text_of(message)
        return text_of(message), message


def _wrapped_async(emulator: Emulator, surface: str) -> tuple[str, Any]:
    async def run() -> tuple[str, Any]:
        policy = longcall.Policy(backoff_initial=0.005, backoff_max=0.02)
        async with anthropic.AsyncAnthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0) as sdk:
            client = longcall.wrap(sdk, journal=None, policy=policy)
            params: Any = {"model": MODEL, "max_tokens": 4000, "messages": ask(RESUMED_PROMPT)}
            if surface == "create":
                message = await client.messages.create(**params)
                return text_of(message), message
            async with client.messages.stream(**params) as stream:
                live = "".join([piece async for piece in stream.text_stream])
                message = await stream.get_final_message()
            assert live == text_of(message)
            return text_of(message), message

    return asyncio.run(run())


@pytest.mark.parametrize("surface", ["create", "stream"])
@pytest.mark.parametrize("driver", [_wrapped_sync, _wrapped_async], ids=["sync", "async"])
def test_wrap_resumes_across_resets_to_the_exact_fault_free_text(
    emulator: Emulator, driver: Any, surface: str
) -> None:
    fault_free, _ = driver(emulator, surface)
    assert fault_free == emulator.document(RESUMED_PROMPT)
    emulator.reset()
    emulator.add_faults(*THROUGH_RESETS)
    text, message = driver(emulator, surface)
    assert text == fault_free
    assert message.stop_reason == "end_turn"
    records = [r for r in emulator.requests if r.path == "/v1/messages"]
    assert [r.cut for r in records] == [True, True, True, True, False]
    assert message.usage.output_tokens == sum(r.output_tokens_sent for r in records) >= 1500


@pytest.mark.parametrize("fault", [Fault(reset_after_bytes=3000), Fault(reset_before_status=True)])
def test_wrap_gives_up_on_resets_as_an_api_connection_error(emulator: Emulator, fault: Fault) -> None:
    policy = longcall.Policy(max_attempts=2, backoff_initial=0.005, backoff_max=0.01)
    emulator.add_faults(fault, fault)
    with anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0) as sdk:
        client = longcall.wrap(sdk, journal=None, policy=policy)
        with pytest.raises(anthropic.APIConnectionError) as excinfo:
            client.messages.create(model=MODEL, max_tokens=4000, messages=ask(RESUMED_PROMPT))
    assert isinstance(excinfo.value, longcall.StreamIncomplete)
    assert len(excinfo.value.attempts) == 2
    partial = excinfo.value.partial
    received = text_of(partial) if partial is not None else ""
    assert emulator.document(RESUMED_PROMPT).startswith(received)
    assert bool(received) == (fault.reset_after_bytes is not None)


def test_stall_and_tokens_per_second(emulator: Emulator, client: anthropic.Anthropic) -> None:
    emulator.add_faults(Fault(stall_after_events=4, stall_seconds=0.3))
    started = time.monotonic()
    message = stream_final(client, messages=ask(PROMPT))
    assert time.monotonic() - started >= 0.3
    assert text_of(message) == emulator.document(PROMPT)
    emulator.add_faults(Fault(tokens_per_second=100))
    started = time.monotonic()
    stream_final(client, messages=ask(PROMPT), max_tokens=11)
    assert time.monotonic() - started >= 0.1


def test_fault_from_header(emulator: Emulator, client: anthropic.Anthropic) -> None:
    header = {"x-emulator-fault": json.dumps({"status": 503, "error_type": "overloaded_error"})}
    with pytest.raises(anthropic.APIStatusError) as excinfo:
        client.messages.create(model=MODEL, max_tokens=5, messages=ask(PROMPT), extra_headers=header)
    assert excinfo.value.status_code == 503
    assert error_of(excinfo)["error"]["type"] == "overloaded_error"
    emulator.add_faults(Fault(status=429))
    with pytest.raises(anthropic.RateLimitError):  # the queue takes precedence
        client.messages.create(model=MODEL, max_tokens=5, messages=ask(PROMPT), extra_headers=header)
    bad = {"x-emulator-fault": '{"stauts": 500}'}
    with pytest.raises(anthropic.BadRequestError, match="stauts"):
        client.messages.create(model=MODEL, max_tokens=5, messages=ask(PROMPT), extra_headers=bad)


def test_fault_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="overlap"):
        Fault(overlap="sideways")
    with pytest.raises(ValueError, match="status"):
        Fault(status=200)
    with pytest.raises(ValueError, match="reset_after_bytes"):
        Fault(reset_after_bytes=-1)
    assert Fault.from_header('{"reset_after_bytes": 40, "drop_after_bytes": 40}').cut_after_bytes == (
        40,
        True,
    )
    assert Fault(drop_after_bytes=10, reset_after_bytes=40).cut_after_bytes == (10, False)
    assert Fault.from_header('{"reset_before_status": true}').describe() == "reset_before_status=True"


# -- HTTP -----------------------------------------------------------------------------------------


def test_errors_have_the_api_shape(emulator: Emulator, raw: httpx2.Client) -> None:
    with httpx2.Client(base_url=emulator.url, headers={"anthropic-version": VERSION}) as bare:
        anonymous = bare.post("/v1/messages", json={})
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "x-api-key header is required"},
        "request_id": anonymous.headers["request-id"],
    }
    assert raw.get("/v1/nothing").json()["error"]["type"] == "not_found_error"
    cases = [
        ({"max_tokens": 5, "messages": ask("hi")}, "model: Field required"),
        ({"model": MODEL, "messages": ask("hi")}, "max_tokens: Field required"),
        ({"model": MODEL, "max_tokens": 0, "messages": ask("hi")}, "max_tokens"),
        ({"model": MODEL, "max_tokens": 5, "messages": []}, "messages"),
        ({"model": MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "role"),
        ({"model": MODEL, "max_tokens": 5, "messages": [{"role": "assistant", "content": "x"}]}, "user"),
    ]
    for body, message in cases:
        response = raw.post("/v1/messages", json=body)
        assert response.status_code == 400, body
        error = response.json()
        assert error["error"]["type"] == "invalid_request_error"
        assert message in error["error"]["message"]
        assert error["request_id"] == response.headers["request-id"]
    ids = [record.request_id for record in emulator.requests]
    assert len(set(ids)) == len(ids) == 8


def test_requests_are_recorded_with_secrets_redacted(emulator: Emulator, client: anthropic.Anthropic) -> None:
    client.messages.create(model=MODEL, max_tokens=5, messages=ask(PROMPT))
    with httpx2.Client(base_url=emulator.url) as raw:
        raw.get("/v1/models", headers={"x-api-key": API_KEY, "anthropic-version": VERSION})
    record, listing = emulator.requests
    assert (record.method, record.path, record.status) == ("POST", "/v1/messages", 200)
    assert (listing.method, listing.path, listing.status) == ("GET", "/v1/models", 200)
    assert record.headers["authorization"] == listing.headers["x-api-key"] == "***"  # this SDK sends a bearer
    assert API_KEY not in repr(emulator.requests)
    assert record.body["messages"] == ask(PROMPT)
    assert record.usage == {
        "input_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 5,
    }
    assert record.output_tokens_sent == 5


def test_models_list(client: anthropic.Anthropic) -> None:
    models = list(client.models.list())
    assert "claude-haiku-4-5-20251001" in [model.id for model in models]
    assert all(model.type == "model" and model.display_name for model in models)
    assert client.models.retrieve(MODEL).id == "claude-haiku-4-5-20251001"  # an alias names the model


def test_async_client_and_batched_chunks() -> None:
    async def run(url: str) -> tuple[str, str]:
        async with anthropic.AsyncAnthropic(base_url=url, api_key=API_KEY, max_retries=0) as client:
            async with client.messages.stream(model=MODEL, max_tokens=1000, messages=ask(PROMPT)) as stream:
                message = await stream.get_final_message()
            return text_of(message), message.stop_reason or ""

    with Emulator(events_per_chunk=7) as emulator:
        assert asyncio.run(run(emulator.url)) == (emulator.document(PROMPT), "end_turn")


def test_concurrent_streams(emulator: Emulator) -> None:
    prompts = [f"Write {50 + i} words about stones" for i in range(16)]
    results: dict[str, str] = {}

    def work(prompt: str) -> None:
        with anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0) as client:
            results[prompt] = text_of(stream_final(client, messages=ask(prompt)))

    threads = [threading.Thread(target=work, args=(prompt,)) for prompt in prompts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {prompt: emulator.document(prompt) for prompt in prompts}


def test_long_document_streams_fast(emulator: Emulator, raw: httpx2.Client) -> None:
    prompt = "Write 50000 words about everything"
    body = {"model": MODEL, "max_tokens": 60_000, "stream": True, "messages": ask(prompt)}
    # How fast is a benchmark's question (0.7 s alone): a wall-time bound fails on a loaded machine.
    with raw.stream("POST", "/v1/messages", json=body) as response:
        size = sum(len(chunk) for chunk in response.iter_bytes())
    assert size > 50_000 * 100
    assert emulator.requests[-1].output_tokens_sent == 50_000


def test_close_does_not_wait_for_stalled_streams() -> None:
    errors: list[BaseException] = []
    emulator = Emulator().start()
    emulator.add_faults(Fault(stall_after_events=3, stall_seconds=60))

    def work() -> None:
        with anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0) as client:
            try:
                stream_final(client, messages=ask(PROMPT))
            except (httpx2.TransportError, anthropic.APIConnectionError) as exc:
                errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    while not emulator.requests:
        time.sleep(0.01)
    time.sleep(0.1)
    started = time.monotonic()
    emulator.close()
    thread.join(5)
    assert time.monotonic() - started < 2
    assert not thread.is_alive() and len(errors) == 1


def test_pytest_plugin_shares_one_reset_server(tmp_path: Any) -> None:
    (tmp_path / "test_inner.py").write_text(
        "from longcall.testing import Emulator\n"
        'pytest_plugins = ["longcall.testing.pytest_plugin"]\n'
        "seen = []\n"
        "def test_one(emulator, emulator_server):\n"
        "    assert isinstance(emulator, Emulator) and emulator is emulator_server\n"
        "    emulator.refuse_prefill_models.clear()\n"
        "    seen.append(emulator.url)\n"
        "def test_two(emulator):\n"
        "    assert seen == [emulator.url] and emulator.refuse_prefill_models\n"
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"]
    environment = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )
    assert "2 passed" in result.stdout, result.stdout + result.stderr


def test_serve_prints_how_to_connect_and_stops_on_ctrl_c() -> None:
    code = "from longcall.testing import serve; serve(port=0)"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"ANTHROPIC_BASE_URL=(\S+)", line)
        assert url is not None and "ANTHROPIC_API_KEY=anything" in line
        with anthropic.Anthropic(base_url=url.group(1), api_key=API_KEY, max_retries=0) as client:
            assert (
                client.messages.create(model=MODEL, max_tokens=3, messages=ask(PROMPT)).usage.output_tokens
                == 3
            )
        process.send_signal(signal.SIGINT)
        assert process.wait(5) == 0
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
