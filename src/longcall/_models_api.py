"""The model catalog from the Models API, cached on disk beside the journal, with the bundled table as
the offline fallback.

`resolve(client, model)` (and `aresolve` for async clients) is what every generating call of a
wrapped client asks before it starts:

1. what this process already knows about `model` at the client's `base_url` (asked once per process
   and server, whatever the answer);
2. else a fresh entry of the disk cache (`models.json` beside the per-user journal, `CACHE_TTL`) that
   the same `base_url` answered;
3. else `GET /v1/models/{model}` through the caller's own client (no retries, `LOOKUP_TIMEOUT`): the
   answer is merged with the bundled row (prices, aliases, prefill, beta headers) and cached; its
   `max_tokens`, `max_input_tokens` and capabilities win over the bundled row's;
4. else, when the Models API cannot answer (offline, a proxy without it, a 404, a timeout), the
   bundled table via `_catalog.lookup`, silently for a model it has (it warns once per process about
   a name it does not know).

A client with no journal (`journal=None`, `LONGCALL_JOURNAL=off`) reads the cache but never writes
it (`store=False`): no journal means longcall creates no files, so its answers stay in the process.

Invariants:
- No Models API request is ever repeated in a process for a (base_url, model); a failure is
  remembered too. `known(model)` (what `_catalog.lookup` and the engine read) is the latest answer
  for that name.
- An unknown-model warning is never given for a model the Models API described.
- The cache file is owner-only (0600, folder 0700), written whole to a temporary file and renamed;
  a cache that cannot be read or written is ignored, never an error.
- What a 400 taught (`remember_refuses_prefill`) is kept in the same file and wins over every other
  source for `accepts_prefill`.
- Prices are not in the Models API: they are the bundled row's (or the overrides of
  `_catalog.set_prices` / `LONGCALL_PRICES`), Sonnet's for a model the table does not have.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import _catalog
from ._catalog import ModelInfo, Price

__all__ = [
    "CACHE_TTL",
    "LOOKUP_TIMEOUT",
    "aresolve",
    "base_url_of",
    "cache_path",
    "forget",
    "info_from_api",
    "known",
    "list_models",
    "alist_models",
    "models_table",
    "remember_refuses_prefill",
    "resolve",
]

CACHE_TTL = 7 * 24 * 3600.0  # the Models API's answers are kept a week
LEARNED_TTL = 30 * 24 * 3600.0  # what a 400 taught is kept a month
LOOKUP_TIMEOUT = 3.0  # seconds for one Models API request
_CACHE_FILE = "models.json"

_lock = threading.Lock()
_known: dict[str, ModelInfo] = {}  # this process's latest answer, by the name asked for
_answers: dict[tuple[str, str], ModelInfo] = {}  # (base_url, name) -> this process's answer there


def cache_path() -> Path:
    """`models.json` in `$LONGCALL_HOME`, else in the user data folder, beside the journal."""
    home = os.environ.get("LONGCALL_HOME")
    if home:
        return Path(home) / _CACHE_FILE
    import platformdirs

    return Path(platformdirs.user_data_dir("longcall", appauthor=False)) / _CACHE_FILE


def known(model: str) -> ModelInfo | None:
    """What this process learned about `model` from the Models API or its cache, or None."""
    with _lock:
        info = _known.get(model)
    return info if info is not None and info.source in ("models_api", "cache") else None


def forget() -> None:
    """Forget what this process learned (the disk cache stays). For tests."""
    with _lock:
        _known.clear()
        _answers.clear()


# -- the disk cache --------------------------------------------------------------------------------


def _read_cache() -> dict[str, Any]:
    try:
        with cache_path().open(encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(update: Mapping[str, Mapping[str, Any]]) -> None:
    """Merge `update` (name -> fields) into the cache file, atomically and owner-only."""
    path = cache_path()
    with _lock, contextlib.suppress(OSError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = _read_cache()
        for name, fields in update.items():
            entry = data.get(name)
            data[name] = {**(entry if isinstance(entry, dict) else {}), **fields}
        handle, temporary = tempfile.mkstemp(prefix=".models-", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                os.fchmod(file.fileno(), 0o600)
                json.dump(data, file, indent=1, sort_keys=True)
            os.replace(temporary, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def _cached(model: str, base_url: str, now: float) -> tuple[dict[str, Any] | None, bool | None]:
    """(the Models API's fresh answer for `model` from `base_url` (any server for ""), or None;
    whether a 400 said it refuses prefill)."""
    entry = _read_cache().get(model)
    if not isinstance(entry, dict):
        return None, None
    data = entry.get("model")
    fetched = entry.get("fetched_at")
    fresh = isinstance(data, dict) and isinstance(fetched, (int, float)) and now - fetched < CACHE_TTL
    if base_url and entry.get("base_url") not in (None, base_url):
        fresh = False  # another server's answer (a proxy, an emulator) is not this one's
    learned = entry.get("refuses_prefill_learned_at")
    refuses = True if isinstance(learned, (int, float)) and now - learned < LEARNED_TTL else None
    return (data if fresh else None), refuses


def remember_refuses_prefill(model: str) -> None:
    """Record that `model` answered a prefill with the API's refusal, for this process and on disk.

    Every later `resolve()` of that name (here or in another process, for LEARNED_TTL) says
    `accepts_prefill=False`.
    """
    now = time.time()
    with _lock:
        if model in _known:
            _known[model] = dataclasses.replace(_known[model], accepts_prefill=False)
        for key, info in _answers.items():
            if key[1] == model:
                _answers[key] = dataclasses.replace(info, accepts_prefill=False)
    _write_cache({model: {"refuses_prefill_learned_at": now}})


# -- the Models API's answer -----------------------------------------------------------------------


def _supported(capabilities: Mapping[str, Any], *path: str) -> bool:
    value: Any = capabilities
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return isinstance(value, Mapping) and value.get("supported") is True


def _date(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def info_from_api(
    data: Mapping[str, Any], *, asked_as: str | None = None, source: str = "models_api"
) -> ModelInfo:
    """A catalog row from a Models API model object, merged with what the bundled table knows.

    Args:
        data: the JSON of `GET /v1/models/{id}` (or one item of `GET /v1/models`).
        asked_as: the name the caller used (an alias resolves to a dated id); kept as an alias.
        source: "models_api" or "cache".

    The API gives the limits, thinking modes, lifecycle and display name; the bundled row (found by
    the answer's id, else by the name asked) gives the prices, beta headers and prefill; a model the
    table does not have gets Sonnet prices and the name rule for prefill (4.6 and later refuse it).
    """
    model_id = str(data.get("id") or asked_as or "")
    bundled = _catalog.exact(model_id) or (_catalog.exact(asked_as) if asked_as else None)
    capabilities = data.get("capabilities") if isinstance(data.get("capabilities"), Mapping) else None
    if capabilities is not None and isinstance(capabilities.get("thinking"), Mapping):
        thinking_modes = frozenset(
            kind for kind in ("enabled", "adaptive") if _supported(capabilities, "thinking", "types", kind)
        )
    elif bundled is not None:
        thinking_modes = bundled.thinking_modes
    else:
        thinking_modes = frozenset({"enabled"})
    aliases = set(bundled.aliases if bundled is not None else ())
    if asked_as and asked_as != model_id:
        aliases.add(asked_as)
    max_input = data.get("max_input_tokens")
    max_output = data.get("max_tokens")
    return ModelInfo(
        id=model_id,
        aliases=tuple(sorted(aliases)),
        display_name=str(data.get("display_name") or (bundled.display_name if bundled else model_id)),
        context_window=int(max_input)
        if isinstance(max_input, int)
        else (bundled.context_window if bundled else 200_000),
        context_window_beta=bundled.context_window_beta if bundled is not None else None,
        max_output=int(max_output)
        if isinstance(max_output, int)
        else (bundled.max_output if bundled else 64_000),
        max_output_beta=bundled.max_output_beta if bundled is not None else None,
        accepts_prefill=bundled.accepts_prefill
        if bundled is not None
        else not _catalog._refuses_prefill(model_id),
        thinking_modes=thinking_modes,
        price=bundled.price if bundled is not None else Price.standard(3, 15),
        known=True,
        lifecycle=str(data.get("lifecycle") or "active"),
        deprecated_at=_date(data.get("deprecated_at")),
        retires_at=_date(data.get("retires_at")),
        source=source,
        capabilities=capabilities,
    )


def _json_of(model: Any) -> dict[str, Any]:
    if isinstance(model, Mapping):
        return dict(model)
    dumped = model.model_dump(mode="json") if hasattr(model, "model_dump") else model.to_dict()
    return dict(dumped)


def _finish(model: str, info: ModelInfo, refuses: bool | None, base_url: str | None = None) -> ModelInfo:
    """Apply a learned prefill refusal and the price overrides; remember for the process (and for
    `base_url`, when the answer is that server's)."""
    if refuses:
        info = dataclasses.replace(info, accepts_prefill=False)
    price = _catalog.price_override(info.id) or _catalog.price_override(model)
    if price is not None:
        info = dataclasses.replace(info, price=price)
    with _lock:
        if info.source in ("models_api", "cache") or model not in _known:
            _known[model] = info
        if base_url is not None:
            _answers[(base_url, model)] = info
    return info


def _fallback(model: str, refuses: bool | None, base_url: str | None = None) -> ModelInfo:
    # lookup warns once for an unknown name, and gives what another server answered for it, if any
    return _finish(model, _catalog.lookup(model), refuses, base_url)


def _quiet_client(client: Any) -> Any:
    """The caller's client, with no retries and a short timeout: a catalog question must be cheap."""
    raw = getattr(client, "unwrapped", client)  # a longcall-wrapped client: ask the SDK's own
    return raw.with_options(max_retries=0, timeout=LOOKUP_TIMEOUT)


def base_url_of(client: Any) -> str:
    """The server a client talks to ("" for None), as the process memo and the cache key it."""
    return "" if client is None else str(getattr(client, "base_url", ""))


def _from_process_or_disk(model: str, base_url: str) -> tuple[ModelInfo | None, bool | None]:
    with _lock:
        known = _answers.get((base_url, model))
    if known is not None:
        return known, None
    data, refuses = _cached(model, base_url, time.time())
    if data is not None:
        info = info_from_api(data, asked_as=model, source="cache")
        return _finish(model, info, refuses, base_url), None
    return None, refuses


def _store(model: str, answer: Any, refuses: bool | None, base_url: str, store: bool) -> ModelInfo:
    data = _json_of(answer)
    if store:
        _write_cache({model: {"model": data, "fetched_at": time.time(), "base_url": base_url}})
    return _finish(model, info_from_api(data, asked_as=model), refuses, base_url)


def resolve(client: Any, model: str, *, store: bool = True) -> ModelInfo:
    """What longcall knows about `model`, asking the Models API through `client` the first time.

    Args:
        client: an `anthropic.Anthropic` (or a longcall-wrapped one), or None to use only the cache
            and the bundled table.
        model: the model name of the call.
        store: write the Models API's answer to the disk cache (False: keep it in the process only).

    Returns:
        The catalog row; `source` says where it came from.
    """
    base_url = base_url_of(client)
    known, refuses = _from_process_or_disk(model, base_url)
    if known is not None:
        return known
    if client is None:
        return _fallback(model, refuses, base_url)
    try:
        answer = _quiet_client(client).models.retrieve(model)
    except Exception:  # offline, a proxy without the Models API, a 404, a timeout: the bundled table
        return _fallback(model, refuses, base_url)
    return _store(model, answer, refuses, base_url, store)


async def aresolve(client: Any, model: str, *, store: bool = True) -> ModelInfo:
    """`resolve()` for an `anthropic.AsyncAnthropic` (or a wrapped one)."""
    base_url = base_url_of(client)
    known, refuses = _from_process_or_disk(model, base_url)
    if known is not None:
        return known
    if client is None:
        return _fallback(model, refuses, base_url)
    try:
        answer = await _quiet_client(client).models.retrieve(model)
    except Exception:
        return _fallback(model, refuses, base_url)
    return _store(model, answer, refuses, base_url, store)


# -- listing ---------------------------------------------------------------------------------------


def _listed(answers: Iterable[Any], base_url: str) -> list[ModelInfo]:
    rows: list[ModelInfo] = []
    update: dict[str, dict[str, Any]] = {}
    now = time.time()
    for answer in answers:
        data = _json_of(answer)
        info = _finish(str(data.get("id")), info_from_api(data), None, base_url)
        rows.append(info)
        update[info.id] = {"model": data, "fetched_at": now, "base_url": base_url}
    _write_cache(update)
    return rows


def _offline_rows() -> list[ModelInfo]:
    """The cache's models (fresh or not) first, then every bundled row the cache does not have."""
    rows: list[ModelInfo] = []
    seen: set[str] = set()
    for name, entry in sorted(_read_cache().items()):
        data = entry.get("model") if isinstance(entry, dict) else None
        if isinstance(data, dict) and name == data.get("id"):
            rows.append(info_from_api(data, source="cache"))
            seen.add(name)
    rows += [row for row in _catalog.catalog_rows() if row.id not in seen]
    return rows


def list_models(client: Any) -> list[ModelInfo]:
    """Every model the Models API lists (all pages), with limits and prices; offline, the cache and
    the bundled table. The answers refresh the cache."""
    if client is None:
        return _offline_rows()
    try:
        return _listed(list(_quiet_client(client).models.list(limit=1000)), base_url_of(client))
    except Exception:
        return _offline_rows()


async def alist_models(client: Any) -> list[ModelInfo]:
    """`list_models()` for an async client."""
    if client is None:
        return _offline_rows()
    try:
        page = _quiet_client(client).models.list(limit=1000)
        return _listed([model async for model in page], base_url_of(client))
    except Exception:
        return _offline_rows()


def models_table(models: Iterable[ModelInfo]) -> str:
    """A plain-text table of models for a terminal: id, context, max output, prefill, thinking,
    price in / out per million tokens, lifecycle, and where the row came from."""
    header = ("Model", "Context", "Max output", "Prefill", "Thinking", "$ in / out", "Lifecycle", "Source")
    rows = [header]
    for info in models:
        thinking = ", ".join(mode for mode in ("enabled", "adaptive") if mode in info.thinking_modes) or "no"
        lifecycle = info.lifecycle + (f" (retires {info.retires_at[:10]})" if info.retires_at else "")
        rows.append(
            (
                info.id,
                _catalog._tokens(info.context_window),
                _catalog._tokens(info.max_output),
                "yes" if info.accepts_prefill else "no",
                thinking,
                f"{_catalog._dollars(info.price.input)} / {_catalog._dollars(info.price.output)}",
                lifecycle,
                info.source,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines) + "\n"
