"""CPU per streamed event: longcall against the floor, a naive loop and the SDK, on the same bytes.

    python bench/stream.py            # the README table (under 3 minutes on 2 cores)
    python bench/stream.py --quick    # a smoke run on small streams (seconds)
    python bench/stream.py --full     # the SDK MessageStream on the whole 1 MB tool input too (~1 hour)
    python bench/stream.py --surfaces # the wrapped client's stream surfaces against the SDK's own

A server in a separate process (its CPU is not counted) streams pre-generated SSE bodies as the API
does: `event: X` / `data: {json}` events over chunked HTTP, in two framings: cut into 16 KB chunks
like TLS records (a fast reader behind a slow consumer), and one SSE event per HTTP chunk (the API at
generation speed flushes every event), the same bytes for every client. The figure is
`time.process_time()` of this process for one whole response (request included) divided by the SSE
events in it; the median of `--repeat` runs. Every parsed result is checked against the text and JSON
the server was given.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

CHUNK = 16 * 1024
DELTA_CHARS = 5
MODEL = "claude-sonnet-4-6"
MAX_TOKENS = 64000
PER_EVENT = "/event"  # a stream name ending so is framed one SSE event per HTTP chunk
PREFIX_DELTAS = 20_000  # the SDK MessageStream on the 1 MB tool input is measured on this many deltas
ASYNC_STREAMS = 200
ASYNC_DELTAS = 2_000

# -- the streams -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    text: str = ""
    thinking: str = ""
    tool_json: str = ""


def _prose(chars: int, seed: int) -> str:
    rng = random.Random(seed)
    words = (
        "the",
        "river",
        "stone",
        "light",
        "carries",
        "a",
        "quiet",
        "garden",
        "of",
        "café",
        "naïve",
        "évening",
        "→",
        "distant",
        "bridge",
        "and",
        "window",
        "remembers",
        "every",
        "season",
    )
    out: list[str] = []
    size = 0
    while size < chars:
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(6, 16))).capitalize()
        sentence += ".\n\n" if rng.random() < 0.2 else ". "
        out.append(sentence)
        size += len(sentence)
    return "".join(out)[:chars]


def _tool_json(size: int) -> str:
    """About `size` characters of JSON a model might write as a tool input: extracted records."""
    rng = random.Random(size)
    records = []
    total = 0
    while total < size:
        n = len(records) + 1
        record = {
            "id": n,
            "name": f"Invoice {n:05d}",
            "date": f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            "amount": round(rng.uniform(1, 5000), 2),
            "currency": rng.choice(["EUR", "USD", "GBP"]),
            "paid": rng.random() < 0.5,
            "tags": rng.sample(["urgent", "q3", "travel", "it", "hr"], 2),
            "lines": [{"sku": f"A-{rng.randint(100, 999)}", "qty": rng.randint(1, 9)} for _ in range(2)],
            "note": _prose(rng.randint(20, 80), seed=n) + ' "quoted"\n',
        }
        records.append(record)
        total += len(json.dumps(record)) + 2
    return json.dumps({"records": records})


def _pieces(text: str, prefix: int | None = None) -> list[str]:
    pieces = [text[i : i + DELTA_CHARS] for i in range(0, len(text), DELTA_CHARS)]
    return pieces if prefix is None else pieces[:prefix]


def _sse(kind: str, payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"event: {kind}\ndata: {data}\n\n".encode()


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def _block(index: int, block: dict[str, Any], deltas: list[bytes]) -> list[bytes]:
    start = _sse(
        "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
    )
    ping = [_sse("ping", {"type": "ping"})] if index == 0 else []
    return [start, *ping, *deltas, _sse("content_block_stop", {"type": "content_block_stop", "index": index})]


def _message(blocks: list[bytes], output_tokens: int, stop_reason: str) -> list[bytes]:
    usage = {
        "input_tokens": 24,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 1,
        "service_tier": "standard",
    }
    message = {
        "model": "claude-sonnet-4-5-20250929",
        "id": "msg_01BenchStream",
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    end_usage = {
        "input_tokens": 24,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }
    return [
        _sse("message_start", {"type": "message_start", "message": message}),
        *blocks,
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": end_usage,
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]


def build(name: str) -> tuple[list[bytes], Expected]:
    """The SSE events of stream `name` and what a parser must make of them.

    Names: text-N (N text deltas), tool-N (N characters of tool input JSON, with a short text block
    before it), tool-N@P (its first P deltas only: the JSON stays unfinished), think-N (N thinking
    deltas, a signature, then N text deltas).
    """
    name = name.removesuffix(PER_EVENT)
    kind, _, size_text = name.partition("-")
    size_text, _, prefix_text = size_text.partition("@")
    size = int(size_text)
    prefix = int(prefix_text) if prefix_text else None
    if kind == "text":
        text = _prose(size * DELTA_CHARS, seed=size)
        deltas = [_delta(0, {"type": "text_delta", "text": p}) for p in _pieces(text)]
        return _message(_block(0, {"type": "text", "text": ""}, deltas), len(deltas), "end_turn"), Expected(
            text
        )
    if kind == "tool":
        intro = "I'll write the files now."
        raw = _tool_json(size)
        pieces = ["", *_pieces(raw, prefix)]  # the API opens a tool input with an empty delta
        text_deltas = [_delta(0, {"type": "text_delta", "text": p}) for p in _pieces(intro)]
        json_deltas = [_delta(1, {"type": "input_json_delta", "partial_json": p}) for p in pieces]
        tool = {"type": "tool_use", "id": "toolu_01BenchTool", "name": "write_files", "input": {}}
        blocks = _block(0, {"type": "text", "text": ""}, text_deltas) + _block(1, tool, json_deltas)
        expected = Expected(intro, tool_json="".join(pieces))
        return _message(blocks, len(text_deltas) + len(json_deltas), "tool_use"), expected
    if kind == "think":
        thinking = _prose(size * DELTA_CHARS, seed=size + 1)
        text = _prose(size * DELTA_CHARS, seed=size + 2)
        signature = "Eu" + "".join(random.Random(size).choice("ABCDEFabcdef0123456789+/") for _ in range(400))
        thinking_deltas = [_delta(0, {"type": "thinking_delta", "thinking": p}) for p in _pieces(thinking)]
        thinking_deltas.append(_delta(0, {"type": "signature_delta", "signature": signature}))
        text_deltas = [_delta(1, {"type": "text_delta", "text": p}) for p in _pieces(text)]
        blocks = _block(0, {"type": "thinking", "thinking": "", "signature": ""}, thinking_deltas) + _block(
            1, {"type": "text", "text": ""}, text_deltas
        )
        return _message(blocks, 2 * size, "end_turn"), Expected(text, thinking)
    raise ValueError(f"unknown stream {name!r}")


# -- the server (a separate process) ---------------------------------------------------------------

_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n"
    b"request-id: req_bench\r\ntransfer-encoding: chunked\r\n\r\n"
)


@cache
def _framed(name: str) -> bytes:
    if name.endswith(PER_EVENT):
        chunks = build(name)[0]  # the API at generation speed: every event flushed on its own
    else:
        body = b"".join(build(name)[0])
        chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
    return _HEAD + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


async def _connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                key, _, value = line.partition(b":")
                if key.strip().lower() == b"content-length":
                    length = int(value)
            request = json.loads(await reader.readexactly(length)) if length else {}
            try:
                reply = _framed(request["messages"][0]["content"])
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                error = json.dumps(
                    {"type": "error", "error": {"type": "not_found_error", "message": str(exc)}}
                )
                reply = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
                reply += b"content-length: %d\r\n\r\n%s" % (len(error), error.encode())
            writer.write(reply)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve() -> None:
    server = await asyncio.start_server(_connection, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


class Server:
    """`python bench/stream.py --serve` in a child process; `url` once it listens."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


# -- the clients -----------------------------------------------------------------------------------


@dataclass
class Parsed:
    text: str
    thinking: str = ""
    tool_input: Any = None


def _params(name: str) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": name}]}


def _from_message(message: Any) -> Parsed:
    parsed = Parsed("")
    for block in message.content:
        if block.type == "text":
            parsed.text += block.text
        elif block.type == "thinking":
            parsed.thinking += block.thinking
        elif block.type == "tool_use":
            parsed.tool_input = block.input
    return parsed


class _NaiveParser:
    """What one writes by hand: split lines, `json.loads` every data line, join the text."""

    def __init__(self) -> None:
        self.rest = b""
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.json: list[str] = []

    def feed(self, chunk: bytes) -> None:
        lines = (self.rest + chunk).split(b"\n")
        self.rest = lines.pop()
        for line in lines:
            if line.startswith(b"data:"):
                event = json.loads(line[5:])
                if event["type"] == "content_block_delta":
                    delta = event["delta"]
                    kind = delta["type"]
                    if kind == "text_delta":
                        self.text.append(delta["text"])
                    elif kind == "input_json_delta":
                        self.json.append(delta["partial_json"])
                    elif kind == "thinking_delta":
                        self.thinking.append(delta["thinking"])

    def result(self) -> Parsed:
        tool_input = json.loads("".join(self.json)) if self.json else None
        return Parsed("".join(self.text), "".join(self.thinking), tool_input)


def sync_methods(url: str) -> dict[str, Callable[[str], Parsed | None]]:
    import anthropic

    import longcall

    client = anthropic.Anthropic(base_url=url, api_key="bench", max_retries=0)
    raw = client.with_options(max_retries=0).messages.with_streaming_response
    wrapped = longcall.wrap(client, journal=None)

    def floor(name: str) -> None:
        with raw.create(**_params(name), stream=True) as response:
            for _ in response.iter_bytes():
                pass

    def naive(name: str) -> Parsed:
        parser = _NaiveParser()
        with raw.create(**_params(name), stream=True) as response:
            for chunk in response.iter_bytes():
                parser.feed(chunk)
        return parser.result()

    def sdk_events(name: str) -> None:
        for _ in client.messages.create(**_params(name), stream=True):
            pass

    def sdk_message_stream(name: str) -> Parsed:
        with client.messages.stream(**_params(name)) as stream:
            return _from_message(stream.get_final_message())

    def with_longcall(name: str) -> Parsed:
        return _from_message(wrapped.messages.create(**_params(name)))

    return {
        "floor": floor,
        "naive": naive,
        "sdk_events": sdk_events,
        "sdk_message_stream": sdk_message_stream,
        "longcall": with_longcall,
    }


def surface_methods(url: str) -> dict[str, Callable[[str], Parsed | None]]:
    """The SDK's two stream surfaces, unwrapped and through `longcall.wrap()`, and the engine's own path."""
    import anthropic

    import longcall

    client = anthropic.Anthropic(base_url=url, api_key="bench", max_retries=0)
    wrapped = longcall.wrap(client, journal=None)

    def events(of: Any) -> Callable[[str], None]:
        def run(name: str) -> None:
            for _ in of.messages.create(**_params(name), stream=True):
                pass

        return run

    def message_stream(of: Any) -> Callable[[str], Parsed]:
        def run(name: str) -> Parsed:
            with of.messages.stream(**_params(name)) as stream:
                return _from_message(stream.get_final_message())

        return run

    return {
        "sdk_events": events(client),
        "longcall_events": events(wrapped),
        "sdk_message_stream": message_stream(client),
        "longcall_message_stream": message_stream(wrapped),
        "longcall_create": lambda name: _from_message(wrapped.messages.create(**_params(name))),
    }


def run_surfaces(args: argparse.Namespace) -> int:
    """`--surfaces`: CPU µs per event of `create(stream=True)` and `messages.stream()`, wrapped and not."""
    deltas = 2_000 if args.quick else 50_000
    names = [f"text-{deltas}", f"text-{deltas}{PER_EVENT}", f"think-{deltas // 2}"]
    repeat = args.repeat or (1 if args.quick else 3)
    server = Server()
    try:
        methods = surface_methods(server.url)
        for method in methods.values():
            method("text-100")
        table = [
            "| stream | events | "
            + " | ".join(methods)
            + " | wrapped / SDK events | wrapped / SDK MessageStream |"
        ]
        table.append("|---|---:|" + "---:|" * (len(methods) + 2))
        for name in names:
            events, expected = build(name)
            us = {}
            for method, call in methods.items():
                runs = []
                for _ in range(repeat):
                    seconds, parsed = _cpu(lambda call=call, name=name: call(name))  # type: ignore[misc]
                    _check(method, name, parsed, expected)
                    runs.append(seconds)
                us[method] = statistics.median(runs) / len(events) * 1e6
            cells = " | ".join(_fmt(us[method]) for method in methods)
            ratio_events = us["longcall_events"] / us["sdk_events"]
            ratio_stream = us["longcall_message_stream"] / us["sdk_message_stream"]
            table.append(f"| {name} | {len(events):,} | {cells} | {ratio_events:.2f} | {ratio_stream:.2f} |")
            print(f"  measured {name}", file=sys.stderr, flush=True)
    finally:
        server.close()
    print(
        f"`python bench/stream.py --surfaces` — {_versions()}; CPU µs per SSE event, median of {repeat} runs."
    )
    print()
    print("\n".join(table))
    return 0


def _cpu(run: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.process_time()
    result = run()
    return time.process_time() - start, result


def _check(method: str, name: str, parsed: Parsed | None, expected: Expected) -> None:
    if parsed is None:
        return
    problems = []
    if parsed.text != expected.text:
        problems.append("text")
    if parsed.thinking != expected.thinking:
        problems.append("thinking")
    if "@" not in name and (parsed.tool_input if expected.tool_json else None) != (
        json.loads(expected.tool_json) if expected.tool_json else None
    ):
        problems.append("tool input")
    if problems:
        raise SystemExit(f"{method} on {name}: wrong {', '.join(problems)}")


# -- async -----------------------------------------------------------------------------------------


def async_figures(url: str, streams: int, deltas: int, repeat: int) -> dict[str, Any]:
    """CPU per event of `streams` concurrent responses, for floor, naive and longcall."""
    import anthropic
    import httpx2

    import longcall

    name = f"text-{deltas}"
    events, expected = build(name)
    limits = httpx2.Limits(max_connections=streams + 100, max_keepalive_connections=streams + 100)
    peak = [0, 0]  # open responses now, most at once

    async def main() -> dict[str, list[float]]:
        client = anthropic.AsyncAnthropic(
            base_url=url,
            api_key="bench",
            max_retries=0,
            http_client=anthropic.DefaultAsyncHttpxClient(limits=limits),
        )
        raw = client.messages.with_streaming_response
        wrapped = longcall.wrap(client, journal=None)

        async def floor() -> None:
            async with raw.create(**_params(name), stream=True) as response:
                peak[0] += 1
                peak[1] = max(peak)
                async for _ in response.iter_bytes():
                    pass
                peak[0] -= 1

        async def naive() -> Parsed:
            parser = _NaiveParser()
            async with raw.create(**_params(name), stream=True) as response:
                peak[0] += 1
                peak[1] = max(peak)
                async for chunk in response.iter_bytes():
                    parser.feed(chunk)
                peak[0] -= 1
            return parser.result()

        async def with_longcall() -> Parsed:
            return _from_message(await wrapped.messages.create(**_params(name)))

        methods: dict[str, Callable[[], Awaitable[Parsed | None]]] = {
            "floor": floor,
            "naive": naive,
            "longcall": with_longcall,
        }
        times: dict[str, list[float]] = {method: [] for method in methods}
        await asyncio.gather(*(floor() for _ in range(streams)))  # open the connections
        for _ in range(repeat):
            for method, run in methods.items():
                gc.collect()
                start = time.process_time()
                results = await asyncio.gather(*(run() for _ in range(streams)))
                times[method].append(time.process_time() - start)
                for parsed in results:
                    _check(method, name, parsed, expected)
        await client.close()
        return times

    times = asyncio.run(main())
    total_events = len(events) * streams
    return {method: statistics.median(values) / total_events * 1e6 for method, values in times.items()} | {
        "peak": peak[1],
        "events": total_events,
    }


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    name: str
    events: int
    us: dict[str, float]  # method -> µs per event
    total: dict[str, float]  # method -> CPU seconds for one response
    note: str = ""


def _versions() -> str:
    import anthropic
    import httpx2

    import longcall

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cores} cores ({cpu}), {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, anthropic {anthropic.__version__}, "
        f"httpx2 {httpx2.__version__}, longcall {longcall.__version__}"
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _bytes(size: int) -> str:
    return f"{size / 1e6:g} MB" if size >= 1_000_000 else f"{size / 1000:g} KB"


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:,.0f} min"


def run(args: argparse.Namespace) -> int:
    if args.quick:
        text_sizes, tool_sizes, think, prefix = (2_000, 8_000), (10_000, 50_000), 1_000, 500
        streams, async_deltas, repeat = 20, 200, args.repeat or 1
    else:
        text_sizes, tool_sizes, think, prefix = (50_000, 200_000), (200_000, 1_000_000), 20_000, PREFIX_DELTAS
        streams, async_deltas, repeat = ASYNC_STREAMS, ASYNC_DELTAS, args.repeat or 3
    scenarios = [
        (f"long text, {text_sizes[0]:,} deltas", f"text-{text_sizes[0]}"),
        (f"long text, {text_sizes[1]:,} deltas", f"text-{text_sizes[1]}"),
        (f"tool input, {_bytes(tool_sizes[0])} JSON", f"tool-{tool_sizes[0]}"),
        (f"tool input, {_bytes(tool_sizes[1])} JSON", f"tool-{tool_sizes[1]}"),
        (f"thinking then text, {think:,} + {think:,} deltas", f"think-{think}"),
        # The same streams as the API sends them while generating: one event per HTTP chunk.
        (f"long text, {text_sizes[0]:,} deltas", f"text-{text_sizes[0]}{PER_EVENT}"),
        (f"tool input, {_bytes(tool_sizes[0])} JSON", f"tool-{tool_sizes[0]}{PER_EVENT}"),
        (f"thinking then text, {think:,} + {think:,} deltas", f"think-{think}{PER_EVENT}"),
    ]
    big_tool = scenarios[3][1]
    server = Server()
    try:
        methods = sync_methods(server.url)
        for method in methods.values():  # imports, connection, first-call costs
            method("text-100")
        rows: list[Row] = []
        for label, name in scenarios:
            events, expected = build(name)
            times: dict[str, list[float]] = {method: [] for method in methods}
            for round_ in range(repeat):
                for method, call in methods.items():
                    if method == "sdk_message_stream" and (round_ > 0 or name == big_tool and not args.full):
                        continue  # quadratic: one run is enough (the 1 MB input: a prefix, below)
                    seconds, parsed = _cpu(lambda call=call, name=name: call(name))  # type: ignore[misc]
                    _check(method, name, parsed, expected)
                    times[method].append(seconds)
            row = Row(label, name, len(events), {}, {})
            for method, values in times.items():
                if values:
                    row.total[method] = statistics.median(values)
                    row.us[method] = row.total[method] / len(events) * 1e6
            if name == big_tool and not args.full:
                row.note = _estimate_message_stream(methods["sdk_message_stream"], row, rows[-1], prefix)
            rows.append(row)
            print(f"  measured {label}", file=sys.stderr, flush=True)
        async_result = async_figures(server.url, streams, async_deltas, repeat)
    finally:
        server.close()
    print(_report(rows, async_result, streams, async_deltas, repeat, args))
    return 0


def _estimate_message_stream(run: Callable[[str], Any], row: Row, smaller: Row, prefix: int) -> str:
    """Measure the SDK's MessageStream on the first `prefix` deltas of `row`'s tool input and extrapolate.

    Every delta re-parses all the JSON so far, so the cost grows faster than the length; the exponent
    is fitted on two measured streams (this prefix and the whole smaller tool input).
    """
    name = f"{row.name}@{prefix}"
    events, expected = build(name)
    seconds, parsed = _cpu(lambda: run(name))
    _check("sdk_message_stream", name, parsed, expected)
    known = smaller.total["sdk_message_stream"]
    exponent = math.log(known / seconds) / math.log(smaller.events / len(events))
    exponent = max(1.0, exponent)
    total = known * (row.events / smaller.events) ** exponent
    row.total["sdk_message_stream"] = total
    row.us["sdk_message_stream"] = total / row.events * 1e6
    return (
        f"SDK MessageStream on the {row.label.split(', ')[1]} tool input, estimated: measured on its "
        f"first {prefix:,} deltas ({_duration(seconds)}) and on the whole {smaller.label.split(', ')[1]} "
        f"one ({_duration(known)}), CPU grows as events^{exponent:.2f}: about {_duration(total)} for the "
        f"whole stream (`--full` measures it)"
    )


def _report(
    rows: list[Row],
    async_result: dict[str, Any],
    streams: int,
    deltas: int,
    repeat: int,
    args: argparse.Namespace,
) -> str:
    command = "python bench/stream.py" + (" --quick" if args.quick else "") + (" --full" if args.full else "")
    out = [
        f"`{command}` — {_versions()}; CPU µs per SSE event (this process only), median of {repeat} runs "
        "(SDK MessageStream: one run).",
        "",
    ]
    out.append(
        "| stream | framing | events | floor | naive loop | SDK events | SDK MessageStream | longcall "
        "| longcall / naive | longcall / SDK events | longcall / SDK MessageStream |"
    )
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    for row in rows:
        stream_cell = _fmt(row.us.get("sdk_message_stream"))
        if row.note:
            notes.append(row.note)
            stream_cell = f"~{stream_cell} (est.)†"
        ratio = row.us["longcall"] / row.us["naive"]
        framing = "1 event / chunk" if row.name.endswith(PER_EVENT) else "16 KB chunks"
        to_events = row.us["longcall"] / row.us["sdk_events"]
        to_stream = row.us["longcall"] / row.us["sdk_message_stream"]
        out.append(
            f"| {row.label} | {framing} | {row.events:,} | {_fmt(row.us['floor'])} | "
            f"{_fmt(row.us['naive'])} | "
            f"{_fmt(row.us['sdk_events'])} | {stream_cell} | {_fmt(row.us['longcall'])} | {ratio:.2f} | "
            f"{to_events:.2f} | {to_stream:.3f} |"
        )
    out.append(
        f"| async: {streams} concurrent streams × {deltas:,} deltas | 16 KB chunks | "
        f"{async_result['events']:,} | {_fmt(async_result['floor'])} | {_fmt(async_result['naive'])} | "
        "– | – | "
        f"{_fmt(async_result['longcall'])} | {async_result['longcall'] / async_result['naive']:.2f} | – | – |"
    )
    out.append("")
    for note in notes:
        out.append(f"† {note}.")
    out.append(
        f"Async: one `AsyncAnthropic`, {async_result['peak']} responses open at once at the peak. "
        "Tool input: a JSON array of records (numbers, strings, nested objects); the SDK MessageStream "
        "re-parses all of it on every delta, so its cost depends on that shape."
    )
    if args.quick:
        out.append(
            "`--quick`: small streams, one run; fixed per-call costs dominate, targets are not meaningful."
        )
    out.append("")

    text_small, text_big, tool_small, tool_big = (rows[0], rows[1], rows[2], rows[3])
    worst = max(rows, key=lambda row: row.us["longcall"] / row.us["naive"])
    worst_ratio = worst.us["longcall"] / worst.us["naive"]
    async_ratio = async_result["longcall"] / async_result["naive"]
    text_growth = text_big.total["longcall"] / text_small.total["longcall"]
    text_scale = text_big.events / text_small.events
    tool_growth = tool_big.total["longcall"] / tool_small.total["longcall"]
    tool_scale = tool_big.events / tool_small.events
    speedup = tool_small.total["sdk_message_stream"] / tool_small.total["longcall"]
    checks = [
        (
            "longcall / naive loop, worst stream",
            f"{worst_ratio:.2f} ({worst.label})",
            "≤ 1.2",
            worst_ratio <= 1.2,
        ),
        (
            f"longcall CPU, text {text_big.label.split(', ')[1]} / {text_small.label.split(', ')[1]} "
            f"({text_scale:.1f}x the events)",
            f"{text_growth:.2f}x",
            f"≤ {text_scale * 1.1:.1f}x",
            text_growth <= text_scale * 1.1,
        ),
        (
            f"longcall CPU, tool input {tool_big.label.split(', ')[1]} / {tool_small.label.split(', ')[1]} "
            f"({tool_scale:.1f}x the events)",
            f"{tool_growth:.2f}x",
            f"≤ {tool_scale * 1.1:.1f}x",
            tool_growth <= tool_scale * 1.1,
        ),
        (f"SDK MessageStream / longcall, {tool_small.label}", f"{speedup:,.0f}x", "≥ 50x", speedup >= 50),
        (
            f"async longcall / naive loop, {streams} streams",
            f"{async_ratio:.2f}",
            "≤ 1.3",
            async_ratio <= 1.3,
        ),
    ]
    out.append("| target | measured | goal | |")
    out.append("|---|---:|---:|---|")
    for what, measured, goal, ok in checks:
        out.append(f"| {what} | {measured} | {goal} | {'met' if ok else '**missed**'} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--quick", action="store_true", help="small streams, one run: a smoke test")
    parser.add_argument(
        "--full",
        action="store_true",
        help="measure the SDK MessageStream on the whole 1 MB tool input instead of estimating it (~1 hour)",
    )
    parser.add_argument("--repeat", type=int, default=0, help="runs per figure (default 3; --quick 1)")
    parser.add_argument(
        "--surfaces",
        action="store_true",
        help="the wrapped client's create(stream=True) and messages.stream() against the SDK's own",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve())
        return 0
    return run_surfaces(args) if args.surfaces else run(args)


if __name__ == "__main__":
    sys.exit(main())
