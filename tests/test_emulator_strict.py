"""The strict emulator refuses what the real API refuses, with its status, error type and message."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from longcall import _catalog
from longcall.testing import DEFAULT_MODEL, Emulator

API_KEY = "sk-ant-test-secret"
VERSION = anthropic._constants.ANTHROPIC_API_VERSION
MODEL = DEFAULT_MODEL
PROMPT = "Write 60 words about rivers"


def ask(prompt: str = PROMPT) -> Any:
    return [{"role": "user", "content": prompt}]


@pytest.fixture
def client(emulator: Emulator) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
def raw(emulator: Emulator) -> Iterator[httpx2.Client]:
    headers = {"x-api-key": API_KEY, "anthropic-version": VERSION}
    with httpx2.Client(base_url=emulator.url, headers=headers) as raw:
        yield raw


def refused(client: anthropic.Anthropic, **params: Any) -> tuple[int, str, str]:
    """(status, error type, message) of a request the emulator must refuse."""
    params.setdefault("model", MODEL)
    params.setdefault("max_tokens", 100)
    params.setdefault("messages", ask())
    with pytest.raises(anthropic.APIStatusError) as excinfo:
        client.messages.create(**params, timeout=30)  # a timeout lets the SDK send any max_tokens
    body = excinfo.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["request_id"] == excinfo.value.response.headers["request-id"]
    return excinfo.value.status_code, body["error"]["type"], body["error"]["message"]


def bad_request(message: str) -> tuple[int, str, str]:
    return 400, "invalid_request_error", message


# -- the model ------------------------------------------------------------------------------------


def test_an_unknown_model_is_not_found(client: anthropic.Anthropic) -> None:
    assert refused(client, model="claude-nope-9") == (404, "not_found_error", "model: claude-nope-9")
    # A date the API never released is not found either, though longcall's catalog guesses its family.
    assert refused(client, model="claude-sonnet-4-5-20990101")[0] == 404


def test_an_added_model_is_served_until_reset(emulator: Emulator, client: anthropic.Anthropic) -> None:
    emulator.add_model("claude-experimental-x", max_tokens=1000, accepts_prefill=False)
    message = client.messages.create(model="claude-experimental-x", max_tokens=1000, messages=ask())
    assert message.model == "claude-experimental-x"
    assert refused(client, model="claude-experimental-x", max_tokens=1001)[2].startswith(
        "max_tokens: 1001 > 1000"
    )
    prefill: Any = [*ask(), {"role": "assistant", "content": "The"}]
    assert "prefill" in refused(client, model="claude-experimental-x", messages=prefill)[2]
    emulator.reset()
    assert refused(client, model="claude-experimental-x")[0] == 404


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK warns about deprecated models
def test_every_catalog_name_is_served(emulator: Emulator, client: anthropic.Anthropic) -> None:
    for row in _catalog.catalog_rows():
        for name in (row.id, *row.aliases):
            message = client.messages.create(
                model=name, max_tokens=row.max_output, messages=ask("hi"), timeout=30
            )
            assert message.model == name


# -- max_tokens and the context window ------------------------------------------------------------


@pytest.mark.parametrize(
    "model, limit",
    [("claude-sonnet-4-6", 64_000), ("claude-opus-4-6", 128_000), ("claude-3-haiku-20240307", 4096)],
)
def test_max_tokens_above_the_models_limit(client: anthropic.Anthropic, model: str, limit: int) -> None:
    assert limit == _catalog.lookup(model).max_output  # the catalog is where the emulator's limits come from
    assert refused(client, model=model, max_tokens=limit + 64) == bad_request(
        f"max_tokens: {limit + 64} > {limit}, which is the maximum allowed number of output tokens "
        f"for {model}"
    )
    message = client.messages.create(model=model, max_tokens=limit, messages=ask("hi"), timeout=30)
    assert message.stop_reason == "end_turn"


def test_a_beta_header_raises_the_output_limit(client: anthropic.Anthropic) -> None:
    model = "claude-3-7-sonnet-20250219"
    assert refused(client, model=model, max_tokens=100_000)[2].startswith("max_tokens: 100000 > 64000")
    beta = {"anthropic-beta": "output-128k-2025-02-19"}
    message = client.messages.create(
        model=model, max_tokens=100_000, messages=ask("hi"), extra_headers=beta, timeout=30
    )
    assert message.stop_reason == "end_turn"
    assert refused(client, model=model, max_tokens=128_001, extra_headers=beta)[2].startswith(
        "max_tokens: 128001 > 128000"
    )


def test_a_prompt_longer_than_the_window(emulator: Emulator, client: anthropic.Anthropic) -> None:
    emulator.add_model("claude-tiny-window", max_input_tokens=10)
    long_prompt = " ".join(["word"] * 11)
    assert refused(client, model="claude-tiny-window", messages=ask(long_prompt)) == bad_request(
        "prompt is too long: 11 tokens > 10 maximum"
    )


# -- headers --------------------------------------------------------------------------------------


def test_a_missing_version_header(emulator: Emulator) -> None:
    with httpx2.Client(base_url=emulator.url, headers={"x-api-key": API_KEY}) as raw:
        response = raw.post("/v1/messages", json={"model": MODEL, "max_tokens": 5, "messages": ask()})
        assert response.status_code == 400
        assert response.json()["error"] == {
            "type": "invalid_request_error",
            "message": "anthropic-version: header is required",
        }
        assert raw.get("/v1/models").status_code == 400


@pytest.mark.parametrize(
    "headers, status, message",
    [
        ({}, 401, "x-api-key header is required"),
        ({"x-api-key": ""}, 401, "invalid x-api-key"),
        ({"authorization": "Bearer"}, 401, "invalid bearer token"),
        ({"authorization": "Basic abc"}, 401, "invalid bearer token"),
        ({"x-api-key": API_KEY}, 200, None),
        ({"authorization": f"Bearer {API_KEY}"}, 200, None),
    ],
)
def test_credentials(emulator: Emulator, headers: dict[str, str], status: int, message: str | None) -> None:
    with httpx2.Client(base_url=emulator.url, headers={"anthropic-version": VERSION, **headers}) as raw:
        response = raw.post("/v1/messages", json={"model": MODEL, "max_tokens": 5, "messages": ask()})
    assert response.status_code == status
    if message is not None:
        assert response.json()["error"] == {"type": "authentication_error", "message": message}


def test_the_sdk_sends_a_bearer_and_this_version(emulator: Emulator, client: anthropic.Anthropic) -> None:
    client.messages.create(model=MODEL, max_tokens=5, messages=ask())
    (record,) = emulator.requests
    assert record.headers["authorization"] == "***"
    assert record.headers["anthropic-version"] == VERSION


# -- sampling parameters --------------------------------------------------------------------------


@pytest.mark.parametrize("name, value", [("temperature", 1.0), ("top_p", 0.9), ("top_k", 5)])
def test_sampling_parameters_by_api_version(emulator: Emulator, name: str, value: float) -> None:
    body = {"model": MODEL, "max_tokens": 5, "messages": ask(), name: value}
    assert VERSION >= "2026-10-21"  # the SDK in use sends the version that removed them
    for version, status in ((VERSION, 400), ("2023-06-01", 200)):
        headers = {"x-api-key": API_KEY, "anthropic-version": version}
        with httpx2.Client(base_url=emulator.url, headers=headers) as raw:
            response = raw.post("/v1/messages", json=body)
        assert response.status_code == status, version
        if status == 400:
            assert response.json()["error"]["message"] == f"{name}: Extra inputs are not permitted"


# -- cache breakpoints ----------------------------------------------------------------------------

CACHED = {"type": "ephemeral"}


def cached_text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text, "cache_control": CACHED}


@pytest.mark.parametrize("where", ["system", "tools", "messages", "tool_result", "top_level"])
def test_more_than_four_cache_breakpoints(client: anthropic.Anthropic, where: str) -> None:
    tools: Any = [{"name": f"t{i}", "input_schema": {"type": "object"}} for i in range(2)]
    system: Any = [cached_text("You are terse."), cached_text("Be exact.")]
    messages: Any = [
        {"role": "user", "content": [cached_text("first")]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "t0", "input": {}}]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "x"}]}
            ],
        },
    ]
    extra: dict[str, Any] = {}
    # Four breakpoints (two in system, one in messages, one more where the case puts it) are accepted ...
    if where == "system":
        system.append(cached_text("Be kind."))
    elif where == "tools":
        tools[0]["cache_control"] = CACHED
    elif where == "messages":
        messages[2]["content"].append(cached_text("second"))
    elif where == "tool_result":
        messages[2]["content"][0]["content"][0]["cache_control"] = CACHED
    else:
        extra["extra_body"] = {"cache_control": CACHED}
    params = {
        "model": MODEL,
        "max_tokens": 5,
        "system": system,
        "tools": tools,
        "messages": messages,
        **extra,
    }
    assert client.messages.create(**params).stop_reason is not None
    # ... a fifth anywhere is refused.
    tools[1]["cache_control"] = CACHED
    assert refused(client, **params) == bad_request(
        "A maximum of 4 blocks with cache_control may be provided. Found 5."
    )


# -- prefill --------------------------------------------------------------------------------------


def prefill_refusing_names() -> list[str]:
    names = [n for row in _catalog.catalog_rows() if not row.accepts_prefill for n in (row.id, *row.aliases)]
    assert {"claude-opus-4-6", "claude-sonnet-4-6", "claude-opus-5", "claude-sonnet-5-5"} <= set(names)
    return names


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("model", prefill_refusing_names())
def test_models_from_4_6_on_refuse_prefill(client: anthropic.Anthropic, model: str) -> None:
    prefill: Any = [*ask(), {"role": "assistant", "content": "The"}]
    assert refused(client, model=model, messages=prefill) == bad_request(
        "This model does not support assistant message prefill. "
        "The conversation must end with a user message."
    )


def test_prefill_with_trailing_whitespace_in_a_last_block(client: anthropic.Anthropic) -> None:
    prefill: Any = [*ask(), {"role": "assistant", "content": [{"type": "text", "text": "The river\n"}]}]
    assert refused(client, messages=prefill) == bad_request(
        "messages: final assistant content cannot end with trailing whitespace"
    )


# -- thinking -------------------------------------------------------------------------------------


def test_thinking_budget_rules(client: anthropic.Anthropic) -> None:
    assert refused(
        client, max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 1023}
    ) == bad_request("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    status, _, message = refused(client, max_tokens=1024, thinking={"type": "enabled", "budget_tokens": 1024})
    assert status == 400 and message.startswith("`max_tokens` must be greater than `thinking.budget_tokens`.")
    # Interleaved thinking spans the turn: its budget may exceed max_tokens.
    beta = {"anthropic-beta": "interleaved-thinking-2025-05-14"}
    thinking: Any = {"type": "enabled", "budget_tokens": 2000}
    assert (
        client.messages.create(
            model=MODEL, max_tokens=1024, messages=ask(), thinking=thinking, extra_headers=beta
        )
        .content[0]
        .type
        == "thinking"
    )


def test_thinking_modes_follow_the_catalog(client: anthropic.Anthropic) -> None:
    assert refused(
        client, model="claude-opus-4-7", max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2000}
    )[2].startswith('"thinking.type.enabled" is not supported for this model.')
    assert refused(client, model=MODEL, thinking={"type": "adaptive"}) == bad_request(
        '"thinking.type.adaptive" is not supported for this model.'
    )
    message = client.messages.create(
        model="claude-opus-4-7", max_tokens=100, messages=ask(), thinking={"type": "adaptive"}
    )
    assert message.content[0].type == "thinking"


def test_thinking_blocks_sent_back_need_their_signature(client: anthropic.Anthropic) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    first = client.messages.create(model=MODEL, max_tokens=2000, messages=ask(), thinking=thinking)
    block = first.content[0].to_dict()

    def turn(thinking_block: dict[str, Any]) -> Any:
        return [
            *ask(),
            {"role": "assistant", "content": [thinking_block, {"type": "text", "text": "Done."}]},
            {"role": "user", "content": "And then?"},
        ]

    assert client.messages.create(
        model=MODEL, max_tokens=2000, messages=turn(block), thinking=thinking
    ).content
    unsigned = {key: value for key, value in block.items() if key != "signature"}
    assert refused(client, max_tokens=2000, messages=turn(unsigned), thinking=thinking) == bad_request(
        "messages.1.content.0.thinking.signature: Field required"
    )
    edited = {**block, "thinking": block["thinking"] + " And more."}
    assert refused(client, max_tokens=2000, messages=turn(edited), thinking=thinking) == bad_request(
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )


def test_forced_tool_use_with_thinking(client: anthropic.Anthropic) -> None:
    tools: Any = [{"name": "lookup", "input_schema": {"type": "object"}}]
    assert refused(
        client,
        max_tokens=2000,
        tools=tools,
        tool_choice={"type": "any"},
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) == bad_request("Thinking may not be enabled when tool_choice forces tool use.")


# -- what the emulator writes ---------------------------------------------------------------------

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 3},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "units": {"enum": ["metric", "imperial"]},
        "hours": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 23}, "minItems": 2},
        "place": {"$ref": "#/$defs/place"},
        "note": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
    },
    "required": ["city", "days", "units", "hours", "place", "note"],
    "additionalProperties": False,
    "$defs": {
        "place": {
            "type": "object",
            "properties": {"lat": {"type": "number"}, "exact": {"type": "boolean"}},
            "required": ["lat", "exact"],
            "additionalProperties": False,
        }
    },
}


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "weather"}])
def test_forced_tool_use_is_answered_with_a_fitting_tool_call(
    client: anthropic.Anthropic, choice: Any
) -> None:
    tools: Any = [
        {"name": "clock", "input_schema": {"type": "object", "properties": {}}},
        {"name": "weather", "input_schema": WEATHER_SCHEMA},
    ]
    if choice["type"] == "any":
        tools.reverse()
    params: Any = {
        "model": MODEL,
        "max_tokens": 500,
        "messages": ask(),
        "tools": tools,
        "tool_choice": choice,
    }
    with client.messages.stream(**params) as stream:
        streamed = stream.get_final_message()
    created = client.messages.create(**params)
    for message in (streamed, created):
        assert message.stop_reason == "tool_use"
        (block,) = message.content
        assert block.type == "tool_use" and block.name == "weather"
        Draft202012Validator(WEATHER_SCHEMA).validate(block.input)
    assert streamed.content[0].input == created.content[0].input


def test_structured_output_is_json_that_fits_the_schema(
    emulator: Emulator, client: anthropic.Anthropic
) -> None:
    output_config: Any = {"format": {"type": "json_schema", "schema": WEATHER_SCHEMA}}
    params: Any = {"model": MODEL, "max_tokens": 500, "messages": ask(), "output_config": output_config}
    with client.messages.stream(**params) as stream:
        text = stream.get_final_text()
    Draft202012Validator(WEATHER_SCHEMA).validate(json.loads(text))
    assert text == emulator.document(params)
    # It resumes like prose: a prefill of its first half gets exactly the rest.
    half = text[: len(text) // 2].rstrip()
    rest = client.messages.create(**{**params, "messages": [*ask(), {"role": "assistant", "content": half}]})
    assert half + rest.content[0].text == text  # type: ignore[union-attr]


@pytest.mark.parametrize("style", ["Chinese", "unbroken"])
def test_documents_without_spaces_on_request(
    emulator: Emulator, client: anthropic.Anthropic, style: str
) -> None:
    prompt = f"Write 400 words, {style}"
    document = emulator.document(prompt)
    with client.messages.stream(model=MODEL, max_tokens=4000, messages=ask(prompt)) as stream:
        pieces = list(stream.text_stream)
        message = stream.get_final_message()
    assert "".join(pieces) == document
    assert message.usage.output_tokens == len(pieces) == 400
    if style == "Chinese":
        assert " " not in document and document.endswith("。") and re.search(r"[\u4e00-\u9fff]{20}", document)
    else:
        longest = max(document.split(), key=len)
        assert len(longest) >= 40  # a URL, base64 or a line of code
        assert max(map(len, pieces)) <= 16  # split into token-sized deltas


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=1, max_value=300), style=st.sampled_from(["Chinese", "unbroken"]))
def test_prefill_continues_documents_without_spaces_exactly(
    emulator_server: Emulator, cut: int, style: str
) -> None:
    prompt = f"Write 120 words, {style}"
    document = emulator_server.document(prompt)
    head = document[: cut % (len(document) - 1) + 1].rstrip()
    with anthropic.Anthropic(base_url=emulator_server.url, api_key=API_KEY, max_retries=0) as client:
        messages: Any = [*ask(prompt), {"role": "assistant", "content": head}]
        message = client.messages.create(model=MODEL, max_tokens=4000, messages=messages)
    assert head + message.content[0].text == document  # type: ignore[union-attr]


# -- lenient mode ---------------------------------------------------------------------------------


def test_lenient_mode_accepts_what_strict_refuses() -> None:
    with (
        Emulator(strict=False) as emulator,
        httpx2.Client(base_url=emulator.url, headers={"x-api-key": API_KEY}) as raw,
    ):
        body = {"model": "claude-nope-9", "max_tokens": 10**6, "messages": ask(), "temperature": 1}
        assert raw.post("/v1/messages", json=body).status_code == 200
        prefill = {
            **body,
            "model": "claude-sonnet-4-6",
            "messages": [*ask(), {"role": "assistant", "content": "A"}],
        }
        assert raw.post("/v1/messages", json=prefill).status_code == 400  # prefill rules stay


# -- text and thinking blocks sent back -----------------------------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        ([{"type": "text", "text": ""}], "messages: text content blocks must be non-empty"),
        ([{"type": "text", "text": " \n"}], "messages: text content blocks must contain non-whitespace text"),
        ("", "messages: text content blocks must be non-empty"),
    ],
)
def test_text_blocks_must_hold_text(client: anthropic.Anthropic, content: Any, message: str) -> None:
    messages: Any = [*ask(), {"role": "assistant", "content": content}, {"role": "user", "content": "More"}]
    assert refused(client, messages=messages) == bad_request(message)
    # A final assistant message that is an empty string asks for a reply from scratch.
    empty_final: Any = [*ask(), {"role": "assistant", "content": ""}]
    assert client.messages.create(model=MODEL, max_tokens=5, messages=empty_final).content


def test_thinking_blocks_come_first_and_need_thinking_on_in_a_final_message(
    client: anthropic.Anthropic,
) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    first = client.messages.create(model=MODEL, max_tokens=2000, messages=ask(), thinking=thinking)
    block = first.content[0].to_dict()
    text = {"type": "text", "text": "Done."}
    after_text: Any = [
        *ask(),
        {"role": "assistant", "content": [text, block]},
        {"role": "user", "content": "More"},
    ]
    assert refused(client, max_tokens=2000, messages=after_text, thinking=thinking) == bad_request(
        "messages.1.content.0: If an assistant message contains any thinking blocks, the first block must be "
        "thinking or redacted_thinking. Found text."
    )
    final: Any = [*ask(), {"role": "assistant", "content": [block, {"type": "text", "text": "The"}]}]
    assert refused(client, messages=final) == bad_request(
        "messages.1.content.0: When thinking is disabled, an `assistant` message in the final position "
        "cannot contain `thinking`. To use thinking blocks, enable `thinking` in your request."
    )
    # Earlier turns may keep their thinking with thinking off.
    earlier: Any = [
        *ask(),
        {"role": "assistant", "content": [block, text]},
        {"role": "user", "content": "More"},
    ]
    assert client.messages.create(model=MODEL, max_tokens=5, messages=earlier).content
