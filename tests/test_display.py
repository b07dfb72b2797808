"""The views: what the live terminal view and the pipe view show, with an injected console and clock."""

from __future__ import annotations

import io
import json
import sys

import pytest
from rich.console import Console

import longcall
from longcall._engine import Generation, Hooks
from longcall.display import LiveView, PipeView, estimate_tokens, format_summary
from longcall.display._format import size_text

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


def follow(view, policy: longcall.Policy | None = None) -> Generation:
    gen = Generation(
        dict(PARAMS),
        policy or longcall.Policy(),
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


def printed(view: LiveView) -> str:
    """What the view printed to its console: the scrollback."""
    return view.console.file.getvalue()  # type: ignore[attr-defined]


def test_finished_paragraphs_go_to_the_scrollback_and_only_the_one_being_written_is_live():
    view = LiveView(console=console(height=20), clock=Clock())
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "# The harbor\nFirst paragraph, about the tide"), 0.0)
    gen.feed(delta("text_delta", "s.\n\nSecond paragraph, still being wr"), 0.0)

    assert "The harbor" in printed(view) and "First paragraph, about the tides." in printed(view)
    live = shown(view)
    assert "Second paragraph, still being wr" in live and "First paragraph" not in live

    for line in range(5000):
        gen.feed(delta("text_delta", f"line {line}\n\n"), 0.0)

    live = shown(view)
    assert len(live.splitlines()) <= 19  # one row left for the cursor
    assert "line 4998" in printed(view) and "line 4999" not in live  # finished: printed once
    assert len(view._tail(60)) < 60 * 80 * 2  # what is rendered live is bounded


def test_a_long_paragraph_without_blank_lines_stays_live_until_it_ends_and_its_tail_fits():
    view = LiveView(console=console(height=12), clock=Clock())
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    for number in range(300):
        gen.feed(delta("text_delta", f"sentence {number} of one paragraph. "), 0.0)

    assert "sentence" not in printed(view)
    assert len(shown(view).splitlines()) <= 11 and "sentence 299" in shown(view)


def test_a_code_block_is_printed_whole_once_closed_and_reopened_in_its_live_tail():
    view = LiveView(console=console(height=15), clock=Clock())
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "Intro\n\n``"), 0.0)
    gen.feed(delta("text_delta", "`python\n"), 0.0)  # a fence split across deltas
    for number in range(200):
        gen.feed(delta("text_delta", f"x = {number}\n" + ("\n" if number == 5 else "")), 0.0)

    assert "Intro" in printed(view) and "x = 1" not in printed(view)  # a blank line inside code: no cut
    assert view._tail(10).startswith("```python\n")
    gen.feed(delta("text_delta", "```\nAfter the code.\n"), 0.0)
    assert "x = 199" in printed(view) and "```" not in printed(view)  # rendered as code, not as fences
    assert view._tail(1) == "After the code.\n"  # below the block: nothing to reopen


def test_plain_text_goes_to_the_scrollback_line_by_line():
    view = LiveView(console=console(), clock=Clock(), markdown=False)
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "one\ntwo\nthr"), 0.0)

    assert printed(view).splitlines() == ["one", "two"]
    assert "thr" in shown(view)


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

    assert "✻ thought for ~" in printed(view) and "First, the tides." not in screen + printed(view)
    assert "⚙ get_tides input" in screen and '{"port": "Brest"}' in screen
    gen.feed(sse({"type": "content_block_stop", "index": 1}), 0.0)
    gen.feed(start_events(index=2, text=""), 0.0)
    gen.feed(delta("text_delta", "Done.", index=2), 0.0)
    assert "⚙ get_tides: 17 characters of input" in printed(view)


def test_a_seam_leaves_a_marker_in_the_scrollback():
    view = LiveView(console=console(), clock=Clock(), seams=True)
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "Before the break, a half wo"), 0.0)
    gen.end(ConnectionResetError("reset"), 0.0, 0.0)
    gen.request(0.0, 0.0)
    gen.feed(MESSAGE_START, 0.0)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "rd and more."), 0.0)

    lines = printed(view).splitlines()
    marker = next(line for line in lines if line.startswith("⟳"))
    assert marker.startswith("⟳ connection dropped at ") and marker.endswith("· resumed by prefill")
    assert "Before the break, a half" in printed(view).split("⟳")[0]


def test_print_result_prints_the_rest_of_the_message_and_a_summary():
    out = console()
    clock = Clock()
    view = LiveView(console=out, clock=clock, markdown=False)
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "The first line.\nThe whole answer."), 0.0)
    gen.feed(sse({"type": "content_block_stop", "index": 0}), 0.0)
    gen.feed(
        sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}}),
        0.0,
    )
    gen.feed(sse({"type": "message_stop"}), 0.0)
    clock.now += 65
    message = gen.end(None, 0.0, 0.0).message

    view.print_result(message)

    lines = out.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[:2] == ["The first line.", "The whole answer."]  # each once
    assert "done (end_turn) · 4 output tokens · 10 input · $0.0000 · 1:05 · 1 attempt" in lines[2]
    assert f"longcall show {gen.call_id}" in lines[3]


def test_the_status_line_keeps_cost_and_attempts_on_narrow_screens():
    from longcall.display import format_status

    attempts = [longcall.Attempt(1), longcall.Attempt(2, kind="resume")]
    lines = {
        width: format_status(
            tokens=12_345,
            estimated=True,
            limit=64_000,
            rate=51.2,
            elapsed=125,
            attempts=attempts,
            cost=0.1234,
            width=width,
        )
        for width in (100, 60, 40, 30, 10)
    }

    assert lines[100] == "~12,345 / 64,000 tokens · 51 tok/s · 2:05 · 2 attempts (1 resume) · $0.1234"
    for width in (60, 40, 30):
        assert len(lines[width]) <= width and "$0.1234" in lines[width], lines[width]
        assert "2 att" in lines[width]
    assert "~12,345" in lines[60] and "tok/s" in lines[60]
    assert len(lines[10]) <= 10


def test_the_live_count_is_calibrated_by_the_servers_count_once_an_attempt_ended():
    view = LiveView(console=console(), clock=Clock(), markdown=False)
    gen = follow(view, longcall.Policy(continue_on_max_tokens=True))
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "x" * 800), 0.0)  # 200 tokens at 4 characters a token
    assert view.tokens() == 200 and view.tokens_estimated()
    gen.feed(sse({"type": "content_block_stop", "index": 0}), 0.0)
    gen.feed(
        sse(
            {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 100}}
        ),
        0.0,
    )
    gen.feed(sse({"type": "message_stop"}), 0.0)
    gen.end(None, 0.0, 0.0)  # the server said 100 tokens: 8 characters each; the call goes on
    assert not gen.finished
    gen.request(0.0, 0.0)
    gen.feed(MESSAGE_START, 0.0)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "y" * 80), 0.0)

    assert view.tokens() == 100 + 10


def test_the_pipe_view_writes_only_text_to_stdout_and_holds_back_an_unfinished_word():
    out, err = io.StringIO(), io.StringIO()
    view = PipeView(out=out, err=err, clock=Clock())
    view.seed("Saved. ")
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "New wo"), 0.0)
    assert out.getvalue() == "Saved. New "  # "wo" may be generated again differently
    gen.end(ConnectionResetError("reset"), 0.0, 0.0)

    notes = err.getvalue().splitlines()
    assert notes[0].startswith(f"longcall: call {gen.call_id} started (claude-haiku-4-5, max_tokens 64,000)")
    assert notes[1].startswith("longcall: attempt 1 ended after") and "trying again" in notes[1]


def test_the_pipe_view_ends_with_exactly_the_messages_text():
    out, err = io.StringIO(), io.StringIO()
    view = PipeView(out=out, err=err, clock=Clock())
    gen = follow(view)
    gen.feed(start_events(text=""), 0.0)
    gen.feed(delta("text_delta", "一二三四五六七八九十" * 10), 0.0)  # no spaces: held back 48 at most
    assert len(out.getvalue()) == 100 - 48
    gen.feed(sse({"type": "content_block_stop", "index": 0}), 0.0)
    gen.feed(
        sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}),
        0.0,
    )
    gen.feed(sse({"type": "message_stop"}), 0.0)
    gen.end(None, 0.0, 0.0)

    assert out.getvalue() == "一二三四五六七八九十" * 10  # a StringIO is no terminal: no newline added
    assert "differs" not in err.getvalue()


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


def test_while_waiting_to_retry_the_note_counts_down_and_names_the_host():
    clock = Clock()
    view = LiveView(console=console(), clock=clock, host="api.example.com")
    gen = follow(view)
    gen.end(ConnectionResetError("refused"), 0.0, 0.0)  # nothing arrived: a backoff before the retry
    assert gen.next_delay and gen.next_delay > 0.2
    clock.now += 0.1

    *_, note, status = shown(view).splitlines()

    left = gen.next_delay - 0.1
    assert note.startswith(f"⟳ retrying (api.example.com) in {left:.1f} s after: the connection failed")
    assert "1 attempt" in status


@pytest.mark.parametrize(
    ("count", "kb_decimals", "text"),
    [
        (999, 0, "999 bytes"),
        (1000, 0, "1 KB"),
        (5000, 1, "5.0 KB"),
        (999_499, 0, "999 KB"),
        (1_000_000, 1, "1.0 MB"),
        (2_345_678_901, 0, "2,345.7 MB"),
    ],
)
def test_a_byte_count_reads_as_bytes_kb_or_mb(count: int, kb_decimals: int, text: str) -> None:
    assert size_text(count, kb_decimals=kb_decimals) == text
