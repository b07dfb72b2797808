"""Continuation requests: how a broken (or `max_tokens`-cut) generation is asked to go on.

Rules, each applied here and nowhere else:
- The resume point is the end of the last text block. Blocks after it (a thinking or tool block cut in
  the middle, a tool call whose result never came) are dropped and generated again: a thinking block
  cannot be continued, and half a tool input must never be returned. With no text block at all the
  call starts over.
- Completed blocks before it are sent back as they were; thinking blocks with their signatures, as the
  API requires when thinking is on.
- Prefill: the assistant turn ends with the received text minus its trailing whitespace (the API
  refuses a prefill ending in whitespace); the whitespace is put back by the seam.
- Instruction: the received text is cut back to the last whitespace (a clean word boundary) so the
  model does not have to guess how a half word ends; the fragment cut off is generated again and
  counted. Then a user turn asks the model to continue; the seam removes what it repeats.
- Prefill is never used with extended thinking (the API refuses it) or for models the catalog says
  refuse it; a model that refuses it at run time is remembered for the rest of the process.
- With `cache_resume`, the last block of the original prompt gets a `cache_control` breakpoint, so
  every continuation after the first reads the prompt from the cache (if the API allows: at most four
  breakpoints per request, and only prompts above the model's minimum cacheable length are cached).
"""

from __future__ import annotations

import copy
from typing import Any

from ._accumulate import Accumulator, Block, Continuation

INSTRUCTION = (
    "Continue exactly where your previous message stopped, mid-sentence or mid-word if that is where it"
    " ended. Do not repeat anything already written, and add no preamble or commentary."
)

# Models that answered a prefill with the API's refusal, learned at run time.
PREFILL_REFUSED: set[str] = set()


def thinking_on(params: dict[str, Any]) -> bool:
    thinking = params.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def choose_strategy(requested: str, params: dict[str, Any], *, accepts_prefill: bool) -> str:
    """The strategy for this call: the policy's choice, unless the API could not accept it."""
    if thinking_on(params):
        return "instruction"  # the API refuses prefill when thinking is on
    if requested != "auto":
        return requested
    if params.get("model") in PREFILL_REFUSED or not accepts_prefill:
        return "instruction"
    return "prefill"


def is_prefill_refusal(message: str) -> bool:
    text = message.lower()
    return "prefill" in text or "must end with a user message" in text


def _request_block(block: Block) -> dict[str, Any]:
    """A received block in the shape the API accepts back in an assistant turn."""
    data = block.to_dict()
    kind = data.get("type")
    if kind == "text":
        return {"type": "text", "text": data.get("text") or ""}
    if kind == "thinking":
        return {
            "type": "thinking",
            "thinking": data.get("thinking") or "",
            "signature": data.get("signature") or "",
        }
    if kind in ("tool_use", "server_tool_use"):
        return {
            "type": kind,
            "id": data.get("id"),
            "name": data.get("name"),
            "input": data.get("input") or {},
        }
    # Server tool results, redacted thinking, types longcall does not know: as received, minus what
    # longcall itself added.
    data.pop("unknown_deltas", None)
    data.pop("partial_json", None)
    return data


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [dict(block) for block in content or []]


def _count_breakpoints(params: dict[str, Any]) -> int:
    count = 0
    for part in ("system", "tools"):
        value = params.get(part)
        if isinstance(value, list):
            count += sum(1 for item in value if isinstance(item, dict) and item.get("cache_control"))
    for message in params.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list):
            count += sum(1 for item in content if isinstance(item, dict) and item.get("cache_control"))
    return count


def _with_breakpoint(messages: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Mark the end of the original prompt for the prompt cache, without touching the caller's objects."""
    if not messages or _count_breakpoints(params) >= 4:
        return messages
    last = dict(messages[-1])
    blocks = _content_blocks(last.get("content"))
    if (
        not blocks
        or blocks[-1].get("cache_control")
        or blocks[-1].get("type") in ("thinking", "redacted_thinking")
    ):
        return messages
    blocks[-1] = {**blocks[-1], "cache_control": {"type": "ephemeral"}}
    last["content"] = blocks
    return [*messages[:-1], last]


class ContinuationPlan:
    """A continuation request and how to stitch its answer."""

    def __init__(
        self,
        params: dict[str, Any],
        continuation: Continuation | None,
        regenerated: int,
        dropped: list[dict[str, Any]],
    ) -> None:
        self.params = params
        self.continuation = continuation
        self.regenerated = regenerated
        self.dropped = dropped


def plan_continuation(
    original: dict[str, Any],
    acc: Accumulator,
    *,
    strategy: str,
    cache_resume: bool,
    max_tokens: int,
) -> ContinuationPlan:
    """Build the request that continues `acc`'s message, and cut `acc` back to the resume point."""
    last_text = max((i for i, block in enumerate(acc.blocks) if block.type == "text"), default=-1)
    dropped_blocks = acc.truncate(last_text + 1)
    dropped = [block.to_dict() for block in dropped_blocks]
    regenerated = sum(_size(block) for block in dropped_blocks)

    messages = list(original.get("messages") or [])
    prefix: list[dict[str, Any]] = []
    if messages and messages[-1].get("role") == "assistant":
        # The caller's own prefill: the received content continues it.
        prefix = _content_blocks(messages[-1].get("content"))
        messages = messages[:-1]

    params = {key: value for key, value in original.items() if key != "messages"}
    params["max_tokens"] = max_tokens
    if last_text < 0:
        params["messages"] = original.get("messages")
        return ContinuationPlan(params, None, regenerated, dropped)

    block = acc.blocks[last_text]
    text = block.text_value()
    if strategy == "instruction":
        boundary = len(text)
        while boundary > 0 and not text[boundary - 1].isspace():
            boundary -= 1
        fragment = text[boundary:]
        text = text[:boundary]
        regenerated += len(fragment)
        block.start = {**block.start, "text": ""}
        block.text = [text] if text else []
        # Shown live but no longer in the block: not to be shown again when the answer repeats it.
        block.shown = fragment + block.shown
    sent = text.rstrip()
    gap = text[len(sent) :]

    content = [_request_block(b) for b in acc.blocks[:last_text]]
    if sent:
        content.append({"type": "text", "text": sent})
    if prefix and content and prefix[-1].get("type") == "text" and content[0].get("type") == "text":
        content[0] = {"type": "text", "text": prefix[-1].get("text", "") + content[0]["text"]}
        prefix = prefix[:-1]
    content = prefix + content

    if cache_resume:
        messages = _with_breakpoint(messages, original)
    if content:
        messages.append({"role": "assistant", "content": content})
        if strategy == "instruction":
            messages.append({"role": "user", "content": INSTRUCTION})
    params["messages"] = messages
    continuation = Continuation(
        block, sent=sent, gap=gap, shown=block.shown, remove_overlap=strategy == "instruction" and bool(sent)
    )
    return ContinuationPlan(params, continuation, regenerated, dropped)


def _size(block: Block) -> int:
    return len(block.text_value()) + len(block.thinking_value()) + len(block.raw_json())


def copy_params(params: dict[str, Any]) -> dict[str, Any]:
    """A copy the caller's later changes cannot reach (messages are copied deeply)."""
    return {**params, "messages": copy.deepcopy(params.get("messages"))}
