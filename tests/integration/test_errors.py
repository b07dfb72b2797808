"""Failures: transient ones retried, others raised at once, and every failure keeps what arrived."""

from __future__ import annotations

import json
import time

import anthropic
import pytest

import longcall
from longcall.testing import Emulator, Fault

from ..replay import ReplayServer, sse
from .drivers import create, sent

KINDS = ["sync", "async"]
MODEL = "claude-opus-4-6"
FAST = longcall.Policy(backoff_initial=0.01, backoff_max=0.05, idle_timeout=5)


def prompt(words: int = 200) -> dict:
    return {
        "model": MODEL,
        "max_tokens": 4000,
        "messages": [{"role": "user", "content": f"Write {words} words about harbors"}],
    }


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_are_retried(emulator: Emulator, status: int) -> None:
    emulator.add_faults(Fault(status=status), Fault(status=status))
    message = create("sync", emulator.url, {"policy": FAST}, **prompt())
    assert message.content[0].text == emulator.document(prompt())
    assert [a.kind for a in message.attempts] == ["initial", "retry", "retry"]
    assert f"HTTP {status}" in (message.attempts[0].error or "")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("header", ["retry_after", "retry_after_ms"])
def test_retry_after_is_honoured(emulator: Emulator, kind: str, header: str) -> None:
    value = 0.4 if header == "retry_after" else 400
    emulator.add_faults(Fault(status=529, **{header: value}))
    started = time.monotonic()
    message = create(kind, emulator.url, {"policy": FAST}, **prompt(20))
    assert time.monotonic() - started >= 0.4
    assert len(message.attempts) == 2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("error_type", ["overloaded_error", "api_error", "rate_limit_error"])
def test_error_event_in_a_200_stream_before_content_is_retried(
    emulator: Emulator, kind: str, error_type: str
) -> None:
    emulator.add_faults(Fault(error_after_events=1, error_type=error_type))
    message = create(kind, emulator.url, {"policy": FAST}, **prompt())
    assert message.content[0].text == emulator.document(prompt())
    assert error_type in (message.attempts[0].error or "")
    assert message.attempts[1].kind == "retry"


@pytest.mark.parametrize("kind", KINDS)
def test_dropped_connection_and_read_timeout_before_content_are_retried(
    emulator: Emulator, kind: str
) -> None:
    emulator.add_faults(Fault(drop_after_bytes=10), Fault(stall_after_events=0, stall_seconds=2))
    policy = FAST.replace(idle_timeout=0.3)
    message = create(kind, emulator.url, {"policy": policy}, **prompt())
    assert message.content[0].text == emulator.document(prompt())
    assert "connection" in (message.attempts[0].error or "")
    assert "idle timeout" in (message.attempts[1].error or "")
    assert len(message.attempts) == 3


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "status, exception",
    [
        (400, anthropic.BadRequestError),
        (401, anthropic.AuthenticationError),
        (403, anthropic.PermissionDeniedError),
        (404, anthropic.NotFoundError),
        (413, anthropic.APIStatusError),
    ],
)
def test_other_statuses_raise_the_sdks_exception_at_once(
    emulator: Emulator, kind: str, status: int, exception: type
) -> None:
    emulator.add_faults(Fault(status=status, message="this went wrong"))
    with pytest.raises(exception) as caught:
        create(kind, emulator.url, {"policy": FAST}, **prompt())
    assert caught.value.status_code == status
    assert "this went wrong" in str(caught.value)
    assert caught.value.request_id and caught.value.request_id.startswith("req_emu_")
    assert len(sent(emulator)) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_failure_after_content_keeps_the_partial_message(emulator: Emulator, kind: str) -> None:
    emulator.add_faults(Fault(error_after_events=60))
    with pytest.raises(longcall.ServerError) as caught:
        create(kind, emulator.url, {"policy": FAST.replace(resume=False)}, **prompt())
    error = caught.value
    partial = error.partial
    assert partial is not None and partial.stop_reason is None
    text = partial.content[0].text
    assert len(text) > 20 and emulator.document(prompt()).startswith(text)
    assert "overloaded_error" in str(error) and "kept on .partial" in str(error)
    assert str(error).count(".") >= 1 and "\n" not in str(error)
    assert error.attempts[0].error


def test_attempt_budget_spent_raises_with_what_arrived(emulator: Emulator) -> None:
    emulator.add_faults(*[Fault(status=529)] * 3)
    with pytest.raises(longcall.ServerError, match="all 3 attempts are used") as caught:
        create("sync", emulator.url, {"policy": FAST.replace(max_attempts=3)}, **prompt())
    assert caught.value.partial is None and len(caught.value.attempts) == 3
    assert isinstance(caught.value.cause, anthropic.APIStatusError)


# -- streams the emulator would never send ---------------------------------------------------------

START = {
    "type": "message_start",
    "message": {
        "id": "m1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    },
}
TEXT_START = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}


def delta(text: str, index: int = 0) -> dict:
    return {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}


def replayed(replay: ReplayServer, body: bytes, **policy: object) -> longcall.LongcallMessage:
    client = longcall.wrap(
        anthropic.Anthropic(base_url=replay.url, api_key="k", max_retries=0),
        journal=None,
        policy=FAST.replace(max_attempts=1, **policy),
    )
    replay.reply(body)
    return client.messages.create(**prompt())


def test_malformed_json_is_a_protocol_error_with_the_partial(replay: ReplayServer) -> None:
    body = sse([START, TEXT_START, delta("kept text")]) + b"event: content_block_delta\ndata: {not json\n\n"
    with pytest.raises(longcall.StreamProtocolError, match="not JSON") as caught:
        replayed(replay, body)
    assert caught.value.partial.content[0].text == "kept text"


@pytest.mark.parametrize(
    "events, problem",
    [
        ([TEXT_START], "before message_start"),
        ([START, delta("x")], "never started"),
        ([START, START], "second message_start"),
        (
            [START, TEXT_START, {"type": "content_block_stop", "index": 0}, delta("x")],
            "after its content_block_stop",
        ),
        ([START, TEXT_START, {"type": "content_block_delta", "index": 0}], "no delta object"),
        ([START, {"no": "type"}], "has no type"),
    ],
)
def test_out_of_order_events_are_protocol_errors(replay: ReplayServer, events: list, problem: str) -> None:
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)  # no event: lines
    with pytest.raises(longcall.StreamProtocolError, match=problem):
        replayed(replay, body)


def test_json_that_is_not_an_object_is_a_protocol_error(replay: ReplayServer) -> None:
    with pytest.raises(longcall.StreamProtocolError, match="not a JSON object"):
        replayed(replay, sse([START]) + b"data: [1, 2]\n\n")


def test_unknown_event_types_are_kept_not_fatal(replay: ReplayServer) -> None:
    events = [
        START,
        {"type": "future_event", "x": 1},
        TEXT_START,
        delta("ok"),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    ]
    seen: list[dict] = []
    client = longcall.wrap(
        anthropic.Anthropic(base_url=replay.url, api_key="k"), journal=None, on_event=seen.append
    )
    replay.reply(sse(events))
    assert client.messages.create(**prompt()).content[0].text == "ok"
    assert {"type": "future_event", "x": 1} in seen


def test_stream_closed_without_message_stop_is_incomplete_not_truncated(replay: ReplayServer) -> None:
    body = sse([START, TEXT_START, delta("half of it")])
    with pytest.raises(longcall.StreamIncomplete, match="before message_stop") as caught:
        replayed(replay, body)
    assert caught.value.partial.content[0].text == "half of it"


def test_bad_input_is_refused_before_sending(emulator: Emulator) -> None:
    for bad in (
        {**prompt(), "messages": []},
        {**prompt(), "max_tokens": "many"},
        {**prompt(), "messages": [{"role": "robot", "content": "hi"}]},
        {**prompt(), "max_tokens": 10**7},
        {**prompt(), "longcall_policy": "fast"},
    ):
        with pytest.raises(longcall.InvalidRequest) as caught:
            create("sync", emulator.url, **bad)
        assert "\n" not in str(caught.value)
    assert sent(emulator) == []


def test_no_secret_in_errors_or_records(emulator: Emulator) -> None:
    emulator.add_faults(Fault(error_after_events=40))
    client = longcall.wrap(
        anthropic.Anthropic(base_url=emulator.url, api_key="sk-ant-SECRET-123", max_retries=0),
        journal=None,
        policy=FAST.replace(resume=False),
    )
    with pytest.raises(longcall.GenerationFailed) as caught:
        client.messages.create(**prompt())
    client.close()  # one left to the garbage collector may have its pooled socket finalized first
    texts = [
        str(caught.value),
        repr(caught.value),
        repr(caught.value.attempts),
        repr(caught.value.partial),
        repr(client),
        repr(client.messages._config),
    ]
    assert not any("SECRET" in text for text in texts)


@pytest.mark.parametrize("kind", KINDS)
def test_an_exception_from_a_hook_is_the_callers_and_is_not_retried(emulator: Emulator, kind: str) -> None:
    class Stop(Exception):
        pass

    seen: list[str] = []

    def on_text(text: str) -> None:
        seen.append(text)
        if len(seen) == 5:
            raise Stop("enough")

    with pytest.raises(Stop, match="enough"):
        create(kind, emulator.url, {"policy": FAST, "on_text": on_text}, **prompt())
    assert len(sent(emulator)) == 1


def test_a_broken_pipe_in_a_hook_is_not_a_network_failure(emulator: Emulator) -> None:
    def on_text(text: str) -> None:
        raise BrokenPipeError("stdout closed")

    with pytest.raises(BrokenPipeError):
        create("sync", emulator.url, {"policy": FAST, "on_text": on_text}, **prompt())
    assert len(sent(emulator)) == 1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"type": "text_delta"}, "text_delta without a text string"),
        (
            {"type": "input_json_delta", "partial_json": None},
            "input_json_delta without a partial_json string",
        ),
        ({"type": "thinking_delta", "thinking": 7}, "thinking_delta without a thinking string"),
        ({"type": "signature_delta"}, "signature_delta without a signature string"),
        ({"type": "citations_delta", "citation": None}, "citations_delta without a citation object"),
    ],
)
def test_a_delta_missing_its_field_is_a_protocol_error(
    replay: ReplayServer, bad: dict[str, object], message: str
) -> None:
    body = sse([START, TEXT_START, delta("kept"), {"type": "content_block_delta", "index": 0, "delta": bad}])
    with pytest.raises(longcall.StreamProtocolError, match=message) as caught:
        replayed(replay, body)
    assert caught.value.partial.content[0].text == "kept"


# -- the SDK's exception classes, and no secret in any of them --------------------------------------

KEY = "sk-ant-api03-RECOGNISABLE-SECRET-KEY-0123456789"
SPENT = FAST.replace(max_attempts=2, idle_timeout=0.5)


def _closed_port() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


FAILURES = {
    # name: (faults for the emulator, or None for a closed port; SDK class; longcall class)
    "429 every time": ([Fault(status=429)] * 2, anthropic.RateLimitError, longcall.ServerError),
    "529 every time": ([Fault(status=529)] * 2, anthropic.OverloadedError, longcall.ServerError),
    "500 every time": ([Fault(status=500)] * 2, anthropic.InternalServerError, longcall.ServerError),
    "overloaded_error events": (
        [Fault(error_after_events=1, error_type="overloaded_error")] * 2,
        anthropic.OverloadedError,
        longcall.ServerError,
    ),
    "400": (
        [Fault(status=400, message="prompt is too long")],
        anthropic.BadRequestError,
        longcall.RequestRejected,
    ),
    "401": ([Fault(status=401)], anthropic.AuthenticationError, longcall.RequestRejected),
    "stall": (
        [Fault(stall_after_events=3, stall_seconds=2)] * 2,
        anthropic.APITimeoutError,
        longcall.StreamStalled,
    ),
    "connection refused": (None, anthropic.APIConnectionError, longcall.StreamIncomplete),
    "dropped after content": (
        [Fault(drop_after_bytes=900)] * 2,
        anthropic.APIConnectionError,
        longcall.StreamIncomplete,
    ),
}


def _fail(kind: str, url: str, surface: str) -> BaseException:
    import asyncio

    params = prompt(300)
    cls = anthropic.Anthropic if kind == "sync" else anthropic.AsyncAnthropic
    client = longcall.wrap(cls(base_url=url, api_key=KEY, max_retries=0), journal=None, policy=SPENT)

    def sync_call() -> None:
        with client:
            sync_calls()

    def sync_calls() -> None:
        if surface == "create":
            client.messages.create(**params)
        elif surface == "stream":
            with client.messages.stream(**params) as stream:
                stream.until_done()
        else:
            for _ in client.messages.create(stream=True, **params):
                pass

    async def async_call() -> None:
        async with client:
            await async_calls()

    async def async_calls() -> None:
        if surface == "create":
            await client.messages.create(**params)
        elif surface == "stream":
            async with client.messages.stream(**params) as stream:
                await stream.until_done()
        else:
            async for _ in await client.messages.create(stream=True, **params):
                pass

    try:
        sync_call() if kind == "sync" else asyncio.run(async_call())
    except Exception as exc:  # noqa: BLE001 - the test looks at what it is
        return exc
    raise AssertionError("the call did not fail")


@pytest.mark.parametrize("surface", ["create", "stream", "create(stream=True)"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("failure", list(FAILURES))
def test_failures_are_the_sdks_class_and_longcalls_and_carry_no_key(
    emulator: Emulator, failure: str, kind: str, surface: str
) -> None:
    import pickle

    faults, sdk_class, longcall_class = FAILURES[failure]
    if faults is None:
        url = _closed_port()
    else:
        url = emulator.url
        emulator.add_faults(*faults)
    caught = _fail(kind, url, surface)
    assert isinstance(caught, sdk_class), type(caught).__mro__
    assert isinstance(caught, longcall_class) and isinstance(caught, longcall.GenerationFailed)
    assert caught.attempts and caught.call_id
    if failure == "dropped after content":
        assert caught.partial is not None and caught.partial.content[0].text
    if isinstance(caught, anthropic.APIStatusError):
        assert caught.status_code == (200 if "events" in failure else int(failure.split()[0]))
        assert caught.request_id and caught.request_id.startswith("req_emu_")
    # no key anywhere: the exception, its cause, its request and response, its pickle
    pickled = pickle.dumps(caught)
    for text in (str(caught), repr(caught), repr(caught.cause), repr(vars(caught)), repr(caught.attempts)):
        assert "RECOGNISABLE" not in text
    assert b"RECOGNISABLE" not in pickled
    assert "x-api-key" not in caught.request.headers and "authorization" not in caught.request.headers
    again = pickle.loads(pickled)
    assert type(again) is type(caught) and str(again) == str(caught)
    assert isinstance(again, sdk_class) and isinstance(again, longcall_class)
    assert again.attempts[0].number == 1


def test_no_key_in_messages_streams_clients_or_their_reprs(emulator: Emulator) -> None:
    import pickle

    client = longcall.wrap(anthropic.Anthropic(base_url=emulator.url, api_key=KEY), journal=None)
    emulator.add_faults(Fault(drop_after_bytes=900))
    with client:
        message = client.messages.create(**prompt(100))
        with client.messages.stream(**prompt(20)) as stream:
            stream.until_done()
    for text in (repr(client), repr(client.messages), repr(message), repr(message.attempts), repr(stream)):
        assert "RECOGNISABLE" not in text
    assert b"RECOGNISABLE" not in pickle.dumps(message)
    assert pickle.loads(pickle.dumps(message)).attempts == message.attempts
