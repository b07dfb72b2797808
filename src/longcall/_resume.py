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
- Instruction: the received text is cut back to a clean boundary so the model does not have to guess
  how a half word ends, by a bounded amount (`cut_back`): in a script written with spaces, the
  partial word only (at most `MAX_WORD_CUT` characters); in a script without spaces (Chinese,
  Japanese, Thai, ...) nothing but an unfinished character cluster (at most `MAX_CLUSTER_CUT`
  characters); in a long unbroken token (a URL, base64, code) nothing but an unfinished cluster. The
  fragment cut off is generated again and counted. Then a user turn asks the model to continue; the
  seam removes what it repeats. A text block that had finished (the model went on to another block)
  is never cut and never extended: the continuation's text is a new block after it.
- Prefill is never used with extended thinking (the API refuses it) or for models the catalog says
  refuse it; a model that refuses it at run time is remembered for the rest of the process.
- With `cache_resume`, the last block of the original prompt gets a `cache_control` breakpoint, so
  every continuation after the first reads the prompt from the cache, unless the request already has
  the API's maximum of four breakpoints anywhere (system, tools, messages, nested tool results); only
  prompts above the model's minimum cacheable length are cached.
"""

from __future__ import annotations

import copy
import unicodedata
from typing import Any

from ._accumulate import Accumulator, Block, Continuation
from ._seam import without_spaces as _without_spaces

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


MAX_BREAKPOINTS = 4  # cache_control blocks the API accepts in one request


def count_breakpoints(value: Any) -> int:
    """`cache_control` markers anywhere in `value` (a request, or part of one), nested blocks included."""
    if isinstance(value, dict):
        own = 1 if value.get("cache_control") else 0
        return own + sum(count_breakpoints(item) for key, item in value.items() if key != "cache_control")
    if isinstance(value, list):
        return sum(count_breakpoints(item) for item in value)
    return 0


def _request_breakpoints(params: dict[str, Any]) -> int:
    own = 1 if params.get("cache_control") else 0  # top-level: automatic caching takes one
    return own + sum(count_breakpoints(params.get(part)) for part in ("system", "tools", "messages"))


def _with_breakpoint(messages: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Mark the end of the original prompt for the prompt cache, without touching the caller's objects."""
    if not messages or _request_breakpoints(params) >= MAX_BREAKPOINTS:
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


MAX_WORD_CUT = 24  # a trailing run of letters longer than this is a long token, not a word
MAX_CLUSTER_CUT = 4  # an unfinished character cluster (a base and its combining marks, ZWJ, ...)


def _extends_cluster(ch: str) -> bool:
    """A character that attaches to the one before it: a cluster ending in it may not be finished."""
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or code == 0x200D  # zero width joiner
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tone modifiers
        or 0xD800 <= code <= 0xDBFF  # a high surrogate without its pair
    )


def _word_starts_at(text: str, index: int) -> bool:
    """A cluster ends at `index`, and it is whitespace (with any marks on it) or one character of a
    script without spaces. One with marks is not a boundary: cut after it, it would end the text
    in marks, which a second cut takes for an unfinished cluster (a Thai or Myanmar vowel sign is
    in such a script's range, but belongs to the character before it)."""
    if index < len(text) and _extends_cluster(text[index]):
        return False
    base = index - 1
    while base > 0 and _extends_cluster(text[base]):
        base -= 1
    if text[base].isspace():
        return True
    return base == index - 1 and _without_spaces(text[base]) and not _extends_cluster(text[base])


def cut_back(text: str) -> int:
    """Where continuing by instruction resumes `text`: its length minus a bounded cut-back.

    Ends at whitespace or a character of a script without spaces: nothing is cut, except an
    unfinished cluster. Otherwise the partial word (back to the last whitespace or character of a
    script without spaces) is cut when it has at most `MAX_WORD_CUT` characters; a longer one is a
    long token (a URL, base64, an identifier) and only an unfinished cluster is cut. Never more than
    `MAX_WORD_CUT` characters; idempotent.
    """
    end = len(text)
    base = end
    while base > 0 and end - base < MAX_CLUSTER_CUT and _extends_cluster(text[base - 1]):
        base -= 1
    if base == 0 and end > 0:
        return end  # marks with nothing before them to attach to: no cluster to finish
    if base < end and base > 0 and end - base < MAX_CLUSTER_CUT:
        if text[base - 1].isspace():
            return end  # marks on whitespace: one cluster with it, and the word before it is finished
        base -= 1  # the character those marks attach to goes with them
    elif base < end:
        base = end  # too many marks to be an unfinished cluster: they end the word they are on
    if base == 0 or _word_starts_at(text, base):
        return base
    start = base
    while (
        start > 0
        and end - start <= MAX_WORD_CUT
        and not text[start - 1].isspace()
        and not _word_starts_at(text, start)
    ):
        start -= 1
    return base if end - start > MAX_WORD_CUT else start  # a long token is continued where it stands


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
    cut_at_max_tokens: bool = False,
) -> ContinuationPlan:
    """Build the request that continues `acc`'s message, and cut `acc` back to the resume point.

    `cut_at_max_tokens`: the last attempt stopped at `max_tokens`, so its last block, though stopped,
    was cut and is extended; otherwise a stopped text block is finished and the answer follows it."""
    last_text = max((i for i, block in enumerate(acc.blocks) if block.type == "text"), default=-1)
    merge = last_text >= 0 and (
        not acc.blocks[last_text].closed or (cut_at_max_tokens and last_text == len(acc.blocks) - 1)
    )
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
    if strategy == "instruction" and merge:
        boundary = cut_back(text)
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
        block,
        sent=sent,
        gap=gap,
        shown=block.shown,
        remove_overlap=strategy == "instruction" and bool(sent),
        merge=merge,
    )
    return ContinuationPlan(params, continuation, regenerated, dropped)


def _size(block: Block) -> int:
    return len(block.text_value()) + len(block.thinking_value()) + len(block.raw_json())


def copy_params(params: dict[str, Any]) -> dict[str, Any]:
    """A copy the caller's later changes cannot reach, and that longcall's cannot reach back: the
    messages, system and tools are copied deeply (strings, immutable, are shared, so a large
    attachment costs nothing)."""
    copied = dict(params)
    for key in ("messages", "system", "tools", "extra_headers", "extra_body"):
        if key in copied:
            copied[key] = copy.deepcopy(copied[key])
    return copied
