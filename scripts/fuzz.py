"""Coverage-guided fuzzing of longcall's parsers with atheris (libFuzzer for Python).

    pip install atheris
    python scripts/fuzz.py sse    -max_total_time=600     # the SSE decoder
    python scripts/fuzz.py engine -max_total_time=600     # bytes through the engine, as a driver feeds it
    python scripts/fuzz.py seam   -max_total_time=600     # the stitcher

Arguments after the target go to libFuzzer (`-max_total_time`, `-runs`, `-jobs`, ...). The corpus
starts from streams recorded from the emulator and lives in `$LONGCALL_FUZZ_DIR/<target>/corpus`
(default: `/tmp/longcall-fuzz`). What counts as
a finding:
- sse: any exception (the decoder takes any bytes), or data larger than the input;
- engine: any exception other than the ones a driver hands to `Generation.end` (ProtocolViolation,
  ServerReportedError), or a decision whose error is not a `LongcallError`: a caller would see it;
- seam: any exception, a result that depends on how the answer was split, or block text that is
  not a suffix of the answer.
Each distinct finding (exception type and the longcall line that raised it) is saved once in
`<target>/findings/` there with the input that caused it, and the run goes on, so one run reports
every kind it hits. libFuzzer itself stops on a hang (`-timeout`, 10 s here) or on memory past
`-rss_limit_mb` (2048 here), and saves that input as `crash-*`/`timeout-*`/`oom-*`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

import atheris

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "src"))

with atheris.instrument_imports(include=["longcall"]):
    import longcall
    from longcall._accumulate import ProtocolViolation, ServerReportedError
    from longcall._engine import Generation
    from longcall._retry import DeadlinePassed
    from longcall._seam import Seam
    from longcall._sse import SSEDecoder

TARGETS = ("sse", "engine", "seam")
HAS_LIMIT = "max_size" in inspect.signature(SSEDecoder).parameters  # the size limit of issue 11
ENGINE_RAISES = (ProtocolViolation, ServerReportedError, DeadlinePassed)


class Finding(Exception):
    """An invariant that did not hold (not an exception of the code under test)."""


def _chunks(data: atheris.FuzzedDataProvider, body: bytes) -> list[bytes]:
    cuts = sorted({data.ConsumeIntInRange(0, len(body)) for _ in range(data.ConsumeIntInRange(0, 8))})
    pieces, last = [], 0
    for cut in [*cuts, len(body)]:
        if cut > last:
            pieces.append(body[last:cut])
            last = cut
    return pieces


def _decode(body: bytes, chunks: list[bytes], max_size: int | None) -> list[tuple[str, bytes]] | str:
    """The events, or "too large" when the decoder refuses a line or event over `max_size`."""
    decoder = SSEDecoder() if max_size is None else SSEDecoder(max_size=max_size)
    try:
        return [event for chunk in chunks for event in decoder.feed(chunk)] + decoder.flush()
    except ProtocolViolation as exc:  # EventTooLarge, where the decoder has a limit
        if max_size is None:
            raise
        return f"too large: {type(exc).__name__}"


def fuzz_sse(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    max_size = data.ConsumeIntInRange(1, 4000) if HAS_LIMIT and data.ConsumeBool() else None
    body = data.ConsumeBytes(data.remaining_bytes())
    expected = _decode(body, [body], max_size)
    got = _decode(body, _chunks(atheris.FuzzedDataProvider(raw[:16]), body), max_size)
    if got != expected:
        limit = "with" if max_size is not None else "without"
        raise Finding(f"the events depend on the chunking, {limit} a size limit")
    if isinstance(got, list) and sum(len(payload) for _, payload in got) > len(body):
        raise Finding("more data out than bytes in")


def fuzz_engine(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    accepts_prefill = data.ConsumeBool()
    continue_on_max_tokens = data.ConsumeBool()
    attempts = data.ConsumeIntInRange(1, 3)
    policy = longcall.Policy(max_attempts=attempts, continue_on_max_tokens=continue_on_max_tokens)
    params = {
        "model": "claude-haiku-4-5",
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    gen = Generation(
        params, policy, emit=True, accepts_prefill=accepts_prefill, now=0.0, wall=0.0, random=lambda: 0.5
    )
    rest = data.ConsumeBytes(data.remaining_bytes())
    bodies = rest.split(b"\x00NEXT\x00")[:attempts]  # several attempts' bodies in one input
    for body in bodies:
        request = gen.request(1.0, 1.0)
        json.dumps(request, default=str)
        error: BaseException | None = None
        try:
            for chunk in _chunks(atheris.FuzzedDataProvider(body[-16:]), body):
                if gen.feed(chunk, 1.0):
                    break
        except ENGINE_RAISES as exc:
            error = exc
        gen.take_events()
        decision = gen.end(error, 1.0, 1.0)
        if decision.error is not None:
            if not isinstance(decision.error, longcall.LongcallError):
                raise Finding(f"end() decided to raise {type(decision.error).__name__}: {decision.error}")
            str(decision.error)
            return
        if decision.message is not None:
            return


def fuzz_seam(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    sent = data.ConsumeUnicodeNoSurrogates(data.ConsumeIntInRange(0, 200))
    gap = data.PickValueInList(["", " ", "\n\n", " \t", "\u3000"])
    shown = data.ConsumeUnicodeNoSurrogates(data.ConsumeIntInRange(0, 4))
    remove_overlap = data.ConsumeBool()
    answer = data.ConsumeUnicodeNoSurrogates(data.ConsumeIntInRange(0, 400))
    cuts = sorted({data.ConsumeIntInRange(0, len(answer)) for _ in range(data.ConsumeIntInRange(0, 8))})

    def stitch(pieces: list[str]) -> tuple[str, str]:
        seam = Seam(sent=sent, gap=gap, shown=shown, remove_overlap=remove_overlap)
        kept, live = [], []
        for piece in pieces:
            block, shown_live = seam.feed(piece)
            kept.append(block)
            live.append(shown_live)
        block, shown_live = seam.finish()
        return "".join(kept) + block, "".join(live) + shown_live

    one_shot = stitch([answer])
    pieces = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
    if stitch(pieces) != one_shot:
        raise Finding("the stitched text depends on how the answer was split")
    if not answer.endswith(one_shot[0]):
        raise Finding("the block text is not a suffix of the answer")


def seed_corpus(target: str, corpus: Path) -> None:
    """Streams recorded from the emulator, so the fuzzer starts from valid input."""
    if any(corpus.iterdir()):
        return
    import httpx2

    from longcall.testing import Emulator, Fault, Script

    bodies = []
    with Emulator() as emulator:
        emulator.script(
            "tool",
            Script(
                content=[
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "name": "f", "input": {"a": [1]}},
                ],
                stop_reason="tool_use",
            ),
        )
        emulator.add_faults(Fault(), Fault(), Fault(), Fault(error_after_events=6))
        for params in (
            {"messages": [{"role": "user", "content": "Write 30 words"}]},
            {
                "messages": [{"role": "user", "content": "Write 10 words"}],
                "thinking": {"type": "enabled", "budget_tokens": 100},
            },
            {"messages": [{"role": "user", "content": "tool"}]},
            {"messages": [{"role": "user", "content": "Write 20 words"}]},
            {"messages": [{"role": "user", "content": "Write 40 words"}], "max_tokens": 8},
        ):
            body = {"model": "claude-haiku-4-5", "max_tokens": 500, "stream": True, **params}
            response = httpx2.post(f"{emulator.url}/v1/messages", json=body, headers={"x-api-key": "fuzz"})
            bodies.append(response.content)
    for number, body in enumerate(bodies):
        if target == "engine":
            body = b"\x01\x01\x02" + body + b"\x00NEXT\x00" + bodies[(number + 1) % len(bodies)]
        elif target == "seam":
            body = body[:600]
        (corpus / f"seed-{number}").write_bytes(body)


# libFuzzer's dictionary for the engine: JSON and Messages API tokens, so byte mutations reach the
# shapes a JSON-aware mutation would (a null text, a string usage, a missing index).
ENGINE_TOKENS = (
    "null",
    "true",
    "false",
    "[]",
    "{}",
    '""',
    "-1",
    "1e309",
    '"text"',
    '"index"',
    '"type"',
    '"delta"',
    '"usage"',
    '"output_tokens"',
    '"input_tokens"',
    '"message"',
    '"content_block"',
    '"partial_json"',
    '"thinking"',
    '"signature"',
    '"citations"',
    '"stop_reason"',
    '"max_tokens"',
    '"end_turn"',
    '"tool_use"',
    '"error"',
    '"overloaded_error"',
    "message_start",
    "message_delta",
    "message_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "text_delta",
    "input_json_delta",
    "thinking_delta",
    "signature_delta",
    "citations_delta",
    "ping",
    "event: ",
    "data: ",
    "\n\n",
    "\r",
)


def _dictionary_entry(token: str) -> str:
    """A libFuzzer dictionary line: printable ASCII as is, anything else as \\xNN."""
    return (
        '"' + "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else f"\\x{ord(c):02x}" for c in token) + '"'
    )


def guarded(target: str, function, findings: Path):  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    expected_exceptions = ()  # every exception is a finding for these targets

    def run(raw: bytes) -> None:
        try:
            function(raw)
        except expected_exceptions:
            pass
        except Exception as exc:  # noqa: BLE001 - a finding: record it once, go on
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if "longcall" in f.filename]
            where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "harness"
            signature = f"{type(exc).__name__} at {where}"
            if isinstance(exc, Finding):
                signature = f"Finding: {exc}"
            if signature in seen:
                return
            seen.add(signature)
            name = hashlib.sha1(signature.encode()).hexdigest()[:10]
            (findings / f"{name}.input").write_bytes(raw)
            (findings / f"{name}.txt").write_text(
                f"{signature}\n{type(exc).__name__}: {exc}\n\n" + "".join(traceback.format_exception(exc))
            )
            print(f"\nFINDING {target}: {signature}: {str(exc)[:200]}", file=sys.stderr, flush=True)

    return run


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    target = sys.argv.pop(1)
    folder = (
        Path(os.environ.get("LONGCALL_FUZZ_DIR") or Path(tempfile.gettempdir()) / "longcall-fuzz") / target
    )
    corpus, findings = folder / "corpus", folder / "findings"
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    seed_corpus(target, corpus)
    function = {"sse": fuzz_sse, "engine": fuzz_engine, "seam": fuzz_seam}[target]
    defaults = ["-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={folder}/"]
    if target == "engine":
        dictionary = folder / "engine.dict"
        dictionary.write_text("".join(f"{_dictionary_entry(token)}\n" for token in ENGINE_TOKENS))
        defaults.append(f"-dict={dictionary}")
    defaults.append(str(corpus))
    atheris.Setup([sys.argv[0], *sys.argv[1:], *defaults], guarded(target, function, findings))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
