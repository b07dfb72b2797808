"""The deterministic text the emulated model writes.

A document is a sequence of tokens, each one word plus the separator after it (``"sun "``,
``"river, "``, ``"stone.\\n\\n"``). Its words depend only on the seed, so a request and every later
continuation of it agree on every character. The last token ends with ``"."`` and nothing after it.

Documents are cached by (seed, length): resuming a 200,000-token document does not generate it again.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

DEFAULT_LENGTH = 200
MAX_LENGTH = 1_000_000

_VOCABULARY_TEXT = """
    the a and of to in on with for from over under between through after before while because
    every each some many few other another this that these those again always often never still
    also only even here there together sun river stone light wind road garden tree water fire
    cloud field hill sea bird house door window book letter table bread city bridge tower market
    song voice dream story morning evening night summer winter spring autumn rain snow star moon
    sky forest island valley mountain path shadow color silver golden green blue quiet bright
    dark warm cold small large old new early late simple gentle strong soft clear deep long short
    open distant near slow quick careful patient curious walks carries finds builds keeps holds
    opens follows remembers watches brings gives takes makes turns moves rests waits sings reads
    writes grows falls rises shines flows travels listens learns speaks answers crosses gathers
    lifts paints plants counts measures sends returns reaches leaves enters circles friend child
    teacher farmer sailor painter traveler neighbor stranger village harbor lantern candle clock
    mirror ladder basket blanket coat boat ship wheel engine machine paper ink map compass key
    lock wall roof floor stair corner edge center line circle shape pattern number word sentence
    question answer reason idea memory moment hour minute year season world country
"""
VOCABULARY: tuple[str, ...] = tuple(_VOCABULARY_TEXT.split())

_WORDS_OR_TOKENS = re.compile(r"(\d[\d,_]*)\s*(?:words?|tokens?)\b", re.IGNORECASE)
_WORD_PIECES = re.compile(r"\s*\S+\s*")


@dataclass(frozen=True)
class Document:
    """A generated text and where its tokens and sentences start."""

    tokens: tuple[str, ...]
    starts: tuple[int, ...]  # character offset of each token
    sentence_starts: tuple[int, ...]  # indices of the tokens that begin a sentence
    text: str

    def token_at(self, offset: int) -> int:
        """Index of the token holding the character at `offset` (0 <= offset < len(text))."""
        return bisect.bisect_right(self.starts, offset) - 1

    def sentence_start_before(self, token: int) -> int:
        """Index of the first token of the sentence holding token `token`."""
        return self.sentence_starts[bisect.bisect_right(self.sentence_starts, token) - 1]

    def pieces_from(self, offset: int) -> list[str]:
        """The text from character `offset` on, as deltas: the first may be the tail of a token."""
        if offset >= len(self.text):
            return []
        index = self.token_at(offset)
        first = self.tokens[index][offset - self.starts[index] :]
        return [first, *self.tokens[index + 1 :]]


def seed_of(*parts: Any) -> bytes:
    """A seed for `generate`: the SHA-256 of the parts as canonical JSON."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).digest()


def length_asked_for(prompt: str) -> int:
    """The number before "words" or "tokens" in the prompt ("Write 5000 words"), else DEFAULT_LENGTH."""
    match = _WORDS_OR_TOKENS.search(prompt)
    if match is None:
        return DEFAULT_LENGTH
    number = int(match.group(1).replace(",", "").replace("_", ""))
    return min(number, MAX_LENGTH) if number >= 1 else DEFAULT_LENGTH


def split_words(text: str) -> list[str]:
    """Word-sized deltas whose concatenation is `text`: each word keeps the whitespace after it."""
    return _WORD_PIECES.findall(text) or ([text] if text else [])


@lru_cache(maxsize=32)
def generate(seed: bytes, length: int) -> Document:
    """`length` tokens of sentences (6-18 words) in paragraphs (3-6 sentences), from `seed` only."""
    rng = random.Random(int.from_bytes(seed, "big"))
    words = rng.choices(VOCABULARY, k=length)
    tokens: list[str] = []
    sentence_starts: list[int] = []
    while len(tokens) < length:
        sentences_left = rng.randint(3, 6)
        while sentences_left and len(tokens) < length:
            sentences_left -= 1
            sentence_starts.append(len(tokens))
            words_left = rng.randint(6, 18)
            tokens.append(words[len(tokens)].capitalize() + " ")
            words_left -= 1
            while words_left > 1 and len(tokens) < length:
                words_left -= 1
                separator = ", " if rng.random() < 0.08 else " "
                tokens.append(words[len(tokens)] + separator)
            if len(tokens) < length:
                tokens.append(words[len(tokens)] + (". " if sentences_left else ".\n\n"))
    if tokens:
        last = tokens[-1].rstrip(" ,.\n")
        tokens[-1] = last + "."
    starts: list[int] = []
    offset = 0
    for token in tokens:
        starts.append(offset)
        offset += len(token)
    return Document(tuple(tokens), tuple(starts), tuple(sentence_starts), "".join(tokens))
