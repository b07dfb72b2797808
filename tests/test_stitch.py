"""Stitching a continuation onto a broken text block: no character missing, none doubled.

The model's answer is simulated exactly: a prefill answer continues the document right after the
sent text; an instruction answer may first repeat the last words or restart the sentence, and may or
may not begin with the whitespace that was stripped. Every answer is fed in random chunks.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from longcall._accumulate import Accumulator
from longcall._resume import INSTRUCTION, plan_continuation

# Overlap removal cannot tell a model repeating itself from a text that really repeats its last words
# right at the cut, so documents here never repeat a word (that is the heuristic's precondition).
WORDS = [
    "river",
    "stone",
    "light",
    "a",
    "the",
    "quiet",
    "Mountain",
    "don't",
    "x",
    "naïve",
    "雪",
    "bridge",
    "I",
    "to",
    "of",
    "lantern",
    "Sea",
    "evening",
    "walks",
    "well-known",
    "42",
    "(aside)",
    "é",
    "on",
    "mat",
    "cat",
    "sat",
    "green",
    "over",
    "under",
    "near",
    "far",
    "Tower",
    "map",
    "key",
    "door",
]
SEPARATORS = [" ", " ", " ", ", ", ". ", ".\n\n", "\n", "  ", "\t"]


@st.composite
def documents(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), unique=True, min_size=2, max_size=len(WORDS)))
    parts = [word + draw(st.sampled_from(SEPARATORS)) for word in words]
    text = "".join(parts)
    return text if draw(st.booleans()) else text.rstrip()


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c for c in cuts if 0 < c < len(text)})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True) if text[a:b]]


def start_events(acc: Accumulator) -> None:
    acc.feed(
        {
            "type": "message_start",
            "message": {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "model": "x",
                "content": [],
                "usage": {"input_tokens": 1},
            },
        }
    )


def feed_text(acc: Accumulator, pieces: list[str], stop: bool = True) -> None:
    acc.feed({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    for piece in pieces:
        acc.feed({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})
    if stop:
        acc.feed({"type": "content_block_stop", "index": 0})


def sentence_start(text: str) -> int:
    """Where the sentence that `text` ends in begins (after the last '. ' or newline)."""
    best = 0
    for mark in (". ", ".\n\n", "\n"):
        at = text.rfind(mark)
        if at >= 0:
            best = max(best, at + len(mark))
    return best


def stitch(
    document: str,
    cut: int,
    strategy: str,
    overlap: str,
    drop_gap: bool,
    first_cuts: list[int],
    answer_cuts: list[int],
) -> tuple[str, str, dict[str, Any]]:
    live: list[str] = []
    acc = Accumulator(on_text=live.append)
    acc.begin_attempt(None)
    start_events(acc)
    feed_text(acc, chunked(document[:cut], first_cuts), stop=False)
    original = {"model": "x", "max_tokens": 100, "messages": [{"role": "user", "content": "go"}]}
    plan = plan_continuation(original, acc, strategy=strategy, cache_resume=False, max_tokens=50)
    sent = plan.continuation.sent if plan.continuation else ""
    answer = document[len(sent) :] if sent else document
    if sent and plan.continuation and plan.continuation.shown:
        pass  # the cut-back fragment is in document[len(sent):] already
    if strategy == "instruction" and sent:
        if overlap == "repeat_words":
            words = sent.split()
            repeat = " ".join(words[-2:])
            answer = repeat + answer if answer[:1].isspace() or not answer else repeat + " " + answer.lstrip()
            if sent.endswith(repeat) is False:
                answer = document[len(sent) :]
        elif overlap == "restart_sentence":
            answer = sent[sentence_start(sent) :] + answer
    if drop_gap and sent:
        answer = answer.lstrip() if overlap == "none" or strategy == "prefill" else answer
    acc.begin_attempt(plan.continuation)
    start_events(acc)
    feed_text(acc, chunked(answer, answer_cuts))
    return acc.blocks[0].text_value(), "".join(live), plan.params


@settings(max_examples=300, deadline=None)
@given(
    documents(),
    st.data(),
    st.sampled_from(["prefill", "instruction"]),
    st.sampled_from(["none", "repeat_words", "restart_sentence"]),
)
def test_stitched_text_equals_the_unbroken_text(
    document: str, data: st.DataObject, strategy: str, overlap: str
) -> None:
    cut = data.draw(st.integers(1, len(document)))
    first_cuts = data.draw(st.lists(st.integers(0, cut), max_size=6))
    answer_cuts = data.draw(st.lists(st.integers(0, len(document) * 2), max_size=8))
    text, live, params = stitch(document, cut, strategy, overlap, False, first_cuts, answer_cuts)
    assert text == document
    assert live == document  # what the caller saw live is the same text, nothing shown twice
    last = params["messages"][-1]
    if strategy == "prefill" and last["role"] == "assistant":
        assert not last["content"][-1]["text"][-1:].isspace()  # the API refuses trailing whitespace
    if strategy == "instruction" and len(params["messages"]) > 1:
        assert last == {"role": "user", "content": INSTRUCTION}


@settings(max_examples=200, deadline=None)
@given(documents(), st.data())
def test_whitespace_stripped_for_prefill_is_put_back_when_the_answer_omits_it(
    document: str, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(1, len(document)))
    text, _, _ = stitch(document, cut, "prefill", "none", True, [], [])
    received = document[:cut]
    sent = received.rstrip()
    assert text == received + document[len(sent) :].lstrip()  # received text kept exactly, nothing doubled


def test_instruction_cuts_back_to_a_word_boundary_and_counts_it() -> None:
    acc = Accumulator()
    acc.begin_attempt(None)
    start_events(acc)
    feed_text(acc, ["The cat sat on th"], stop=False)
    original = {"model": "x", "max_tokens": 100, "messages": [{"role": "user", "content": "go"}]}
    plan = plan_continuation(original, acc, strategy="instruction", cache_resume=False, max_tokens=50)
    assert plan.params["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "The cat sat on"}],
    }
    assert plan.regenerated == len("th")


def test_repeated_sentence_is_removed() -> None:
    acc = Accumulator()
    acc.begin_attempt(None)
    start_events(acc)
    feed_text(acc, ["One two. The cat sat on "], stop=False)
    original = {"model": "x", "max_tokens": 100, "messages": [{"role": "user", "content": "go"}]}
    plan = plan_continuation(original, acc, strategy="instruction", cache_resume=False, max_tokens=50)
    acc.begin_attempt(plan.continuation)
    start_events(acc)
    feed_text(acc, ["The cat", " sat on the", " mat."])
    assert acc.blocks[0].text_value() == "One two. The cat sat on the mat."


def test_prefill_request_keeps_the_prompt_and_marks_it_for_the_cache() -> None:
    acc = Accumulator()
    acc.begin_attempt(None)
    start_events(acc)
    feed_text(acc, ["Hello world  "], stop=False)
    original = {"model": "x", "max_tokens": 100, "messages": [{"role": "user", "content": "go"}]}
    plan = plan_continuation(original, acc, strategy="prefill", cache_resume=True, max_tokens=50)
    assert plan.params["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "go", "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello world"}]},
    ]
    assert original["messages"] == [{"role": "user", "content": "go"}]  # the caller's params untouched


def test_a_cut_back_fragment_is_not_shown_twice_even_after_a_failed_continuation() -> None:
    live: list[str] = []
    acc = Accumulator(on_text=live.append)
    acc.begin_attempt(None)
    start_events(acc)
    feed_text(acc, ["The cat sat on th"], stop=False)
    original = {"model": "x", "max_tokens": 100, "messages": [{"role": "user", "content": "go"}]}
    plan = plan_continuation(original, acc, strategy="instruction", cache_resume=False, max_tokens=50)
    acc.begin_attempt(plan.continuation)  # this continuation fails before any content
    start_events(acc)
    acc.finish_attempt()
    plan = plan_continuation(original, acc, strategy="instruction", cache_resume=False, max_tokens=50)
    acc.begin_attempt(plan.continuation)
    start_events(acc)
    feed_text(acc, ["the", " mat."])
    assert acc.blocks[0].text_value() == "The cat sat on the mat."
    assert "".join(live) == "The cat sat on the mat."
