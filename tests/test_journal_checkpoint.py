"""Appended checkpoints: whatever the accumulator does to its blocks between two checkpoints (append,
cut back for a continuation, drop, close, reopen), the stored pieces join back into its content."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from longcall._accumulate import Block
from longcall.journal._checkpoint import Progress, restore_content

STARTS = {
    "text": {"type": "text", "text": ""},
    "thinking": {"type": "thinking", "thinking": "", "signature": ""},
    "tool_use": {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}},
    "restored": {"type": "text", "text": "saved before a crash. "},  # as Accumulator.restore makes it
}
FIELD_OF = {"text": "text", "thinking": "thinking", "tool_use": "json"}  # by block type

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["海港的潮汐表", "https://example.com/a/very/long/url", "word ", " ", "\n\n"]
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("new"), st.sampled_from(sorted(STARTS))),
        st.tuples(st.just("append"), st.integers(0, 5), texts),
        st.tuples(st.just("cut"), st.integers(0, 5), st.integers(0, 30)),
        st.tuples(st.just("truncate"), st.integers(0, 5)),
        st.tuples(st.just("close"), st.integers(0, 5)),
        st.tuples(st.just("reopen"), st.integers(0, 5)),
        st.tuples(st.just("cite"), st.integers(0, 5)),
        st.just(("checkpoint",)),
    ),
    max_size=60,
)


class Store:
    """The two checkpoint tables, as the writer applies a checkpoint to them."""

    def __init__(self) -> None:
        self.skeletons: dict[int, str] = {}
        self.chunks: list[tuple[int, str, str]] = []

    def apply(self, checkpoint: Any) -> None:
        if checkpoint.truncate_at is not None:
            cut = checkpoint.truncate_at
            self.skeletons = {p: s for p, s in self.skeletons.items() if p < cut}
            self.chunks = [c for c in self.chunks if c[0] < cut]
        self.skeletons.update(dict(checkpoint.skeletons))
        self.chunks.extend(checkpoint.chunks)

    def content(self) -> list[dict[str, Any]]:
        return restore_content(sorted(self.skeletons.items()), self.chunks)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_restored_content_is_the_accumulators_content(ops: list[tuple]):
    blocks: list[Block] = []
    progress = Progress()
    store = Store()
    for op in ops:
        kind = op[0]
        if kind == "new":
            blocks.append(Block(dict(STARTS[op[1]]), len(blocks)))
        elif kind == "checkpoint":
            store.apply(progress.take(blocks, {"id": "msg_1"}))
            assert store.content() == [block.to_dict() for block in blocks]
        elif not blocks:
            continue
        else:
            block = blocks[op[1] % len(blocks)] if kind != "truncate" else None
            if kind == "append" and block is not None and not block.closed:
                getattr(block, FIELD_OF[block.type]).append(op[2])
            elif kind == "cut" and block is not None and block.type == "text":
                whole = block.text_value()  # what plan_continuation does to the block it continues
                block.start = {**block.start, "text": ""}
                kept = whole[: max(0, len(whole) - op[2])]
                block.text = [kept] if kept else []
            elif kind == "truncate":
                del blocks[op[1] % (len(blocks) + 1) :]
            elif kind == "close" and block is not None:
                block.closed = True
                if block.json:
                    block.input = {"raw": block.raw_json()}
            elif kind == "reopen" and block is not None and block.type == "text":
                block.closed = False
            elif kind == "cite" and block is not None and block.type == "text" and not block.closed:
                block.citations = [*(block.citations or []), {"type": "char_location", "cited_text": "x"}]
    store.apply(progress.take(blocks, {"id": "msg_1"}))
    assert store.content() == [block.to_dict() for block in blocks]


def test_a_checkpoint_carries_only_what_is_new():
    block = Block(dict(STARTS["text"]), 0)
    progress = Progress()
    block.text.append("first part. ")
    first = progress.take([block], {"id": "m"})
    block.text.append("second part.")
    second = progress.take([block], {"id": "m"})
    third = progress.take([block], {"id": "m"})

    assert first.truncate_at == 0 and first.chunks == [(0, "text", "first part. ")]
    assert second.truncate_at is None and second.chunks == [(0, "text", "second part.")]
    assert second.skeletons == []  # the block's shape did not change
    assert third.chunks == [] and third.skeletons == []


def test_a_closed_block_is_not_looked_at_again():
    done = Block(dict(STARTS["tool_use"]), 0)
    done.json.append('{"q": "tides"}')
    done.close()
    live = Block(dict(STARTS["text"]), 1)
    progress = Progress()
    first = progress.take([done, live], {})
    live.text.append("more")
    second = progress.take([done, live], {})

    assert [p for p, _ in first.skeletons] == [0, 1]
    assert second.chunks == [(1, "text", "more")] and second.skeletons == []
