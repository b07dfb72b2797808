"""Know before you send: max_tokens limits and the context-window pre-check, against the emulator."""

from __future__ import annotations

import anthropic
import pytest

import longcall
from longcall.testing import Emulator, Fault

from .drivers import create, sent

MODEL = "claude-opus-4-6"
PRECHECK = longcall.Policy(precheck=True, backoff_initial=0.01)


def counted(emulator: Emulator) -> int:
    return sum(1 for record in emulator.requests if record.path.endswith("/count_tokens"))


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_precheck_counts_once_and_lets_a_fitting_request_through(emulator: Emulator, kind: str) -> None:
    request = {
        "model": MODEL,
        "max_tokens": 2000,
        "messages": [{"role": "user", "content": "Write 300 words about owls"}],
    }
    emulator.add_faults(Fault(), Fault(drop_after_bytes=3000))  # count_tokens, then a broken stream
    message = create(kind, emulator.url, {"policy": PRECHECK}, **request)
    assert message.content[0].text == emulator.document(request)
    assert counted(emulator) == 1  # the resume did not count again
    sdk = anthropic.Anthropic(base_url=emulator.url, api_key="k")
    count = sdk.messages.count_tokens(model=MODEL, messages=request["messages"]).input_tokens
    sdk.close()  # not left to the garbage collector, which may finalize its pooled socket first
    assert count == message.attempts[0].usage["input_tokens"]  # consistent with the usage reported


def test_identical_inputs_are_counted_once_per_client(emulator: Emulator) -> None:
    request = {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": "Write 20 words"}]}
    client = longcall.wrap(
        anthropic.Anthropic(base_url=emulator.url, api_key="k"), journal=None, policy=PRECHECK
    )
    client.messages.create(**request)
    client.messages.create(**request)
    client.close()
    assert counted(emulator) == 1


def test_a_prompt_that_cannot_fit_fails_before_sending(emulator: Emulator) -> None:
    huge = "word " * 190_000
    request = {"model": MODEL, "max_tokens": 20_000, "messages": [{"role": "user", "content": huge}]}
    with pytest.raises(longcall.ContextWindowExceeded) as caught:
        create("sync", emulator.url, {"policy": PRECHECK}, **request)
    error = caught.value
    assert error.input_tokens == 190_000 and error.max_tokens == 20_000 and error.context_window == 200_000
    assert "lower max_tokens to 10000 or less" in str(error)
    assert [r.path for r in emulator.requests if r.method == "POST"] == ["/v1/messages/count_tokens"]


def test_max_tokens_over_the_model_limit(emulator: Emulator) -> None:
    request = {
        "model": "claude-haiku-4-5",
        "max_tokens": 100_000,
        "messages": [{"role": "user", "content": "Write 10 words"}],
    }
    with pytest.raises(longcall.InvalidRequest, match="100000 is above the 64000"):
        create("sync", emulator.url, **request)
    assert sent(emulator) == []
    with pytest.warns(UserWarning, match="sending max_tokens=64000"):
        create("sync", emulator.url, {"policy": longcall.Policy(clamp_max_tokens=True)}, **request)
    assert emulator.requests[-1].body["max_tokens"] == 64_000
