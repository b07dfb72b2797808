"""Reading a batch's input: JSON lines in, items (or per-line problems) out. No I/O beyond reading.

An input line is one of:
- the Message Batches API's own shape: `{"custom_id": "a1", "params": {...Messages API params...}}`;
- Messages API parameters with an id: `{"custom_id": "a1", "model": ..., "messages": [...]}` (`id` is
  accepted for `custom_id`);
- an OpenAI-style chat request with an id (`system`/`developer`/`tool` roles, `tool_calls`,
  `max_completion_tokens`, `image_url` parts, ...), converted by `longcall.from_openai`.

Rules:
- A custom id must be what the Batches API accepts: 1 to 64 of `a-zA-Z0-9_-`; ids must be unique.
  Either problem refuses the whole input before anything is sent (`InputRefused`), so the same input
  works in both modes and never half-runs.
- Any other problem with a line (not UTF-8, not JSON, not an object, no id, parameters that cannot be
  converted) makes that line an error record naming its line number; the other lines go on.
- `stream` is dropped from the parameters: the streaming runner streams anyway, and the Batches API
  refuses it.
- `--shard K/N` keeps the items whose id hashes (SHA-256, stable across machines and Pythons) to K-1
  modulo N, so N runs of the same input split it with no coordination.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import LongcallError

CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_ID_KEYS = ("custom_id", "id")
_OPENAI_ROLES = frozenset({"system", "developer", "tool", "function"})
_OPENAI_PARAMS = frozenset(
    {"max_completion_tokens", "n", "presence_penalty", "frequency_penalty", "response_format", "seed"}
)
_OPENAI_PARTS = frozenset({"image_url", "input_audio", "file"})


class InputRefused(LongcallError, ValueError):
    """The input has ids the Batches API would refuse, or the same id twice; nothing was sent."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        super().__init__(f"The input was refused before anything was sent: {shown}.")
        self.problems = problems


@dataclass(frozen=True)
class Item:
    """One request of the batch: its id, the Messages API parameters, its line in the input."""

    custom_id: str
    params: dict[str, Any]
    line: int

    @property
    def key(self) -> str:
        return self.custom_id


@dataclass(frozen=True)
class BadLine:
    """A line that cannot be sent: it becomes an error record, keyed by `key`."""

    line: int
    message: str
    custom_id: str | None = None

    @property
    def key(self) -> str:
        return self.custom_id if self.custom_id is not None else f"#line-{self.line}"


Entry = Item | BadLine


def _is_openai(params: dict[str, Any]) -> bool:
    if _OPENAI_PARAMS & params.keys():
        return True
    for message in params.get("messages") or []:
        if not isinstance(message, dict):
            continue
        if message.get("role") in _OPENAI_ROLES or "tool_calls" in message:
            return True
        content = message.get("content")
        if isinstance(content, list) and any(
            isinstance(part, dict) and part.get("type") in _OPENAI_PARTS for part in content
        ):
            return True
    return False


def _params_of(data: dict[str, Any]) -> dict[str, Any]:
    if isinstance(data.get("params"), dict):
        params = dict(data["params"])
    else:
        params = {key: value for key, value in data.items() if key not in _ID_KEYS}
    params.pop("stream", None)
    if _is_openai(params):
        from ..openai import from_openai

        messages = params.pop("messages")
        params = from_openai(messages, tools=params.pop("tools", None), **params)
    if not isinstance(params.get("messages"), list):
        raise ValueError("it has no messages list")
    return params


def parse_line(raw: bytes, line: int) -> Entry:
    """One input line as an `Item`, or a `BadLine` saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadLine(line, f"line {line} is not UTF-8 ({exc.reason} at byte {exc.start})")
    try:
        data = json.loads(text)
    except ValueError as exc:
        return BadLine(line, f"line {line} is not JSON ({exc})")
    if not isinstance(data, dict):
        return BadLine(line, f"line {line} is a JSON {type(data).__name__}, not an object")
    custom_id = next((data[key] for key in _ID_KEYS if key in data), None)
    if custom_id is None:
        return BadLine(line, f"line {line} has no custom_id")
    if not isinstance(custom_id, str):
        # Refused below, with the line number: the Batches API takes only strings.
        custom_id = f"{json.dumps(custom_id)} (a JSON {type(custom_id).__name__}, not a string)"
    try:
        params = _params_of(data)
    except (ValueError, TypeError) as exc:  # InvalidRequest is a ValueError
        return BadLine(line, f"line {line} has parameters that cannot be sent: {exc}", custom_id)
    return Item(custom_id, params, line)


def check_ids(entries: Iterable[Entry]) -> None:
    """Refuse ids the Batches API would refuse, and duplicates, naming their lines."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for entry in entries:
        custom_id = entry.custom_id
        if custom_id is None:
            continue
        if not CUSTOM_ID.fullmatch(custom_id):
            problems.append(
                f"line {entry.line}: custom_id {custom_id[:80]!r} is not 1 to 64 of a-z, A-Z, 0-9, _ and -"
            )
        elif custom_id in seen:
            problems.append(f"line {entry.line}: custom_id {custom_id!r} is also on line {seen[custom_id]}")
        else:
            seen[custom_id] = entry.line
    if problems:
        raise InputRefused(problems)


def in_shard(key: str, shard: tuple[int, int] | None) -> bool:
    """Whether the item with this key belongs to shard K of N (1-based K; None: every item)."""
    if shard is None:
        return True
    number, count = shard
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count == number - 1


def parse_shard(text: str) -> tuple[int, int]:
    """ "K/N" as (K, N), with 1 <= K <= N."""
    try:
        number, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"a shard is written K/N, such as 2/8, not {text!r}") from None
    if not 1 <= number <= count:
        raise ValueError(f"shard {text} does not exist: K must be from 1 to N")
    return number, count


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if raw.strip():
                yield number, raw.rstrip(b"\r\n")


def read_input(
    source: str | Path | Iterable[dict[str, Any]], shard: tuple[int, int] | None = None
) -> list[Entry]:
    """Every entry of the input (a JSONL file, or dicts in one of the line shapes), checked, in this
    shard. Raises `InputRefused` for bad or duplicate ids (of the whole input, every shard alike)."""
    if isinstance(source, (str, Path)):
        entries = [parse_line(raw, number) for number, raw in _lines(Path(source))]
    else:
        entries = [
            parse_line(json.dumps(data).encode(), number)
            if isinstance(data, dict)
            else BadLine(number, f"item {number} is a {type(data).__name__}, not a dict")
            for number, data in enumerate(source, start=1)
        ]
    check_ids(entries)
    return [entry for entry in entries if in_shard(entry.key, shard)]
