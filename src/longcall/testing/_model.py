"""The emulated model: a validated request in, a planned reply out. No I/O.

Invariants:
- A generated reply is a slice of one document, keyed by (model, system, messages of the original
  request), so a prefill or "Continue" request sees exactly the text the first request would have
  continued with. Keys ignore `cache_control` and whether content is a string or one text block.
- Every token of a reply is one delta; `usage.output_tokens` counts the deltas of this reply only.
- Input tokens are counted the same way for /v1/messages and /v1/messages/count_tokens, with the
  tokenizer that cuts generated text (`tokenize`): counting a text the emulator wrote gives the
  number of deltas it was sent as.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, cast, get_args

from ._document import (
    Document,
    document_of,
    generate,
    length_asked_for,
    seed_of,
    split_words,
    style_asked_for,
    tokenize,
)

Overlap = Literal["none", "repeat_words", "restart_sentence"]
OVERLAPS: tuple[str, ...] = get_args(Overlap)

PREFILL_REFUSED = (
    "This model does not support assistant message prefill. The conversation must end with a user message."
)
TRAILING_WHITESPACE = "messages: final assistant content cannot end with trailing whitespace"
THINKING_TOKENS = 40


class RequestError(Exception):
    """The request is refused with an HTTP error and an API error body."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def invalid(message: str) -> RequestError:
    return RequestError(400, "invalid_request_error", message)


@dataclass(frozen=True)
class Script:
    """A scripted reply: the FINAL content blocks; the emulator derives the stream events from them.

    Args:
        content: content blocks as the final Message holds them. `text` (with optional `citations`),
            `thinking` (a missing `signature` is derived), `redacted_thinking`, `tool_use` and
            `server_tool_use` (a missing `id` is generated), and any other type, sent whole in its
            `content_block_start`.
        stop_reason: the message's stop reason.
        stop_sequence: the message's stop sequence.
        usage_extra: keys merged over the computed usage (e.g. `{"output_tokens": 9}` or
            `{"server_tool_use": {"web_search_requests": 1}}`).
        raw_deltas: block index -> delta objects sent verbatim after that block's start event, which
            then carries the block exactly as given (for odd streams and unknown block types).
    """

    content: Sequence[Mapping[str, Any]]
    stop_reason: str | None = "end_turn"
    stop_sequence: str | None = None
    usage_extra: Mapping[str, Any] = field(default_factory=dict)
    raw_deltas: Mapping[int, Sequence[Mapping[str, Any]]] = field(default_factory=dict)


@dataclass
class Block:
    """One content block of a reply, ready to be sent as events or as part of a Message."""

    start: dict[str, Any]
    final: dict[str, Any]
    delta_type: str | None = None  # text_delta, thinking_delta or input_json_delta for `pieces`
    pieces: list[str] = field(default_factory=list)
    citations: list[Any] = field(default_factory=list)
    signature: str | None = None
    raw_deltas: list[Any] = field(default_factory=list)


@dataclass
class Reply:
    blocks: list[Block]
    stop_reason: str | None
    stop_sequence: str | None
    usage: dict[str, Any]


@dataclass(frozen=True)
class ModelState:
    """What the emulator knows beyond the request. `remember_prefix` returns whether it was seen."""

    scripts: Mapping[str, Script]
    refuse_prefill_models: Iterable[str]
    overlap: str
    remember_prefix: Callable[[str], bool]
    message_number: int
    strict: bool = True


# -- validation -----------------------------------------------------------------------------------


def validate(body: object, *, count_only: bool = False) -> dict[str, Any]:
    """The body of a Messages request, or RequestError(400) naming the first problem."""
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    model = body.get("model")
    if model is None:
        raise invalid("model: Field required")
    if not isinstance(model, str) or not model:
        raise invalid("model: Input should be a valid model name")
    if not count_only:
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            raise invalid("max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise invalid("max_tokens: Input should be an integer greater than or equal to 1")
    messages = body.get("messages")
    if messages is None:
        raise invalid("messages: Field required")
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    if not messages:
        raise invalid("messages: at least one message is required")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages.{index}: Input should be a valid dictionary")
        if message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if not isinstance(content, str) and not (
            isinstance(content, list) and all(isinstance(block, dict) for block in content)
        ):
            raise invalid(f"messages.{index}.content: Input should be a valid string or list of blocks")
    if messages[0]["role"] != "user":
        raise invalid('messages: first message must use the "user" role')
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise invalid("system: Input should be a valid string or list of text blocks")
    stop_sequences = body.get("stop_sequences")
    if stop_sequences is not None and (
        not isinstance(stop_sequences, list) or not all(isinstance(s, str) for s in stop_sequences)
    ):
        raise invalid("stop_sequences: Input should be a valid list of strings")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise invalid("stream: Input should be a valid boolean")
    _validate_thinking(body.get("thinking"))
    return body


def _validate_thinking(thinking: object) -> None:
    if thinking is None:
        return
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "adaptive", "disabled"):
        raise invalid("thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'")
    if kind == "enabled":
        assert isinstance(thinking, dict)
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise invalid("thinking.enabled.budget_tokens: Input should be a valid integer")


# -- reading requests -----------------------------------------------------------------------------


def content_text(content: object) -> str:
    """The text of a message's content: the string, or its text blocks concatenated."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block["text"]
            for block in content
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
        )
    return ""


def _without_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_without_cache_control(v) for v in value]
    return value


def _blocks(content: object) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content) if isinstance(content, list) else []


def _document_key(model: str, system: object, messages: Sequence[Mapping[str, Any]]) -> bytes:
    canonical = [
        {"role": m["role"], "content": _without_cache_control(_blocks(m["content"]))} for m in messages
    ]
    system_blocks = _without_cache_control(_blocks(system)) if system is not None else []
    return seed_of(model, system_blocks, canonical)


def _thinking_on(body: Mapping[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _words(text: object) -> int:
    return _token_count(text) if isinstance(text, str) else 0


@lru_cache(maxsize=64)
def _token_count(text: str) -> int:
    # Cached: every continuation of a long call sends the same long prefix again.
    return len(tokenize(text))


def _block_tokens(block: Any) -> int:
    if not isinstance(block, dict):
        return 1
    kind = block.get("type")
    if kind == "text":
        return _words(block.get("text"))
    if kind == "thinking":
        return _words(block.get("thinking"))
    if kind == "tool_result":
        content = block.get("content")
        inner = _words(content) if isinstance(content, str) else sum(map(_block_tokens, _blocks(content)))
        return 1 + inner
    return 1


def _input_units(body: Mapping[str, Any]) -> list[tuple[int, bool, Any]]:
    """The request in prompt order (tools, system, messages): (tokens, has cache_control, canonical)."""
    units: list[tuple[int, bool, Any]] = []
    for tool in body.get("tools") or []:
        canonical = _without_cache_control(tool)
        tokens = max(1, len(json.dumps(canonical, sort_keys=True)) // 4)
        units.append((tokens, isinstance(tool, dict) and "cache_control" in tool, canonical))
    system = body.get("system")
    if isinstance(system, str):
        units.append((_words(system), False, {"type": "text", "text": system}))
    elif isinstance(system, list):
        for block in system:
            text = block.get("text") if isinstance(block, dict) else None
            has_cache_control = isinstance(block, dict) and "cache_control" in block
            units.append((_words(text), has_cache_control, _without_cache_control(block)))
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            units.append((_words(content), False, [message["role"], {"type": "text", "text": content}]))
            continue
        for block in content:
            canonical = [message["role"], _without_cache_control(block)]
            units.append((_block_tokens(block), "cache_control" in block, canonical))
    return units


def count_input_tokens(body: Mapping[str, Any]) -> int:
    """`tokenize`'s tokens of all text, +1 per non-text block, + len(json(tool)) // 4 per tool."""
    return max(1, sum(tokens for tokens, _, _ in _input_units(body)))


def input_usage(body: Mapping[str, Any], remember_prefix: Callable[[str], bool]) -> dict[str, int]:
    """input_tokens and the cache counters, registering the cached prefix (up to the last cache_control)."""
    units = _input_units(body)
    total = max(1, sum(tokens for tokens, _, _ in units))
    marked = [index for index, (_, has_cache_control, _) in enumerate(units) if has_cache_control]
    created = read = 0
    if marked:
        prefix = units[: marked[-1] + 1]
        prefix_tokens = sum(tokens for tokens, _, _ in prefix)
        key = seed_of(body["model"], [canonical for _, _, canonical in prefix]).hex()
        if remember_prefix(key):
            read = prefix_tokens
        else:
            created = prefix_tokens
    return {
        "input_tokens": max(0, total - created - read),
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": read,
    }


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str | None:
    for message in reversed(messages):
        if message["role"] == "user":
            return content_text(message["content"])
    return None


def _is_continue_instruction(messages: Sequence[Mapping[str, Any]]) -> bool:
    return (
        len(messages) >= 3
        and messages[-1]["role"] == "user"
        and messages[-2]["role"] == "assistant"
        and content_text(messages[-1]["content"]).lstrip().lower().startswith("continue")
    )


def original_messages(messages: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """The messages a document is keyed by: without a final prefill or (partial, "Continue") pair."""
    if messages[-1]["role"] == "assistant":
        return messages[:-1]
    if _is_continue_instruction(messages):
        return messages[:-2]
    return messages


def document_for(
    model: str,
    system: object,
    messages: Sequence[Mapping[str, Any]],
    json_schema: Mapping[str, Any] | None = None,
) -> Document:
    """The full document for the request made of exactly these messages: prose in the style the prompt
    asks for, or JSON that fits `json_schema` (the request's `output_config.format`)."""
    prompt = last_user_text(messages) or ""
    key = _document_key(model, system, messages)
    if json_schema is not None:
        return _json_document(key, json.dumps(json_schema, sort_keys=True))
    return generate(key, length_asked_for(prompt), style_asked_for(prompt))


# -- planning replies -----------------------------------------------------------------------------


def plan_reply(body: Mapping[str, Any], state: ModelState) -> Reply:
    """The reply to a validated Messages request; RequestError for a refused prefill."""
    model: str = body["model"]
    messages: list[Mapping[str, Any]] = body["messages"]
    is_prefill = messages[-1]["role"] == "assistant"
    if is_prefill:
        if any(model.startswith(prefix) for prefix in state.refuse_prefill_models):
            raise invalid(PREFILL_REFUSED)
        if _thinking_on(body):
            if state.strict:
                _check_prefill_with_thinking(messages)
            raise invalid(PREFILL_REFUSED)  # the API takes no prefill with thinking on
        prefix = content_text(messages[-1]["content"])
        if prefix != prefix.rstrip():
            raise invalid(TRAILING_WHITESPACE)
    usage = input_usage(body, state.remember_prefix)
    original = original_messages(messages)
    if len(original) < len(messages):  # a continuation of a scripted reply goes on with its rest
        prompt = last_user_text(original)
        script = state.scripts.get(prompt) if prompt is not None else None
        if script is not None:
            written = messages[len(original)]["content"]
            return _scripted_reply(continue_script(script, written), usage, state.message_number)
    prompt = last_user_text(messages)
    script = state.scripts.get(prompt) if prompt is not None else None
    if script is not None:
        return _scripted_reply(script, usage, state.message_number)
    tool = forced_tool(body)
    if tool is not None:
        return _tool_reply(body, tool, usage, state.message_number)
    return _generated_reply(body, state, usage)


def _check_prefill_with_thinking(messages: Sequence[Mapping[str, Any]]) -> None:
    """With thinking on, a final assistant message must start with a thinking block (the API's 400)."""
    index = len(messages) - 1
    content = messages[index]["content"]
    first = "text" if isinstance(content, str) else (content[0].get("type") if content else None)
    if first not in ("thinking", "redacted_thinking"):
        raise invalid(
            f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            f"`{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking "
            "block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you "
            "include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. "
            "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
        )


def forced_tool(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The tool `tool_choice` forces (`any`: the first tool with an input_schema; `tool`: the named one)."""
    choice = body.get("tool_choice")
    if not isinstance(choice, dict) or choice.get("type") not in ("any", "tool"):
        return None
    tools = [tool for tool in body.get("tools") or [] if isinstance(tool, dict) and "input_schema" in tool]
    if choice["type"] == "tool":
        tools = [tool for tool in tools if tool.get("name") == choice.get("name")]
    return tools[0] if tools else None


def _tool_reply(
    body: Mapping[str, Any], tool: Mapping[str, Any], usage: dict[str, int], message_number: int
) -> Reply:
    seed = _document_key(body["model"], body.get("system"), body["messages"]) + b"tool"
    rng = random.Random(hashlib.sha256(seed).digest())
    schema = tool.get("input_schema")
    value = value_for_schema(schema if isinstance(schema, dict) else {}, rng)
    block = _scripted_block(
        {"type": "tool_use", "name": tool.get("name"), "input": value if isinstance(value, dict) else {}},
        0,
        message_number,
    )
    return Reply([block], "tool_use", None, {**usage, "output_tokens": max(1, len(block.pieces))})


def value_for_schema(
    schema: Mapping[str, Any], rng: random.Random, root: Mapping[str, Any] | None = None
) -> Any:
    """A value that fits the JSON schema (the common keywords: type, properties, items, enum, const,
    anyOf/oneOf/allOf, $ref to $defs, minimum/maximum, minItems/maxItems, minLength/maxLength, format)."""
    root = schema if root is None else root
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return value_for_schema(target, rng, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for keyword in ("anyOf", "oneOf", "allOf"):
        options = schema.get(keyword)
        if isinstance(options, list) and options:
            return value_for_schema(options[0], rng, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: value_for_schema(sub, rng, root) for name, sub in properties.items()}
    if kind == "array":
        low = int(schema.get("minItems", 1))
        high = max(low, min(int(schema.get("maxItems", 3)), low + 2))
        items = schema.get("items")
        item_schema: Mapping[str, Any] = items if isinstance(items, dict) else {}
        return [value_for_schema(item_schema, rng, root) for _ in range(rng.randint(low, high))]
    if kind == "integer":
        least = int(schema.get("minimum", 0))
        return rng.randint(least, int(schema.get("maximum", least + 100)))
    if kind == "number":
        floor = float(schema.get("minimum", 0))
        return round(rng.uniform(floor, float(schema.get("maximum", floor + 100))), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string_for(schema, rng)


def _string_for(schema: Mapping[str, Any], rng: random.Random) -> str:
    formats = {
        "date": "2026-01-01",
        "date-time": "2026-01-01T00:00:00Z",
        "email": "someone@example.com",
        "uri": "https://example.com/",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    if schema.get("format") in formats:
        return formats[schema["format"]]
    from ._document import VOCABULARY

    text = " ".join(rng.choices(VOCABULARY, k=rng.randint(2, 6)))
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    while len(text) < low:
        text += " " + rng.choice(VOCABULARY)
    return text[: int(high)] if isinstance(high, int) else text


def _json_format(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON schema that `output_config.format` (or the older top-level `output_format`) asks for."""
    config = body.get("output_config")
    output_format = config.get("format") if isinstance(config, dict) else body.get("output_format")
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        schema = output_format.get("schema")
        return schema if isinstance(schema, dict) else {}
    return None


@lru_cache(maxsize=32)
def _json_document(seed: bytes, schema_json: str) -> Document:
    value = value_for_schema(json.loads(schema_json), random.Random(seed))
    return document_of(tokenize(json.dumps(value, ensure_ascii=False)))


def continue_script(script: Script, written: object) -> Script:
    """The rest of a scripted reply after the assistant content already `written` (a continuation).

    Written blocks that match the script's are skipped; a last written text block that the script's
    text starts with continues from where it stops. Anything else gets the whole script again."""
    blocks: list[Mapping[str, Any]] = (
        [{"type": "text", "text": written}] if isinstance(written, str) else list(cast(Any, written) or [])
    )
    content = list(script.content)
    for index, block in enumerate(blocks):
        if index >= len(content) or block.get("type") != content[index].get("type"):
            return script
        if block.get("type") == "text":
            full = content[index].get("text", "")
            done = block.get("text", "")
            if index == len(blocks) - 1 and full.startswith(done) and full != done:
                rest = {**content[index], "text": full[len(done) :]}
                return dataclasses.replace(script, content=[rest, *content[index + 1 :]])
            if full != done:
                return script
    return dataclasses.replace(script, content=content[len(blocks) :])


def _reply_pieces(body: Mapping[str, Any], overlap: str) -> list[str]:
    model: str = body["model"]
    system = body.get("system")
    messages: list[Mapping[str, Any]] = body["messages"]
    original = original_messages(messages)
    schema = _json_format(body)
    if len(original) == len(messages):
        return document_for(model, system, messages, schema).pieces_from(0)
    written = content_text(messages[len(original)]["content"])
    document = document_for(model, system, original, schema)
    if not document.text.startswith(written):
        fresh = document_for(model, system, messages, schema).pieces_from(0)
        if written and fresh and messages[-1]["role"] == "assistant":
            fresh[0] = " " + fresh[0]  # a prefill that is not ours: carry on after a space
        return fresh
    if messages[-1]["role"] == "assistant":
        return document.pieces_from(len(written))
    return document.pieces_from(continuation_start(document, len(written), overlap))


def continuation_start(document: Document, written: int, overlap: str) -> int:
    """Where a "Continue" reply starts in the document, given the first `written` characters exist.

    none: right after them. repeat_words: at the start of the third-last word written.
    restart_sentence: at the start of the sentence holding the last non-whitespace character written.
    """
    if overlap == "none":
        return written
    stripped = len(document.text[:written].rstrip())
    if stripped == 0:
        return 0
    last_token = document.token_at(stripped - 1)
    if overlap == "repeat_words":
        return document.starts[max(0, last_token - 2)]
    return document.starts[document.sentence_start_before(last_token)]


def _apply_stop_sequences(pieces: list[str], stop_sequences: Sequence[str]) -> tuple[list[str], int, str]:
    """Cut at the earliest stop sequence: (pieces before it, tokens generated, the sequence); "" if none."""
    text = "".join(pieces)
    found: tuple[int, str] | None = None
    for sequence in stop_sequences:
        index = text.find(sequence) if sequence else -1
        if index != -1 and (found is None or index < found[0]):
            found = (index, sequence)
    if found is None:
        return pieces, len(pieces), ""
    index, sequence = found
    end = index + len(sequence)
    kept: list[str] = []
    generated = position = 0
    for piece in pieces:
        if position >= end:
            break
        generated += 1
        if position < index:
            kept.append(piece[: index - position])
        position += len(piece)
    return [piece for piece in kept if piece], generated, sequence


def signature_of(thinking: str) -> str:
    return "sig_" + hashlib.sha256(thinking.encode()).hexdigest()[:32]


def _thinking_block(pieces: list[str]) -> Block:
    text = "".join(pieces)
    signature = signature_of(text)
    return Block(
        start={"type": "thinking", "thinking": "", "signature": ""},
        final={"type": "thinking", "thinking": text, "signature": signature},
        delta_type="thinking_delta",
        pieces=pieces,
        signature=signature,
    )


def _generated_reply(body: Mapping[str, Any], state: ModelState, usage: dict[str, int]) -> Reply:
    budget: int = body["max_tokens"]
    blocks: list[Block] = []
    stop_reason = "end_turn"
    stop_sequence: str | None = None
    output_tokens = 0
    if _thinking_on(body):
        thinking = body["thinking"]
        length = min(THINKING_TOKENS, thinking.get("budget_tokens", THINKING_TOKENS))
        seed = _document_key(body["model"], body.get("system"), body["messages"]) + b"thinking"
        thinking_pieces = list(generate(hashlib.sha256(seed).digest(), length).tokens[:budget])
        blocks.append(_thinking_block(thinking_pieces))
        output_tokens += len(thinking_pieces)
        budget -= len(thinking_pieces)
        if len(thinking_pieces) < length:
            stop_reason = "max_tokens"
    if stop_reason != "max_tokens":
        pieces = _reply_pieces(body, state.overlap)
        if len(pieces) > budget:
            pieces = pieces[:budget]
            stop_reason = "max_tokens"
        generated = len(pieces)
        if body.get("stop_sequences"):
            pieces, generated, sequence = _apply_stop_sequences(pieces, body["stop_sequences"])
            if sequence:
                stop_reason, stop_sequence = "stop_sequence", sequence
        if pieces:
            text = "".join(pieces)
            blocks.append(
                Block(
                    start={"type": "text", "text": ""},
                    final={"type": "text", "text": text},
                    delta_type="text_delta",
                    pieces=pieces,
                )
            )
        output_tokens += generated
    return Reply(blocks, stop_reason, stop_sequence, {**usage, "output_tokens": output_tokens})


def _json_pieces(text: str) -> list[str]:
    rng = random.Random(text)
    pieces: list[str] = []
    position = 0
    while position < len(text):
        size = rng.randint(5, 20)
        pieces.append(text[position : position + size])
        position += size
    return pieces


def _scripted_block(block: Mapping[str, Any], index: int, message_number: int) -> Block:
    given = dict(block)
    kind = given.get("type")
    if kind == "text":
        citations = list(given.get("citations") or [])
        start: dict[str, Any] = {"type": "text", "text": ""}
        if "citations" in given:
            start["citations"] = []
        return Block(start, given, "text_delta", split_words(given.get("text", "")), citations)
    if kind == "thinking":
        thinking = given.get("thinking", "")
        signature = given.get("signature") or signature_of(thinking)
        final = {**given, "signature": signature}
        start = {"type": "thinking", "thinking": "", "signature": ""}
        return Block(start, final, "thinking_delta", split_words(thinking), signature=signature)
    if kind in ("tool_use", "server_tool_use"):
        prefix = "toolu_emu" if kind == "tool_use" else "srvtoolu_emu"
        final = {
            "type": kind,
            "id": given.get("id") or f"{prefix}_{message_number}_{index}",
            "name": given.get("name"),
            "input": given.get("input", {}),
        }
        final.update((key, value) for key, value in given.items() if key not in final)
        start = {**final, "input": {}}
        # A call without arguments is one `partial_json: ""` delta, as the API sends it.
        pieces = _json_pieces(json.dumps(final["input"])) if final["input"] != {} else [""]
        return Block(start, final, "input_json_delta", pieces)
    return Block(given, given)


def _scripted_reply(script: Script, usage: dict[str, int], message_number: int) -> Reply:
    blocks: list[Block] = []
    for index, given in enumerate(script.content):
        if index in script.raw_deltas:
            block = Block(dict(given), dict(given), raw_deltas=[dict(d) for d in script.raw_deltas[index]])
        else:
            block = _scripted_block(given, index, message_number)
        blocks.append(block)
    output_tokens = sum(len(block.pieces) for block in blocks)
    usage_reported = {**usage, "output_tokens": output_tokens, **script.usage_extra}
    return Reply(blocks, script.stop_reason, script.stop_sequence, usage_reported)
