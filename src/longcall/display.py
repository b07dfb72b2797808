"""Showing a generation to a person: a live terminal view, or plain text for pipes.

Both views are fed by the engine's hooks (`on_text`, `on_thinking`, `on_tool_input`, `on_attempt`)
and follow the call as an `Observer`; both are made with `hooks()` and `observers` to hand to `wrap()`
or `journal.resume()`.

- `LiveView` (a terminal): the terminal's scrollback holds the whole answer at every moment. Each
  finished part of the text (a paragraph, a heading, a closed code block, a list item) is printed
  once, above rich's `Live` region, as soon as it is complete; so are finished thinking and tool
  blocks (folded to one line) and, with `seams=True`, a marker where a connection broke and the
  answer was resumed. Only the part being written and the status line are live, and they are cut to
  the screen's height. The Markdown rendering stays: each finished part is rendered on its own. The
  hooks only append to lists and look for a line end, so the hot path stays cheap.
- `PipeView` (stdout is not a terminal): only the generated text goes to stdout, as it arrives, and
  at the end it is exactly the message's text: the last unfinished word is held back until it is
  finished (a resume by instruction may generate it again, differently). Status lines go to stderr.

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

__all__ = ["LiveView", "OutputClosed", "PipeView", "estimate_tokens", "format_status", "format_summary"]

# Characters per token, to estimate output tokens while streaming (the API reports them at the end of
# each request; after the first one, its own ratio is used instead).
_CHARS_PER_TOKEN = 4.0
_THINKING_LINES = 4
_TOOL_LINES = 6
# The most text the pipe view holds back at its end: a resume by instruction cuts back at most the
# last unfinished word (a few characters in scripts written without spaces).
_HOLD_BACK = 48
_FENCES = ("```", "~~~")


def estimate_tokens(chars: int, deltas: int, chars_per_token: float = _CHARS_PER_TOKEN) -> int:
    """Output tokens so far, estimated: never fewer than the deltas received (each is a token or more)."""
    return max(deltas, round(chars / chars_per_token))


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _money(amount: float | None) -> str:
    if amount is None:
        return "$?"
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    if count < 1_000_000:
        return f"{count / 1000:.0f} KB"
    return f"{count / 1_000_000:.1f} MB"


def _attempt_counts(attempts: Iterable[Attempt]) -> tuple[int, int, int, int]:
    """(attempts, retries, resumes, continuations)."""
    total = retries = resumes = continues = 0
    for attempt in attempts:
        total += 1
        retries += attempt.kind == "retry"
        resumes += attempt.kind == "resume"
        continues += attempt.kind == "continue"
    return total, retries, resumes, continues


def _attempts_text(attempts: list[Attempt], *, short: bool = False) -> str:
    total, retries, resumes, continues = _attempt_counts(attempts)
    if short:
        extra = "".join(
            f" {count}{letter}"
            for count, letter in ((resumes, "r"), (retries, "x"), (continues, "c"))
            if count
        )
        return f"{total} att{extra}"
    parts = [f"{total} attempt{'s' if total != 1 else ''}"]
    named = [
        f"{count} {name}{'s' if count != 1 else ''}"
        for count, name in ((resumes, "resume"), (retries, "retry"), (continues, "continuation"))
        if count
    ]
    if named:
        parts.append("(" + ", ".join(named).replace("retrys", "retries") + ")")
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
    if message is not None and message.stop_reason and status == "done":
        head += f" ({message.stop_reason})"
    cache = f", cache read {cache_read:,} / write {cache_write:,}" if cache_read or cache_write else ""
    return (
        f"{head} · {out:,} output tokens · {inp:,} input{cache} · {_money(_cost(usage, model))} · "
        f"{_duration(elapsed)} · {_attempts_text(attempts)}"
    )


def format_status(
    *,
    tokens: int,
    estimated: bool,
    limit: int | None,
    rate: float,
    elapsed: float,
    attempts: list[Attempt],
    cost: float | None,
    width: int,
) -> str:
    """The live status line, fitted to `width` columns.

    The widest form that fits is chosen; cost and attempts are the last to go (they are what a person
    watching a long call wants most), so they stay down to about 30 columns.
    """
    mark = "~" if estimated else ""
    money = _money(cost)
    long_tokens = f"{mark}{tokens:,}" + (f" / {limit:,} tokens" if limit else " tokens")
    short_tokens = f"{mark}{tokens:,}" + (f"/{limit:,}" if limit else " tok")
    rate_text = f"{rate:,.0f} tok/s"
    clock = _duration(elapsed)
    forms = [
        [long_tokens, rate_text, clock, _attempts_text(attempts), money],
        [short_tokens, rate_text, clock, _attempts_text(attempts), money],
        [short_tokens, rate_text, clock, _attempts_text(attempts, short=True), money],
        [short_tokens, clock, _attempts_text(attempts, short=True), money],
        [f"{mark}{tokens:,}", _attempts_text(attempts, short=True), money],
        [_attempts_text(attempts, short=True), money],
    ]
    for parts in forms:
        line = " · ".join(parts)
        if len(line) <= width:
            return line
    return " ".join(forms[-1])[: max(1, width)]


def _failure_note(attempt: Attempt) -> str:
    what = attempt.error or "failed"
    return f"attempt {attempt.number} ended after {attempt.bytes_received:,} bytes: {what}"


def seam_note(failed: Attempt, following: Attempt) -> str:
    """The marker left where an attempt broke: what happened, where, and how the call went on."""
    error = failed.error or "the request failed"
    what = "connection dropped" if "stream" in error or "connection" in error else error
    if following.kind in ("resume", "continue") and following.strategy:
        how = f"resumed by {following.strategy}"
    elif following.kind == "retry" or failed.bytes_received == 0:
        how = "sent again from the start"
    else:
        how = "resumed"
    where = f" at {_size(failed.bytes_received)}" if failed.bytes_received else ""
    return f"⟳ {what}{where} · {how}"


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

    # Why a finished call stopped, when that is worth a line (the CLI says it in its flags' words).
    stop_note: Callable[[LongcallMessage, int], str | None] = staticmethod(lambda message, output: None)

    def __init__(
        self,
        *,
        model: str,
        max_tokens: int | None,
        budget: int | None,
        clock: Callable[[], float],
        host: str = "",
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.budget = budget
        self.clock = clock
        self.host = host
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
        # Calibration: the server's output tokens for the attempts that ended, and the characters
        # those attempts brought; the current attempt is estimated at their ratio.
        self._settled_tokens = 0
        self._settled_chars = 0
        self._chars_per_token = _CHARS_PER_TOKEN
        self._calibrated = False
        self._failed_at: float | None = None  # clock time the last failed attempt ended

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
        output = int(attempt.usage.get("output_tokens") or 0)
        chars = self.chars - self._settled_chars
        # The server's count, or the model's own count of what arrived (the count_tokens endpoint).
        source = getattr(attempt, "usage_source", "estimated" if attempt.usage_estimated else "server")
        if output > 0 and source in ("server", "counted") and chars > 0:
            self._chars_per_token = chars / output
            self._calibrated = True
        self._settled_tokens += output
        self._settled_chars = self.chars
        self._failed_at = self.clock() if attempt.error else None

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
        """Output tokens so far: the server's count for ended attempts, an estimate for the current one."""
        current = self.chars - self._settled_chars
        if self._settled_tokens or self._calibrated:
            return self._settled_tokens + round(current / self._chars_per_token)
        return estimate_tokens(self.chars, self.deltas, self._chars_per_token)

    def tokens_estimated(self) -> bool:
        return self.final is None and self.chars > self._settled_chars

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

    def waiting_note(self) -> str:
        """While a failed attempt waits for the next: what failed, the host, and a countdown."""
        attempts = self.attempts
        if not attempts or self.ended is not None:
            return ""
        last = attempts[-1]
        if last.error and last.ended_at is not None:
            host = f" ({self.host})" if self.host else ""
            delay = getattr(self.gen, "next_delay", None)
            if delay and self._failed_at is not None:
                left = max(0.0, delay - (self.clock() - self._failed_at))
                when = f"{left:.0f}" if left >= 10 else f"{left:.1f}"
                return f"retrying{host} in {when} s after: {last.error}"
            return f"retrying{host} after: {last.error}"
        if len(attempts) >= 2 and last.bytes_received == 0 and attempts[-2].error:
            verb = "resuming" if last.kind in ("resume", "continue") else "retrying"
            return f"{verb} after: {attempts[-2].error}"
        return ""


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


def _text_of(message: dict[str, Any]) -> str:
    return "".join(
        block.get("text") or "" for block in message.get("content") or [] if block.get("type") == "text"
    )


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


def _same_place(out: TextIO, err: TextIO) -> bool:
    """Whether two streams end up in the same terminal, file or pipe."""
    import os

    try:
        if out.isatty() and err.isatty():
            return True
        a, b = os.fstat(out.fileno()), os.fstat(err.fileno())
    except (AttributeError, ValueError, OSError):  # not a real file (a StringIO): nothing to glue onto
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class OutputClosed(KeyboardInterrupt):
    """The reader of stdout went away (`longcall ... | head`): stop the call.

    A KeyboardInterrupt, so that the engine stops and records the call as interrupted exactly as for
    Ctrl-C (an ordinary exception from a hook would be taken for a network failure and retried).
    """


class PipeView(_Follower):
    """For a stdout that is not a terminal: the generated text to `out` as it arrives, status to `err`.

    What reaches `out` is exactly the message's text: the unfinished last word (at most `_HOLD_BACK`
    characters) is held back until a space or line end follows it, because a resume by instruction
    cuts it back and the model may finish it differently; the rest is written from the final message.

    Args:
        out: where the text goes (stdout).
        err: where status lines go (stderr).
        clock: monotonic seconds.
        flush_interval: seconds between flushes of `out` while text streams.
        show_text: False to write no text (it goes to a file, or JSON follows), only status lines.
        verbose: also say on `err` how the call went on after each broken attempt.
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
        verbose: bool = False,
        host: str = "",
    ) -> None:
        super().__init__(model=model, max_tokens=max_tokens, budget=budget, clock=clock, host=host)
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.flush_interval = flush_interval
        self.show_text = show_text
        self.verbose = verbose
        self._flushed = clock()
        self._parts: list[str] = []  # the text written to `out`
        self._held = ""  # text received but not written: the unfinished last word
        self._seam_pending = False

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)
            self._parts.append(text)
            now = self.clock()
            if now - self._flushed >= self.flush_interval:
                self.out.flush()
                self._flushed = now
        except BrokenPipeError:
            raise OutputClosed() from None

    def on_text(self, text: str) -> None:
        self._count(text)
        if self._seam_pending and self.verbose:
            self._seam_pending = False
            failed = next((a for a in reversed(self.attempts[:-1]) if a.error), None)
            if failed is not None:
                self.note(seam_note(failed, self.attempts[-1]))
        if not self.show_text:
            return
        held = self._held + text
        cut = max(held.rfind(" ") + 1, held.rfind("\n") + 1, held.rfind("\t") + 1, len(held) - _HOLD_BACK)
        if cut > 0:
            self._write(held[:cut])
        self._held = held[max(cut, 0) :]

    def seed(self, text: str) -> None:
        if text and self.show_text:
            self._write(text)
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
        super().on_attempt(attempt)
        if attempt.error and self.gen is not None and not self.gen.finished:  # the call goes on
            host = f" ({self.host})" if self.host else ""
            delay = getattr(self.gen, "next_delay", None)
            wait = f"; trying again{host} in {delay:.0f} s" if delay else f"; trying again{host}"
            self.note(_failure_note(attempt) + wait)
            self._seam_pending = True

    def call_ended(
        self, call: Generation, message: LongcallMessage | None, error: BaseException | None
    ) -> None:
        super().call_ended(call, message, error)
        if self.show_text and self.final is not None:
            self._finish_text(_text_of(self.final))

    def _finish_text(self, final: str) -> None:
        """Write what the message has after what was written; say so if the two parted ways."""
        self._held = ""
        written = "".join(self._parts)
        if not final.startswith(written):
            same = next(
                (i for i, (a, b) in enumerate(zip(written, final, strict=False)) if a != b), len(final)
            )
            self.note(
                f"the text written differs from the message's from character {same:,} on (a word was "
                "generated again differently); `longcall show ID` prints the message's text."
            )
            return
        rest = final[len(written) :]
        if rest:
            self._write(rest)
        if final and not final.endswith("\n") and _same_place(self.out, self.err):
            # Status lines follow on the same terminal or pipe: they must not glue onto the text. A file
            # or a pipe of its own gets the message's text exactly.
            self.out.write("\n")

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
