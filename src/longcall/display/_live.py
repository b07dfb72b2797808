"""The terminal view: finished parts printed to the scrollback above rich's `Live`, the rest live."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._engine import LongcallMessage
from .._record import Attempt
from ._follow import _Follower
from ._format import _CHARS_PER_TOKEN, _cost, _text_of, format_status, format_summary, seam_note

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult

_THINKING_LINES = 4
_TOOL_LINES = 6
_FENCES = ("```", "~~~")


class _ToolInput:
    """One tool call's input JSON as it streams."""

    __slots__ = ("name", "parts", "chars")

    def __init__(self, name: str) -> None:
        self.name = name
        self.parts: list[str] = []
        self.chars = 0


class LiveView(_Follower):
    """The terminal view of a generation (rich `Live`), with the finished text in the scrollback.

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
        tail_lines: at most this many source lines of the part being written are rendered live.
        seams: leave a marker in the scrollback where an attempt broke and the call went on.
        host: the server's host, named while waiting to retry.
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
        seams: bool = False,
        host: str = "",
    ) -> None:
        super().__init__(model=model, max_tokens=max_tokens, budget=budget, clock=clock, host=host)
        from rich.console import Console

        self.console = console if console is not None else Console()
        self.markdown = markdown
        self.refresh_per_second = refresh_per_second
        self.tail_lines = tail_lines
        self.seams = seams
        self.printed = 0  # characters of the text already printed to the scrollback
        self._pending: list[str] = []  # the text not printed yet: the part being written
        self._fence = ""  # the opening line of a code block the printed text left open, else ""
        self._thinking: list[str] = []
        self._thinking_chars = 0
        self._tools: list[_ToolInput] = []
        self._mode = ""  # what arrived last: "text", "thinking" or "tool"
        self._seam_pending = False  # an attempt failed: mark the seam when the next one brings text
        self._live: Any = None

    # -- hooks ------------------------------------------------------------------------------------

    def on_text(self, text: str) -> None:
        self._count(text)
        if self._mode != "text":
            self._block_ended()
        self._mode = "text"
        if self._seam_pending:
            self._mark_seam()
        self._pending.append(text)
        if "\n" in text:
            self._print_finished()

    def on_thinking(self, text: str) -> None:
        self._count(text)
        if self._mode != "thinking":
            self._block_ended()
        self._thinking.append(text)
        self._thinking_chars += len(text)
        self._mode = "thinking"

    def on_tool_input(self, text: str) -> None:
        self._count(text)
        if self._mode != "tool" or not self._tools:
            self._block_ended()
            self._tools.append(_ToolInput(self._tool_name()))
        tool = self._tools[-1]
        tool.parts.append(text)
        tool.chars += len(text)
        self._mode = "tool"

    def on_attempt(self, attempt: Attempt) -> None:
        super().on_attempt(attempt)
        if attempt.error and self.gen is not None and not self.gen.finished:
            self._seam_pending = self.seams

    def _tool_name(self) -> str:
        gen = self.gen
        if gen is not None:
            for block in reversed(gen.acc.blocks):
                if "name" in block.start:
                    return str(block.start.get("name"))
        return "tool"

    def seed(self, text: str) -> None:
        """Text received before (a journaled call being resumed): printed, and counted as output."""
        if text:
            self._pending.append(text)
            self._print_finished()
        super().seed(text)

    # -- the scrollback ---------------------------------------------------------------------------

    def _print(self, renderable: RenderableType) -> None:
        """Print above the live region. Under Live's lock: its refresh thread must not draw the live
        region in between (the cursor would be moved by a stale height, leaving a copy behind)."""
        live = self._live
        if live is None:
            self.console.print(renderable)
            return
        with live._lock:
            self.console.print(renderable)

    def _block_ended(self) -> None:
        """A block ended (another kind began): print what is left of it, folded for thinking and tools."""
        from rich.text import Text

        if self._mode == "text":
            self._print_finished(everything=True)
        elif self._mode == "thinking":
            tokens = round(self._thinking_chars / _CHARS_PER_TOKEN)
            self._print(Text(f"✻ thought for ~{tokens:,} tokens", style="dim"))
        elif self._mode == "tool" and self._tools:
            tool = self._tools[-1]
            self._print(Text(f"⚙ {tool.name}: {tool.chars:,} characters of input", style="cyan"))

    def _mark_seam(self) -> None:
        from rich.text import Text

        self._seam_pending = False
        attempts = self.attempts
        failed = next((a for a in reversed(attempts[:-1]) if a.error), None)
        if failed is None or not attempts:
            return
        self._print_finished(everything=True, up_to_word=True)
        self._print(Text(seam_note(failed, attempts[-1]), style="yellow"))

    def _print_finished(self, *, everything: bool = False, up_to_word: bool = False) -> None:
        """Print the finished parts of the pending text above the live region; keep the rest live."""
        pending = "".join(self._pending)
        if everything:
            cut = len(pending)
            if up_to_word:  # a seam: the unfinished word may be generated again; keep it live
                cut = max(pending.rfind(" "), pending.rfind("\n")) + 1
            fence = _fence_after(pending[:cut], self._fence)
        else:
            cut, fence = _finished_part(pending, self._fence, markdown=self.markdown)
        if cut <= 0:
            return
        opener = self._fence
        # The live region is drawn again right after the print: it must no longer hold this part.
        self.printed += cut
        self._fence = fence
        self._pending = [pending[cut:]] if cut < len(pending) else []
        self._show_text(pending[:cut], opener)

    def _show_text(self, text: str, fence: str) -> None:
        from rich.markdown import Markdown
        from rich.text import Text

        if not self.markdown:
            self._print(Text(text.removesuffix("\n")))
            return
        if fence:  # the part continues a code block printed before: render it as code again
            text = fence + "\n" + text
        if not text.strip():
            return
        self._print(Markdown(text))

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
        """The text not yet in the scrollback (the part being written)."""
        return "".join(self._pending)

    def _tail(self, lines: int) -> str:
        """The last `lines` source lines of the pending text, a code block left open reopened."""
        tail = "".join(self._pending)
        budget = lines * max(20, self.console.width) * 2  # long lines wrap: enough characters to fill
        if tail.count("\n") > lines:
            tail = "\n".join(tail.split("\n")[-lines - 1 :])
        if len(tail) > budget:
            tail = tail[-budget:]
        opener = _fence_after("".join(self._pending)[: -len(tail) or None], self._fence) if tail else ""
        if opener:
            tail = opener + "\n" + tail  # the tail starts inside a code block
        return tail

    def status(self, width: int | None = None) -> str:
        """The status line, as plain text, fitted to `width` (default: the console's)."""
        return format_status(
            tokens=self.tokens(),
            estimated=self.tokens_estimated(),
            limit=self.limit(),
            rate=self.rate(),
            elapsed=self.elapsed(),
            attempts=self.attempts,
            cost=_cost(self.usage(), self.model),
            width=self.console.width if width is None else width,
        )

    def _note(self) -> str:
        return self.waiting_note()

    def render(self) -> RenderableType:
        """The live region now: thinking, tool input, the part being written and the status line."""
        return _Screen(self)

    def _screen(self) -> RenderableType:
        return self.render()

    def _side(self) -> list[RenderableType]:
        from rich.text import Text

        side: list[RenderableType] = []
        if self._thinking and self._mode == "thinking":
            lines = "".join(self._thinking[-400:]).splitlines()[-_THINKING_LINES:]
            side.append(Text("✻ thinking\n" + "\n".join(lines), style="dim italic"))
        if self._tools and self._mode == "tool":
            tool = self._tools[-1]
            lines = "".join(tool.parts[-400:]).splitlines()[-_TOOL_LINES:]
            side.append(Text(f"⚙ {tool.name} input\n" + "\n".join(lines), style="cyan"))
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
        """Print what is not in the scrollback yet (the message's text after what was printed), then
        the summary."""
        from rich.text import Text

        if self._mode != "text":
            self._block_ended()
            self._mode = ""
        final = _text_of(self.final) if self.final is not None else None
        if final is not None and len(final) >= self.printed:
            # The message is the authority: the live text may differ in a word generated again.
            self._pending = [final[self.printed :]]
        if show_text or self.printed:
            self._print_finished(everything=True)
        summary = format_summary(
            message, self.usage(), self.model, self.elapsed(), self.attempts, status=status
        )
        self.console.print(Text("─ " + summary, style="bold green" if status == "done" else "bold yellow"))
        if self.call_id and self.journaled:
            self.console.print(Text(f"  call {self.call_id} · longcall show {self.call_id}", style="dim"))

    def print_note(self, text: str, *, style: str = "") -> None:
        from rich.text import Text

        self.console.print(Text(text, style=style))


def _fence_line(line: str) -> bool:
    return line.lstrip(" ").startswith(_FENCES)


def _fence_after(text: str, fence: str) -> str:
    """The opening line of the code block open at the end of `text`, given the one open before it."""
    for line in text.split("\n"):
        if _fence_line(line):
            fence = "" if fence else line.strip()
    return fence


def _finished_part(text: str, fence: str, *, markdown: bool) -> tuple[int, str]:
    """How much of `text` is finished and can be printed on its own, and the code block open there.

    Markdown: up to the last blank line outside a code block, or the end of a heading, a list item or
    a closed code block. Plain text: up to the last line end.
    """
    if not markdown:
        end = text.rfind("\n") + 1
        return end, ""
    position = 0
    best, best_fence = 0, fence
    lines = text.split("\n")
    for number, line in enumerate(lines):
        if number == len(lines) - 1:
            break  # the line being written
        position += len(line) + 1
        stripped = line.strip()
        if _fence_line(line):
            fence = "" if fence else stripped
            if not fence:
                best, best_fence = position, fence  # a code block closed
            continue
        if fence:
            continue
        if not stripped or stripped.startswith("#"):
            best, best_fence = position, fence
        elif number + 1 < len(lines) - 1 and _starts_item(lines[number + 1]) and _starts_item(line):
            best, best_fence = position, fence  # a list item followed by the next one
    return best, best_fence


def _starts_item(line: str) -> bool:
    stripped = line.lstrip(" ")
    if stripped[:2] in ("- ", "* ", "+ "):
        return True
    digits = len(stripped) - len(stripped.lstrip("0123456789"))
    return 0 < digits < 10 and stripped[digits : digits + 2] in (". ", ") ")


class _Screen:
    """The live region, cut to the screen's height: the part being written gives way to the status."""

    def __init__(self, view: LiveView) -> None:
        self.view = view

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment
        from rich.text import Text

        view = self.view
        height = options.max_height or console.size.height
        status = Text(view.status(options.max_width), style="bold", no_wrap=True, overflow="ellipsis")
        rows: list[list[Segment]] = []
        for part in view._side():
            rows += console.render_lines(part, options, pad=False)
        available = max(3, height - len(rows) - 3)
        if view._pending:
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
