"""The views: what the live terminal view and the pipe view show, with an injected console and clock."""

from __future__ import annotations

import io
import json
import sys

from rich.console import Console

import longcall
from longcall._engine import Generation, Hooks
from longcall.display import LiveView, PipeView, estimate_tokens, format_summary

PARAMS = {"model": "claude-haiku-4-5", "max_tokens": 64000, "messages": [{"role": "user", "content": "hi"}]}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sse(event: dict) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def start_events(kind: str = "text", index: int = 0, **block) -> bytes:
    return sse({"type": "content_block_start", "index": index, "content_block": {"type": kind, **block}})


MESSAGE_START = sse(
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        },
    }
)


def delta(kind: str, text: str, index: int = 0) -> bytes:
    field = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}[kind]
    return sse({"type": "content_block_delta", "index": index, "delta": {"type": kind, field: text}})


def console(height: int = 25) -> Console:
    return Console(file=io.StringIO(), width=80, height=height, color_system=None)


def follow(view) -> Generation:
    gen = Generation(
        dict(PARAMS),
        longcall.Policy(),
        hooks=Hooks(**view.hooks(), observers=[view]),
        now=0.0,
        wall=0.0,
        random=lambda: 0.5,
    )
    gen.request(0.0, 0.0)
    gen.feed(MESSAGE_START, 0.0)
    return gen


def shown(view: LiveView) -> str:
    out = console(view.console.height)
    out.print(view.render())
    return out.file.getvalue()  # type: ignore[attr-defined]


def test_the_status_line_counts_tokens_rate_time_attempts_and_cost():
    clock = Clock()
    view = LiveView(console=console(), clock=clock, markdown=False)
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    for _ in range(100):
        gen.feed(delta("text_delta", "word word "), 0.0)  # 10 characters: ~2.5 tokens each
    clock.now += 5

    screen = shown(view)

    status = screen.splitlines()[-1]
    assert status.startswith("~250 / 64,000 tokens · 50 tok/s · 0:05 · 1 attempt · $0.0013")
    assert "word word" in screen


def test_resumes_appear_in_the_status_line():
    clock = Clock()
    view = LiveView(console=console(), clock=clock)
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "Hello there. "), 0.0)
    gen.end(ConnectionResetError("reset"), 0.0, 0.0)
    gen.request(0.0, 0.0)

    *_, note, status = shown(view).splitlines()

    assert "2 attempts (1 resume)" in status
    assert note.startswith("⟳ resuming after: the connection failed")


def test_only_the_tail_of_a_long_text_is_rendered_live():
    view = LiveView(console=console(height=20), clock=Clock())
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    for line in range(5000):
        gen.feed(delta("text_delta", f"line {line}\n\n"), 0.0)

    screen = shown(view)

    assert len(screen.splitlines()) <= 19  # one row left for the cursor
    assert "line 4999" in screen and "line 4000" not in screen
    assert len(view._tail(60)) < 60 * 80 * 2  # what is rendered is bounded, however long the text


def test_a_code_fence_left_open_above_the_tail_is_reopened():
    view = LiveView(console=console(height=15), clock=Clock())
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "Intro\n\n``"), 0.0)
    gen.feed(delta("text_delta", "`python\n"), 0.0)  # a fence split across deltas
    for number in range(200):
        gen.feed(delta("text_delta", f"x = {number}\n"), 0.0)

    assert view._tail(10).startswith("```\n")
    gen.feed(delta("text_delta", "```\nAfter the code.\n"), 0.0)
    assert view._tail(1) == "After the code.\n"  # below the block: nothing to reopen


def test_thinking_is_shown_apart_then_folded_and_tool_input_streams():
    view = LiveView(console=console(), clock=Clock())
    gen = follow(view)
    gen.feed(start_events("thinking", thinking="", signature=""), 0.0)
    gen.feed(delta("thinking_delta", "Let me consider the harbor.\nFirst, the tides."), 0.0)
    assert "✻ thinking" in shown(view) and "First, the tides." in shown(view)

    gen.feed(sse({"type": "content_block_stop", "index": 0}), 0.0)
    gen.feed(start_events("tool_use", index=1, id="toolu_1", name="get_tides", input={}), 0.0)
    gen.feed(delta("input_json_delta", '{"port": "Bre', index=1), 0.0)
    gen.feed(delta("input_json_delta", 'st"}', index=1), 0.0)
    screen = shown(view)

    assert "✻ thought for ~" in screen and "First, the tides." not in screen
    assert "⚙ get_tides input" in screen and '{"port": "Brest"}' in screen


def test_print_result_shows_the_whole_text_and_a_summary():
    out = console()
    clock = Clock()
    view = LiveView(console=out, clock=clock, markdown=False)
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "The whole answer."), 0.0)
    gen.feed(sse({"type": "content_block_stop", "index": 0}), 0.0)
    gen.feed(
        sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}}),
        0.0,
    )
    gen.feed(sse({"type": "message_stop"}), 0.0)
    clock.now += 65
    message = gen.end(None, 0.0, 0.0).message

    view.print_result(message)

    printed = out.file.getvalue()  # type: ignore[attr-defined]
    assert "The whole answer." in printed
    assert "done (end_turn) · 4 output tokens · 10 input · $0.0000 · 1:05 · 1 attempt" in printed
    assert f"longcall show {gen.call_id}" in printed


def test_the_pipe_view_writes_only_text_to_stdout():
    out, err = io.StringIO(), io.StringIO()
    view = PipeView(out=out, err=err, clock=Clock())
    view.seed("Saved. ")
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "New."), 0.0)
    gen.end(ConnectionResetError("reset"), 0.0, 0.0)

    assert out.getvalue() == "Saved. New."
    notes = err.getvalue().splitlines()
    assert notes[0].startswith(f"longcall: call {gen.call_id} started (claude-haiku-4-5, max_tokens 64,000)")
    assert notes[1].startswith("longcall: attempt 1 ended after") and notes[1].endswith("trying again")


def test_estimates_and_summaries():
    assert estimate_tokens(400, 10) == 100
    assert estimate_tokens(10, 30) == 30
    line = format_summary(
        None,
        {"output_tokens": 1200, "input_tokens": 50, "cache_read_input_tokens": 7},
        "claude-haiku-4-5",
        3725,
        [],
        status="interrupted",
    )
    assert line == (
        "interrupted · 1,200 output tokens · 50 input, cache read 7 / write 0 · $0.0061 · 1:02:05 · "
        "0 attempts"
    )


def test_importing_longcall_does_not_import_rich():
    import subprocess

    code = "import sys, longcall; print('rich' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
