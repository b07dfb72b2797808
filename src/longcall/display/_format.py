"""What the views say: the status line, the summary, seam markers, figures for people."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._catalog import cost as price_of
from .._engine import LongcallMessage
from .._record import Attempt

# Characters per token, to estimate output tokens while streaming (the API reports them at the end of
# each request; after the first one, its own ratio is used instead).
_CHARS_PER_TOKEN = 4.0


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


def size_text(count: int, *, kb_decimals: int = 0) -> str:
    """A byte count for people: "512 bytes", "3 KB" (`kb_decimals` more digits), "1.2 MB"."""
    if count < 1000:
        return f"{count:,} bytes"
    if count < 1_000_000:
        return f"{count / 1000:,.{kb_decimals}f} KB"
    return f"{count / 1_000_000:,.1f} MB"


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
    where = f" at {size_text(failed.bytes_received)}" if failed.bytes_received else ""
    return f"⟳ {what}{where} · {how}"


def _text_of(message: dict[str, Any]) -> str:
    return "".join(
        block.get("text") or "" for block in message.get("content") or [] if block.get("type") == "text"
    )
