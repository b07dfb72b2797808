"""The catalog from the Models API: reachable (the emulator), unreachable (a closed port), and a model
longcall has never heard of; the disk cache beside the journal; prefill refusals remembered."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import time
import warnings
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

import longcall
from longcall import _catalog, _models_api
from longcall._catalog import UnknownModelWarning, lookup, resolve_max_tokens
from longcall._errors import InvalidRequest
from longcall.testing import Emulator, Fault

API_KEY = "sk-ant-test-secret"


@pytest.fixture(autouse=True)
def fresh_catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_catalog, "_warned_unknown", set())
    monkeypatch.setattr(_catalog, "_price_overrides", {})
    _models_api.forget()
    yield
    _models_api.forget()


@pytest.fixture
def client(emulator: Emulator) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=2) as client:
        yield client


def model_requests(emulator: Emulator) -> list[str]:
    return [record.path for record in emulator.requests if record.path.startswith("/v1/models")]


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there now: connections are refused


# -- the Models API reachable -----------------------------------------------------------------------


def test_the_models_api_answers_once_and_is_cached_owner_only(
    emulator: Emulator, client: anthropic.Anthropic
) -> None:
    info = _models_api.resolve(client, "claude-haiku-4-5")
    assert (info.id, info.source, info.known) == ("claude-haiku-4-5-20251001", "models_api", True)
    assert (info.context_window, info.max_output) == (200_000, 64_000)
    assert info.price == _catalog.exact("claude-haiku-4-5").price  # type: ignore[union-attr]
    assert info.capabilities is not None and info.capabilities["thinking"]["types"]["enabled"]["supported"]
    assert "claude-haiku-4-5" in info.aliases
    assert model_requests(emulator) == ["/v1/models/claude-haiku-4-5"]
    assert _models_api.resolve(client, "claude-haiku-4-5") is info
    assert lookup("claude-haiku-4-5") == info  # the rest of longcall sees the same row
    assert len(model_requests(emulator)) == 1
    path = _models_api.cache_path()
    assert path.parent == __import__("pathlib").Path(os.environ["LONGCALL_HOME"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert API_KEY not in path.read_text()
    # Another process (here: this one, forgetting) reads the disk cache and asks nothing.
    _models_api.forget()
    again = _models_api.resolve(client, "claude-haiku-4-5")
    assert (again.source, again.max_output) == ("cache", 64_000)
    assert len(model_requests(emulator)) == 1


def test_an_expired_cache_entry_is_asked_again(emulator: Emulator, client: anthropic.Anthropic) -> None:
    _models_api.resolve(client, "claude-sonnet-4-6")
    path = _models_api.cache_path()
    data = json.loads(path.read_text())
    data["claude-sonnet-4-6"]["fetched_at"] = time.time() - _models_api.CACHE_TTL - 1
    path.write_text(json.dumps(data))
    _models_api.forget()
    assert _models_api.resolve(client, "claude-sonnet-4-6").source == "models_api"
    assert len(model_requests(emulator)) == 2


def test_a_broken_cache_is_ignored_and_rewritten(emulator: Emulator, client: anthropic.Anthropic) -> None:
    path = _models_api.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    assert _models_api.resolve(client, "claude-opus-4-6").source == "models_api"
    assert "claude-opus-4-6" in json.loads(path.read_text())


def test_a_wrapped_client_asks_through_the_sdk_client(emulator: Emulator) -> None:
    sdk = anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY)
    with longcall.wrap(sdk, journal=None) as wrapped:
        assert _models_api.resolve(wrapped, "claude-opus-4-8").source == "models_api"
    assert model_requests(emulator) == ["/v1/models/claude-opus-4-8"]


def test_async_clients(emulator: Emulator) -> None:
    async def run() -> Any:
        async with anthropic.AsyncAnthropic(base_url=emulator.url, api_key=API_KEY) as client:
            first = await _models_api.aresolve(client, "claude-opus-5")
            listed = await _models_api.alist_models(client)
            return first, listed

    info, listed = asyncio.run(run())
    assert (info.source, info.max_output, info.thinking_modes) == ("models_api", 128_000, {"adaptive"})
    assert "claude-opus-5" in [row.id for row in listed]


# -- unreachable ------------------------------------------------------------------------------------


def test_an_unreachable_models_api_falls_back_to_the_bundled_table(closed_port: str) -> None:
    with anthropic.Anthropic(base_url=closed_port, api_key=API_KEY, max_retries=5) as client:
        started = time.monotonic()
        info = _models_api.resolve(client, "claude-sonnet-4-6")
        assert time.monotonic() - started < _models_api.LOOKUP_TIMEOUT  # no retries, no long wait
        assert (info.source, info.max_output, info.accepts_prefill) == ("bundled", 64_000, False)
        with pytest.warns(UnknownModelWarning, match="claude-brand-new-9"):
            guessed = _models_api.resolve(client, "claude-brand-new-9")
        assert (guessed.known, guessed.source) == (False, "default")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # at most one warning per process
            assert _models_api.resolve(client, "claude-brand-new-9") == guessed
            assert lookup("claude-brand-new-9") == guessed
    assert not _models_api.cache_path().exists()


def test_a_models_api_that_does_not_know_the_name(client: anthropic.Anthropic, emulator: Emulator) -> None:
    with pytest.warns(UnknownModelWarning):
        info = _models_api.resolve(client, "claude-nope-9")
    assert info.source == "default"
    _models_api.resolve(client, "claude-nope-9")
    assert model_requests(emulator) == ["/v1/models/claude-nope-9"]  # a 404 is not asked again


def test_without_a_client_only_the_cache_and_the_table(
    emulator: Emulator, client: anthropic.Anthropic
) -> None:
    assert _models_api.resolve(None, "claude-opus-4-6").source == "bundled"
    _models_api.forget()
    _models_api.resolve(client, "claude-opus-4-6")
    _models_api.forget()
    assert _models_api.resolve(None, "claude-opus-4-6").source == "cache"


# -- a model longcall has never heard of -------------------------------------------------------------


def test_a_model_only_the_models_api_knows(emulator: Emulator, client: anthropic.Anthropic) -> None:
    emulator.add_model(
        "claude-nova-7", max_tokens=77_000, max_input_tokens=500_000, thinking_modes=("adaptive",)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # never an unknown-model warning when the Models API answered
        info = _models_api.resolve(client, "claude-nova-7")
        assert lookup("claude-nova-7") == info
    assert (info.known, info.source, info.context_window, info.max_output) == (
        True,
        "models_api",
        500_000,
        77_000,
    )
    assert info.thinking_modes == {"adaptive"}
    assert info.accepts_prefill is False  # the name says 4.6 or later: prefill is refused
    assert info.price == _catalog.Price.standard(3, 15)
    assert resolve_max_tokens(None, info, clamp=False) == (77_000, None)
    with pytest.raises(InvalidRequest, match="77000"):
        resolve_max_tokens(77_001, info, clamp=False)
    # The emulator agrees: its limit is the one the Models API gave.
    message = client.messages.create(
        model="claude-nova-7", max_tokens=77_000, messages=[{"role": "user", "content": "hi"}], timeout=30
    )
    assert message.stop_reason == "end_turn"


def test_price_overrides_apply_to_models_api_rows(client: anthropic.Anthropic, emulator: Emulator) -> None:
    emulator.add_model("claude-nova-7")
    _catalog.set_prices("claude-nova-7", _catalog.Price(1, 2, 3, 4))
    assert _models_api.resolve(client, "claude-nova-7").price == _catalog.Price(1, 2, 3, 4)
    assert _catalog.cost({"input_tokens": 1_000_000, "output_tokens": 1_000_000}, "claude-nova-7") == 3.0


# -- what a 400 taught --------------------------------------------------------------------------------


def test_a_prefill_refusal_is_remembered_on_disk(client: anthropic.Anthropic) -> None:
    assert _models_api.resolve(client, "claude-haiku-4-5").accepts_prefill is True
    _models_api.remember_refuses_prefill("claude-haiku-4-5")
    assert _models_api.resolve(client, "claude-haiku-4-5").accepts_prefill is False
    assert lookup("claude-haiku-4-5").accepts_prefill is False
    _models_api.forget()
    assert _models_api.resolve(client, "claude-haiku-4-5").accepts_prefill is False
    _models_api.forget()
    assert _models_api.resolve(None, "claude-haiku-4-5").accepts_prefill is False  # offline too


def test_a_refusal_learned_before_the_models_api_was_asked(closed_port: str) -> None:
    _models_api.remember_refuses_prefill("claude-sonnet-4-5")
    with anthropic.Anthropic(base_url=closed_port, api_key=API_KEY) as client:
        assert _models_api.resolve(client, "claude-sonnet-4-5").accepts_prefill is False


# -- listing -------------------------------------------------------------------------------------------


def test_list_models_and_the_table(emulator: Emulator, client: anthropic.Anthropic, closed_port: str) -> None:
    emulator.add_model("claude-nova-7", max_tokens=77_000)
    rows = _models_api.list_models(client)
    ids = [row.id for row in rows]
    assert "claude-nova-7" in ids and "claude-opus-4-6" in ids
    assert {row.source for row in rows} == {"models_api"}
    table = _models_api.models_table(rows)
    lines = table.splitlines()
    assert lines[0].split() == [
        "Model",
        "Context",
        "Max",
        "output",
        "Prefill",
        "Thinking",
        "$",
        "in",
        "/",
        "out",
        "Lifecycle",
        "Source",
    ]
    nova = next(line for line in lines if line.startswith("claude-nova-7 "))
    assert nova.split()[:4] == ["claude-nova-7", "200k", "77k", "no"]
    sonnet = next(line for line in lines if line.startswith("claude-sonnet-4-5-20250929 "))
    assert "deprecated (retires 2026-11-30)" in sonnet and "$3 / $15" in sonnet
    # Offline: the cache's rows, then the bundled table.
    with anthropic.Anthropic(base_url=closed_port, api_key=API_KEY) as offline:
        cached = _models_api.list_models(offline)
    assert [row.source for row in cached if row.id == "claude-nova-7"] == ["cache"]
    assert {row.id for row in _catalog.catalog_rows()} <= {row.id for row in cached}


# -- every generating call asks on its first call for a model ----------------------------------------

PROMPT = [{"role": "user", "content": "Write 20 words about tides"}]
FAST = longcall.Policy(backoff_initial=0.01, backoff_max=0.05, idle_timeout=5)


def _sync_stream(resource: Any, **params: Any) -> Any:
    with resource.stream(**params) as stream:
        return stream.get_final_message()


async def _async_stream(resource: Any, **params: Any) -> Any:
    async with resource.stream(**params) as stream:
        return await stream.get_final_message()


def _sync_events(resource: Any, **params: Any) -> Any:
    return list(resource.create(stream=True, **params))


async def _async_events(resource: Any, **params: Any) -> Any:
    return [event async for event in await resource.create(stream=True, **params)]


def _sync_raw(resource: Any, **params: Any) -> Any:
    return resource.with_raw_response.create(**params).parse()


async def _async_raw(resource: Any, **params: Any) -> Any:
    return await (await resource.with_raw_response.create(**params)).parse()


async def _async_call(method: Any, **params: Any) -> Any:
    return await method(**params)


# surface -> (sync call, async call) of (resource, **params)
CALLS: dict[str, tuple[Any, Any]] = {
    "create": (lambda r, **p: r.create(**p), lambda r, **p: _async_call(r.create, **p)),
    "parse": (lambda r, **p: r.parse(**p), lambda r, **p: _async_call(r.parse, **p)),
    "stream": (_sync_stream, _async_stream),
    "create(stream=True)": (_sync_events, _async_events),
    "with_raw_response.create": (_sync_raw, _async_raw),
}


def call_twice(
    emulator: Emulator, kind: str, surface: str, beta: bool, journal: Any = None, **params: Any
) -> list[Any]:
    """The surface called twice through one wrapped client; the two results."""
    sync_call, async_call = CALLS[surface]
    params = {"model": "claude-sonnet-4-6", "messages": PROMPT, **params}

    def resource(client: Any) -> Any:
        return client.beta.messages if beta else client.messages

    if kind == "sync":
        sdk = anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0)
        with longcall.wrap(sdk, journal=journal, policy=FAST) as wrapped:
            return [sync_call(resource(wrapped), **params) for _ in range(2)]

    async def run() -> list[Any]:
        sdk = anthropic.AsyncAnthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0)
        async with longcall.wrap(sdk, journal=journal, policy=FAST) as wrapped:
            return [await async_call(resource(wrapped), **params) for _ in range(2)]

    return asyncio.run(run())


def messages_sent(emulator: Emulator) -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST" and r.path.split("?")[0] == "/v1/messages"]


@pytest.mark.parametrize("beta", [False, True], ids=["messages", "beta.messages"])
@pytest.mark.parametrize("surface", list(CALLS))
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_first_call_for_a_known_model_asks_once(
    emulator: Emulator, kind: str, surface: str, beta: bool
) -> None:
    call_twice(emulator, kind, surface, beta)
    assert model_requests(emulator) == ["/v1/models/claude-sonnet-4-6"]  # the first call only
    assert len(messages_sent(emulator)) == 2
    assert _models_api.known("claude-sonnet-4-6").source == "models_api"  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_cached_answer_asks_nothing(emulator: Emulator, kind: str, tmp_path: Any) -> None:
    journal = str(tmp_path / "journal.db")
    call_twice(emulator, kind, "create", False, journal=journal)
    _models_api.forget()  # a new process: the disk cache answers
    call_twice(emulator, kind, "stream", False, journal=journal)
    assert model_requests(emulator) == ["/v1/models/claude-sonnet-4-6"]
    assert _models_api.known("claude-sonnet-4-6").source == "cache"  # type: ignore[union-attr]
    _models_api.forget()
    call_twice(emulator, kind, "create", False)  # journal=None reads the cache too
    assert len(model_requests(emulator)) == 1


def test_without_a_journal_nothing_is_written(emulator: Emulator) -> None:
    call_twice(emulator, "sync", "create", False)
    assert not _models_api.cache_path().exists()  # journal=None: longcall creates no files
    assert _models_api.known("claude-sonnet-4-6").source == "models_api"  # type: ignore[union-attr]
    _models_api.forget()
    call_twice(emulator, "sync", "create", False)
    assert len(model_requests(emulator)) == 2  # so another process asks again


def test_another_server_is_asked_for_itself(emulator: Emulator) -> None:
    call_twice(emulator, "sync", "create", False)
    with Emulator() as other:
        call_twice(other, "sync", "create", False)
        assert model_requests(other) == ["/v1/models/claude-sonnet-4-6"]  # not the first server's answer
    assert len(model_requests(emulator)) == 1


def _refuse_models_api(status: int) -> Any:
    def intercept(handler: Any, method: str, path: str, body: Any) -> bool:
        if method != "GET" or not path.startswith("/v1/models"):
            return False
        handler._send_error(status, "not_found_error" if status == 404 else "api_error", "no models here")
        return True

    return intercept


def _stall_models_api(seconds: float) -> Any:
    def intercept(handler: Any, method: str, path: str, body: Any) -> bool:
        if method != "GET" or not path.startswith("/v1/models"):
            return False
        handler._pause(seconds)
        handler._send_error(500, "api_error", "too late")
        return True

    return intercept


@pytest.mark.parametrize("failure", ["404", "500", "timeout", "refused"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_an_unreachable_models_api_leaves_the_call_working_with_the_bundled_limits(
    emulator: Emulator, kind: str, failure: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_models_api, "LOOKUP_TIMEOUT", 0.3)
    if failure == "timeout":
        intercept = _stall_models_api(5)
    elif failure == "refused":  # a gateway that serves only the Messages API: its connection is cut
        intercept = lambda handler, method, path, body: method == "GET" and handler._abort()  # noqa: E731
    else:
        intercept = _refuse_models_api(int(failure))
    monkeypatch.setattr(emulator, "interceptors", [*emulator.interceptors, intercept])  # for this test
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for a model the bundled table has
        first, second = call_twice(emulator, kind, "create", False)
    assert time.monotonic() - started < 4  # one short lookup, not retried, not waited for again
    assert first.stop_reason == second.stop_reason == "end_turn"
    assert [r.body["max_tokens"] for r in messages_sent(emulator)] == [64_000, 64_000]  # the bundled limit
    assert len(model_requests(emulator)) == 1  # a failure is not asked again in the process
    assert _models_api.known("claude-sonnet-4-6") is None
    assert (
        not _models_api.cache_path().exists()
        or "claude-sonnet-4-6" not in _models_api.cache_path().read_text()
    )


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_models_api_limit_wins_over_the_bundled_one(emulator: Emulator, kind: str) -> None:
    """The server says claude-sonnet-4-6 writes at most 300 tokens (the bundled table says 64k) and
    refuses more: the first request, each resume and each continuation stay within 300."""
    emulator.add_model("claude-sonnet-4-6", max_tokens=300, accepts_prefill=False)
    emulator.add_faults(Fault(drop_after_bytes=4000))
    policy = FAST.replace(continue_on_max_tokens=True)
    long_prompt = [{"role": "user", "content": "Write 900 words about tides"}]
    if kind == "sync":
        sdk = anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0)
        with longcall.wrap(sdk, journal=None, policy=policy) as wrapped:
            message = wrapped.messages.create(model="claude-sonnet-4-6", messages=long_prompt)
            with pytest.raises(InvalidRequest, match="above the 300"):
                wrapped.messages.create(model="claude-sonnet-4-6", max_tokens=301, messages=long_prompt)
    else:

        async def run() -> Any:
            sdk = anthropic.AsyncAnthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0)
            async with longcall.wrap(sdk, journal=None, policy=policy) as wrapped:
                async with wrapped.messages.stream(model="claude-sonnet-4-6", messages=long_prompt) as stream:
                    found = await stream.get_final_message()
                with pytest.raises(InvalidRequest, match="above the 300"):
                    await wrapped.messages.create(
                        model="claude-sonnet-4-6", max_tokens=301, messages=long_prompt
                    )
                return found

        message = asyncio.run(run())
    sent = messages_sent(emulator)
    assert all(r.status == 200 for r in sent)  # the emulator refused none
    assert max(r.body["max_tokens"] for r in sent) == 300
    assert len(sent) >= 4  # the cut attempt, its resume, and continuations past 300 tokens
    assert message.stop_reason == "end_turn"
    assert message.content[0].text == emulator.document(
        {"model": "claude-sonnet-4-6", "messages": long_prompt}
    )
