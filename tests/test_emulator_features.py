"""Emulator features other parts of longcall build on: the request log, faults every k-th request,
rate limits with the API's headers and 429s, extra routes, and replies outside HTTP."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest

from longcall.testing import (
    DEFAULT_MODEL,
    Emulator,
    Fault,
    RateLimits,
    RequestError,
    RouteRequest,
    RouteResponse,
)
from longcall.testing._limits import RateLimiter, RateLimitExceeded

API_KEY = "sk-ant-test-secret"
MODEL = DEFAULT_MODEL
PROMPT = "Write 60 words about rivers"


def ask(prompt: str = PROMPT) -> Any:
    return [{"role": "user", "content": prompt}]


@pytest.fixture
def client(emulator: Emulator) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0) as client:
        yield client


# -- the request log ------------------------------------------------------------------------------

LINE = re.compile(
    r"^req_emu_\d+ (?P<method>\w+) (?P<path>\S+) model=(?P<model>\S+) status=(?P<status>\S+) "
    r"bytes=(?P<bytes>\d+) faults=(?P<faults>\S+) duration=(?P<duration>[\d.]+)s$"
)


def test_one_log_line_per_request_to_a_callable() -> None:
    lines: list[str] = []
    with (
        Emulator(log=lines.append) as emulator,
        anthropic.Anthropic(base_url=emulator.url, api_key=API_KEY, max_retries=0) as client,
    ):
        client.messages.create(model=MODEL, max_tokens=50, messages=ask())
        emulator.add_faults(Fault(drop_after_bytes=300))
        with (
            pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)),
            client.messages.stream(model=MODEL, max_tokens=50, messages=ask()) as stream,
        ):
            stream.get_final_message()
        with pytest.raises(anthropic.NotFoundError):
            client.messages.create(model="claude-nope-9", max_tokens=5, messages=ask())
        client.models.list()
        records = emulator.requests
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    fields = [match.groupdict() for match in parsed if match]
    assert [(f["method"], f["path"], f["model"], f["status"]) for f in fields] == [
        ("POST", "/v1/messages", MODEL, "200"),
        ("POST", "/v1/messages", MODEL, "cut"),
        ("POST", "/v1/messages", "claude-nope-9", "404"),
        ("GET", "/v1/models", "-", "200"),
    ]
    assert fields[1]["faults"] == "drop_after_bytes=300" and fields[0]["faults"] == "-"
    assert int(fields[1]["bytes"]) == 300 == records[1].bytes_sent
    assert int(fields[0]["bytes"]) == records[0].bytes_sent > 300
    assert API_KEY not in "".join(lines)


def test_log_to_a_text_file(tmp_path: Any) -> None:
    with (tmp_path / "log.txt").open("w") as file, Emulator(log=file) as emulator:
        with httpx2.Client(base_url=emulator.url) as raw:
            raw.get("/v1/models")
        assert (tmp_path / "log.txt").read_text().count("\n") == 1  # flushed at once
    assert "status=401" in (tmp_path / "log.txt").read_text()


# -- faults ---------------------------------------------------------------------------------------


def test_a_fault_added_alone_applies_to_the_next_request_only(
    emulator: Emulator, client: anthropic.Anthropic
) -> None:
    emulator.add_faults(Fault(status=529))
    with pytest.raises(anthropic.APIStatusError) as excinfo:
        client.messages.create(model=MODEL, max_tokens=5, messages=ask())
    assert excinfo.value.status_code == 529
    assert client.messages.create(model=MODEL, max_tokens=5, messages=ask()).stop_reason


def test_a_fault_every_kth_request(emulator: Emulator, client: anthropic.Anthropic) -> None:
    client.messages.create(model=MODEL, max_tokens=5, messages=ask())  # counting starts when it is set
    emulator.fault_every(3, Fault(status=503))
    emulator.add_faults(Fault(status=429))  # a queued fault goes first and counts as a request
    statuses = []
    for _ in range(9):
        try:
            client.messages.create(model=MODEL, max_tokens=5, messages=ask())
            statuses.append(200)
        except anthropic.APIStatusError as exc:
            statuses.append(exc.status_code)
    assert statuses == [429, 200, 503, 200, 200, 503, 200, 200, 503]
    emulator.reset()
    assert client.messages.create(model=MODEL, max_tokens=5, messages=ask()).stop_reason
    with pytest.raises(ValueError, match="every"):
        emulator.fault_every(0, Fault(status=503))


def test_the_emulate_commands_reset_flag(emulator: Emulator) -> None:
    from longcall.cli import emulate

    parser = argparse.ArgumentParser()
    emulate.add_parser(parser.add_subparsers())
    args = parser.parse_args(["emulate", "--reset-after-bytes", "400", "--every", "2"])
    emulate.apply_faults(emulator, args)
    with httpx2.Client(
        base_url=emulator.url, headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
    ) as raw:
        body = {"model": MODEL, "max_tokens": 50, "stream": True, "messages": ask()}
        outcomes = []
        for _ in range(4):
            try:
                outcomes.append(len(raw.post("/v1/messages", json=body).content))
            except httpx2.ReadError:
                outcomes.append("reset")
    assert outcomes[1] == outcomes[3] == "reset" and outcomes[0] == outcomes[2] != "reset"
    assert [r.bytes_sent for r in emulator.requests if r.cut] == [400, 400]
    assert all(r.fault == Fault(reset_after_bytes=400) for r in emulator.requests if r.cut)


# -- rate limits ----------------------------------------------------------------------------------


def post(raw: httpx2.Client, **params: Any) -> httpx2.Response:
    params.setdefault("model", MODEL)
    params.setdefault("max_tokens", 50)
    params.setdefault("messages", ask())
    return raw.post("/v1/messages", json=params)


@pytest.fixture
def raw(emulator: Emulator) -> Iterator[httpx2.Client]:
    headers = {"x-api-key": API_KEY, "anthropic-version": anthropic._constants.ANTHROPIC_API_VERSION}
    with httpx2.Client(base_url=emulator.url, headers=headers) as raw:
        yield raw


def test_no_rate_limit_headers_without_limits(raw: httpx2.Client) -> None:
    assert not [name for name in post(raw).headers if name.startswith("anthropic-ratelimit")]


def test_requests_per_minute(emulator: Emulator, raw: httpx2.Client) -> None:
    emulator.rate_limits = RateLimits(requests_per_minute=3)
    remaining = []
    for _ in range(3):
        response = post(raw)
        assert response.status_code == 200
        assert response.headers["anthropic-ratelimit-requests-limit"] == "3"
        remaining.append(response.headers["anthropic-ratelimit-requests-remaining"])
    assert remaining == ["2", "1", "0"]
    reset = response.headers["anthropic-ratelimit-requests-reset"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", reset)
    refused = post(raw)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert "rate limit of 3 requests per minute" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 20  # one request comes back every 20 s
    assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0"
    emulator.reset()
    assert emulator.rate_limits is None and post(raw).status_code == 200


def test_buckets_refill_continuously() -> None:
    limiter = RateLimiter(RateLimits(requests_per_minute=60, output_tokens_per_minute=600))
    for _ in range(60):
        limiter.admit(10, now=100.0)
    with pytest.raises(RateLimitExceeded) as excinfo:
        limiter.admit(10, now=100.0)
    assert excinfo.value.retry_after == 1  # one request a second comes back
    limiter.admit(10, now=101.0)
    headers = dict(limiter.settle_output(900, now=101.0))
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-output-tokens-remaining"] == "0"  # overdrawn by 300
    with pytest.raises(RateLimitExceeded) as excinfo:
        limiter.admit(10, now=102.0)  # a request is back, but the output tokens are not
    assert "output tokens per minute" in excinfo.value.message
    assert excinfo.value.retry_after == 30  # 300 + 1 tokens at 10 a second
    limiter.admit(10, now=132.5)


def test_output_and_input_tokens_per_minute(emulator: Emulator, raw: httpx2.Client) -> None:
    emulator.rate_limits = RateLimits(input_tokens_per_minute=1000, output_tokens_per_minute=100)
    first = post(raw, max_tokens=60)
    assert first.status_code == 200
    assert first.headers["anthropic-ratelimit-output-tokens-remaining"] in ("40", "41")
    assert first.headers["anthropic-ratelimit-input-tokens-remaining"] in ("995", "996")
    assert post(raw, max_tokens=60).status_code == 200  # admitted while output tokens remain: it overdraws
    refused = post(raw, max_tokens=60)
    assert refused.status_code == 429
    assert "output tokens per minute" in refused.json()["error"]["message"]
    too_long = post(raw, messages=ask(" ".join(["word"] * 1001)))
    assert too_long.status_code == 429 and "input tokens per minute" in too_long.json()["error"]["message"]


def test_the_sdk_reads_a_429_as_a_rate_limit_error(emulator: Emulator, client: anthropic.Anthropic) -> None:
    emulator.rate_limits = RateLimits(requests_per_minute=1)
    client.messages.create(model=MODEL, max_tokens=5, messages=ask())
    with pytest.raises(anthropic.RateLimitError) as excinfo:
        client.messages.create(model=MODEL, max_tokens=5, messages=ask())
    assert int(excinfo.value.response.headers["retry-after"]) >= 1


def test_rate_limits_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimits(requests_per_minute=0)


# -- extra routes ---------------------------------------------------------------------------------


def echo(request: RouteRequest) -> RouteResponse:
    if request.query.get("fail"):
        raise RequestError(409, "conflict_error", "asked to fail")
    counter = request.emulator.state.setdefault("calls", 0) + 1
    request.emulator.state["calls"] = counter
    return RouteResponse(
        200, {"path": request.path, "query": request.query, "body": request.body, "calls": counter}
    )


def jsonl(request: RouteRequest) -> RouteResponse:
    return RouteResponse(200, b'{"a": 1}\n{"b": 2}\n', content_type="application/x-jsonl")


def test_extra_routes_by_method_and_longest_prefix() -> None:
    routes = {("POST", "/v1/things"): echo, ("GET", "/v1/things/"): jsonl}
    headers = {"x-api-key": API_KEY, "anthropic-version": "2026-10-21"}
    with Emulator(routes=routes) as emulator, httpx2.Client(base_url=emulator.url, headers=headers) as raw:
        answer = raw.post("/v1/things/abc?limit=2", json={"x": 1})
        assert answer.status_code == 200
        assert answer.json() == {
            "path": "/v1/things/abc",
            "query": {"limit": "2"},
            "body": {"x": 1},
            "calls": 1,
        }
        assert raw.post("/v1/things", json={}).json()["calls"] == 2
        results = raw.get("/v1/things/abc/results")
        assert results.headers["content-type"] == "application/x-jsonl" and results.text.count("\n") == 2
        failed = raw.post("/v1/things?fail=1", json={})
        assert failed.status_code == 409
        assert failed.json()["error"] == {"type": "conflict_error", "message": "asked to fail"}
        assert raw.get("/v1/things").status_code == 404  # no GET route for that prefix
        # The API's checks come first.
        with httpx2.Client(base_url=emulator.url) as anonymous:
            assert anonymous.post("/v1/things", json={}).status_code == 401
        emulator.reset()
        assert emulator.state == {}
        assert raw.post("/v1/things", json={}).json()["calls"] == 1


def test_message_for_answers_without_http(emulator: Emulator) -> None:
    params: Any = {"model": MODEL, "max_tokens": 7, "messages": ask()}
    message = emulator.message_for(params)
    assert message["type"] == "message" and message["stop_reason"] == "max_tokens"
    assert message["usage"]["output_tokens"] == 7
    first_tokens = "".join(re.findall(r"\S+\s*", emulator.document(PROMPT))[:7])
    assert "".join(block["text"] for block in message["content"]) == first_tokens
    assert emulator.requests == []
    with pytest.raises(RequestError) as excinfo:
        emulator.message_for({**params, "model": "claude-nope-9"})
    assert (excinfo.value.status, excinfo.value.error_type) == (404, "not_found_error")
