"""Checks on `messages.create` parameters before anything is sent.

`validate_params` raises `InvalidRequest` for what the Messages API would refuse with a 400, with one
sentence naming the field and, inside `messages`, the index (`messages[2].content[0].tool_use_id`).

Invariants:
- Only known fields are checked; unknown top-level keys pass, for forward compatibility.
- What the API accepts passes: consecutive turns of one role (the API merges them), a missing
  `max_tokens` (longcall fills in the model's limit), `max_tokens=0` (pre-warms the prompt cache),
  content blocks given as SDK model objects (e.g. `response.content` appended as is).
- Checks follow turns, not messages: a `tool_result` must answer a `tool_use` of the assistant turn
  just before it, and that turn's every `tool_use` needs a `tool_result` in the next user turn.
- Sampling parameters (`temperature`, `top_p`, `top_k`, as keywords or in `extra_body`) follow the
  API version: from 2026-10-21 (what anthropic 2.x sends) the API refuses them, even at their defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from ._errors import InvalidRequest

__all__ = ["validate_params"]

_THINKING_TYPES = ("enabled", "disabled", "adaptive", "between_tools")
_INTERLEAVED_THINKING = "interleaved-thinking-2025-05-14"
_MIN_THINKING_BUDGET = 1024
_SAMPLING_REMOVED_IN = "2026-10-21"
_SAMPLING = ("temperature", "top_p", "top_k")


def _sdk_api_version() -> str:
    try:
        from anthropic._constants import ANTHROPIC_API_VERSION
    except ImportError:  # an SDK that moved it: assume the current version
        return _SAMPLING_REMOVED_IN
    return str(ANTHROPIC_API_VERSION)


def _kind(value: object) -> str:
    return type(value).__name__


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_list(value: object) -> TypeGuard[list[Any] | tuple[Any, ...]]:
    return isinstance(value, (list, tuple))


def _field(block: object, name: str) -> Any:
    """A block's field, whether the block is a dict or an SDK model object."""
    return block.get(name) if isinstance(block, Mapping) else getattr(block, name, None)


def _betas(params: Mapping[str, Any]) -> str:
    betas = params.get("betas") or ()
    if isinstance(betas, str):
        betas = (betas,)
    headers = params.get("extra_headers") or {}
    header = headers.get("anthropic-beta", "") if isinstance(headers, Mapping) else ""
    return ",".join([*(str(beta) for beta in betas), str(header or "")])


def validate_params(params: Mapping[str, Any], *, api_version: str | None = None) -> None:
    """Check `messages.create` keyword arguments.

    Args:
        params: the keyword arguments that would be passed to `client.messages.create`.
        api_version: the `anthropic-version` the client sends, when it is not the SDK's own (a client
            made with that default header); an `anthropic-version` in `extra_headers` wins over both.

    Raises:
        InvalidRequest: a field is missing, of the wrong type or out of range; the message names it.
    """
    if not isinstance(params, Mapping):
        raise InvalidRequest(
            f"The request parameters must be a mapping of keyword arguments, got {_kind(params)}."
        )
    _check_model(params)
    _check_max_tokens(params)
    _check_messages(params)
    _check_system(params.get("system"))
    _check_sampling(params, api_version)
    _check_stop_sequences(params.get("stop_sequences"))
    _check_thinking(params)
    _check_tools(params.get("tools"))
    _check_tool_choice(params.get("tool_choice"))


def _check_model(params: Mapping[str, Any]) -> None:
    if "model" not in params or params["model"] is None:
        raise InvalidRequest("model is missing; pass a model name such as 'claude-sonnet-4-5'.")
    model = params["model"]
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest(f"model must be a non-empty string, got {model!r} ({_kind(model)}).")


def _check_max_tokens(params: Mapping[str, Any]) -> None:
    max_tokens = params.get("max_tokens")
    if max_tokens is not None and (not _is_int(max_tokens) or max_tokens < 0):
        raise InvalidRequest(
            f"max_tokens must be a whole number (at least 1, or 0 to only pre-warm the prompt cache), "
            f"got {max_tokens!r} ({_kind(max_tokens)})."
        )


def _check_messages(params: Mapping[str, Any]) -> None:
    if "messages" not in params:
        raise InvalidRequest(
            "messages is missing; pass a list such as [{'role': 'user', 'content': 'Hello'}]."
        )
    messages = params["messages"]
    if not _is_list(messages):
        raise InvalidRequest(f"messages must be a list of messages, got {_kind(messages)}.")
    if not messages:
        raise InvalidRequest("messages is empty; pass at least one user message.")

    previous_role: str | None = None
    turn_tool_uses: dict[str, int] = {}  # tool_use ids of the assistant turn being read
    open_tool_uses: dict[str, int] = {}  # tool_use ids the current user turn must answer
    answered: set[str] = set()
    every_tool_use: set[str] = set()
    user_turn_start = 0
    last = len(messages) - 1
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, Mapping):
            raise InvalidRequest(
                f"{where} must be a mapping with 'role' and 'content', got {_kind(message)}."
            )
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise InvalidRequest(f"{where}.role must be 'user' or 'assistant', got {role!r}.")
        if index == 0 and role != "user":
            raise InvalidRequest(f"{where}.role must be 'user': the first message must come from the user.")
        if role != previous_role:
            if previous_role == "user":
                _check_answered(open_tool_uses, answered, user_turn_start)
            if role == "user":
                open_tool_uses, answered, user_turn_start = turn_tool_uses, set(), index
            turn_tool_uses = {}
        previous_role = role

        if "content" not in message:
            raise InvalidRequest(f"{where}.content is missing; pass a string or a list of content blocks.")
        content = message["content"]
        final_assistant = index == last and role == "assistant"
        if isinstance(content, str):
            if not content and not final_assistant:
                raise InvalidRequest(
                    f"{where}.content is empty; only a final assistant message may be empty."
                )
            if content and not content.strip() and not final_assistant:
                raise InvalidRequest(
                    f"{where}.content is only whitespace, which the API refuses; put text in it."
                )
            if final_assistant and content != content.rstrip():
                raise InvalidRequest(
                    f"{where}.content ends with whitespace, which the API refuses in a final "
                    "assistant message; strip it."
                )
            continue
        if not _is_list(content):
            raise InvalidRequest(
                f"{where}.content must be a string or a list of content blocks, got {_kind(content)}."
            )
        if not content and not final_assistant:
            raise InvalidRequest(f"{where}.content is empty; only a final assistant message may be empty.")
        for position, block in enumerate(content):
            at = f"{where}.content[{position}]"
            kind = _field(block, "type")
            if not isinstance(kind, str):
                raise InvalidRequest(
                    f"{at} must be a content block with a string 'type', got {_kind(block)}."
                )
            if kind == "text":
                text = _field(block, "text")
                if not isinstance(text, str) or not text:
                    raise InvalidRequest(f"{at}.text must be a non-empty string, got {text!r}.")
                if not text.strip() and not final_assistant:
                    raise InvalidRequest(
                        f"{at}.text is only whitespace, which the API refuses; remove the block or put text "
                        "in it."
                    )
                if final_assistant and position == len(content) - 1 and text != text.rstrip():
                    raise InvalidRequest(
                        f"{at}.text ends with whitespace, which the API refuses in a final "
                        "assistant message; strip it."
                    )
            elif kind == "tool_use" and role == "assistant":
                tool_use_id = _field(block, "id")
                if not isinstance(tool_use_id, str) or not tool_use_id:
                    raise InvalidRequest(f"{at}.id must be a non-empty string, got {tool_use_id!r}.")
                turn_tool_uses[tool_use_id] = index
                every_tool_use.add(tool_use_id)
            elif kind == "tool_result":
                tool_use_id = _field(block, "tool_use_id")
                if not isinstance(tool_use_id, str):
                    raise InvalidRequest(f"{at}.tool_use_id must be a string, got {_kind(tool_use_id)}.")
                if role != "user" or tool_use_id not in open_tool_uses:
                    if tool_use_id in every_tool_use:
                        raise InvalidRequest(
                            f"{at}.tool_use_id {tool_use_id!r} answers a tool_use of an older turn; a "
                            "tool_result must answer a tool_use of the assistant turn just before it."
                        )
                    raise InvalidRequest(
                        f"{at}.tool_use_id {tool_use_id!r} matches no tool_use block of an earlier assistant "
                        "message."
                    )
                answered.add(tool_use_id)
    if previous_role == "user":
        _check_answered(open_tool_uses, answered, user_turn_start)


def _check_answered(open_tool_uses: dict[str, int], answered: set[str], user_turn_start: int) -> None:
    for tool_use_id, asked_at in open_tool_uses.items():
        if tool_use_id not in answered:
            raise InvalidRequest(
                f"messages[{user_turn_start}] has no tool_result for tool_use_id {tool_use_id!r} of "
                f"messages[{asked_at}]; every tool_use needs a tool_result in the next user turn."
            )


def _check_system(system: object) -> None:
    if system is None or isinstance(system, str):
        return
    if not _is_list(system):
        raise InvalidRequest(f"system must be a string or a list of text blocks, got {_kind(system)}.")
    for position, block in enumerate(system):
        if _field(block, "type") != "text" or not isinstance(_field(block, "text"), str):
            raise InvalidRequest(f"system[{position}] must be a text block {{'type': 'text', 'text': ...}}.")


def _check_sampling(params: Mapping[str, Any], api_version: str | None) -> None:
    extra_body = params.get("extra_body")
    extra = extra_body if isinstance(extra_body, Mapping) else {}
    headers = params.get("extra_headers")
    header = headers.get("anthropic-version") if isinstance(headers, Mapping) else None
    version = str(header or api_version or _sdk_api_version())
    for name in _SAMPLING:
        value = params.get(name, extra.get(name))
        if value is None:
            continue
        if version >= _SAMPLING_REMOVED_IN:
            raise InvalidRequest(
                f"{name} is refused by API version {version} (the API answers 400 even at its default); "
                "remove it, or send it only with the header anthropic-version: 2023-06-01."
            )
        if name == "top_k":
            if not _is_int(value) or value < 1:
                raise InvalidRequest(f"top_k must be a whole number of at least 1, got {value!r}.")
        elif name == "top_p":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise InvalidRequest(f"top_p must be a number from 0 to 1, got {value!r}.")
        else:
            _check_temperature(value)


def _check_temperature(temperature: object) -> None:
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not 0 <= temperature <= 1
    ):
        raise InvalidRequest(f"temperature must be a number from 0 to 1, got {temperature!r}.")


def _check_stop_sequences(stop_sequences: object) -> None:
    if stop_sequences is None:
        return
    if not _is_list(stop_sequences):
        raise InvalidRequest(f"stop_sequences must be a list of strings, got {_kind(stop_sequences)}.")
    for position, sequence in enumerate(stop_sequences):
        if not isinstance(sequence, str):
            raise InvalidRequest(f"stop_sequences[{position}] must be a string, got {_kind(sequence)}.")


def _check_thinking(params: Mapping[str, Any]) -> None:
    thinking = params.get("thinking")
    if thinking is None:
        return
    if not isinstance(thinking, Mapping):
        raise InvalidRequest(
            f"thinking must be a mapping such as {{'type': 'adaptive'}}, got {_kind(thinking)}."
        )
    kind = thinking.get("type")
    if kind not in _THINKING_TYPES:
        raise InvalidRequest(f"thinking.type must be one of {', '.join(_THINKING_TYPES)}; got {kind!r}.")
    if kind != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if not _is_int(budget) or budget < _MIN_THINKING_BUDGET:
        raise InvalidRequest(
            f"thinking.budget_tokens must be a whole number >= {_MIN_THINKING_BUDGET} when thinking is "
            f"enabled, got {budget!r}."
        )
    max_tokens = params.get("max_tokens")
    # With interleaved thinking the budget spans the whole turn and may exceed max_tokens.
    if _is_int(max_tokens) and budget >= max_tokens and _INTERLEAVED_THINKING not in _betas(params):
        raise InvalidRequest(
            f"thinking.budget_tokens ({budget}) must be less than max_tokens ({max_tokens}); "
            "raise max_tokens or lower the budget."
        )


def _check_tools(tools: object) -> None:
    if tools is None:
        return
    if not _is_list(tools):
        raise InvalidRequest(f"tools must be a list of tool definitions, got {_kind(tools)}.")
    for position, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise InvalidRequest(f"tools[{position}] must be a mapping, got {_kind(tool)}.")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"tools[{position}].name must be a non-empty string, got {name!r}.")


def _check_tool_choice(tool_choice: object) -> None:
    if tool_choice is None:
        return
    if not isinstance(tool_choice, Mapping) or not isinstance(tool_choice.get("type"), str):
        raise InvalidRequest(
            f"tool_choice must be a mapping such as {{'type': 'auto'}}, got {tool_choice!r}."
        )
    if tool_choice["type"] == "tool" and not isinstance(tool_choice.get("name"), str):
        raise InvalidRequest("tool_choice.name must name the tool when tool_choice.type is 'tool'.")
