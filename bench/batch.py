"""Many concurrent long streams: the batch runner against a plain asyncio loop over the SDK.

    python bench/batch.py                  # the README table, scaled down to run in minutes (see below)
    python bench/batch.py --full           # 1,000 requests of 2,000 output tokens at every concurrency
    python bench/batch.py --quick          # a smoke run (seconds)

A server in its own process (its CPU is not counted) answers every request with the same streamed
message of `--tokens` text deltas, over chunked HTTP, in one of two framings: one SSE event per HTTP
chunk (as the API sends at generation speed) or 16 KB chunks (as TLS records cut a fast stream).
Each measurement runs in a fresh process, so its peak memory (ru_maxrss) is its own:

- "plain loop": `asyncio.Semaphore(C)` around
  `async with AsyncAnthropic().messages.stream(...) as s: await s.get_final_message()`;
- "longcall batch": `longcall.batch.BatchRun` at a fixed concurrency C, everything on: the journal
  and state file (checkpoints, one row per item), the output JSONL, the engine's retries and resume.

with the SDK's default transport (httpx2) and with `anthropic[aiohttp]`'s `DefaultAioHttpClient`.
Figures: wall time, CPU seconds of the client process per million output tokens, peak RSS. Every
result's text and usage is checked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

MODEL = "claude-haiku-4-5"
CHUNK = 16 * 1024
WORDS = ("the ", "river ", "stone ", "light ", "carries ", "a ", "quiet ", "garden ", "of ", "café ")


# -- the server ------------------------------------------------------------------------------------


def _sse(kind: str, payload: dict[str, Any]) -> bytes:
    return (
        f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()
    )


def expected_text(tokens: int) -> str:
    return "".join(WORDS[i % len(WORDS)] for i in range(tokens))


def events(tokens: int) -> list[bytes]:
    usage = {
        "input_tokens": 12,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    out = [
        _sse("message_start", {"type": "message_start", "message": message}),
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        _sse("ping", {"type": "ping"}),
    ]
    for i in range(tokens):
        delta = {"type": "text_delta", "text": WORDS[i % len(WORDS)]}
        out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"input_tokens": 12, "output_tokens": tokens},
            },
        )
    )
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return out


def framed(tokens: int, framing: str) -> bytes:
    body = events(tokens)
    if framing == "16k":
        joined = b"".join(body)
        body = [joined[i : i + CHUNK] for i in range(0, len(joined), CHUNK)]
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
        b"request-id: req_bench\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    return head + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in body) + b"0\r\n\r\n"


async def serve(tokens: int, framing: str) -> None:
    reply = framed(tokens, framing)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    key, _, value = line.partition(b":")
                    if key.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


class Server:
    def __init__(self, tokens: int, framing: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", framing, "--tokens", str(tokens)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


# -- one measurement (in its own process) -------------------------------------------------------------


def _client(url: str, transport: str, concurrency: int) -> Any:
    import anthropic
    import httpx2

    limits = httpx2.Limits(max_connections=max(1000, concurrency), max_keepalive_connections=concurrency)
    if transport == "aiohttp":
        http: Any = anthropic.DefaultAioHttpClient(limits=limits)
    else:
        http = anthropic.DefaultAsyncHttpxClient(limits=limits)
    # A loaded 2-core machine can take seconds to accept 1,000 connections: no connect timeout here.
    timeout = httpx2.Timeout(600, connect=600)
    return anthropic.AsyncAnthropic(
        base_url=url, api_key="bench", http_client=http, max_retries=0, timeout=timeout
    )


def _params(n: int, tokens: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": tokens + 100,
        "messages": [{"role": "user", "content": f"Request {n}"}],
    }


async def plain_loop(url: str, transport: str, concurrency: int, requests: int, tokens: int) -> int:
    client = _client(url, transport, concurrency)
    semaphore = asyncio.Semaphore(concurrency)
    text = expected_text(tokens)

    async def one(n: int) -> int:
        async with semaphore, client.messages.stream(**_params(n, tokens)) as stream:
            message = await stream.get_final_message()
        assert message.content[0].text == text and message.usage.output_tokens == tokens  # type: ignore[union-attr]
        return message.usage.output_tokens

    async with client:
        return sum(await asyncio.gather(*(one(n) for n in range(requests))))


async def with_longcall(url: str, transport: str, concurrency: int, requests: int, tokens: int) -> int:
    from longcall import Policy
    from longcall.batch import BatchOptions, BatchRun

    client = _client(url, transport, concurrency)
    items = [{"custom_id": f"r{n}", "params": _params(n, tokens)} for n in range(requests)]
    folder = tempfile.mkdtemp(prefix="longcall-bench-")
    output = os.path.join(folder, "out.jsonl")
    policy = Policy(connect_timeout=600)  # as for the plain loop
    options = BatchOptions(
        concurrency=concurrency, max_concurrency=concurrency, adaptive=False, policy=policy
    )
    async with client:
        summary = await BatchRun(items, output, client=client, options=options).arun()
    assert summary.succeeded == requests, summary.line()
    text = expected_text(tokens)
    with open(output) as file:
        for line in file:
            record = json.loads(line)
            assert record["message"]["content"][0]["text"] == text
    return summary.output_tokens


def measure(args: argparse.Namespace) -> None:
    import anthropic  # noqa: F401 - imports are not what is measured
    import anthropic.lib.streaming  # noqa: F401

    import longcall.batch  # noqa: F401

    if args.transport == "aiohttp":
        import aiohttp  # noqa: F401
    run = plain_loop if args.client == "plain" else with_longcall
    started_cpu, started = time.process_time(), time.perf_counter()
    output_tokens = asyncio.run(run(args.url, args.transport, args.concurrency, args.requests, args.tokens))
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    print(json.dumps({"cpu": cpu, "wall": wall, "peak_mb": peak, "output_tokens": output_tokens}))


def _one(
    url: str, client: str, transport: str, concurrency: int, requests: int, tokens: int
) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--measure",
            client,
            "--url",
            url,
            "--transport",
            transport,
            "--concurrency",
            str(concurrency),
            "--requests",
            str(requests),
            "--tokens",
            str(tokens),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{client}/{transport}/{concurrency} failed:\n{result.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


# -- the table ---------------------------------------------------------------------------------------


def _versions() -> str:
    import anthropic

    try:
        import aiohttp

        aio = f", aiohttp {aiohttp.__version__}"
    except ImportError:
        aio = ""
    cpu = platform.processor() or platform.machine()
    return (
        f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}; Python {platform.python_version()}, "
        f"anthropic {anthropic.__version__}{aio}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", choices=("event", "16k"))
    parser.add_argument("--measure", choices=("plain", "longcall"))
    parser.add_argument("--url")
    parser.add_argument("--transport", choices=("httpx", "aiohttp"), default="httpx")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--requests", type=int)
    parser.add_argument("--tokens", type=int)
    parser.add_argument("--concurrencies", default="50,200,1000")
    parser.add_argument("--framings", default="event,16k")
    parser.add_argument("--transports", default="httpx,aiohttp")
    parser.add_argument("--full", action="store_true", help="1,000 requests of 2,000 tokens everywhere")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.tokens, args.serve))
        return 0
    if args.measure:
        args.client = args.measure
        measure(args)
        return 0
    concurrencies = [int(c) for c in args.concurrencies.split(",")]
    if args.quick:
        concurrencies, requests, tokens = [10], 20, 200
    elif args.full:
        requests, tokens = 1000, 2000
    else:
        # Scaled down to run in minutes on 2 cores: 500 tokens a request (the plain loop's cost per
        # token grows with the answer's length, so this understates longcall's advantage), and as many
        # requests as streams in flight, at least 200. Memory is measured at full size below.
        requests, tokens = args.requests, args.tokens or 500
    rows = []
    for framing in args.framings.split(","):
        server = Server(tokens, framing)
        try:
            for concurrency in concurrencies:
                # Scaled down unless --full: as many requests as streams in flight (at least 200), so
                # the 1,000-stream row still has 1,000 streams open at once.
                count = requests or max(200, concurrency)
                for transport in args.transports.split(","):
                    plain = _one(server.url, "plain", transport, concurrency, count, tokens)
                    ours = _one(server.url, "longcall", transport, concurrency, count, tokens)
                    rows.append((framing, concurrency, count, transport, plain, ours))
                    print(
                        f"  {framing} c={concurrency} n={count} {transport}: plain {plain} longcall {ours}",
                        file=sys.stderr,
                    )
        finally:
            server.close()
    memory = []
    if not args.quick and not args.full:
        # 1,000 streams open at once in one process, 2,000 tokens each: the batch runner's peak memory.
        server = Server(2000, "16k")
        try:
            for transport in args.transports.split(","):
                memory.append((transport, _one(server.url, "longcall", transport, 1000, 1000, 2000)))
        finally:
            server.close()
    print(
        f"`python bench/batch.py{' --full' if args.full else ''}` — {_versions()}; "
        f"{tokens:,} output tokens per request.\n"
    )
    print(
        "| framing | concurrency | requests | transport | plain loop: wall s | CPU s / M tokens | peak MB "
        "| longcall batch: wall s | CPU s / M tokens | peak MB | CPU ratio |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for framing, concurrency, count, transport, plain, ours in rows:
        per_plain = plain["cpu"] / plain["output_tokens"] * 1e6
        per_ours = ours["cpu"] / ours["output_tokens"] * 1e6
        label = "1 event / chunk" if framing == "event" else "16 KB chunks"
        print(
            f"| {label} | {concurrency:,} | {count:,} | {transport} | {plain['wall']:.1f} | {per_plain:.1f} "
            f"| {plain['peak_mb']:.0f} | {ours['wall']:.1f} | {per_ours:.1f} | {ours['peak_mb']:.0f} "
            f"| {per_plain / per_ours:.2f}x |"
        )
    if memory:
        print(
            "\nPeak memory of the batch runner, 1,000 concurrent streams x 2,000 output tokens "
            "(16 KB chunks):\n"
        )
        print("| transport | wall s | CPU s / M tokens | peak MB |")
        print("|---|---:|---:|---:|")
        for transport, ours in memory:
            per = ours["cpu"] / ours["output_tokens"] * 1e6
            print(f"| {transport} | {ours['wall']:.1f} | {per:.1f} | {ours['peak_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
