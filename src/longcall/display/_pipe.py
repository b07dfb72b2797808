"""The pipe view: the text to stdout, exactly the message's, and status lines to stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from .._engine import Generation, LongcallMessage
from .._record import Attempt
from ._follow import _Follower
from ._format import _failure_note, _text_of, format_summary, seam_note

# The most text the pipe view holds back at its end: a resume by instruction cuts back at most the
# last unfinished word (a few characters in scripts written without spaces).
_HOLD_BACK = 48


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
