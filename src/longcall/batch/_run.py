"""One batch run: input, state file, output, the runner of the chosen mode, progress, summary."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anthropic

from .._errors import InvalidRequest
from . import _records
from ._input import BadLine, Item, read_input
from ._options import BatchOptions
from ._progress import ProgressView, Snapshot
from ._records import Summary
from ._state import Output, RunState, default_state_path, reconcile
from ._stream import StreamRunner
from ._submit import BatchRounds, prepare_params


def default_client(max_concurrency: int = 256) -> anthropic.AsyncAnthropic:
    """An `AsyncAnthropic` from the environment, on aiohttp when `anthropic[aiohttp]` is installed
    (several times less CPU per streamed event than the default transport; see the README)."""
    import httpx2

    limits = httpx2.Limits(
        max_connections=max(1000, max_concurrency), max_keepalive_connections=max_concurrency
    )
    try:
        import aiohttp  # noqa: F401

        http_client: Any = anthropic.DefaultAioHttpClient(limits=limits)
    except ImportError:
        http_client = anthropic.DefaultAsyncHttpxClient(limits=limits)
    return anthropic.AsyncAnthropic(http_client=http_client)


def _async_twin(client: Any) -> anthropic.AsyncAnthropic:
    client = getattr(client, "unwrapped", client)
    if isinstance(client, anthropic.AsyncAnthropic):
        return client
    if isinstance(client, anthropic.Anthropic):
        return anthropic.AsyncAnthropic(
            api_key=client.api_key, auth_token=client.auth_token, base_url=str(client.base_url)
        )
    raise InvalidRequest(
        f"a batch needs an anthropic.AsyncAnthropic or Anthropic client, not {type(client).__name__}"
    )


class BatchRun:
    """A batch run, restartable: the same arguments again continue where it stopped.

    ```python
    run = BatchRun("in.jsonl", "out.jsonl", options=BatchOptions(concurrency=32))
    summary = await run.arun()          # or run.run() from sync code
    ```

    Args:
        input: a JSONL file, or an iterable of dicts in one of the input line shapes.
        output: the output JSONL file (appended to; one record per item).
        client: an `anthropic.AsyncAnthropic` (or `Anthropic`, whose key and base URL are used);
            one from the environment by default.
        options: how to run (`BatchOptions`).
        state: the state file; `OUTPUT.longcall.db` by default.
        shard: (K, N) to run only the K-th of N parts of the input.
        progress: show progress on stderr (None: only when it is a terminal... for the CLI; the
            library default is False).

    Raises (from `arun`):
        InputRefused: an id the Batches API would refuse, or a duplicate; nothing was sent.
        StateError: the state file belongs to another shard or cannot be read.
    """

    def __init__(
        self,
        input: str | os.PathLike[str] | Iterable[dict[str, Any]],
        output: str | os.PathLike[str],
        *,
        client: Any = None,
        options: BatchOptions | None = None,
        state: str | os.PathLike[str] | None = None,
        shard: tuple[int, int] | None = None,
        progress: bool | None = False,
    ) -> None:
        self.input = Path(input) if isinstance(input, (str, os.PathLike)) else input
        self.output = Path(output)
        self.options = options or BatchOptions()
        self.state_path = Path(state) if state is not None else default_state_path(self.output)
        self.shard = shard
        self.progress = progress
        self._client = client
        self.summary = Summary(output=str(self.output), state=str(self.state_path))
        self.runner: StreamRunner | BatchRounds | None = None
        self._stop: str | None = None
        self._started = time.monotonic()

    def stop(self, why: str = "interrupted") -> None:
        """Stop soon, cleanly: nothing more is sent; what is in flight keeps its checkpoint."""
        self._stop = why
        if self.runner is not None:
            self.runner.stop(why)

    def run(self) -> Summary:
        """`arun()` from sync code."""
        return asyncio.run(self.arun())

    async def arun(self) -> Summary:
        """Run to the end (or until stopped); return the summary."""
        self._started = time.monotonic()
        entries = read_input(self.input if isinstance(self.input, Path) else list(self.input), self.shard)
        state = RunState(self.state_path)
        output = Output(self.output)
        try:
            state.check_shard(self.shard)
            reconcile(state, output)
            if state.meta("started_at") is None:
                state.set_meta("started_at", time.time())
            state.set_meta("via", self.options.via)
            state.set_meta("input", str(self.input) if isinstance(self.input, Path) else "<iterable>")
            items = self._admit(entries, state, output)
            if self._stop is None and items:
                await self._run(items, state, output)
            else:
                self.summary.left = len(items)
                self.summary.stopped = self._stop
            self.summary.wall_seconds = time.monotonic() - self._started
            state.set_meta("summary", self.summary.to_dict())
        finally:
            output.close()
            state.close()
            self.summary.wall_seconds = time.monotonic() - self._started
        return self.summary

    def _admit(self, entries: list[Item | BadLine], state: RunState, output: Output) -> list[Item]:
        """Skip what is done; turn bad lines (and, for batches, requests longcall refuses) into records."""
        summary = self.summary
        summary.total = len(entries)
        done = state.done_keys()
        items: list[Item] = []
        rows: list[tuple[str, int, dict[str, Any] | None]] = []
        records: list[tuple[str, dict[str, Any]]] = []
        for entry in entries:
            if entry.key in done:
                summary.skipped += 1
                continue
            if isinstance(entry, BadLine):
                rows.append((entry.key, entry.line, None))
                records.append(
                    (entry.key, _records.failure(entry.custom_id, entry.line, "invalid_input", entry.message))
                )
                continue
            params = entry.params
            if self.options.via == "batches":
                try:
                    params = prepare_params(entry.params)
                except InvalidRequest as exc:
                    rows.append((entry.key, entry.line, None))
                    records.append(
                        (
                            entry.key,
                            _records.failure(entry.custom_id, entry.line, "invalid_request", str(exc)),
                        )
                    )
                    continue
            rows.append((entry.key, entry.line, params))
            items.append(entry)
        state.add_items(rows)
        for key, record in records:
            state.finish(key, record)
            output.write(record)
            summary.add(record)
        return items

    async def _run(self, items: list[Item], state: RunState, output: Output) -> None:
        client = (
            _async_twin(self._client)
            if self._client is not None
            else default_client(self.options.max_concurrency)
        )
        owned = client is not getattr(self._client, "unwrapped", self._client)  # made here: closed here
        runner: StreamRunner | BatchRounds
        if self.options.via == "batches":
            runner = BatchRounds(client, state, output, self.summary, self.options)
        else:
            runner = StreamRunner(client, state, output, self.summary, self.options)
        self.runner = runner
        view = None
        if self.progress or (self.progress is None):
            view = asyncio.ensure_future(
                ProgressView(self._snapshot, live=None, refresh=self.options.refresh).run()
            )
        try:
            await runner.run(items)
        finally:
            if view is not None:
                view.cancel()
                await asyncio.gather(view, return_exceptions=True)
            if owned:
                await client.close()

    def snapshot(self) -> Snapshot:
        return self._snapshot()

    def _snapshot(self) -> Snapshot:
        summary = self.summary
        data: Snapshot = {
            "via": self.options.via,
            "total": summary.total,
            "done": summary.skipped + summary.done,
            "done_before": summary.skipped,
            "failed": summary.failed,
            "output_tokens": summary.output_tokens,
            "input_tokens": summary.input_tokens,
            "cost": summary.cost,
            "started": self._started,
            "in_flight": 0,
            "concurrency": 0,
            "paused": "",
        }
        runner = self.runner
        if isinstance(runner, StreamRunner):
            data["in_flight"] = runner.in_flight
            data["concurrency"] = runner.concurrency.limit
            if runner.pacer.wait(time.time()) > 0:
                data["paused"] = runner.pacer.why
        elif isinstance(runner, BatchRounds):
            data["batches"] = dict(runner.live)
        return data


async def arun_batch(
    input: str | os.PathLike[str] | Iterable[dict[str, Any]],
    output: str | os.PathLike[str],
    *,
    client: Any = None,
    options: BatchOptions | None = None,
    state: str | os.PathLike[str] | None = None,
    shard: tuple[int, int] | None = None,
    progress: bool | None = False,
    **option_fields: Any,
) -> Summary:
    """Run a batch (see `BatchRun`); keyword arguments of `BatchOptions` may be given directly:
    `await arun_batch("in.jsonl", "out.jsonl", concurrency=32, via="batches")`."""
    if option_fields:
        from dataclasses import replace

        options = replace(options or BatchOptions(), **option_fields)
    return await BatchRun(
        input, output, client=client, options=options, state=state, shard=shard, progress=progress
    ).arun()


def run_batch(
    input: str | os.PathLike[str] | Iterable[dict[str, Any]],
    output: str | os.PathLike[str],
    *,
    client: Any = None,
    options: BatchOptions | None = None,
    state: str | os.PathLike[str] | None = None,
    shard: tuple[int, int] | None = None,
    progress: bool | None = False,
    **option_fields: Any,
) -> Summary:
    """`arun_batch` from sync code (it runs its own event loop)."""
    return asyncio.run(
        arun_batch(
            input,
            output,
            client=client,
            options=options,
            state=state,
            shard=shard,
            progress=progress,
            **option_fields,
        )
    )
