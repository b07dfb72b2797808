"""What the real Messages API refuses, checked the way it checks it. No I/O.

Every refusal here has the API's status, error type and message wording (as the API has been seen to
answer; see docs/emulator.md for the list). The model facts (output limits, context windows, prefill,
thinking modes) come from longcall's own catalog (`longcall._catalog`), so the emulator and the library
cannot disagree about a limit.

The checks run in the API's order: credentials (401), the version header (400), the body's shape (400,
in `_model.validate`), the model name (404), then what depends on the model and the request together.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .._catalog import ModelInfo
from ._model import RequestError, forced_tool, invalid, signature_of

# The first API version without sampling parameters (their 400: "temperature: Extra inputs are not
# permitted"); the SDK in use sends it (anthropic._constants.ANTHROPIC_API_VERSION).
SAMPLING_REMOVED_IN = "2026-10-21"
SAMPLING_PARAMETERS = ("temperature", "top_p", "top_k")
MAX_CACHE_BREAKPOINTS = 4
MIN_THINKING_BUDGET = 1024
INTERLEAVED_THINKING_BETA = "interleaved-thinking-2025-05-14"
EXTENDED_THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


def check_credentials(headers: Mapping[str, str]) -> None:
    """401 unless there is a non-empty `x-api-key` or `Authorization: Bearer <token>` (what the SDK sends)."""
    api_key = headers.get("x-api-key")
    authorization = headers.get("authorization")
    if api_key is None and authorization is None:
        raise RequestError(401, "authentication_error", "x-api-key header is required")
    if api_key is not None:
        if not api_key.strip():
            raise RequestError(401, "authentication_error", "invalid x-api-key")
        return
    assert authorization is not None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RequestError(401, "authentication_error", "invalid bearer token")


def check_version(headers: Mapping[str, str]) -> str:
    """The request's API version; 400 when the `anthropic-version` header is missing or empty."""
    version = headers.get("anthropic-version", "").strip()
    if not version:
        raise invalid("anthropic-version: header is required")
    return version


def betas_of(headers: Mapping[str, str]) -> frozenset[str]:
    """The `anthropic-beta` header's comma-separated names."""
    return frozenset(name.strip() for name in headers.get("anthropic-beta", "").split(",") if name.strip())


def check_model(model: str, served: Mapping[str, ModelInfo]) -> ModelInfo:
    """The served model of that exact name (id or alias), or the API's 404."""
    info = served.get(model)
    if info is None:
        raise RequestError(404, "not_found_error", f"model: {model}")
    return info


def output_limit(info: ModelInfo, betas: frozenset[str]) -> int:
    beta = info.max_output_beta
    return beta[0] if beta is not None and beta[1] in betas else info.max_output


def context_window(info: ModelInfo, betas: frozenset[str]) -> int:
    beta = info.context_window_beta
    return beta[0] if beta is not None and beta[1] in betas else info.context_window


def check_messages_request(
    body: Mapping[str, Any],
    info: ModelInfo,
    *,
    version: str,
    betas: frozenset[str],
    input_tokens: int,
    count_only: bool = False,
) -> None:
    """Every model-dependent refusal of a validated Messages (or count_tokens) body, first problem first."""
    model = body["model"]
    if version >= SAMPLING_REMOVED_IN:
        for name in SAMPLING_PARAMETERS:
            if name in body:
                raise invalid(f"{name}: Extra inputs are not permitted")
    if not count_only:
        limit = output_limit(info, betas)
        if body["max_tokens"] > limit:
            raise invalid(
                f"max_tokens: {body['max_tokens']} > {limit}, which is the maximum allowed number of output "
                f"tokens for {model}"
            )
    window = context_window(info, betas)
    if input_tokens > window:
        raise invalid(f"prompt is too long: {input_tokens} tokens > {window} maximum")
    breakpoints = count_cache_breakpoints(body)
    if breakpoints > MAX_CACHE_BREAKPOINTS:
        raise invalid(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {breakpoints}."
        )
    _check_text_blocks(body["messages"])
    _check_thinking(body, info, betas, count_only=count_only)
    _check_thinking_blocks(body["messages"], thinking_on=_thinking_on(body))


def _thinking_on(body: Mapping[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _check_text_blocks(messages: Sequence[Mapping[str, Any]]) -> None:
    """Text blocks must hold text: empty ones and whitespace-only ones are refused (a final assistant
    string may be empty: that asks for a reply from scratch)."""
    last = len(messages) - 1
    for index, message in enumerate(messages):
        content = message["content"]
        if isinstance(content, str):
            if index == last and message["role"] == "assistant":
                continue
            blocks: list[Any] = [{"type": "text", "text": content}]
        else:
            blocks = content
        for block in blocks:
            if block.get("type") != "text" or not isinstance(block.get("text"), str):
                continue
            if not block["text"]:
                raise invalid("messages: text content blocks must be non-empty")
            if not block["text"].strip():
                raise invalid("messages: text content blocks must contain non-whitespace text")


def _check_thinking(
    body: Mapping[str, Any], info: ModelInfo, betas: frozenset[str], *, count_only: bool
) -> None:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return
    kind = thinking.get("type")
    if kind in ("enabled", "adaptive") and forced_tool(body) is not None:
        raise invalid("Thinking may not be enabled when tool_choice forces tool use.")
    if kind in ("enabled", "adaptive") and kind not in info.thinking_modes:
        if kind == "enabled" and "adaptive" in info.thinking_modes:
            raise invalid(
                '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and '
                '"output_config.effort" to control thinking behavior.'
            )
        raise invalid(f'"thinking.type.{kind}" is not supported for this model.')
    if kind != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if isinstance(budget, int) and budget < MIN_THINKING_BUDGET:
        raise invalid(
            f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}"
        )
    # With interleaved thinking the budget spans the whole turn and may exceed max_tokens.
    if not count_only and INTERLEAVED_THINKING_BETA not in betas and budget >= body["max_tokens"]:
        raise invalid(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
            f"{EXTENDED_THINKING_DOCS}#max-tokens-and-context-window-size"
        )


def _check_thinking_blocks(messages: Sequence[Mapping[str, Any]], *, thinking_on: bool) -> None:
    """Thinking blocks sent back come first in their message, with their signature, unchanged (the
    emulator's own signatures can be checked), and not in a final assistant message with thinking off."""
    last = len(messages) - 1
    for index, message in enumerate(messages):
        content = message["content"]
        if message["role"] != "assistant" or not isinstance(content, list):
            continue
        kinds = [block.get("type") for block in content]
        thinking_kinds = ("thinking", "redacted_thinking")
        if any(kind in thinking_kinds for kind in kinds):
            if kinds[0] not in thinking_kinds:
                raise invalid(
                    f"messages.{index}.content.0: If an assistant message contains any thinking blocks, the "
                    f"first block must be thinking or redacted_thinking. Found {kinds[0]}."
                )
            if index == last and not thinking_on:
                position = next(i for i, kind in enumerate(kinds) if kind in thinking_kinds)
                raise invalid(
                    f"messages.{index}.content.{position}: When thinking is disabled, an `assistant` message "
                    "in the final position cannot contain `thinking`. To use thinking blocks, enable "
                    "`thinking` in your request."
                )
        for position, block in enumerate(content):
            if block.get("type") != "thinking":
                continue
            where = f"messages.{index}.content.{position}"
            signature = block.get("signature")
            if signature is None:
                raise invalid(f"{where}.thinking.signature: Field required")
            if not isinstance(signature, str):
                raise invalid(f"{where}.thinking.signature: Input should be a valid string")
            thinking = block.get("thinking")
            emulated = signature.startswith("sig_")
            if not signature or (emulated and signature != signature_of(str(thinking))):
                raise invalid(f"{where}: Invalid `signature` in `thinking` block")


def _cache_controlled(value: Any) -> Iterator[Any]:
    """Every block under `value` that carries a `cache_control`, nested tool_result content included."""
    if isinstance(value, list):
        for item in value:
            yield from _cache_controlled(item)
    elif isinstance(value, dict):
        if value.get("cache_control") is not None:
            yield value
        inner = value.get("content")
        if isinstance(inner, list):
            yield from _cache_controlled(inner)


def count_cache_breakpoints(body: Mapping[str, Any]) -> int:
    """Breakpoints in tools, system and messages, plus one for a top-level `cache_control` (auto caching)."""
    count = 1 if body.get("cache_control") is not None else 0
    count += sum(1 for _ in _cache_controlled(body.get("tools") or []))
    system = body.get("system")
    if isinstance(system, list):
        count += sum(1 for _ in _cache_controlled(system))
    for message in body["messages"]:
        count += sum(1 for _ in _cache_controlled(message["content"]))
    return count
