"""OpenAI chat-completions messages in, Anthropic Messages API parameters out, and back for results.

`from_openai(messages, tools=None, tool_choice=None, **params)` returns keyword arguments for
`client.messages.create`:

- `system` and `developer` messages move to `system`, in order, as a list of text blocks (one per
  string or text part, so nothing is joined with an invented separator).
- Consecutive turns of one role are merged, content blocks concatenated; a turn made of one plain
  string stays a string. In a merged user turn the `tool_result` blocks come first, as the API
  requires; the other blocks keep their order.
- Assistant `tool_calls` become `tool_use` blocks (`input` is the parsed `arguments`), `tool`
  messages `tool_result` blocks in a user turn; `image_url` parts (data URLs and http(s) URLs) become
  image blocks, PDF `file` parts with `file_data` document blocks.
- `thinking_blocks` on an assistant message (as `to_openai` writes them) become thinking blocks
  again; `reasoning_content` alone cannot be sent back (Claude needs the signature) and is refused.
- `stop` becomes `stop_sequences`, `max_completion_tokens` `max_tokens`, `user`/`safety_identifier`
  `metadata.user_id`, `response_format` json_schema `output_config.format`, `reasoning_effort`
  `output_config.effort`, `parallel_tool_calls=False` `tool_choice.disable_parallel_tool_use`.
  Other keyword arguments pass through unchanged (so Anthropic ones such as `thinking` work).

Anything without an Anthropic equivalent raises `InvalidRequest` naming the message index and field;
nothing is dropped silently. Two deliberate exceptions, both carrying no content: `image_url.detail`
(a resolution hint Claude has no equivalent for) is ignored, and fields set to None or to their
neutral value (`n=1`, `logprobs=False`, a penalty of 0, empty `annotations`...) are treated as absent.

`to_openai(message)` turns an `anthropic.types.Message` (or its dict) into a chat.completion dict.
Thinking has no place in that shape, so it goes to `choices[0].message["reasoning_content"]` (the
thinking texts joined by a blank line) and `["thinking_blocks"]` (the blocks with their signatures,
which `from_openai` accepts back), the convention LiteLLM uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import InvalidRequest

__all__ = ["from_openai", "to_openai"]

_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_DATA_URL = re.compile(r"data:(?P<media_type>[\w.+-]+/[\w.+-]+)(?:;[^;,]*)*;base64,(?P<data>.*)", re.DOTALL)

# Message fields each role may carry; any other field that is set raises.
_ALLOWED_FIELDS = {
    "system": {"role", "content"},
    "developer": {"role", "content"},
    "user": {"role", "content"},
    "assistant": {"role", "content", "tool_calls", "reasoning_content", "thinking_blocks"},
    "tool": {"role", "content", "tool_call_id"},
}
_WHY_NOT = {
    "name": "Claude has no per-message participant names; put the name in the content",
    "function_call": "it is OpenAI's legacy function calling; use tool_calls",
    "audio": "Claude does not take audio",
    "refusal": "Claude has no refusal field; put the text in content",
}
# OpenAI parameters with no Anthropic equivalent, and the value that means "not used".
_NEUTRAL_PARAMS: dict[str, Any] = {
    "n": 1,
    "logprobs": False,
    "top_logprobs": 0,
    "frequency_penalty": 0,
    "presence_penalty": 0,
    "logit_bias": {},
    "seed": None,
    "store": False,
    "modalities": ["text"],
    "audio": None,
    "prediction": None,
    "web_search_options": None,
    "functions": None,
    "function_call": None,
    "stream_options": None,
    "verbosity": None,
    "prompt_cache_key": None,
}
_EFFORTS = ("low", "medium", "high", "xhigh")
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _kind(value: object) -> str:
    return type(value).__name__


def _is_set(value: object) -> bool:
    return value is not None and value != [] and value != {}


def from_openai(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: str | Mapping[str, Any] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Convert an OpenAI chat-completions request to `messages.create` keyword arguments.

    Args:
        messages: OpenAI chat messages (`system`, `developer`, `user`, `assistant`, `tool`).
        tools: OpenAI tool definitions, `{"type": "function", "function": {...}}`.
        tool_choice: "auto", "required", "none" or `{"type": "function", "function": {"name": ...}}`.
        **params: other chat-completions parameters (`model`, `max_tokens`, `stop`, ...), converted
            where they differ, passed through otherwise.

    Returns:
        A dict with `messages` and, when present, `system`, `tools`, `tool_choice` and the parameters.

    Raises:
        InvalidRequest: the input is malformed or uses something Claude has no equivalent for; the
            message names the index and the field.
    """
    if not isinstance(messages, (list, tuple)):
        raise InvalidRequest(f"messages must be a list of OpenAI chat messages, got {_kind(messages)}.")
    if not messages:
        raise InvalidRequest("messages is empty; pass at least one user message.")
    converter = _Converter()
    for index, message in enumerate(messages):
        converter.add(index, message)
    result: dict[str, Any] = {**_convert_params(params)}
    if converter.system:
        result["system"] = converter.system
    result["messages"] = converter.finish()
    if tools is not None:
        result["tools"] = _convert_tools(tools)
    choice = _convert_tool_choice(tool_choice, params.get("parallel_tool_calls"))
    if choice is not None:
        result["tool_choice"] = choice
    return result


class _Turn:
    def __init__(self, role: str, start: int) -> None:
        self.role = role
        self.start = start
        self.blocks: list[dict[str, Any]] = []
        self.plain: str | None = None  # the content while the turn is one plain string

    def content(self) -> str | list[dict[str, Any]]:
        if self.plain is not None:
            return self.plain
        if self.role == "user":  # tool results must open a user turn
            results = [block for block in self.blocks if block["type"] == "tool_result"]
            return results + [block for block in self.blocks if block["type"] != "tool_result"]
        return self.blocks


class _Converter:
    def __init__(self) -> None:
        self.system: list[dict[str, Any]] = []
        self.turns: list[_Turn] = []
        self.tool_call_ids: set[str] = set()

    def add(self, index: int, message: object) -> None:
        where = f"messages[{index}]"
        if not isinstance(message, Mapping):
            raise InvalidRequest(
                f"{where} must be a mapping with 'role' and 'content', got {_kind(message)}."
            )
        role = message.get("role")
        if role == "function":
            raise InvalidRequest(f"{where}.role 'function' is OpenAI's legacy function calling; use 'tool'.")
        if role not in _ALLOWED_FIELDS:
            raise InvalidRequest(
                f"{where}.role must be one of {', '.join(_ALLOWED_FIELDS)}, got {role!r}; Claude has no "
                "equivalent for other roles."
            )
        for field, value in message.items():
            if field not in _ALLOWED_FIELDS[role] and _is_set(value):
                why = _WHY_NOT.get(field, "Claude has no equivalent")
                raise InvalidRequest(f"{where}.{field} cannot be converted: {why}.")
        content = message.get("content")
        if role in ("system", "developer"):
            self.system.extend(_text_parts(content, where, "a system message"))
        elif role == "user":
            self._append("user", index, _user_blocks(content, where), content)
        elif role == "assistant":
            self._append("assistant", index, self._assistant_blocks(message, where), content)
        else:
            self._append("user", index, [self._tool_result(message, where)], None)

    def _append(self, role: str, index: int, blocks: list[dict[str, Any]], content: object) -> None:
        if not blocks:
            raise InvalidRequest(
                f"messages[{index}] has no content: its text is empty and it carries nothing else."
            )
        if self.turns and self.turns[-1].role == role:
            turn = self.turns[-1]
            turn.plain = None
        else:
            turn = _Turn(role, index)
            self.turns.append(turn)
            if isinstance(content, str) and len(blocks) == 1:
                turn.plain = content
        turn.blocks.extend(blocks)

    def _assistant_blocks(self, message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
        blocks = _thinking_blocks(message, where)
        blocks.extend(_text_parts(message.get("content"), where, "an assistant message", optional=True))
        tool_calls = message.get("tool_calls")
        if tool_calls is None:
            return blocks
        if not isinstance(tool_calls, (list, tuple)):
            raise InvalidRequest(f"{where}.tool_calls must be a list, got {_kind(tool_calls)}.")
        for position, call in enumerate(tool_calls):
            blocks.append(_tool_use(call, f"{where}.tool_calls[{position}]"))
            self.tool_call_ids.add(blocks[-1]["id"])
        return blocks

    def _tool_result(self, message: Mapping[str, Any], where: str) -> dict[str, Any]:
        tool_call_id = message.get("tool_call_id")
        if not isinstance(tool_call_id, str) or not tool_call_id:
            raise InvalidRequest(f"{where}.tool_call_id must be a non-empty string, got {tool_call_id!r}.")
        if tool_call_id not in self.tool_call_ids:
            raise InvalidRequest(
                f"{where}.tool_call_id {tool_call_id!r} matches no tool_calls id of an earlier assistant "
                "message."
            )
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_call_id}
        content = message.get("content")
        if isinstance(content, str):
            if content:
                block["content"] = content
        else:
            parts = _text_parts(content, where, "a tool message")
            if parts:
                block["content"] = parts
        return block

    def finish(self) -> list[dict[str, Any]]:
        if not self.turns:
            raise InvalidRequest("messages holds only system messages; pass at least one user message.")
        first = self.turns[0]
        if first.role != "user":
            raise InvalidRequest(
                f"messages[{first.start}].role is {first.role!r}, but the first message after the system "
                "messages must come from the user."
            )
        return [{"role": turn.role, "content": turn.content()} for turn in self.turns]


def _parts(content: object, where: str) -> Sequence[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, (list, tuple)):
        raise InvalidRequest(
            f"{where}.content must be a string or a list of content parts, got {_kind(content)}."
        )
    return content


def _part_type(part: object, at: str) -> str:
    if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
        raise InvalidRequest(f"{at} must be a content part with a string 'type', got {part!r}.")
    kind: str = part["type"]
    if kind == "input_audio":
        raise InvalidRequest(f"{at} is an input_audio part; Claude does not take audio.")
    return kind


def _text_block(part: Mapping[str, Any], at: str) -> list[dict[str, Any]]:
    text = part.get("text")
    if not isinstance(text, str):
        raise InvalidRequest(f"{at}.text must be a string, got {_kind(text)}.")
    return [{"type": "text", "text": text}] if text else []


def _text_parts(content: object, where: str, what: str, *, optional: bool = False) -> list[dict[str, Any]]:
    if content is None and optional:
        return []
    if content is None:
        raise InvalidRequest(f"{where}.content is missing.")
    blocks: list[dict[str, Any]] = []
    for position, part in enumerate(_parts(content, where)):
        at = f"{where}.content[{position}]"
        kind = _part_type(part, at)
        if kind != "text":
            raise InvalidRequest(f"{at} is a {kind!r} part, which {what} cannot carry; only text converts.")
        blocks.extend(_text_block(part, at))
    return blocks


def _user_blocks(content: object, where: str) -> list[dict[str, Any]]:
    if content is None:
        raise InvalidRequest(f"{where}.content is missing.")
    blocks: list[dict[str, Any]] = []
    for position, part in enumerate(_parts(content, where)):
        at = f"{where}.content[{position}]"
        kind = _part_type(part, at)
        if kind == "text":
            blocks.extend(_text_block(part, at))
        elif kind == "image_url":
            blocks.append(_image_block(part.get("image_url"), f"{at}.image_url"))
        elif kind == "file":
            blocks.append(_document_block(part.get("file"), f"{at}.file"))
        else:
            raise InvalidRequest(f"{at} is a {kind!r} part, which has no Anthropic equivalent.")
    return blocks


def _image_block(image_url: object, at: str) -> dict[str, Any]:
    url = image_url.get("url") if isinstance(image_url, Mapping) else None
    if not isinstance(url, str):
        raise InvalidRequest(f"{at} must be a mapping with a string 'url', got {image_url!r}.")
    if url.startswith("data:"):
        match = _DATA_URL.fullmatch(url)
        if match is None:
            raise InvalidRequest(f"{at}.url is a data URL that is not base64-encoded; Claude needs base64.")
        media_type = match["media_type"].lower().replace("image/jpg", "image/jpeg")
        if media_type not in _IMAGE_TYPES:
            raise InvalidRequest(
                f"{at}.url has media type {media_type!r}; Claude takes {', '.join(_IMAGE_TYPES)}."
            )
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": match["data"]},
        }
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest(f"{at}.url must be a data: URL or an http(s) URL, got {url[:40]!r}.")


def _document_block(file: object, at: str) -> dict[str, Any]:
    data = file.get("file_data") if isinstance(file, Mapping) else None
    match = _DATA_URL.fullmatch(data) if isinstance(data, str) else None
    if match is None or match["media_type"].lower() != "application/pdf":
        raise InvalidRequest(
            f"{at} converts only as a base64 PDF in file_data ('data:application/pdf;base64,...'); "
            "OpenAI file ids and other types have no Anthropic equivalent."
        )
    return {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": match["data"]},
    }


def _thinking_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    thinking = message.get("thinking_blocks")
    if not thinking:
        if message.get("reasoning_content"):
            raise InvalidRequest(
                f"{where}.reasoning_content cannot be sent back without its signature; keep the "
                "thinking_blocks that to_openai() adds, or remove reasoning_content."
            )
        return []
    if not isinstance(thinking, (list, tuple)):
        raise InvalidRequest(f"{where}.thinking_blocks must be a list, got {_kind(thinking)}.")
    blocks: list[dict[str, Any]] = []
    for position, block in enumerate(thinking):
        if not isinstance(block, Mapping) or block.get("type") not in ("thinking", "redacted_thinking"):
            raise InvalidRequest(
                f"{where}.thinking_blocks[{position}] must be a thinking or redacted_thinking block."
            )
        blocks.append(dict(block))
    return blocks


def _tool_use(call: object, at: str) -> dict[str, Any]:
    if not isinstance(call, Mapping):
        raise InvalidRequest(f"{at} must be a mapping, got {_kind(call)}.")
    if call.get("type", "function") != "function":
        raise InvalidRequest(
            f"{at}.type {call.get('type')!r} has no Anthropic equivalent; only 'function' converts."
        )
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{at}.id must be a non-empty string, got {call_id!r}.")
    function = call.get("function")
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(name, str) or not name:
        raise InvalidRequest(f"{at}.function must be a mapping with a non-empty 'name'.")
    arguments = function.get("arguments") or "{}"
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else None
    except ValueError as exc:
        raise InvalidRequest(f"{at}.function.arguments is not valid JSON: {exc}.") from exc
    if not isinstance(parsed, dict):
        raise InvalidRequest(f"{at}.function.arguments must be a JSON object in a string, got {arguments!r}.")
    return {"type": "tool_use", "id": call_id, "name": name, "input": parsed}


def _convert_tools(tools: object) -> list[dict[str, Any]]:
    if not isinstance(tools, (list, tuple)):
        raise InvalidRequest(f"tools must be a list of tool definitions, got {_kind(tools)}.")
    converted: list[dict[str, Any]] = []
    for position, tool in enumerate(tools):
        at = f"tools[{position}]"
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, Mapping) else _kind(tool)
            raise InvalidRequest(
                f"{at}.type must be 'function', got {kind!r}; other tools have no equivalent."
            )
        function = tool.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(name, str) or not name:
            raise InvalidRequest(f"{at}.function must be a mapping with a non-empty 'name'.")
        for field, value in function.items():
            if field not in ("name", "description", "parameters", "strict") and _is_set(value):
                raise InvalidRequest(f"{at}.function.{field} has no Anthropic equivalent.")
        definition: dict[str, Any] = {"name": name}
        if function.get("description") is not None:
            definition["description"] = function["description"]
        definition["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
        if function.get("strict") is not None:
            definition["strict"] = function["strict"]
        converted.append(definition)
    return converted


def _convert_tool_choice(tool_choice: object, parallel_tool_calls: object) -> dict[str, Any] | None:
    choice: dict[str, Any] | None
    if tool_choice is None:
        choice = None
    elif tool_choice in ("auto", "required", "none"):
        choice = {"type": {"auto": "auto", "required": "any", "none": "none"}[str(tool_choice)]}
    elif (
        isinstance(tool_choice, Mapping)
        and tool_choice.get("type") == "function"
        and isinstance(tool_choice.get("function"), Mapping)
        and isinstance(tool_choice["function"].get("name"), str)
    ):
        choice = {"type": "tool", "name": tool_choice["function"]["name"]}
    else:
        raise InvalidRequest(
            f"tool_choice must be 'auto', 'required', 'none' or {{'type': 'function', 'function': "
            f"{{'name': ...}}}}, got {tool_choice!r}."
        )
    if parallel_tool_calls is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":  # with no tool use there is nothing to serialize
            choice["disable_parallel_tool_use"] = True
    return choice


def _convert_params(params: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    output_config: dict[str, Any] = {}
    for key, value in params.items():
        if value is None or key == "parallel_tool_calls":
            continue
        if key in _NEUTRAL_PARAMS:
            if value != _NEUTRAL_PARAMS[key]:
                raise InvalidRequest(f"{key}={value!r} has no Anthropic equivalent; remove it.")
        elif key in ("max_tokens", "max_completion_tokens"):
            if converted.get("max_tokens", value) != value:
                raise InvalidRequest("max_tokens and max_completion_tokens disagree; pass only one.")
            converted["max_tokens"] = value
        elif key in ("stop", "stop_sequences"):
            converted["stop_sequences"] = [value] if isinstance(value, str) else list(value)
        elif key in ("user", "safety_identifier"):
            converted["metadata"] = {"user_id": value}
        elif key == "temperature" and isinstance(value, (int, float)) and value > 1:
            raise InvalidRequest(f"temperature={value} is above Claude's maximum of 1 (OpenAI's goes to 2).")
        elif key == "response_format":
            output_config.update(_response_format(value))
        elif key == "reasoning_effort":
            if value not in _EFFORTS:
                raise InvalidRequest(
                    f"reasoning_effort={value!r} has no Anthropic equivalent; use one of {_EFFORTS}."
                )
            output_config["effort"] = value
        else:
            converted[key] = value
    if output_config:
        converted["output_config"] = {**converted.get("output_config", {}), **output_config}
    return converted


def _response_format(value: object) -> dict[str, Any]:
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "text":
        return {}
    if kind == "json_schema" and isinstance(value, Mapping):
        spec = value.get("json_schema")
        if isinstance(spec, Mapping) and isinstance(spec.get("schema"), Mapping):
            return {"format": {"type": "json_schema", "schema": dict(spec["schema"])}}
    raise InvalidRequest(
        f"response_format={value!r} has no Anthropic equivalent; only 'text' and json_schema with a "
        "schema convert."
    )


def _as_dict(value: object, what: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        dumped: dict[str, Any] = dump()
        return dumped
    raise InvalidRequest(f"{what} must be an anthropic Message or a dict, got {_kind(value)}.")


def to_openai(message: object, *, created: int = 0) -> dict[str, Any]:
    """Convert a Messages API result to an OpenAI chat.completion dict.

    Args:
        message: an `anthropic.types.Message` or a dict of the same shape.
        created: the `created` timestamp to report; Anthropic messages carry none.

    Returns:
        `{"id", "object": "chat.completion", "created", "model", "choices": [...], "usage": {...}}`.
        `finish_reason` is None for a partial message (no `stop_reason`). `prompt_tokens` counts
        cached input too, as OpenAI's does; the cache reads are in `prompt_tokens_details`.

    Raises:
        InvalidRequest: a content block (e.g. a server tool result) has no chat-completions equivalent.
    """
    data = _as_dict(message, "message")
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    thoughts: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    for position, item in enumerate(data.get("content") or []):
        block = _as_dict(item, f"content[{position}]")
        kind = block.get("type")
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
            tool_calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {"name": block["name"], "arguments": arguments},
                }
            )
        elif kind == "thinking":
            thoughts.append(block["thinking"])
            thinking_blocks.append(
                {"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]}
            )
        elif kind == "redacted_thinking":
            thinking_blocks.append({"type": "redacted_thinking", "data": block["data"]})
        else:
            raise InvalidRequest(
                f"content[{position}] is a {kind!r} block, which has no chat-completions equivalent."
            )
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    if thoughts:
        reply["reasoning_content"] = "\n\n".join(thoughts)
    if thinking_blocks:
        reply["thinking_blocks"] = thinking_blocks
    stop_reason = data.get("stop_reason")
    finish_reason = None if stop_reason is None else _FINISH_REASONS.get(stop_reason, "stop")
    usage = _as_dict(data.get("usage") or {}, "usage")
    cache_read = usage.get("cache_read_input_tokens") or 0
    prompt_tokens = (
        (usage.get("input_tokens") or 0) + (usage.get("cache_creation_input_tokens") or 0) + cache_read
    )
    completion_tokens = usage.get("output_tokens") or 0
    return {
        "id": data.get("id"),
        "object": "chat.completion",
        "created": created,
        "model": data.get("model"),
        "choices": [{"index": 0, "message": reply, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cache_read},
        },
    }
