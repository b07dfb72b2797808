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

rich is imported by this package only: `import longcall` does not import it. `_format` says what the
views show, `_follow` follows the call for both, `_live` and `_pipe` are the two views.
"""

from __future__ import annotations

from ._format import estimate_tokens, format_status, format_summary, seam_note
from ._live import LiveView
from ._pipe import OutputClosed, PipeView

__all__ = [
    "LiveView",
    "OutputClosed",
    "PipeView",
    "estimate_tokens",
    "format_status",
    "format_summary",
    "seam_note",
]
