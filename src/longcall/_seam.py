"""The seam between a broken text block and its continuation.

A continuation request sends the text received so far (`sent`, trailing whitespace stripped, since the
API refuses a prefill that ends in whitespace) and the model answers with more text. `Seam` turns that
answer into exactly the characters that come next:

1. Overlap (continue-by-instruction only): the model often repeats the last words, or restarts the
   sentence it was cut in. Any prefix of the answer that equals a suffix of `sent` starting at a word
   start, and that ends at a word boundary, is removed; the longest such wins. A lone word counts only
   when it starts a sentence: text does say "had had", and a model that repeats itself repeats more.
   In a script written without spaces (Chinese, Japanese, Thai, ...) every character starts a word, so
   a suffix counts from any character when it has at least `MIN_UNSPACED_OVERLAP` characters (or
   starts a sentence), and ends at any character of such a script. When `sent` ends inside a long
   unbroken token (more than `LONG_TOKEN` characters without whitespace: a URL, base64), the model
   may repeat from inside it: a suffix counts from any character of that token (its first included)
   when it has at least `MIN_INNER_OVERLAP` characters, and, when the cut was inside the token, the
   answer need not break after it (the token goes on).
   Deciding needs the answer's first characters, so they are held back until no longer candidate can
   match (at most the length of the longest candidate, `MAX_OVERLAP` characters). An answer that ends
   while still undecided (`cut_short()`) is a repeat cut short when `max_tokens` ended it: the
   accumulator then calls `drop_repeat()`; ended by the model, it is released as its text.
2. Whitespace: the stitched block already holds `gap`, the whitespace that was stripped from `sent`
   (and, by instruction, the word fragment cut off after it). The answer may or may not repeat it;
   leading characters equal to `gap` are skipped, so it is never doubled and never lost.
3. Already shown: `shown` is text the caller already received live but that was not sent (the word
   fragment cut back before an instruction request). When the answer starts with it, those characters
   are not reported again to live hooks; the block's text is the answer all the same. An answer that
   ends before it gets past the fragment sets `ended_in_shown`: the fragment was received, and the
   block gets it back (the seam itself only ever removes a prefix of the answer).

Every step is a prefix decision, made once; after it, text passes straight through.
"""

from __future__ import annotations

MAX_OVERLAP = 2000
MIN_UNSPACED_OVERLAP = 3  # characters: shorter repeats in Chinese or Japanese are as often genuine
LONG_TOKEN = 24  # the cut-back's bound (`_resume.MAX_WORD_CUT`): a longer run is continued mid-token
MIN_INNER_OVERLAP = 8  # characters repeated from inside a long token: shorter is too likely chance
_SENTENCE_ENDS = ".!?:。！？："


def without_spaces(ch: str) -> bool:
    """A character of a script written without spaces between words (CJK, kana, Thai, Lao, Khmer,
    Myanmar, fullwidth forms): each one is a word boundary."""
    code = ord(ch)
    return (
        0x2E80 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF
        or 0x20000 <= code <= 0x3FFFF
        or 0x0E00 <= code <= 0x0EFF
        or 0x1000 <= code <= 0x109F
        or 0x1780 <= code <= 0x17FF
    )


def _overlap_candidates(sent: str) -> list[str]:
    """Suffixes of `sent` the model may repeat: from a word start, within MAX_OVERLAP of the end."""
    low = max(0, len(sent) - MAX_OVERLAP)
    candidates = []
    for i in range(len(sent) - 1, low - 1, -1):
        if sent[i].isspace():
            continue
        unspaced = i > 0 and (without_spaces(sent[i]) or without_spaces(sent[i - 1]))
        if i > 0 and not sent[i - 1].isspace() and not unspaced:
            continue
        suffix = sent[i:]
        before = sent[:i]
        gap_start = len(before.rstrip())
        starts_sentence = (
            gap_start == 0 or "\n" in before[gap_start:] or before[gap_start - 1] in _SENTENCE_ENDS
        )
        if unspaced and not sent[i - 1].isspace():
            if starts_sentence or len(suffix) >= MIN_UNSPACED_OVERLAP:
                candidates.append(suffix)
        elif starts_sentence or any(ch.isspace() for ch in suffix):
            candidates.append(suffix)
    return candidates


def _long_token_start(sent: str) -> int | None:
    """Where the unbroken run `sent` ends in starts, when it is longer than LONG_TOKEN; else None."""
    start = len(sent)
    while start > 0 and not sent[start - 1].isspace() and not without_spaces(sent[start - 1]):
        start -= 1
        if len(sent) - start > LONG_TOKEN:
            while start > 0 and not sent[start - 1].isspace() and not without_spaces(sent[start - 1]):
                start -= 1
            return start
    return None


def _inner_candidates(sent: str) -> list[str]:
    """Suffixes starting inside a long unbroken token near the end of `sent` (MIN_INNER_OVERLAP or more)."""
    low = max(0, len(sent) - MAX_OVERLAP)
    candidates = []
    run_end = len(sent)  # the end of the run of non-space characters being scanned
    i = len(sent)
    while i > low:
        if sent[i - 1].isspace() or without_spaces(sent[i - 1]):
            i -= 1
            run_end = i
            continue
        start = i
        while start > 0 and not sent[start - 1].isspace() and not without_spaces(sent[start - 1]):
            start -= 1
        if run_end - start > LONG_TOKEN:
            # From the token's first character too: a model repeats a URL from its start, and a
            # token without whitespace is no word-start candidate unless it starts a sentence.
            for position in range(max(start, low), run_end):
                if len(sent) - position >= MIN_INNER_OVERLAP:
                    candidates.append(sent[position:])
        i = start
        run_end = start
    return candidates


def _ends_at_boundary(candidate: str, after: str) -> bool:
    return not after.isalnum() or without_spaces(after) or without_spaces(candidate[-1])


class Seam:
    """Stitches one continuation onto a text block. Feed the answer's text; get the text to append."""

    __slots__ = (
        "_candidates",
        "_held",
        "_gap",
        "_shown",
        "_overlap_done",
        "_open_end",
        "removed_overlap",
        "ended_in_shown",
        "done",
    )

    def __init__(self, *, sent: str, gap: str, shown: str = "", remove_overlap: bool) -> None:
        self._candidates = _overlap_candidates(sent) if remove_overlap else []
        if remove_overlap:
            self._candidates += _inner_candidates(sent)
        # `sent` ends inside a long token: a repeat of its end is followed by the token's rest.
        self._open_end = remove_overlap and not gap and _long_token_start(sent) is not None
        self._overlap_done = not self._candidates
        self._held = ""
        self._gap = gap
        self._shown = shown
        self.removed_overlap = ""
        self.ended_in_shown = False  # the answer ended inside `shown`: the block keeps it as received
        self.done = False

    def feed(self, text: str, *, final: bool = False) -> tuple[str, str]:
        """Take answer text; return (text for the block, text for live hooks). Both may be empty."""
        if self.done:
            return text, text
        held = self._held + text
        if not self._overlap_done:
            # The model may start its answer with whitespace before repeating itself.
            body = held.lstrip()
            cut = self._decide_overlap(body, final)
            if cut is None:
                self._held = held
                return "", ""
            self._overlap_done = True
            if cut:
                self.removed_overlap = body[:cut]
                held = body[cut:]
        if self._gap:
            matched = 0
            limit = min(len(self._gap), len(held))
            while matched < limit and held[matched] == self._gap[matched]:
                matched += 1
            if matched == len(held) and matched < len(self._gap) and not final:
                self._held = held  # the answer so far is all gap: wait to see more
                return "", ""
            held = held[matched:]
            self._gap = ""
        if self._shown:
            if not held and not final:
                self._held = ""
                return "", ""
            common = 0
            limit = min(len(self._shown), len(held))
            while common < limit and held[common] == self._shown[common]:
                common += 1
            if common == len(held) and common < len(self._shown):
                if not final:
                    self._held = held
                    return "", ""
                # The answer ended before it got past the fragment: nothing of it is new, and the
                # fragment, received and shown, goes back to the block (the accumulator's part).
                self.ended_in_shown = True
                self._shown = self._held = ""
                self.done = True
                return "", ""
            live = held[common:]
            self._shown = ""
            self._held = ""
            self.done = True
            return held, live
        self._held = ""
        self.done = True
        return held, held

    def finish(self) -> tuple[str, str]:
        """The answer ended: release whatever is still held."""
        if self.done:
            return "", ""
        return self.feed("", final=True)

    def cut_short(self) -> bool:
        """Had the answer ended here, would it have ended inside a repeat? True while all of it so far
        (past leading whitespace) is the start of a longer candidate: the model was repeating itself,
        or wrote new text that happens to match; only why it stopped can tell (see `drop_repeat`)."""
        if self._overlap_done or self.done:
            return False
        body = self._held.lstrip()
        return bool(body) and any(len(c) > len(body) and c.startswith(body) for c in self._candidates)

    def drop_repeat(self) -> None:
        """The answer was cut short (by `max_tokens`) inside a repeat: what it holds is not new text.
        Dropping it loses nothing either way: had it been new, the next continuation starts from the
        same point and writes it again. `finish()` then gives back only what the block had."""
        self.removed_overlap = self._held.lstrip()
        self._held = ""
        self._overlap_done = True

    def _decide_overlap(self, body: str, final: bool) -> int | None:
        """Length of the overlap at the start of `body`, or None while it cannot be known yet."""
        best = 0
        waiting = False
        for candidate in self._candidates:
            n = len(candidate)
            if len(body) > n:
                if (
                    n > best
                    and body.startswith(candidate)
                    and (self._open_end or _ends_at_boundary(candidate, body[n]))
                ):
                    best = n
            elif candidate.startswith(body):
                if len(body) == n and final:
                    best = max(best, n)
                elif not final:
                    waiting = True
        if waiting:
            return None
        return best
