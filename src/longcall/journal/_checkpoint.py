"""A call's partial message as the journal stores it while it streams: appended, never rewritten.

A checkpoint holds the message's head (id, model, usage, stop reason: everything but the content),
the skeleton of each block still open (its start, citations, signature: everything but its text), and
the text, thinking and tool-input JSON that arrived since the previous checkpoint. So the I/O of a whole
generation is linear in its length, where storing the whole message each time grows with its square.

`Progress` remembers, per block, which of its parts were already handed out. The accumulator only
appends to a block's part lists, except when a continuation cuts a block back or drops blocks: then
the block objects or their lists are new ones, `Progress` sees it, and the checkpoint rewrites those
blocks from scratch (`truncate_at`).

Pure code: no I/O. `restore_content` joins the stored pieces back into the API's content list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .._accumulate import Block
from ._params import dumps

FIELDS = ("text", "thinking", "partial_json")
_FIELDS_KEY = "longcall_fields"  # on a stored skeleton: which FIELDS the block has, joined from chunks


def _lists(block: Block) -> tuple[list[str], list[str], list[str]]:
    return block.text, block.thinking, block.json


class _Mark:
    __slots__ = ("block", "start", "lists", "counts", "closed", "skeleton")

    def __init__(self, block: Block) -> None:
        self.block = block
        self.start = block.start
        self.lists = _lists(block)
        self.counts = [-1, -1, -1]  # parts handed out; -1: not even the start's own text yet
        self.closed = False  # the skeleton of the block, closed, was handed out
        self.skeleton = ""  # the last skeleton handed out: unchanged ones are not written again

    def matches(self, block: Block) -> bool:
        return (
            block is self.block
            and block.start is self.start
            and all(now is then for now, then in zip(_lists(block), self.lists, strict=True))
            and all(len(parts) >= count for parts, count in zip(self.lists, self.counts, strict=True))
        )


def skeleton(block: Block) -> dict[str, Any]:
    """`Block.to_dict()` without its text, thinking and partial JSON (which go in chunks)."""
    data = {key: value for key, value in block.start.items() if key not in ("text", "thinking")}
    fields = [name for name in ("text", "thinking") if name in block.start or getattr(block, name)]
    if block.signature is not None:
        data["signature"] = block.signature
    if block.citations is not None:
        data["citations"] = (data.get("citations") or []) + block.citations
    if block.json:
        if block.closed:
            data["input"] = block.input
        else:
            fields.append("partial_json")
    if block.unknown is not None:
        data["unknown_deltas"] = block.unknown
    data[_FIELDS_KEY] = fields
    return data


@dataclass
class Checkpoint:
    """What one checkpoint writes; JSON already serialised (the blocks keep changing after it)."""

    head: str
    truncate_at: int | None = None
    skeletons: list[tuple[int, str]] = field(default_factory=list)
    chunks: list[tuple[int, str, str]] = field(default_factory=list)  # (position, field, text)

    def size(self) -> int:
        return (
            len(self.head) + sum(len(s) for _, s in self.skeletons) + sum(len(t) for _, _, t in self.chunks)
        )


class Progress:
    """What of one call's blocks the journal has already been given."""

    def __init__(self, losses: int = 0) -> None:
        self.marks: list[_Mark] = []
        self.losses = losses  # the journal's count of failed writes when this began

    def take(self, blocks: list[Block], head: dict[str, Any]) -> Checkpoint:
        """The checkpoint of `blocks` since the last one (`head` is the message without content)."""
        marks = self.marks
        checkpoint = Checkpoint(dumps(head))
        keep = 0
        while keep < len(blocks) and keep < len(marks) and marks[keep].matches(blocks[keep]):
            keep += 1
        if keep < len(marks) or not marks:  # rewritten or dropped blocks, or a first checkpoint
            del marks[keep:]
            checkpoint.truncate_at = keep
        for block in blocks[len(marks) :]:
            marks.append(_Mark(block))
        for position, mark in enumerate(marks):
            block = mark.block
            if mark.closed and block.closed:
                continue  # finished earlier: nothing of it changes any more
            for slot, name in enumerate(FIELDS):
                parts = mark.lists[slot]
                count = mark.counts[slot]
                if count < 0:
                    text = ("" if name == "partial_json" else block.start.get(name) or "") + "".join(parts)
                else:
                    text = "".join(parts[count:])
                mark.counts[slot] = len(parts)
                if text:
                    checkpoint.chunks.append((position, name, text))
            shape = dumps(skeleton(block))
            if shape != mark.skeleton:
                checkpoint.skeletons.append((position, shape))
                mark.skeleton = shape
            mark.closed = block.closed
        return checkpoint


def restore_content(
    skeletons: list[tuple[int, str]], chunks: list[tuple[int, str, str]]
) -> list[dict[str, Any]]:
    """The content list from stored skeletons and chunks (chunks in the order they were written)."""
    pieces: dict[tuple[int, str], list[str]] = {}
    for position, name, text in chunks:
        pieces.setdefault((position, name), []).append(text)
    content = []
    for position, raw in sorted(skeletons):
        block = json.loads(raw)
        for name in block.pop(_FIELDS_KEY, []):
            block[name] = "".join(pieces.get((position, name), []))
        content.append(block)
    return content
