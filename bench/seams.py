"""Characters regenerated per resume across scripts, the 200-token cap, a 64k model at its limit, and
the backoff after empty answers: `python bench/seams.py` (against the emulator; README, Resume)."""

import time

import anthropic
import httpx2

import longcall
from longcall.testing import Emulator, Fault

FAST = longcall.Policy(backoff_initial=0.1, backoff_max=1.0, idle_timeout=5, max_attempts=10, jitter=False)


def mk(emu, policy=FAST):
    return longcall.wrap(
        anthropic.Anthropic(base_url=emu.url, api_key="k", max_retries=0), journal=None, policy=policy
    )


def size(emu, req):
    r = httpx2.post(
        f"{emu.url}/v1/messages",
        json={**req, "stream": True},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    emu.reset()
    return len(r.content)


with Emulator() as emu:
    for prompt in ["Write 300 words in Chinese", "Write 300 words, unbroken"]:
        req = {
            "model": "claude-opus-4-6",
            "max_tokens": 8000,
            "messages": [{"role": "user", "content": prompt}],
        }
        n = size(emu, req)
        regen = []
        for frac in range(1, 10):
            emu.reset()
            emu.add_faults(Fault(drop_after_bytes=n * frac // 10))
            try:
                m = mk(emu).messages.create(**req)
                regen.append(m.attempts[0].regenerated if m.content[0].text == emu.document(req) else "WRONG")
            except Exception as e:
                regen.append(type(e).__name__)
        print(prompt, "regenerated chars per drop at 10%..90%:", regen)
    req = {
        "model": "claude-opus-4-6",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "Write 2000 words about lighthouses"}],
    }
    emu.reset()
    emu.add_faults(Fault(drop_after_bytes=9000, overlap="repeat_words"))
    try:
        m = mk(emu).messages.create(**req)
        print(
            "200-token call, one break:",
            m.stop_reason,
            m.usage.output_tokens,
            [r.body["max_tokens"] for r in emu.requests if r.path == "/v1/messages"],
        )
    except Exception as e:
        print("200-token call:", type(e).__name__, e)
    req = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64000,
        "messages": [{"role": "user", "content": "Write 300 words about lighthouses"}],
    }
    emu.reset()
    emu.add_faults(Fault(drop_after_bytes=4000))
    try:
        m = mk(emu).messages.create(**req)
        print(
            "sonnet-4-6 at 64000, one break:",
            m.stop_reason,
            [r.body["max_tokens"] for r in emu.requests if r.path == "/v1/messages"],
        )
    except Exception as e:
        print("sonnet-4-6 at 64000:", type(e).__name__, str(e)[:150])
    req = {
        "model": "claude-haiku-4-5",
        "max_tokens": 8000,
        "messages": [{"role": "user", "content": "Write 300 words about lighthouses"}],
    }
    emu.reset()
    emu.add_faults(Fault(drop_after_bytes=3000), *[Fault(drop_after_bytes=0)] * 3)
    t = time.monotonic()
    m = mk(emu).messages.create(**req)
    a = m.attempts
    print(
        "waits after content, then three empty answers (s):",
        [round(a[i + 1].started_at - a[i].ended_at, 3) for i in range(4)],
    )
