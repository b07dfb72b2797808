import json

import pytest
from anthropic.types import Message

from longcall._errors import InvalidRequest
from longcall._validate import validate_params
from longcall.openai import from_openai, to_openai

PNG = "iVBORw0KGgo="
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
CALL_2 = {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
TOOL_USE = {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
TOOL_USE_2 = {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def text(value):
    return {"type": "text", "text": value}


def user(content="Hi"):
    return {"role": "user", "content": content}


def assistant(content="Hello", **fields):
    return {"role": "assistant", "content": content, **fields}


def tool(call_id="call_1", content="18C"):
    return {"role": "tool", "tool_call_id": call_id, "content": content}


# (messages, keyword arguments) -> expected messages.create keyword arguments
CONVERSIONS = {
    "plain": (([user()], {}), {"messages": [user()]}),
    "system and developer in order": (
        (
            [
                {"role": "system", "content": "A"},
                user(),
                {"role": "developer", "content": [text("B"), text("C")]},
            ],
            {},
        ),
        {"system": [text("A"), text("B"), text("C")], "messages": [user()]},
    ),
    "consecutive turns merged": (
        ([user("a"), user([text("b")]), assistant("c"), assistant("d")], {}),
        {
            "messages": [
                {"role": "user", "content": [text("a"), text("b")]},
                {"role": "assistant", "content": [text("c"), text("d")]},
            ]
        },
    ),
    "tool calls and results": (
        (
            [
                user(),
                assistant(None, tool_calls=[CALL, CALL_2]),
                tool(),
                tool("call_2", [text("12:00")]),
                user("ok"),
            ],
            {},
        ),
        {
            "messages": [
                user(),
                {"role": "assistant", "content": [TOOL_USE, TOOL_USE_2]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                        {"type": "tool_result", "tool_use_id": "call_2", "content": [text("12:00")]},
                        text("ok"),
                    ],
                },
            ]
        },
    ),
    "text before tool calls, empty arguments, empty result": (
        (
            [
                user(),
                assistant(
                    "Checking.", tool_calls=[{**CALL_2, "function": {"name": "get_time", "arguments": ""}}]
                ),
                tool("call_2", ""),
            ],
            {},
        ),
        {
            "messages": [
                user(),
                {"role": "assistant", "content": [text("Checking."), TOOL_USE_2]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_2"}]},
            ]
        },
    ),
    "tool results move before user text in a merged turn": (
        ([user(), assistant(None, tool_calls=[CALL]), user("also"), tool()], {}),
        {
            "messages": [
                user(),
                {"role": "assistant", "content": [TOOL_USE]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                        text("also"),
                    ],
                },
            ]
        },
    ),
    "images": (
        (
            [
                user(
                    [
                        text("What is this?"),
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"},
                        },
                        {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG}"}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}},
                    ]
                )
            ],
            {},
        ),
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        text("What is this?"),
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.webp"}},
                    ],
                }
            ]
        },
    ),
    "pdf file": (
        (
            [
                user(
                    [
                        {
                            "type": "file",
                            "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
                        }
                    ]
                )
            ],
            {},
        ),
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                        }
                    ],
                }
            ]
        },
    ),
    "parameters": (
        (
            [user()],
            {
                "model": "claude-sonnet-4-5",
                "max_completion_tokens": 500,
                "temperature": 0.2,
                "stop": "END",
                "user": "u-1",
                "n": 1,
                "logprobs": False,
                "frequency_penalty": 0,
                "seed": None,
                "stream": True,
                "top_k": 5,
            },
        ),
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 500,
            "temperature": 0.2,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u-1"},
            "stream": True,
            "top_k": 5,
            "messages": [user()],
        },
    ),
    "stop list and both max_tokens agreeing": (
        ([user()], {"stop": ["a", "b"], "max_tokens": 9, "max_completion_tokens": 9}),
        {"stop_sequences": ["a", "b"], "max_tokens": 9, "messages": [user()]},
    ),
    "structured output and effort": (
        (
            [user()],
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {"type": "object"}},
                },
                "reasoning_effort": "high",
            },
        ),
        {
            "output_config": {
                "format": {"type": "json_schema", "schema": {"type": "object"}},
                "effort": "high",
            },
            "messages": [user()],
        },
    ),
    "response_format text": (([user()], {"response_format": {"type": "text"}}), {"messages": [user()]}),
    "tools and tool_choice": (
        ([user()], {"tools": [WEATHER_TOOL], "tool_choice": "required"}),
        {
            "messages": [user()],
            "tools": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city.",
                    "input_schema": WEATHER_TOOL["function"]["parameters"],
                }
            ],
            "tool_choice": {"type": "any"},
        },
    ),
    "tool without parameters, strict": (
        ([user()], {"tools": [{"type": "function", "function": {"name": "now", "strict": True}}]}),
        {
            "messages": [user()],
            "tools": [{"name": "now", "input_schema": {"type": "object", "properties": {}}, "strict": True}],
        },
    ),
    "tool_choice auto": (
        ([user()], {"tool_choice": "auto"}),
        {"messages": [user()], "tool_choice": {"type": "auto"}},
    ),
    "tool_choice none ignores parallel": (
        ([user()], {"tool_choice": "none", "parallel_tool_calls": False}),
        {"messages": [user()], "tool_choice": {"type": "none"}},
    ),
    "tool_choice function, no parallel calls": (
        (
            [user()],
            {
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "parallel_tool_calls": False,
            },
        ),
        {
            "messages": [user()],
            "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        },
    ),
    "parallel_tool_calls alone": (
        ([user()], {"parallel_tool_calls": False}),
        {"messages": [user()], "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}},
    ),
    "parallel_tool_calls true is the default": (
        ([user()], {"parallel_tool_calls": True}),
        {"messages": [user()]},
    ),
    "response fields set to nothing are absent": (
        (
            [
                user(),
                assistant("x", refusal=None, audio=None, function_call=None, tool_calls=None, annotations=[]),
            ],
            {},
        ),
        {"messages": [user(), {"role": "assistant", "content": "x"}]},
    ),
    "thinking blocks come back first": (
        (
            [
                user(),
                assistant(
                    "Done.",
                    reasoning_content="hmm",
                    thinking_blocks=[{"type": "thinking", "thinking": "hmm", "signature": "sig"}],
                ),
            ],
            {},
        ),
        {
            "messages": [
                user(),
                {
                    "role": "assistant",
                    "content": [{"type": "thinking", "thinking": "hmm", "signature": "sig"}, text("Done.")],
                },
            ]
        },
    ),
}


@pytest.mark.parametrize("given, expected", CONVERSIONS.values(), ids=CONVERSIONS.keys())
def test_from_openai(given, expected):
    messages, kwargs = given
    assert from_openai(messages, **kwargs) == expected


def test_from_openai_output_passes_validation():
    converted = from_openai(
        [{"role": "system", "content": "S"}, user(), assistant(None, tool_calls=[CALL]), tool(), user("ok")],
        model="claude-sonnet-4-5",
        max_tokens=100,
        tools=[WEATHER_TOOL],
    )
    validate_params(converted)


def test_from_openai_does_not_modify_its_input():
    messages = [user(), assistant(None, tool_calls=[CALL]), tool()]
    snapshot = json.dumps(messages)
    from_openai(messages)
    assert json.dumps(messages) == snapshot


# (messages, keyword arguments) -> exact error message
ERRORS = {
    "messages str": (("Hi", {}), "messages must be a list of OpenAI chat messages, got str."),
    "messages empty": (([], {}), "messages is empty; pass at least one user message."),
    "message not a mapping": (
        ([user(), "Hi"], {}),
        "messages[1] must be a mapping with 'role' and 'content', got str.",
    ),
    "unknown role": (
        ([user(), {"role": "critic", "content": "x"}], {}),
        "messages[1].role must be one of system, developer, user, assistant, tool, got 'critic'; Claude has "
        "no "
        "equivalent for other roles.",
    ),
    "function role": (
        ([user(), {"role": "function", "name": "f", "content": "x"}], {}),
        "messages[1].role 'function' is OpenAI's legacy function calling; use 'tool'.",
    ),
    "name on a message": (
        ([{"role": "user", "content": "Hi", "name": "ann"}], {}),
        "messages[0].name cannot be converted: Claude has no per-message participant names; put the name in "
        "the "
        "content.",
    ),
    "legacy function_call": (
        ([user(), assistant(None, function_call={"name": "f", "arguments": "{}"})], {}),
        "messages[1].function_call cannot be converted: it is OpenAI's legacy function calling; use "
        "tool_calls.",
    ),
    "assistant audio": (
        ([user(), assistant(None, audio={"id": "a"})], {}),
        "messages[1].audio cannot be converted: Claude does not take audio.",
    ),
    "assistant refusal": (
        ([user(), assistant(None, refusal="No.")], {}),
        "messages[1].refusal cannot be converted: Claude has no refusal field; put the text in content.",
    ),
    "unknown message field": (
        ([user(), assistant("x", annotations=[{"type": "url_citation"}])], {}),
        "messages[1].annotations cannot be converted: Claude has no equivalent.",
    ),
    "tool_calls on a user message": (
        ([{"role": "user", "content": "x", "tool_calls": [CALL]}], {}),
        "messages[0].tool_calls cannot be converted: Claude has no equivalent.",
    ),
    "audio part": (
        ([user([text("listen"), {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}])], {}),
        "messages[0].content[1] is an input_audio part; Claude does not take audio.",
    ),
    "unknown part": (
        ([user([{"type": "video_url", "video_url": {}}])], {}),
        "messages[0].content[0] is a 'video_url' part, which has no Anthropic equivalent.",
    ),
    "part without type": (
        ([user(["Hi"])], {}),
        "messages[0].content[0] must be a content part with a string 'type', got 'Hi'.",
    ),
    "text part not a string": (
        ([user([{"type": "text", "text": 5}])], {}),
        "messages[0].content[0].text must be a string, got int.",
    ),
    "content int": (
        ([user(5)], {}),
        "messages[0].content must be a string or a list of content parts, got int.",
    ),
    "user content missing": (([{"role": "user"}], {}), "messages[0].content is missing."),
    "system content missing": (([{"role": "system"}, user()], {}), "messages[0].content is missing."),
    "image in a system message": (
        (
            [
                {
                    "role": "system",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                },
                user(),
            ],
            {},
        ),
        "messages[0].content[0] is a 'image_url' part, which a system message cannot carry; only text "
        "converts.",
    ),
    "refusal part": (
        ([user(), assistant([{"type": "refusal", "refusal": "no"}])], {}),
        "messages[1].content[0] is a 'refusal' part, which an assistant message cannot carry; only text "
        "converts.",
    ),
    "empty user message": (
        ([user("")], {}),
        "messages[0] has no content: its text is empty and it carries nothing else.",
    ),
    "empty assistant message": (
        ([user(), assistant(None)], {}),
        "messages[1] has no content: its text is empty and it carries nothing else.",
    ),
    "only system messages": (
        ([{"role": "system", "content": "S"}], {}),
        "messages holds only system messages; pass at least one user message.",
    ),
    "assistant first": (
        ([{"role": "system", "content": "S"}, assistant(), user()], {}),
        "messages[1].role is 'assistant', but the first message after the system messages must come from "
        "the user.",
    ),
    "image url not a mapping": (
        ([user([{"type": "image_url", "image_url": "https://x/y.png"}])], {}),
        "messages[0].content[0].image_url must be a mapping with a string 'url', got 'https://x/y.png'.",
    ),
    "image data url not base64": (
        ([user([{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}])], {}),
        "messages[0].content[0].image_url.url is a data URL that is not base64-encoded; Claude needs base64.",
    ),
    "image media type": (
        ([user([{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}])], {}),
        "messages[0].content[0].image_url.url has media type 'image/bmp'; Claude takes image/jpeg, "
        "image/png, "
        "image/gif, image/webp.",
    ),
    "image url scheme": (
        ([user([{"type": "image_url", "image_url": {"url": "file:///tmp/cat.png"}}])], {}),
        "messages[0].content[0].image_url.url must be a data: URL or an http(s) URL, got "
        "'file:///tmp/cat.png'.",
    ),
    "file by id": (
        ([user([{"type": "file", "file": {"file_id": "file-abc"}}])], {}),
        "messages[0].content[0].file converts only as a base64 PDF in file_data "
        "('data:application/pdf;base64,...'); "
        "OpenAI file ids and other types have no Anthropic equivalent.",
    ),
    "tool_calls not a list": (
        ([user(), assistant(None, tool_calls=CALL)], {}),
        "messages[1].tool_calls must be a list, got dict.",
    ),
    "tool call not a mapping": (
        ([user(), assistant(None, tool_calls=["call_1"])], {}),
        "messages[1].tool_calls[0] must be a mapping, got str.",
    ),
    "custom tool call": (
        ([user(), assistant(None, tool_calls=[{**CALL, "type": "custom"}])], {}),
        "messages[1].tool_calls[0].type 'custom' has no Anthropic equivalent; only 'function' converts.",
    ),
    "tool call without id": (
        ([user(), assistant(None, tool_calls=[{**CALL, "id": ""}])], {}),
        "messages[1].tool_calls[0].id must be a non-empty string, got ''.",
    ),
    "tool call without name": (
        ([user(), assistant(None, tool_calls=[{**CALL, "function": {"arguments": "{}"}}])], {}),
        "messages[1].tool_calls[0].function must be a mapping with a non-empty 'name'.",
    ),
    "tool call arguments invalid JSON": (
        (
            [
                user(),
                assistant(
                    None, tool_calls=[{**CALL, "function": {"name": "f", "arguments": "{city: Paris"}}]
                ),
            ],
            {},
        ),
        "messages[1].tool_calls[0].function.arguments is not valid JSON: Expecting property name enclosed "
        "in double "
        "quotes: line 1 column 2 (char 1).",
    ),
    "tool call arguments not an object": (
        ([user(), assistant(None, tool_calls=[{**CALL, "function": {"name": "f", "arguments": "[1]"}}])], {}),
        "messages[1].tool_calls[0].function.arguments must be a JSON object in a string, got '[1]'.",
    ),
    "tool message without a call": (
        ([user(), tool()], {}),
        "messages[1].tool_call_id 'call_1' matches no tool_calls id of an earlier assistant message.",
    ),
    "tool message for an unknown id": (
        ([user(), assistant(None, tool_calls=[CALL]), tool(), tool("call_9")], {}),
        "messages[3].tool_call_id 'call_9' matches no tool_calls id of an earlier assistant message.",
    ),
    "tool message without id": (
        ([user(), assistant(None, tool_calls=[CALL]), {"role": "tool", "content": "x"}], {}),
        "messages[2].tool_call_id must be a non-empty string, got None.",
    ),
    "tool message with an image": (
        (
            [
                user(),
                assistant(None, tool_calls=[CALL]),
                tool(content=[{"type": "image_url", "image_url": {}}]),
            ],
            {},
        ),
        "messages[2].content[0] is a 'image_url' part, which a tool message cannot carry; only text "
        "converts.",
    ),
    "reasoning_content without thinking_blocks": (
        ([user(), assistant("x", reasoning_content="hmm")], {}),
        "messages[1].reasoning_content cannot be sent back without its signature; keep the thinking_blocks "
        "that "
        "to_openai() adds, or remove reasoning_content.",
    ),
    "bad thinking block": (
        ([user(), assistant("x", thinking_blocks=[{"type": "text", "text": "x"}])], {}),
        "messages[1].thinking_blocks[0] must be a thinking or redacted_thinking block.",
    ),
    "thinking_blocks not a list": (
        ([user(), assistant("x", thinking_blocks="hmm")], {}),
        "messages[1].thinking_blocks must be a list, got str.",
    ),
    "n above 1": (([user()], {"n": 2}), "n=2 has no Anthropic equivalent; remove it."),
    "logprobs": (([user()], {"logprobs": True}), "logprobs=True has no Anthropic equivalent; remove it."),
    "penalty": (
        ([user()], {"presence_penalty": 0.5}),
        "presence_penalty=0.5 has no Anthropic equivalent; remove it.",
    ),
    "seed": (([user()], {"seed": 7}), "seed=7 has no Anthropic equivalent; remove it."),
    "stream_options": (
        ([user()], {"stream_options": {"include_usage": True}}),
        "stream_options={'include_usage': True} has no Anthropic equivalent; remove it.",
    ),
    "max tokens disagree": (
        ([user()], {"max_tokens": 5, "max_completion_tokens": 6}),
        "max_tokens and max_completion_tokens disagree; pass only one.",
    ),
    "temperature above 1": (
        ([user()], {"temperature": 1.5}),
        "temperature=1.5 is above Claude's maximum of 1 (OpenAI's goes to 2).",
    ),
    "json_object": (
        ([user()], {"response_format": {"type": "json_object"}}),
        "response_format={'type': 'json_object'} has no Anthropic equivalent; only 'text' and json_schema "
        "with a "
        "schema convert.",
    ),
    "reasoning_effort minimal": (
        ([user()], {"reasoning_effort": "minimal"}),
        "reasoning_effort='minimal' has no Anthropic equivalent; use one of ('low', 'medium', 'high', "
        "'xhigh').",
    ),
    "tools not a list": (
        ([user()], {"tools": WEATHER_TOOL}),
        "tools must be a list of tool definitions, got dict.",
    ),
    "non-function tool": (
        ([user()], {"tools": [WEATHER_TOOL, {"type": "web_search"}]}),
        "tools[1].type must be 'function', got 'web_search'; other tools have no equivalent.",
    ),
    "Anthropic-shaped tool": (
        ([user()], {"tools": [{"name": "x", "input_schema": {}}]}),
        "tools[0].type must be 'function', got None; other tools have no equivalent.",
    ),
    "tool without name": (
        ([user()], {"tools": [{"type": "function", "function": {"description": "x"}}]}),
        "tools[0].function must be a mapping with a non-empty 'name'.",
    ),
    "tool with unknown field": (
        ([user()], {"tools": [{"type": "function", "function": {"name": "x", "examples": [1]}}]}),
        "tools[0].function.examples has no Anthropic equivalent.",
    ),
    "tool_choice unknown": (
        ([user()], {"tool_choice": "sometimes"}),
        "tool_choice must be 'auto', 'required', 'none' or {'type': 'function', 'function': {'name': ...}}, "
        "got "
        "'sometimes'.",
    ),
    "tool_choice allowed_tools": (
        ([user()], {"tool_choice": {"type": "allowed_tools", "allowed_tools": {}}}),
        "tool_choice must be 'auto', 'required', 'none' or {'type': 'function', 'function': {'name': ...}}, "
        "got "
        "{'type': 'allowed_tools', 'allowed_tools': {}}.",
    ),
}


@pytest.mark.parametrize("given, message", ERRORS.values(), ids=ERRORS.keys())
def test_from_openai_errors(given, message):
    messages, kwargs = given
    with pytest.raises(InvalidRequest) as caught:
        from_openai(messages, **kwargs)
    assert str(caught.value) == message


def message(content, stop_reason="end_turn", **usage):
    return Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": content,
            "stop_reason": stop_reason,
            "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
        }
    )


def completion(reply, finish_reason="stop", prompt_tokens=10, completion_tokens=5, cached=0):
    return {
        "id": "msg_1",
        "object": "chat.completion",
        "created": 0,
        "model": "claude-sonnet-4-5",
        "choices": [{"index": 0, "message": reply, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


OPENAI_CALL = {
    "id": "toolu_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
RESULTS = {
    "text": (
        message([text("Hello"), text(" world")]),
        completion({"role": "assistant", "content": "Hello world"}),
    ),
    "tool call": (
        message(
            [
                text("Checking."),
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
            "tool_use",
        ),
        completion({"role": "assistant", "content": "Checking.", "tool_calls": [OPENAI_CALL]}, "tool_calls"),
    ),
    "tool call only": (
        message(
            [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
            "tool_use",
        ),
        completion({"role": "assistant", "content": None, "tool_calls": [OPENAI_CALL]}, "tool_calls"),
    ),
    "thinking": (
        message(
            [
                {"type": "thinking", "thinking": "first", "signature": "s1"},
                {"type": "redacted_thinking", "data": "xyz"},
                {"type": "thinking", "thinking": "second", "signature": "s2"},
                text("Answer"),
            ]
        ),
        completion(
            {
                "role": "assistant",
                "content": "Answer",
                "reasoning_content": "first\n\nsecond",
                "thinking_blocks": [
                    {"type": "thinking", "thinking": "first", "signature": "s1"},
                    {"type": "redacted_thinking", "data": "xyz"},
                    {"type": "thinking", "thinking": "second", "signature": "s2"},
                ],
            }
        ),
    ),
    "max_tokens": (
        message([text("Once")], "max_tokens"),
        completion({"role": "assistant", "content": "Once"}, "length"),
    ),
    "stop_sequence": (
        message([text("x")], "stop_sequence"),
        completion({"role": "assistant", "content": "x"}),
    ),
    "refusal": (message([], "refusal"), completion({"role": "assistant", "content": None}, "content_filter")),
    "context window": (
        message([text("x")], "model_context_window_exceeded"),
        completion({"role": "assistant", "content": "x"}, "length"),
    ),
    "pause_turn": (message([text("x")], "pause_turn"), completion({"role": "assistant", "content": "x"})),
    "partial": (message([text("x")], None), completion({"role": "assistant", "content": "x"}, None)),
    "cache usage": (
        message([text("x")], cache_creation_input_tokens=100, cache_read_input_tokens=1000),
        completion({"role": "assistant", "content": "x"}, prompt_tokens=1110, cached=1000),
    ),
}


@pytest.mark.parametrize("result, expected", RESULTS.values(), ids=RESULTS.keys())
def test_to_openai(result, expected):
    assert to_openai(result) == expected
    assert to_openai(result.model_dump()) == expected


def test_to_openai_created():
    assert to_openai(message([text("x")]), created=1_700_000_000)["created"] == 1_700_000_000


@pytest.mark.parametrize(
    "result, error",
    [
        (
            message([{"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}]),
            "content[0] is a 'server_tool_use' block, which has no chat-completions equivalent.",
        ),
        ("Hello", "message must be an anthropic Message or a dict, got str."),
    ],
)
def test_to_openai_errors(result, error):
    with pytest.raises(InvalidRequest) as caught:
        to_openai(result)
    assert str(caught.value) == error


@pytest.mark.parametrize("name", ["text", "tool call", "tool call only", "thinking"])
def test_round_trip(name):
    result, _ = RESULTS[name]
    reply = to_openai(result)["choices"][0]["message"]
    history = [user("Question"), reply]
    if "tool_calls" in reply:
        history.append(tool("toolu_1", "18C"))
    converted = from_openai(history, model="claude-sonnet-4-5", max_tokens=100)
    original = result.to_param()["content"]
    blocks = [block.model_dump(exclude_none=True, exclude={"caller"}) for block in original]
    texts = [block["text"] for block in blocks if block["type"] == "text"]
    expected = [block for block in blocks if block["type"] != "text"]
    if texts:  # text blocks come back joined, after the thinking blocks
        thinking = [block for block in expected if "thinking" in block["type"]]
        expected = [*thinking, text("".join(texts)), *[block for block in expected if block not in thinking]]
    content = converted["messages"][1]["content"]
    assert ([text(content)] if isinstance(content, str) else content) == expected
    validate_params(converted)
