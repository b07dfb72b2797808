"""The journal under load: what it costs, how big it gets, and that it never stalls an event loop.

    python bench/journal.py                      # every figure of the README's journal section (~2 min)
    python bench/journal.py --only concurrent --calls 1000 --words 1000
    python bench/journal.py --only stall,checkpoints,attachments

    # the same figures for longcall 0.1's journal (before the writer thread, appended checkpoints
    # and blobs), from a checkout of it:
    git worktree add /tmp/lc01 05a504d && PYTHONPATH=/tmp/lc01/src python bench/journal.py \\
        --only stall,checkpoints,attachments

Sections:
- stall: another process holds the journal's write lock (BEGIN IMMEDIATE) for 2.5 s while an asyncio
  loop runs one journaled call; a ticker task measures the loop's longest stall.
- checkpoints: one 600 KB generation checkpointed every 3 KB (200 checkpoints); bytes written to the
  WAL (page writes, autocheckpoint off) by the first and the last 50 checkpoints, and in all.
- attachments: 50 calls sending the same 100 KB document; the file's size after 1 and after 50.
- concurrent: N concurrent async calls from one process against an emulator in another process (its
  CPU is not counted), with `journal=None` and with a journal; this process's CPU
  (`time.process_time()`, the journal's writer thread included) and wall time, and the file's size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic

import longcall
from longcall._engine import Generation, Hooks
from longcall.journal import Journal
from longcall.testing import Emulator, Fault

MODEL = "claude-haiku-4-5"
HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def _flush(journal: Journal) -> None:
    flush = getattr(journal, "flush", None)  # longcall 0.1 wrote synchronously: nothing to wait for
    if flush is not None:
        flush()


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.name.startswith(path.name))


def _request(words: int, document: str | None = None) -> dict[str, Any]:
    question = f"Write {words} words about harbors"
    content: Any = (
        question
        if document is None
        else [
            {"type": "text", "text": document},
            {"type": "text", "text": question},
        ]
    )
    return {"model": MODEL, "max_tokens": 64000, "messages": [{"role": "user", "content": content}]}


# -- stall --------------------------------------------------------------------------------------------


def bench_stall(folder: Path, emulator: Emulator) -> dict[str, Any]:
    journal = Journal(folder / "stall.db")
    journal.recent()
    journal.close()
    policy = longcall.Policy(checkpoint_interval=0.05, checkpoint_bytes=2048)
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(journal.path), "2.5"], stdout=subprocess.PIPE
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"

        async def run() -> tuple[float, float]:
            loop = asyncio.get_running_loop()
            sdk = anthropic.AsyncAnthropic(base_url=emulator.url, api_key="sk-bench")
            await longcall.wrap(sdk, journal=None).messages.create(**_request(20))  # warm up
            emulator.add_faults(Fault(tokens_per_second=3000))
            client = longcall.wrap(sdk, journal=journal, policy=policy)
            worst, done = 0.0, asyncio.Event()

            async def tick() -> None:
                nonlocal worst
                last = loop.time()
                while not done.is_set():
                    await asyncio.sleep(0.005)
                    now = loop.time()
                    worst, last = max(worst, now - last - 0.005), now

            ticker = asyncio.create_task(tick())
            await asyncio.sleep(0.01)
            started = time.monotonic()
            with warnings_ignored():
                await client.messages.create(**_request(1200))
            took = time.monotonic() - started
            done.set()
            await ticker
            await sdk.close()
            return worst, took

        worst, took = asyncio.run(run())
        holder.wait(10)
    _flush(journal)
    return {"max_stall_ms": round(worst * 1000, 1), "call_s": round(took, 2)}


@contextlib.contextmanager
def warnings_ignored() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- checkpoints --------------------------------------------------------------------------------------


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def bench_checkpoints(folder: Path) -> dict[str, Any]:
    try:  # longcall 0.1 skipped checkpoints to bound their time: a still clock makes it write each one
        journal = Journal(folder / "checkpoints.db", clock=lambda: 0.0)  # type: ignore[call-arg]
    except TypeError:
        journal = Journal(folder / "checkpoints.db")
    journal.recent()
    connection = getattr(journal, "_connect")()  # noqa: B009 - the same connection the journal writes with
    connection.execute("PRAGMA wal_autocheckpoint = 0")  # keep every page written in the WAL
    wal = Path(f"{journal.path}-wal")
    gen = Generation(
        _request(50),
        longcall.Policy(checkpoint_interval=3600, checkpoint_bytes=1 << 30),
        hooks=Hooks(observers=[journal]),
        now=0.0,
        wall=0.0,
        random=lambda: 0.5,
    )
    gen.request(0.0, 0.0)
    start = {
        "id": "msg_b",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 7, "output_tokens": 1},
    }
    gen.feed(_sse({"type": "message_start", "message": start}), 0.0)
    gen.feed(
        _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}), 0.0
    )
    costs = []
    for step in range(200):
        text = f"step {step:04d} " + "harbor words " * 230
        gen.feed(
            _sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            0.0,
        )
        before = wal.stat().st_size if wal.exists() else 0
        journal.checkpoint(gen)
        _flush(journal)
        costs.append(wal.stat().st_size - before)
    chars = len(gen.acc.message_dict()["content"][0]["text"])
    journal.close()
    return {
        "message_kb": chars // 1000,
        "first_50_kb_per_checkpoint": round(sum(costs[:50]) / 50 / 1000, 1),
        "last_50_kb_per_checkpoint": round(sum(costs[-50:]) / 50 / 1000, 1),
        "total_mb": round(sum(costs) / 1e6, 1),
    }


# -- attachments --------------------------------------------------------------------------------------


def bench_attachments(folder: Path, emulator: Emulator) -> dict[str, Any]:
    journal = Journal(folder / "attachments.db")
    client = longcall.wrap(anthropic.Anthropic(base_url=emulator.url, api_key="sk-bench"), journal=journal)
    document = "".join(f"line {n}: the tide tables for the harbor, in detail.\n" for n in range(2000))
    client.messages.create(**_request(10, document))
    journal.close()
    one = _size(journal.path)
    for n in range(49):
        client.messages.create(**_request(11 + n, document))
    journal.close()
    return {
        "document_kb": len(document) // 1000,
        "after_1_kb": one // 1000,
        "after_50_kb": _size(journal.path) // 1000,
    }


# -- concurrent ---------------------------------------------------------------------------------------


def _serve() -> None:
    with Emulator() as emulator:
        print(emulator.url, flush=True)
        sys.stdin.read()  # until the parent closes it


def bench_concurrent(folder: Path, calls: int, words: int, checkpoint_bytes: int | None) -> dict[str, Any]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        policy = (
            longcall.Policy()
            if checkpoint_bytes is None
            else longcall.Policy(checkpoint_bytes=checkpoint_bytes)
        )
        results: dict[str, Any] = {
            "calls": calls,
            "words": words,
            "checkpoint_bytes": policy.checkpoint_bytes,
        }
        for label in ("none", "journal", "none", "journal"):  # twice each, interleaved: the best of two
            journal = (
                Journal(folder / f"concurrent-{label}-{time.monotonic_ns()}.db")
                if label == "journal"
                else None
            )

            async def run(journal: Journal | None = journal) -> None:
                sdk = anthropic.AsyncAnthropic(base_url=url, api_key="sk-bench", max_retries=0)
                client = longcall.wrap(sdk, journal=journal, policy=policy)
                await client.messages.create(**_request(10))  # warm up the connection pool
                await asyncio.gather(
                    *(client.messages.create(**_request(words + n % 7)) for n in range(calls))
                )
                await sdk.close()

            cpu, wall = time.process_time(), time.monotonic()
            asyncio.run(run())
            calls_done = time.monotonic() - wall
            if journal is not None:
                _flush(journal)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            best = results.get(label)
            if best is None or cpu < best["cpu_s"]:
                results[label] = {
                    "cpu_s": round(cpu, 2),
                    "wall_s": round(wall, 2),
                    "calls_s": round(calls_done, 2),
                }
                if journal is not None:
                    journal.close()
                    results[label]["file_mb"] = round(_size(journal.path) / 1e6, 1)
                    results[label]["recorded"] = len(journal.recent(calls + 10))
        results["cpu_per_call_ms"] = round(
            (results["journal"]["cpu_s"] - results["none"]["cpu_s"]) / calls * 1000, 2
        )
        return results
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="stall,checkpoints,attachments,concurrent")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--checkpoint-bytes", type=int, default=None, help="default: the Policy's")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve()
        return
    only = set(args.only.split(","))
    print(
        f"longcall {longcall.__version__} from {Path(longcall.__file__).parent},"
        f" Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory() as tmp, Emulator() as emulator:
        folder = Path(tmp)
        if "stall" in only:
            print("stall", bench_stall(folder, emulator), flush=True)
        if "checkpoints" in only:
            print("checkpoints", bench_checkpoints(folder), flush=True)
        if "attachments" in only:
            print("attachments", bench_attachments(folder, emulator), flush=True)
        if "concurrent" in only:
            print(
                "concurrent",
                bench_concurrent(folder, args.calls, args.words, args.checkpoint_bytes),
                flush=True,
            )


if __name__ == "__main__":
    os.environ.setdefault("LONGCALL_JOURNAL", "off")  # nothing here touches the per-user journal
    main()
