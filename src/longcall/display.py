"""Showing a generation to a person: a live terminal view, or plain text for pipes.

Both views are fed by the engine's hooks (`on_text`, `on_thinking`, `on_tool_input`, `on_attempt`)
and follow the call as an `Observer`; both are made with `hooks()` and `observers` to hand to `wrap()`
or `journal.resume()`.

- `LiveView` (a terminal): rich's `Live` pulls a snapshot at its refresh rate (`get_renderable`);
  the hooks only append to lists, so the hot path stays cheap. Rendering the whole Markdown document
  on every refresh would cost time quadratic in its length, so the live view renders only the tail
  that fits the screen (the last lines, at most `tail_lines`), closing a code fence left open above
  it; when the call ends the live region is cleared and the whole text is printed once. Thinking is
  shown apart and dimmed, tool input as it streams, and a status line counts tokens against the
  limit, tokens per second, elapsed time, attempts and resumes, and the cost so far.
- `PipeView` (stdout is not a terminal): only the generated text goes to stdout, as it arrives;
  status lines go to stderr.

rich is imported here only: `import longcall` does not import it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TextIO

from ._catalog import cost as price_of
from ._engine import Generation, LongcallMessage
from ._record import Attempt

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult

__all__ = ["LiveView", "OutputClosed", "PipeView", "estimate_tokens", "format_summary"]

# Characters per token, to estimate output tokens while streaming (the API reports them at the end).
_CHARS_PER_TOKEN = 4.0
_THINKING_LINES = 4
_TOOL_LINES = 6


def estimate_tokens(chars: int, deltas: int) -> int:
    """Output tokens so far, estimated: never fewer than the deltas received (each is a token or more)."""
    return max(deltas, round(chars / _CHARS_PER_TOKEN))


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _money(amount: float | None) -> str:
    if amount is None:
        return "$?"
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


def _attempt_counts(attempts: Iterable[Attempt]) -> tuple[int, int, int, int]:
    """(attempts, retries, resumes, continuations)."""
    total = retries = resumes = continues = 0
    for attempt in attempts:
        total += 1
        retries += attempt.kind == "retry"
        resumes += attempt.kind == "resume"
        continues += attempt.kind == "continue"
    return total, retries, resumes, continues


def _attempts_text(attempts: list[Attempt]) -> str:
    total, retries, resumes, continues = _attempt_counts(attempts)
    parts = [f"{total} attempt{'s' if total != 1 else ''}"]
    extra = [
        f"{count} {name}{'s' if count != 1 else ''}"
        for count, name in ((resumes, "resume"), (retries, "retry"), (continues, "continuation"))
        if count
    ]
    if extra:
        parts.append("(" + ", ".join(extra).replace("retrys", "retries") + ")")
    return " ".join(parts)


def _cost(usage: dict[str, Any], model: str) -> float | None:
    if not model:
        return None
    try:
        return price_of(usage, model)
    except Exception:  # noqa: BLE001 - a bad price file must not break the display
        return None


def format_summary(
    message: LongcallMessage | None,
    usage: dict[str, Any],
    model: str,
    elapsed: float,
    attempts: list[Attempt],
    *,
    status: str = "done",
) -> str:
    """One line for people: how it ended, tokens, cost, time and attempts."""
    out = int(usage.get("output_tokens") or 0)
    inp = int(usage.get("input_tokens") or 0)
    cache_read = int(usage.get("cache_read_input_tokens") or 0)
    cache_write = int(usage.get("cache_creation_input_tokens") or 0)
    head = status
    if message is not None and message.stop_reason:
        head += f" ({message.stop_reason})"
    cache = f", cache read {cache_read:,} / write {cache_write:,}" if cache_read or cache_write else ""
    return (
        f"{head} · {out:,} output tokens · {inp:,} input{cache} · {_money(_cost(usage, model))} · "
        f"{_duration(elapsed)} · {_attempts_text(attempts)}"
    )


def _failure_note(attempt: Attempt) -> str:
    what = attempt.error or "failed"
    return f"attempt {attempt.number} ended after {attempt.bytes_received:,} bytes: {what}"


class _ToolInput:
    """One tool call's input JSON as it streams."""

    __slots__ = ("name", "parts", "chars")

    def __init__(self, name: str) -> None:
        self.name = name
        self.parts: list[str] = []
        self.chars = 0


class _Follower:
    """What both views share: the call being followed, counts, and the Observer methods."""

    journaled = True  # False when no journal records the call: then no `longcall resume` hint

    def __init__(
        self, *, model: str, max_tokens: int | None, budget: int | None, clock: Callable[[], float]
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.budget = budget
        self.clock = clock
        self.gen: Generation | None = None
        self.call_id: str | None = None
        self.started = clock()
        self.ended: float | None = None
        self.first_token: float | None = None
        self.chars = 0  # text, thinking and tool input received (seeded text included)
        self.deltas = 0
        self.final: dict[str, Any] | None = None  # the message as the API's JSON, once the call ended
        self.error: BaseException | None = None
        self._seeded_tokens = 0

    # hooks (the hot path: append and count, nothing else)

    def hooks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_text": self.on_text,
            "on_thinking": self.on_thinking,
            "on_tool_input": self.on_tool_input,
            "on_attempt": self.on_attempt,
        }

    def _count(self, text: str) -> None:
        if self.first_token is None:
            self.first_token = self.clock()
        self.chars += len(text)
        self.deltas += 1

    def on_text(self, text: str) -> None:
        self._count(text)

    def on_thinking(self, text: str) -> None:
        self._count(text)

    def on_tool_input(self, text: str) -> None:
        self._count(text)

    def on_attempt(self, attempt: Attempt) -> None:
        pass

    # Observer

    def call_started(self, call: Generation) -> None:
        self.gen = call
        self.call_id = call.call_id
        self.model = str(call.params.get("model") or self.model)
        self.max_tokens = call.max_tokens
        self.budget = call.policy.max_output_tokens_total

    def checkpoint(self, call: Generation) -> None:
        pass

    def attempt_ended(self, call: Generation, attempt: Attempt) -> None:
        pass

    def call_ended(
        self, call: Generation, message: LongcallMessage | None, error: BaseException | None
    ) -> None:
        self.ended = self.clock()
        self.final = call.acc.message_dict()
        self.error = error

    # figures

    @property
    def attempts(self) -> list[Attempt]:
        return self.gen.attempts if self.gen is not None else []

    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else self.clock()) - self.started

    def tokens(self) -> int:
        return estimate_tokens(self.chars, self.deltas)

    def limit(self) -> int | None:
        return self.budget or self.max_tokens

    def rate(self) -> float:
        if self.first_token is None:
            return 0.0
        seconds = (self.ended if self.ended is not None else self.clock()) - self.first_token
        return (self.tokens() - self._seeded_tokens) / seconds if seconds > 0.05 else 0.0

    def seed(self, text: str) -> None:
        """Text received before (a journaled call being resumed): counted as output, not in the rate."""
        self.chars += len(text)
        self._seeded_tokens = self.tokens()

    def usage(self) -> dict[str, Any]:
        """Usage so far: the server's figures for finished requests, an estimate for the current one."""
        if self.final is not None:
            return dict(self.final.get("usage") or {})
        gen = self.gen
        if gen is None:
            return {"output_tokens": self.tokens()}
        usage = gen.acc.total_usage()
        usage["output_tokens"] = max(int(usage.get("output_tokens") or 0), self.tokens())
        return usage


class LiveView(_Follower):
    """The terminal view of a generation (rich `Live`).

    ```python
    view = LiveView(model=model)
    client = longcall.wrap(anthropic.Anthropic(), observers=[view], **view.hooks())
    with view:
        message = client.messages.create(...)
    view.print_result(message)
    ```

    Args:
        console: where to draw; a new `rich.console.Console()` if None. Tests pass
            `Console(file=io.StringIO(), width=80, color_system=None)`.
        clock: monotonic seconds (tests inject one).
        markdown: render the text as Markdown (True) or show it as plain text.
        model, max_tokens, budget: shown before the first request starts (then taken from the call).
        refresh_per_second: how often the live region is redrawn.
        tail_lines: at most this many source lines of text are rendered live (fewer when the screen is
            smaller); the whole text is printed when the call ends.
    """

    def __init__(
        self,
        *,
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
        markdown: bool = True,
        model: str = "",
        max_tokens: int | None = None,
        budget: int | None = None,
        refresh_per_second: float = 8.0,
        tail_lines: int = 60,
    ) -> None:
        super().__init__(model=model, max_tokens=max_tokens, budget=budget, clock=clock)
        from rich.console import Console

        self.console = console if console is not None else Console()
        self.markdown = markdown
        self.refresh_per_second = refresh_per_second
        self.tail_lines = tail_lines
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._thinking_chars = 0
        self._tools: list[_ToolInput] = []
        self._mode = ""  # what arrived last: "text", "thinking" or "tool"
        self._fences = 0  # "```" seen in the text so far, to close a fence the tail cuts into
        self._carry = ""  # the text's last two characters, for a fence split across deltas
        self._live: Any = None

    # -- hooks ------------------------------------------------------------------------------------

    def on_text(self, text: str) -> None:
        self._count(text)
        self._text.append(text)
        self._mode = "text"
        if "`" in text:
            joined = self._carry + text
            self._fences += joined.count("```") - self._carry.count("```")
        self._carry = (self._carry + text)[-2:]

    def on_thinking(self, text: str) -> None:
        self._count(text)
        self._thinking.append(text)
        self._thinking_chars += len(text)
        self._mode = "thinking"

    def on_tool_input(self, text: str) -> None:
        self._count(text)
        if self._mode != "tool" or not self._tools:
            self._tools.append(_ToolInput(self._tool_name()))
        tool = self._tools[-1]
        tool.parts.append(text)
        tool.chars += len(text)
        self._mode = "tool"

    def _tool_name(self) -> str:
        gen = self.gen
        if gen is not None:
            for block in reversed(gen.acc.blocks):
                if "name" in block.start:
                    return str(block.start.get("name"))
        return "tool"

    def seed(self, text: str) -> None:
        """Text received before (a journaled call being resumed): shown, and counted as output."""
        if text:
            self.on_text(text)
            self.chars -= len(text)
            self.deltas -= 1
            self.first_token = None
        super().seed(text)

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> LiveView:
        from rich.live import Live

        self.started = self.clock()
        self._live = Live(
            get_renderable=self._screen,
            console=self.console,
            refresh_per_second=self.refresh_per_second,
            transient=True,
        )
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    # -- rendering --------------------------------------------------------------------------------

    def text(self) -> str:
        return "".join(self._text)

    def _tail(self, lines: int) -> str:
        """The last `lines` source lines of the text, without joining the whole of it."""
        parts: list[str] = []
        newlines = 0
        budget = lines * max(20, self.console.width) * 2  # long lines wrap: enough characters to fill
        size = 0
        for part in reversed(self._text):
            parts.append(part)
            newlines += part.count("\n")
            size += len(part)
            if newlines > lines or size > budget:
                break
        tail = "".join(reversed(parts))
        if newlines > lines:
            tail = "\n".join(tail.split("\n")[-lines - 1 :])
        if len(tail) > budget:
            tail = tail[-budget:]
        if (self._fences - tail.count("```")) % 2:
            tail = "```\n" + tail  # the tail starts inside a code block
        return tail

    def status(self) -> str:
        """The status line, as plain text."""
        limit = self.limit()
        tokens = f"~{self.tokens():,}" + (f" / {limit:,} tokens" if limit else " tokens")
        parts = [
            tokens,
            f"{self.rate():,.0f} tok/s",
            _duration(self.elapsed()),
            _attempts_text(self.attempts),
            _money(_cost(self.usage(), self.model)),
        ]
        return " · ".join(parts)

    def _note(self) -> str:
        attempts = self.attempts
        if len(attempts) >= 2 and attempts[-1].bytes_received == 0 and attempts[-2].error:
            kind = attempts[-1].kind
            return (
                f"{'resuming' if kind in ('resume', 'continue') else 'retrying'} after: {attempts[-2].error}"
            )
        if attempts and attempts[-1].error and attempts[-1].ended_at is not None and self.ended is None:
            return f"waiting to retry: {attempts[-1].error}"
        return ""

    def render(self) -> RenderableType:
        """The live region now: thinking, tool input, the tail of the text and the status line."""
        return _Screen(self)

    def _screen(self) -> RenderableType:
        return self.render()

    def _side(self) -> list[RenderableType]:
        from rich.text import Text

        side: list[RenderableType] = []
        if self._thinking:
            if self._mode == "thinking":
                lines = "".join(self._thinking[-400:]).splitlines()[-_THINKING_LINES:]
                side.append(Text("✻ thinking\n" + "\n".join(lines), style="dim italic"))
            else:
                side.append(
                    Text(
                        f"✻ thought for ~{round(self._thinking_chars / _CHARS_PER_TOKEN):,} tokens",
                        style="dim",
                    )
                )
        for number, tool in enumerate(self._tools):
            if number == len(self._tools) - 1 and self._mode == "tool":
                lines = "".join(tool.parts[-400:]).splitlines()[-_TOOL_LINES:]
                side.append(Text(f"⚙ {tool.name} input\n" + "\n".join(lines), style="cyan"))
            else:
                side.append(Text(f"⚙ {tool.name}: {tool.chars:,} characters of input", style="cyan"))
        return side

    def _body(self, lines: int) -> RenderableType:
        from rich.markdown import Markdown
        from rich.text import Text

        tail = self._tail(lines)
        return Markdown(tail) if self.markdown else Text(tail)

    # -- the end ----------------------------------------------------------------------------------

    def print_result(
        self, message: LongcallMessage | None, *, show_text: bool = True, status: str = "done"
    ) -> None:
        """Print the whole text once (the live view showed only its tail), then the summary."""
        from rich.markdown import Markdown
        from rich.text import Text

        if self._thinking:  # kept in the message and the journal (`longcall show ID --json`), not reprinted
            tokens = round(self._thinking_chars / _CHARS_PER_TOKEN)
            self.console.print(Text(f"✻ thought for ~{tokens:,} tokens", style="dim"))
        for tool in self._tools:
            self.console.print(Text(f"⚙ {tool.name}: {tool.chars:,} characters of input", style="cyan"))
        if show_text:
            text = self.text()
            if text:
                self.console.print(Markdown(text) if self.markdown else Text(text))
        summary = format_summary(
            message, self.usage(), self.model, self.elapsed(), self.attempts, status=status
        )
        self.console.print(Text("─ " + summary, style="bold green" if status == "done" else "bold yellow"))
        if self.call_id and self.journaled:
            self.console.print(Text(f"  call {self.call_id} · longcall show {self.call_id}", style="dim"))

    def print_note(self, text: str, *, style: str = "") -> None:
        from rich.text import Text

        self.console.print(Text(text, style=style))


class _Screen:
    """The live region, cut to the screen's height: the text's tail gives way to the status line."""

    def __init__(self, view: LiveView) -> None:
        self.view = view

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment
        from rich.text import Text

        view = self.view
        height = options.max_height or console.size.height
        status = Text(view.status(), style="bold", no_wrap=True, overflow="ellipsis")
        rows: list[list[Segment]] = []
        for part in view._side():
            rows += console.render_lines(part, options, pad=False)
        available = max(3, height - len(rows) - 3)
        if view._text:
            body = console.render_lines(view._body(min(view.tail_lines, available)), options, pad=False)
            rows += body[-available:]
        rows += console.render_lines(Text("─" * min(options.max_width, 40), style="dim"), options, pad=False)
        note = view._note()
        if note:
            rows += console.render_lines(
                Text("⟳ " + note, style="yellow", no_wrap=True, overflow="ellipsis"), options, pad=False
            )
        rows += console.render_lines(status, options, pad=False)
        rows = rows[-max(1, height - 1) :]
        for number, row in enumerate(rows):
            yield from row
            if number < len(rows) - 1:
                yield Segment.line()


class OutputClosed(KeyboardInterrupt):
    """The reader of stdout went away (`longcall ... | head`): stop the call.

    A KeyboardInterrupt, so that the engine stops and records the call as interrupted exactly as for
    Ctrl-C (an ordinary exception from a hook would be taken for a network failure and retried).
    """


class PipeView(_Follower):
    """For a stdout that is not a terminal: the generated text to `out` as it arrives, status to `err`.

    Args:
        out: where the text goes (stdout).
        err: where status lines go (stderr).
        clock: monotonic seconds.
        flush_interval: seconds between flushes of `out` while text streams.
        show_text: False to write no text (it goes to a file, or JSON follows), only status lines.
    """

    def __init__(
        self,
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        model: str = "",
        max_tokens: int | None = None,
        budget: int | None = None,
        flush_interval: float = 0.1,
        show_text: bool = True,
    ) -> None:
        super().__init__(model=model, max_tokens=max_tokens, budget=budget, clock=clock)
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.flush_interval = flush_interval
        self.show_text = show_text
        self._flushed = clock()
        self.written: list[str] = []

    def on_text(self, text: str) -> None:
        self._count(text)
        if self.show_text:
            try:
                self.out.write(text)
                now = self.clock()
                if now - self._flushed >= self.flush_interval:
                    self.out.flush()
                    self._flushed = now
            except BrokenPipeError:
                raise OutputClosed() from None

    def seed(self, text: str) -> None:
        if text and self.show_text:
            self.out.write(text)
            self.out.flush()
        super().seed(text)

    def note(self, text: str) -> None:
        self.err.write(f"longcall: {text}\n")
        self.err.flush()

    def call_started(self, call: Generation) -> None:
        super().call_started(call)
        hint = f"; if it is cut off: longcall resume {call.call_id}" if self.journaled else ""
        self.note(f"call {call.call_id} started ({self.model}, max_tokens {call.max_tokens:,}){hint}")

    def on_attempt(self, attempt: Attempt) -> None:
        if attempt.error and self.gen is not None and not self.gen.finished:  # the call goes on
            self.note(_failure_note(attempt) + "; trying again")

    def __enter__(self) -> PipeView:
        self.started = self.clock()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.out.flush()
        except BrokenPipeError:
            if exc[0] is None:
                raise  # the call ended, then the reader left: the command exits quietly
            # else the exception already on its way (OutputClosed, an error) is the one to report

    def print_result(
        self, message: LongcallMessage | None, *, show_text: bool = True, status: str = "done"
    ) -> None:
        self.out.flush()
        self.note(
            format_summary(message, self.usage(), self.model, self.elapsed(), self.attempts, status=status)
        )

    def print_note(self, text: str, *, style: str = "") -> None:
        self.note(text)
