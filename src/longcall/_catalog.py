"""What longcall knows about each Claude model before sending anything.

The catalog is data: one `ModelInfo` row per model in `CATALOG`, last reviewed against Anthropic's
model documentation on `CATALOG_CHECKED`. To update it, edit the rows, bump the date and regenerate
`docs/models.md` from `markdown_table()` (a test keeps the two in step).

Invariants:
- `lookup()` always returns a row. A name that is not in the catalog gets a conservative default row
  with `known=False` (see `_unknown_row`), and a one-time `UnknownModelWarning` per name; callers must
  then let the server decide instead of raising (`resolve_max_tokens` and `check_context` do).
- `thinking_modes` lists the `thinking.type` values that switch thinking on; `disabled` is always
  accepted and is not listed.
- Prices are USD per million tokens at the standard tier. Not modelled: long-context (>200k input)
  surcharges, batch discounts, server tool fees. Prices are overridable at run time: `set_prices()`,
  or the `LONGCALL_PRICES` environment variable naming a JSON file
  `{"model-id": {"input": 3, "output": 15, "cache_write": 3.75, "cache_read": 0.3}}`, read lazily.
  Overrides apply to `lookup()` and `cost()`, never to `catalog_rows()`/`markdown_table()`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import ContextWindowExceeded, InvalidRequest

__all__ = [
    "CATALOG",
    "CATALOG_CHECKED",
    "ModelInfo",
    "Price",
    "UnknownModelWarning",
    "catalog_rows",
    "check_context",
    "cost",
    "lookup",
    "markdown_table",
    "resolve_max_tokens",
    "set_prices",
]

CATALOG_CHECKED = "2026-12-01"

_CONTEXT_1M = (1_000_000, "context-1m-2025-08-07")
_OUTPUT_128K = (128_000, "output-128k-2025-02-19")
# A 1-hour cache write costs twice the input price (a 5-minute one is `Price.cache_write`).
_CACHE_WRITE_1H_FACTOR = 2.0


class UnknownModelWarning(UserWarning):
    """A model name is not in longcall's catalog; conservative defaults are used."""


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float  # a 5-minute cache write
    cache_read: float

    @classmethod
    def standard(cls, input: float, output: float) -> Price:
        """Anthropic's usual ratios: a cache write costs 1.25x input, a cache read 0.1x input."""
        return cls(input, output, round(input * 1.25, 6), round(input * 0.1, 6))


@dataclass(frozen=True)
class ModelInfo:
    """One model's limits and prices.

    Attributes:
        id: the canonical (usually dated) model id.
        aliases: other names the API accepts for the same model.
        display_name: a name for people.
        context_window: input + output tokens the model accepts by default.
        context_window_beta: (tokens, anthropic-beta header) for a larger window, or None.
        max_output: the largest `max_tokens` the model accepts by default.
        max_output_beta: (tokens, anthropic-beta header) for a larger output, or None.
        accepts_prefill: whether a request may end with an assistant turn.
        thinking_modes: accepted `thinking.type` values that switch thinking on.
        price: USD per million tokens.
        known: False for the default row `lookup()` returns for a name not in the catalog.
        context_window_beta: (tokens, anthropic-beta header) for a larger context window, or None.
        lifecycle: "active", "deprecated" or "retired", as the Models API says it.
        deprecated_at, retires_at: RFC 3339 dates, or None.
        source: where the row comes from: "bundled" (this table), "models_api" (asked now),
            "cache" (the Models API's answer cached on disk) or "default" (an unknown name's guess).
        capabilities: the Models API's `capabilities` object, when it answered.
    """

    id: str
    aliases: tuple[str, ...]
    display_name: str
    context_window: int
    max_output: int
    max_output_beta: tuple[int, str] | None
    accepts_prefill: bool
    thinking_modes: frozenset[str]
    price: Price
    known: bool = True
    context_window_beta: tuple[int, str] | None = None
    lifecycle: str = "active"
    deprecated_at: str | None = None
    retires_at: str | None = None
    source: str = "bundled"
    capabilities: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)


_NONE: frozenset[str] = frozenset()
_ENABLED = frozenset({"enabled"})
_ADAPTIVE = frozenset({"enabled", "adaptive"})
_ADAPTIVE_ONLY = frozenset({"adaptive"})

CATALOG: tuple[ModelInfo, ...] = (
    # Claude 5 and Opus 4.7/4.8: a 1M window and 128k output natively, adaptive thinking only (the API
    # refuses `enabled` from 4.7 on), no prefill. Mythos shares Fable's specifications and prices.
    *(
        ModelInfo(
            id=model_id,
            aliases=(),
            display_name=display_name,
            context_window=1_000_000,
            max_output=128_000,
            max_output_beta=None,
            accepts_prefill=False,
            thinking_modes=_ADAPTIVE_ONLY,
            price=Price.standard(price_in, price_out),
        )
        for model_id, display_name, price_in, price_out in (
            ("claude-fable-5-2", "Claude Fable 5.2", 10, 50),
            ("claude-mythos-5-2", "Claude Mythos 5.2", 10, 50),
            ("claude-opus-5-5", "Claude Opus 5.5", 4, 20),
            ("claude-sonnet-5-5", "Claude Sonnet 5.5", 2, 10),
            ("claude-haiku-5-5", "Claude Haiku 5.5", 0.1, 0.5),
            ("claude-fable-5-1", "Claude Fable 5.1", 10, 50),
            ("claude-mythos-5-1", "Claude Mythos 5.1", 10, 50),
            ("claude-opus-5", "Claude Opus 5", 5, 25),
            ("claude-sonnet-5", "Claude Sonnet 5", 2, 10),
            ("claude-fable-5", "Claude Fable 5", 10, 50),
            ("claude-mythos-5", "Claude Mythos 5", 10, 50),
            ("claude-opus-4-8", "Claude Opus 4.8", 5, 25),
            ("claude-opus-4-7", "Claude Opus 4.7", 5, 25),
        )
    ),
    ModelInfo(
        id="claude-mythos-preview",
        aliases=(),
        display_name="Claude Mythos Preview",
        context_window=1_000_000,
        max_output=128_000,
        max_output_beta=None,
        accepts_prefill=False,
        thinking_modes=_ADAPTIVE,  # the SDK still lets it take `enabled`, with a warning
        price=Price.standard(25, 125),
        lifecycle="deprecated",
        retires_at="2026-06-30T00:00:00Z",
    ),
    ModelInfo(
        id="claude-opus-4-6",
        aliases=(),
        display_name="Claude Opus 4.6",
        context_window=200_000,
        context_window_beta=_CONTEXT_1M,
        max_output=128_000,
        max_output_beta=None,
        accepts_prefill=False,
        thinking_modes=_ADAPTIVE,
        price=Price.standard(5, 25),
    ),
    ModelInfo(
        id="claude-sonnet-4-6",
        aliases=(),
        display_name="Claude Sonnet 4.6",
        context_window=200_000,
        context_window_beta=_CONTEXT_1M,
        max_output=64_000,
        max_output_beta=None,
        accepts_prefill=False,
        thinking_modes=_ADAPTIVE,
        price=Price.standard(3, 15),
    ),
    ModelInfo(
        id="claude-opus-4-5-20251101",
        aliases=("claude-opus-4-5",),
        display_name="Claude Opus 4.5",
        context_window=200_000,
        max_output=64_000,
        max_output_beta=None,
        accepts_prefill=True,
        thinking_modes=_ENABLED,
        price=Price.standard(5, 25),
        lifecycle="deprecated",
        retires_at="2027-01-22T00:00:00Z",
    ),
    ModelInfo(
        id="claude-haiku-4-5-20251001",
        aliases=("claude-haiku-4-5",),
        display_name="Claude Haiku 4.5",
        context_window=200_000,
        max_output=64_000,
        max_output_beta=None,
        accepts_prefill=True,
        thinking_modes=_ENABLED,
        price=Price.standard(1, 5),
    ),
    ModelInfo(
        id="claude-sonnet-4-5-20250929",
        aliases=("claude-sonnet-4-5",),
        display_name="Claude Sonnet 4.5",
        context_window=200_000,
        context_window_beta=_CONTEXT_1M,
        max_output=64_000,
        max_output_beta=None,
        accepts_prefill=True,
        thinking_modes=_ENABLED,
        price=Price.standard(3, 15),
        lifecycle="deprecated",
        retires_at="2026-11-30T00:00:00Z",
    ),
    ModelInfo(
        id="claude-opus-4-1-20250805",
        aliases=("claude-opus-4-1",),
        display_name="Claude Opus 4.1",
        context_window=200_000,
        max_output=32_000,
        max_output_beta=None,
        accepts_prefill=True,
        thinking_modes=_ENABLED,
        price=Price.standard(15, 75),
    ),
    ModelInfo(
        id="claude-opus-4-20250514",
        aliases=("claude-opus-4-0",),
        display_name="Claude Opus 4",
        context_window=200_000,
        max_output=32_000,
        max_output_beta=None,
        accepts_prefill=True,
        thinking_modes=_ENABLED,
        price=Price.standard(15, 75),
    ),
    ModelInfo(
        id="claude-sonnet-4-20250514",
        aliases=("claude-sonnet-4-0",),
        display_name="Claude Sonnet 4",
        context_window=200_000,
        context_window_beta=_CONTEXT_1M,
        max_output=64_000,
        max_output_beta=None,
        accepts_prefill=True,
        thinking_modes=_ENABLED,
        price=Price.standard(3, 15),
    ),
    ModelInfo(
        id="claude-3-7-sonnet-20250219",
        aliases=("claude-3-7-sonnet-latest",),
        display_name="Claude Sonnet 3.7",
        context_window=200_000,
        max_output=64_000,
        max_output_beta=_OUTPUT_128K,
        accepts_prefill=True,
        thinking_modes=_ENABLED,
        price=Price.standard(3, 15),
        lifecycle="retired",
        retires_at="2026-02-19T00:00:00Z",
    ),
    ModelInfo(
        id="claude-3-5-haiku-20241022",
        aliases=("claude-3-5-haiku-latest",),
        display_name="Claude Haiku 3.5",
        context_window=200_000,
        max_output=8_192,
        max_output_beta=None,
        accepts_prefill=True,
        thinking_modes=_NONE,
        price=Price.standard(0.8, 4),
        lifecycle="retired",
        retires_at="2026-02-19T00:00:00Z",
    ),
    ModelInfo(
        id="claude-3-haiku-20240307",
        aliases=(),
        display_name="Claude Haiku 3",
        context_window=200_000,
        max_output=4_096,
        max_output_beta=None,
        accepts_prefill=True,
        thinking_modes=_NONE,
        price=Price.standard(0.25, 1.25),
    ),
    ModelInfo(
        id="claude-emulator",
        aliases=(),
        display_name="longcall's local emulator",
        context_window=200_000,
        max_output=128_000,
        max_output_beta=None,
        accepts_prefill=True,
        thinking_modes=_ADAPTIVE,
        price=Price(0, 0, 0, 0),
    ),
)

_BY_NAME: dict[str, ModelInfo] = {name: row for row in CATALOG for name in (row.id, *row.aliases)}
_DATE_SUFFIX = re.compile(r"-\d{8}$")
# A dated id of a known family, e.g. "claude-sonnet-4-5-20990101": keyed by the undated stem.
_BY_STEM: dict[str, ModelInfo] = {_DATE_SUFFIX.sub("", name): row for name, row in _BY_NAME.items()}
# Bedrock ("us.anthropic.claude-...-v1:0") and Vertex ("claude-...@20250514") spellings.
_BEDROCK = re.compile(r"^(?:[a-z]+\.)?anthropic\.(claude-.+?)-v\d+(?::\d+)?$")

_warned_unknown: set[str] = set()
_price_overrides: dict[str, Price] = {}
_prices_file: tuple[str, dict[str, Price]] | None = None


def exact(model: str) -> ModelInfo | None:
    """The row whose id or alias is exactly `model`, as the API itself matches names; None otherwise."""
    return _BY_NAME.get(model)


def _find(model: str) -> ModelInfo | None:
    name = model.strip().lower()
    bedrock = _BEDROCK.match(name)
    if bedrock:
        name = bedrock.group(1)
    name = name.replace("@", "-")
    if name in _BY_NAME:
        return _BY_NAME[name]
    if _DATE_SUFFIX.search(name):
        return _BY_STEM.get(_DATE_SUFFIX.sub("", name))
    return None


_VERSIONED = re.compile(r"claude-(?:opus|sonnet|haiku|[a-z]+)-(\d+)(?:-(\d{1,2}))?(?:-|$)")


def _refuses_prefill(model: str) -> bool:
    """Claude 4.6 and every later version refuse assistant prefill (the API's 400)."""
    match = _VERSIONED.match(model.strip().lower())
    if match is None:
        return False
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return (major, minor) >= (4, 6)


def _unknown_row(model: str) -> ModelInfo:
    # Conservative where a wrong guess costs a round trip, generous where the server is the judge:
    # most unknown names are newer models, which accept at least 64k output tokens. Prefill is assumed
    # unless the name says Claude 4.6 or later (the engine also learns from the first 400), and Sonnet
    # prices so a cost is never shown as 0.
    return ModelInfo(
        id=model,
        aliases=(),
        display_name=model,
        context_window=200_000,
        max_output=64_000,
        max_output_beta=None,
        accepts_prefill=not _refuses_prefill(model),
        thinking_modes=_ENABLED,
        price=Price.standard(3, 15),
        known=False,
        source="default",
    )


def _override_key(model: str) -> str:
    row = _find(model)
    return row.id if row is not None else model


def _load_prices_file() -> dict[str, Price]:
    global _prices_file
    path = os.environ.get("LONGCALL_PRICES")
    if not path:
        return {}
    if _prices_file is not None and _prices_file[0] == path:
        return _prices_file[1]
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError) as exc:
        raise InvalidRequest(
            f"LONGCALL_PRICES names {path!r}, which could not be read as JSON: {exc}."
        ) from exc
    if not isinstance(data, dict):
        raise InvalidRequest(f"LONGCALL_PRICES file {path!r} must hold a JSON object of model ids to prices.")
    prices: dict[str, Price] = {}
    for model, entry in data.items():
        try:
            prices[_override_key(model)] = Price(
                **{field: float(entry[field]) for field in ("input", "output", "cache_write", "cache_read")}
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequest(
                f"LONGCALL_PRICES file {path!r}: the entry for {model!r} needs numbers for input, output, "
                "cache_write and cache_read."
            ) from exc
    _prices_file = (path, prices)
    return prices


def set_prices(model: str, price: Price) -> None:
    """Override a model's prices for this process; wins over `LONGCALL_PRICES` and the catalog.

    Args:
        model: a model id, alias or unknown name.
        price: USD per million tokens.
    """
    _price_overrides[_override_key(model)] = price


def price_override(model: str) -> Price | None:
    """The price set for `model` by `set_prices()` or `LONGCALL_PRICES`, or None."""
    key = _override_key(model)
    return _price_overrides.get(key) or _load_prices_file().get(key)


def lookup(model: str) -> ModelInfo:
    """Return what the catalog knows about `model`, with any price override applied.

    Args:
        model: an id, an alias, a dated id of a known family (the longest known prefix before the
            date wins), or a Bedrock/Vertex spelling of one.

    Returns:
        The catalog row, or a default row with `known=False` for a name not in the catalog.

    Warns:
        UnknownModelWarning: once per process for each unknown name the Models API has not described.
    """
    from . import _models_api  # what the Models API said in this process wins over the table

    row = _models_api.known(model) or _find(model)
    if row is None:
        if model not in _warned_unknown:
            _warned_unknown.add(model)
            warnings.warn(
                f"Model {model!r} is not in longcall's catalog (checked {CATALOG_CHECKED}); assuming a "
                "200k context window, up to 64k output tokens and Sonnet prices, and letting the server "
                "decide the limits.",
                UnknownModelWarning,
                stacklevel=2,
            )
        row = _unknown_row(model)
    price = price_override(row.id) or (price_override(model) if row.id != model else None)
    return dataclasses.replace(row, price=price) if price is not None else row


def _usage_field(usage: Mapping[str, Any] | object, name: str) -> Any:
    return usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)


def cost(usage: Mapping[str, Any] | object, model: str) -> float:
    """The price in USD of one response's usage.

    Args:
        usage: an `anthropic.types.Usage` or a dict with the same keys; missing or None counts are 0.
            When `cache_creation` breaks the cache writes down by lifetime, 1-hour writes are priced
            at twice the input price.
        model: the model that produced the usage.

    Returns:
        The cost in USD.
    """
    price = lookup(model).price
    input_tokens = _usage_field(usage, "input_tokens") or 0
    output_tokens = _usage_field(usage, "output_tokens") or 0
    cache_write = _usage_field(usage, "cache_creation_input_tokens") or 0
    cache_read = _usage_field(usage, "cache_read_input_tokens") or 0
    breakdown = _usage_field(usage, "cache_creation")
    write_1h = (_usage_field(breakdown, "ephemeral_1h_input_tokens") or 0) if breakdown is not None else 0
    write_1h = min(write_1h, cache_write)
    total = (
        input_tokens * price.input
        + output_tokens * price.output
        + (cache_write - write_1h) * price.cache_write
        + write_1h * price.input * _CACHE_WRITE_1H_FACTOR
        + cache_read * price.cache_read
    )
    return float(total) / 1_000_000


def resolve_max_tokens(
    requested: int | None, info: ModelInfo, *, clamp: bool, betas: Sequence[str] = ()
) -> tuple[int, str | None]:
    """Decide the `max_tokens` to send.

    Args:
        requested: the caller's `max_tokens`, or None for the model's largest output.
        info: the model's row from `lookup()`.
        clamp: lower a too-large value to the limit (with a warning text) instead of raising.
        betas: the anthropic-beta headers the request will carry; `info.max_output_beta`'s header
            raises the limit (also the value used for None).

    Returns:
        (max_tokens, warning text or None). For an unknown model the value is returned as given: the
        server decides.

    Raises:
        InvalidRequest: `requested` is above the limit and `clamp` is False.
    """
    limit = info.max_output
    beta = info.max_output_beta
    if beta is not None and beta[1] in betas:
        limit = beta[0]
    if requested is None:
        return limit, None
    if not info.known or requested <= limit:
        return requested, None
    if clamp:
        return limit, (
            f"max_tokens={requested} is above the {limit} output tokens {info.id} can produce; "
            f"sending max_tokens={limit}."
        )
    fix = f"pass max_tokens={limit} or less, or omit it to use the model's limit"
    if beta is not None and beta[1] not in betas and requested <= beta[0]:
        fix += f", or send the anthropic-beta header {beta[1]!r} to allow up to {beta[0]}"
    raise InvalidRequest(
        f"max_tokens={requested} is above the {limit} output tokens {info.id} can produce; {fix}."
    )


def check_context(input_tokens: int, max_tokens: int, info: ModelInfo, *, betas: Sequence[str] = ()) -> None:
    """Check that the input plus `max_tokens` fits the model's context window.

    Args:
        input_tokens: the counted input (e.g. from the `count_tokens` endpoint).
        max_tokens: the `max_tokens` that will be sent.
        info: the model's row from `lookup()`; nothing is checked for an unknown model.
        betas: the anthropic-beta headers the request will carry; `info.context_window_beta`'s header
            raises the window.

    Raises:
        ContextWindowExceeded: the sum is over the window; the message says by how much and the fix.
    """
    if not info.known:
        return
    window = info.context_window
    beta = info.context_window_beta
    if beta is not None and beta[1] in betas:
        window = beta[0]
    total = input_tokens + max_tokens
    if total <= window:
        return
    if input_tokens < window:
        fix = f"lower max_tokens to {window - input_tokens} or less, or shorten the input"
    else:
        fix = f"shorten the input by at least {input_tokens - window + 1} tokens"
    if beta is not None and beta[1] not in betas and total <= beta[0]:
        fix += f", or send the anthropic-beta header {beta[1]!r} for a {_tokens(beta[0])} window"
    raise ContextWindowExceeded(
        f"The input ({input_tokens} tokens) plus max_tokens ({max_tokens}) is {total} tokens, over the "
        f"{window}-token context window of {info.id}; {fix}.",
        input_tokens=input_tokens,
        max_tokens=max_tokens,
        context_window=window,
    )


def catalog_rows() -> tuple[ModelInfo, ...]:
    """Every catalog row, as checked on `CATALOG_CHECKED` (price overrides not applied)."""
    return CATALOG


def _tokens(count: int) -> str:
    if count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count % 1000 == 0:
        return f"{count // 1000}k"
    return f"{count:,}"


def _with_beta(count: int, beta: tuple[int, str] | None) -> str:
    text = _tokens(count)
    return f"{text} ({_tokens(beta[0])} with `{beta[1]}`)" if beta is not None else text


def _dollars(amount: float) -> str:
    return f"${amount:g}" if amount == int(amount) else f"${amount:.2f}"


def _lifecycle(row: ModelInfo) -> str:
    if row.lifecycle == "deprecated" and row.retires_at:
        return f"deprecated, retires {row.retires_at[:10]}"
    if row.lifecycle == "retired" and row.retires_at:
        return f"retired {row.retires_at[:10]}"
    return row.lifecycle


def markdown_table() -> str:
    """The catalog as the Markdown table shown in the README and `docs/models.md`."""
    lines = [
        "| Model | Context | Max output | Prefill | Thinking | $ in / out per MTok | Lifecycle |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in CATALOG:
        names = f"`{row.id}`" + "".join(f" (`{alias}`)" for alias in row.aliases)
        thinking = ", ".join(mode for mode in ("enabled", "adaptive") if mode in row.thinking_modes) or "no"
        lines.append(
            f"| {names} | {_with_beta(row.context_window, row.context_window_beta)} "
            f"| {_with_beta(row.max_output, row.max_output_beta)} | {'yes' if row.accepts_prefill else 'no'} "
            f"| {thinking} | {_dollars(row.price.input)} / {_dollars(row.price.output)} | {_lifecycle(row)} |"
        )
    return "\n".join(lines) + "\n"
