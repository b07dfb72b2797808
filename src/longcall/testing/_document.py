"""The deterministic text the emulated model writes.

A document is a sequence of tokens, cut by `tokenize`, the emulator's one tokenizer (the same one
counts input tokens, so counting an assistant turn the emulator wrote gives its output_tokens). A token
is one word plus the separator after it (``"sun "``, ``"river, "``, ``"stone.\\n\\n"``), one
Chinese character plus the punctuation after it (``"阳，"``), or a 12-character piece of a string of
more than 12 characters without spaces. Its words depend only on the seed, so a request and every
later continuation of it agree on every character. The last token ends with ``"."`` (or ``"。"``) and
nothing after it.

Three styles, chosen by the prompt (`style_asked_for`), so resume is tested where word boundaries are
rare: "english" (the default), "chinese" (no spaces at all: words of 1-3 characters, "，" and "。"), and
"unbroken" (English with long unbroken strings mixed in: URLs, base64 and code without spaces, each
sent as many short tokens, as a real tokenizer splits them).

Documents are cached by (seed, length, style): resuming a 200,000-token document does not generate it
again.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

Style = Literal["english", "chinese", "unbroken"]

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

_CHINESE_TEXT = """
    太阳 河流 石头 光 风 道路 花园 树 水 火 云 田野 山丘 大海 鸟 房子 门 窗户 书 信 桌子 面包 城市 桥 塔
    市场 歌 声音 梦 故事 早晨 傍晚 夜晚 夏天 冬天 春天 秋天 雨 雪 星星 月亮 天空 森林 岛屿 山谷 山 小路
    影子 颜色 安静 明亮 黑暗 温暖 寒冷 小 大 古老 新 早 晚 简单 温柔 坚强 柔软 清楚 深 长 短 打开 远方
    附近 慢慢 很快 仔细 耐心 好奇 走 带着 找到 建造 保持 拿着 跟随 记得 看着 带来 给 拿 做 转 移动 休息
    等待 唱 读 写 生长 落下 升起 照耀 流动 旅行 倾听 学习 说 回答 穿过 收集 举起 画 种 数 测量 送 回来
    到达 离开 进入 朋友 孩子 老师 农民 水手 画家 旅人 邻居 陌生人 村庄 港口 灯笼 蜡烛 钟 镜子 梯子 篮子
    的 了 和 在 又 也 都 还 总是 常常 从来 这里 那里 一起 每天 我们 他们 这个 那个 一些 许多
"""
CHINESE_VOCABULARY: tuple[str, ...] = tuple(_CHINESE_TEXT.split())
STYLES: tuple[str, ...] = ("english", "chinese", "unbroken")

_WORDS_OR_TOKENS = re.compile(r"(\d[\d,_]*)\s*(?:words?|tokens?)\b", re.IGNORECASE)
# CJK ideographs, kana and hangul: one token a character. Full-width punctuation joins the token before.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_FULL_WIDTH_PUNCTUATION = "\u3000-\u303f\uff00-\uffef"
_TOKEN = re.compile(
    rf"(\s*)([{_CJK}]|[^\s{_CJK}{_FULL_WIDTH_PUNCTUATION}]+)?([{_FULL_WIDTH_PUNCTUATION}]*\s*)"
)
# A string without spaces longer than PIECE characters is cut into PIECE-character tokens from its
# start, so a run of any length L is ceil(L / PIECE) tokens: any run of a document's tokens (a
# broken attempt's text, which starts where the previous attempt's ended) tokenizes back to exactly
# those tokens. PIECE is longer than any vocabulary word, so English words stay one token each.
PIECE = 12


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

    def _replace_sentences(self, sentence_starts: list[int]) -> Document:
        return Document(self.tokens, self.starts, tuple(sentence_starts), self.text)

    def pieces_from(self, offset: int) -> list[str]:
        """The text from character `offset` on, as deltas: the first may be the tail of a token."""
        if offset >= len(self.text):
            return []
        index = self.token_at(offset)
        first = self.tokens[index][offset - self.starts[index] :]
        rest = list(self.tokens[index + 1 :])
        if first.isspace() and rest:
            # Only the whitespace of a token is left (a prefill cannot end with it): it goes with the
            # next token, so the received text and this reply together count as the whole document.
            rest[0] = first + rest[0]
            return rest
        return [first, *rest]


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


def style_asked_for(prompt: str) -> Style:
    """ "chinese" if the prompt says "Chinese" (or 中文), "unbroken" if it says "unbroken", else "english"."""
    if "chinese" in prompt.lower() or "中文" in prompt:
        return "chinese"
    if "unbroken" in prompt.lower():
        return "unbroken"
    return "english"


def tokenize(text: str) -> list[str]:
    """The emulator's tokens of `text`, whose concatenation is `text` (see the module docstring)."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        if not token:
            continue  # the empty match at the end
        core = match.group(2)
        if core is not None and len(core) > PIECE:
            pieces = [core[start : start + PIECE] for start in range(0, len(core), PIECE)]
            pieces[0] = match.group(1) + pieces[0]
            pieces[-1] += match.group(3)
            tokens.extend(pieces)
        else:
            tokens.append(token)
    return tokens


def split_words(text: str) -> list[str]:
    """Token deltas whose concatenation is `text` (`tokenize`: a scripted text is sent as it counts)."""
    return tokenize(text)


@lru_cache(maxsize=32)
def generate(seed: bytes, length: int, style: Style = "english") -> Document:
    """`length` tokens of sentences (6-18 words) in paragraphs (3-6 sentences), from `seed` and `style`."""
    rng = random.Random(int.from_bytes(seed, "big"))
    if style == "chinese":
        return _build(rng, length, lambda first: rng.choice(CHINESE_VOCABULARY), "，", "", "。", "。\n\n")
    if style == "unbroken":
        return _build(rng, length, lambda first: _unbroken_word(rng, first), ", ", " ", ". ", ".\n\n")
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


def document_of(tokens: list[str]) -> Document:
    """A one-sentence document made of exactly these tokens (a JSON reply, for instance)."""
    starts: list[int] = []
    offset = 0
    for token in tokens:
        starts.append(offset)
        offset += len(token)
    return Document(tuple(tokens), tuple(starts), (0,) if tokens else (), "".join(tokens))


def _build(
    rng: random.Random,
    length: int,
    word: Callable[[bool], str],
    comma: str,
    space: str,
    end: str,
    paragraph_end: str,
) -> Document:
    """Sentences of 6-18 words in paragraphs of 3-6 sentences; a word may be several tokens."""
    tokens: list[str] = []
    sentence_starts: list[int] = []
    while len(tokens) < length:
        sentences_left = rng.randint(3, 6)
        while sentences_left and len(tokens) < length:
            sentences_left -= 1
            sentence_starts.append(len(tokens))
            words_left = rng.randint(6, 18)
            first = True
            while words_left and len(tokens) < length:
                words_left -= 1
                text = word(first)
                if words_left == 0:
                    text += end if sentences_left else paragraph_end
                else:
                    text += comma if rng.random() < 0.08 else space
                tokens.extend(tokenize(text)[: length - len(tokens)])
                first = False
    return document_of(_finished(tokens, end.strip()))._replace_sentences(sentence_starts)


def _finished(tokens: list[str], stop: str) -> list[str]:
    """The tokens with the text ending in `stop` instead of its last separator, as many as before."""
    if not tokens:
        return tokens
    body = "".join(tokens).rstrip()
    if body and body[-1] in ",.，。":
        body = body[:-1]
    finished = tokenize(body + stop)
    if len(finished) > len(tokens):  # the stop would start a token of its own: it takes a character's place
        finished = tokenize(body[:-1] + stop)
    return finished


def _unbroken_word(rng: random.Random, first: bool) -> str:
    """Usually one English word; now and then a long string without spaces (many tokens)."""
    if first or rng.random() >= 0.07:
        word = rng.choice(VOCABULARY)
        return word.capitalize() if first else word
    kind = rng.randrange(3)
    if kind == 0:
        path = "/".join(rng.choices(VOCABULARY, k=rng.randint(3, 6)))
        return f"https://{rng.choice(VOCABULARY)}.example.org/{path}?id={rng.getrandbits(96):024x}"
    if kind == 1:
        return base64.b64encode(rng.randbytes(rng.randint(60, 300))).decode()
    a, b, c, d = rng.choices(VOCABULARY, k=4)
    return f"{a}_{b}=self.{c}({d}[{rng.randint(0, 99)}],key={a!r},limit={rng.randint(1, 9999)})"
