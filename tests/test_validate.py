import pytest
from anthropic.types import TextBlock, ToolUseBlock

from longcall._errors import InvalidRequest
from longcall._validate import validate_params


def user(content="Hello"):
    return {"role": "user", "content": content}


def assistant(content="Hi"):
    return {"role": "assistant", "content": content}


def params(**changes):
    base = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [user()]}
    base.update(changes)
    return {key: value for key, value in base.items() if value is not DROP}


DROP = object()
OLD = {"extra_headers": {"anthropic-version": "2023-06-01"}}
TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
TOOL_USE_2 = {**TOOL_USE, "id": "toolu_2"}


def result(tool_use_id="toolu_1"):
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": "18C"}


VALID = {
    "minimal": params(),
    "max_tokens omitted": params(max_tokens=DROP),
    "max_tokens None": params(max_tokens=None),
    "max_tokens 0 pre-warms the cache": params(max_tokens=0),
    "conversation": params(messages=[user(), assistant(), user("More")]),
    "same role twice is merged by the API": params(
        messages=[user(), user("again"), assistant(), assistant("!")]
    ),
    "prefill": params(messages=[user(), assistant("The answer is")]),
    "empty final assistant": params(messages=[user(), assistant("")]),
    "blocks": params(messages=[user([{"type": "text", "text": "Hi"}, {"type": "image", "source": {}}])]),
    "SDK block objects": params(
        messages=[
            user(),
            assistant([TextBlock(type="text", text="Let me look."), ToolUseBlock(**TOOL_USE)]),
            user([result()]),
        ]
    ),
    "tool round trip": params(
        messages=[user(), assistant([TOOL_USE, TOOL_USE_2]), user([result(), result("toolu_2")])]
    ),
    "tool results across a merged user turn": params(
        messages=[user(), assistant([TOOL_USE, TOOL_USE_2]), user([result()]), user([result("toolu_2")])]
    ),
    "pending tool use at the end": params(messages=[user(), assistant([TOOL_USE])]),
    "system str": params(system="Be brief."),
    "system blocks": params(
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    ),
    "temperature bounds on 2023-06-01": params(
        temperature=0, extra_headers={"anthropic-version": "2023-06-01"}
    ),
    "temperature 1.0 on 2023-06-01": params(
        extra_body={"temperature": 1.0}, extra_headers={"anthropic-version": "2023-06-01"}
    ),
    "top_p and top_k on 2023-06-01": params(
        top_p=0.5, top_k=3, extra_headers={"anthropic-version": "2023-06-01"}
    ),
    "stop sequences": params(stop_sequences=["END", "\n\n"]),
    "thinking enabled": params(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 1024}),
    "thinking adaptive": params(thinking={"type": "adaptive"}),
    "thinking disabled": params(thinking={"type": "disabled"}),
    "interleaved thinking budget above max_tokens": params(
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 8000},
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    ),
    "interleaved thinking via betas": params(
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 8000},
        betas=["interleaved-thinking-2025-05-14"],
    ),
    "budget with max_tokens omitted": params(
        max_tokens=None, thinking={"type": "enabled", "budget_tokens": 2048}
    ),
    "tools": params(
        tools=[{"name": "get_weather", "input_schema": {"type": "object"}}], tool_choice={"type": "any"}
    ),
    "tool choice by name": params(tool_choice={"type": "tool", "name": "get_weather"}),
    "unknown top-level keys pass": params(some_future_option={"x": 1}, metadata={"user_id": "u"}),
}


@pytest.mark.parametrize("request_params", VALID.values(), ids=VALID.keys())
def test_valid(request_params):
    validate_params(request_params)


INVALID = {
    "not a mapping": (["model"], "The request parameters must be a mapping of keyword arguments, got list."),
    "model missing": (params(model=DROP), "model is missing; pass a model name such as 'claude-sonnet-4-5'."),
    "model None": (params(model=None), "model is missing; pass a model name such as 'claude-sonnet-4-5'."),
    "model empty": (params(model=" "), "model must be a non-empty string, got ' ' (str)."),
    "model int": (params(model=3), "model must be a non-empty string, got 3 (int)."),
    "max_tokens str": (
        params(max_tokens="1024"),
        "max_tokens must be a whole number (at least 1, or 0 to only pre-warm the prompt cache), got '1024' "
        "(str).",
    ),
    "max_tokens bool": (
        params(max_tokens=True),
        "max_tokens must be a whole number (at least 1, or 0 to only pre-warm the prompt cache), got True "
        "(bool).",
    ),
    "max_tokens negative": (
        params(max_tokens=-1),
        "max_tokens must be a whole number (at least 1, or 0 to only pre-warm the prompt cache), got -1 "
        "(int).",
    ),
    "max_tokens float": (
        params(max_tokens=10.0),
        "max_tokens must be a whole number (at least 1, or 0 to only pre-warm the prompt cache), got 10.0 "
        "(float).",
    ),
    "messages missing": (
        params(messages=DROP),
        "messages is missing; pass a list such as [{'role': 'user', 'content': 'Hello'}].",
    ),
    "messages str": (params(messages="Hello"), "messages must be a list of messages, got str."),
    "messages empty": (params(messages=[]), "messages is empty; pass at least one user message."),
    "message not a mapping": (
        params(messages=[user(), "Hi"]),
        "messages[1] must be a mapping with 'role' and 'content', got str.",
    ),
    "role system": (
        params(messages=[user(), {"role": "system", "content": "x"}]),
        "messages[1].role must be 'user' or 'assistant', got 'system'.",
    ),
    "role missing": (
        params(messages=[{"content": "x"}]),
        "messages[0].role must be 'user' or 'assistant', got None.",
    ),
    "first message from the assistant": (
        params(messages=[assistant(), user()]),
        "messages[0].role must be 'user': the first message must come from the user.",
    ),
    "content missing": (
        params(messages=[user(), {"role": "assistant"}]),
        "messages[1].content is missing; pass a string or a list of content blocks.",
    ),
    "content int": (
        params(messages=[user(5)]),
        "messages[0].content must be a string or a list of content blocks, got int.",
    ),
    "content dict": (
        params(messages=[user({"type": "text", "text": "x"})]),
        "messages[0].content must be a string or a list of content blocks, got dict.",
    ),
    "content empty string": (
        params(messages=[user(""), assistant()]),
        "messages[0].content is empty; only a final assistant message may be empty.",
    ),
    "content empty list": (
        params(messages=[user(), assistant([]), user()]),
        "messages[1].content is empty; only a final assistant message may be empty.",
    ),
    "block not a mapping": (
        params(messages=[user(["Hello"])]),
        "messages[0].content[0] must be a content block with a string 'type', got str.",
    ),
    "block without a type": (
        params(messages=[user([{"type": "text", "text": "a"}, {"text": "b"}])]),
        "messages[0].content[1] must be a content block with a string 'type', got dict.",
    ),
    "empty text block": (
        params(messages=[user([{"type": "text", "text": ""}])]),
        "messages[0].content[0].text must be a non-empty string, got ''.",
    ),
    "final assistant ends with whitespace": (
        params(messages=[user(), assistant("The answer is ")]),
        "messages[1].content ends with whitespace, which the API refuses in a final assistant message; "
        "strip it.",
    ),
    "final assistant block ends with whitespace": (
        params(messages=[user(), assistant([{"type": "text", "text": "Sure.\n"}])]),
        "messages[1].content[0].text ends with whitespace, which the API refuses in a final assistant "
        "message; "
        "strip it.",
    ),
    "tool_use without id": (
        params(messages=[user(), assistant([{**TOOL_USE, "id": None}])]),
        "messages[1].content[0].id must be a non-empty string, got None.",
    ),
    "tool_result with no tool_use": (
        params(messages=[user([result("toolu_9")])]),
        "messages[0].content[0].tool_use_id 'toolu_9' matches no tool_use block of an earlier assistant "
        "message.",
    ),
    "tool_result for an unknown id": (
        params(messages=[user(), assistant([TOOL_USE]), user([result(), result("toolu_9")])]),
        "messages[2].content[1].tool_use_id 'toolu_9' matches no tool_use block of an earlier assistant "
        "message.",
    ),
    "tool_result for an older turn": (
        params(messages=[user(), assistant([TOOL_USE]), user([result()]), assistant(), user([result()])]),
        "messages[4].content[0].tool_use_id 'toolu_1' answers a tool_use of an older turn; a tool_result "
        "must "
        "answer a tool_use of the assistant turn just before it.",
    ),
    "tool_result id not a string": (
        params(messages=[user(), assistant([TOOL_USE]), user([{"type": "tool_result", "tool_use_id": 1}])]),
        "messages[2].content[0].tool_use_id must be a string, got int.",
    ),
    "tool_use left unanswered": (
        params(messages=[user(), assistant([TOOL_USE, TOOL_USE_2]), user([result()])]),
        "messages[2] has no tool_result for tool_use_id 'toolu_2' of messages[1]; every tool_use needs a "
        "tool_result in the next user turn.",
    ),
    "tool_use answered by text": (
        params(messages=[user(), assistant([TOOL_USE]), user("what?"), assistant()]),
        "messages[2] has no tool_result for tool_use_id 'toolu_1' of messages[1]; every tool_use needs a "
        "tool_result in the next user turn.",
    ),
    "system int": (params(system=1), "system must be a string or a list of text blocks, got int."),
    "system block not text": (
        params(system=["Be brief."]),
        "system[0] must be a text block {'type': 'text', 'text': ...}.",
    ),
    "whitespace-only text block": (
        params(messages=[user([{"type": "text", "text": " \n"}])]),
        "messages[0].content[0].text is only whitespace, which the API refuses; remove the block or put text "
        "in it.",
    ),
    "whitespace-only content": (
        params(messages=[user(), assistant("  "), user("More")]),
        "messages[1].content is only whitespace, which the API refuses; put text in it.",
    ),
    "temperature above 1": (
        params(temperature=1.5, **OLD),
        "temperature must be a number from 0 to 1, got 1.5.",
    ),
    "temperature negative": (
        params(temperature=-0.1, **OLD),
        "temperature must be a number from 0 to 1, got -0.1.",
    ),
    "temperature str": (
        params(temperature="0.5", **OLD),
        "temperature must be a number from 0 to 1, got '0.5'.",
    ),
    "temperature bool": (
        params(temperature=True, **OLD),
        "temperature must be a number from 0 to 1, got True.",
    ),
    "top_p above 1": (params(top_p=2, **OLD), "top_p must be a number from 0 to 1, got 2."),
    "top_k zero": (params(top_k=0, **OLD), "top_k must be a whole number of at least 1, got 0."),
    "temperature on the SDK's API version": (
        params(temperature=1.0),
        "temperature is refused by API version 2026-10-21 (the API answers 400 even at its default); remove "
        "it, or send it only with the header anthropic-version: 2023-06-01.",
    ),
    "top_k in extra_body on the SDK's API version": (
        params(extra_body={"top_k": 5}),
        "top_k is refused by API version 2026-10-21 (the API answers 400 even at its default); remove "
        "it, or send it only with the header anthropic-version: 2023-06-01.",
    ),
    "stop_sequences str": (
        params(stop_sequences="END"),
        "stop_sequences must be a list of strings, got str.",
    ),
    "stop_sequences item": (
        params(stop_sequences=["END", 3]),
        "stop_sequences[1] must be a string, got int.",
    ),
    "thinking str": (
        params(thinking="enabled"),
        "thinking must be a mapping such as {'type': 'adaptive'}, got str.",
    ),
    "thinking type": (
        params(thinking={"type": "on"}),
        "thinking.type must be one of enabled, disabled, adaptive, between_tools; got 'on'.",
    ),
    "thinking budget missing": (
        params(thinking={"type": "enabled"}),
        "thinking.budget_tokens must be a whole number >= 1024 when thinking is enabled, got None.",
    ),
    "thinking budget too small": (
        params(thinking={"type": "enabled", "budget_tokens": 1023}),
        "thinking.budget_tokens must be a whole number >= 1024 when thinking is enabled, got 1023.",
    ),
    "thinking budget not below max_tokens": (
        params(max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 2048}),
        "thinking.budget_tokens (2048) must be less than max_tokens (2048); raise max_tokens or lower the "
        "budget.",
    ),
    "tools dict": (params(tools={"name": "x"}), "tools must be a list of tool definitions, got dict."),
    "tool not a mapping": (params(tools=["get_weather"]), "tools[0] must be a mapping, got str."),
    "tool without name": (
        params(tools=[{"name": "a"}, {"input_schema": {}}]),
        "tools[1].name must be a non-empty string, got None.",
    ),
    "tool_choice str": (
        params(tool_choice="auto"),
        "tool_choice must be a mapping such as {'type': 'auto'}, got 'auto'.",
    ),
    "tool_choice tool without name": (
        params(tool_choice={"type": "tool"}),
        "tool_choice.name must name the tool when tool_choice.type is 'tool'.",
    ),
}


@pytest.mark.parametrize("request_params, message", INVALID.values(), ids=INVALID.keys())
def test_invalid(request_params, message):
    with pytest.raises(InvalidRequest) as caught:
        validate_params(request_params)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_a_client_that_sends_an_older_api_version():
    validate_params(params(temperature=0.2), api_version="2023-06-01")
    with pytest.raises(InvalidRequest, match="refused by API version 2026-10-21"):
        validate_params(params(temperature=0.2), api_version="2026-10-21")
