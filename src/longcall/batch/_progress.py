"""Progress of a batch run: a live rich view on a terminal, a plain line every few seconds otherwise.

The runner keeps counting; the view pulls a snapshot (a dict) at its own pace, so a thousand
results a second cost nothing extra. `describe()` is pure (the time is passed in) and is what the
plain line prints; the live view shows the same numbers in a table, and for `--via batches` one row
per batch with its state and counts.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

Snapshot = dict[str, Any]


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def rates(snapshot: Snapshot, now: float) -> tuple[float, float, float | None]:
    """(output tokens per second, items per second, seconds left or None) since the run started."""
    elapsed = max(1e-9, now - snapshot["started"])
    finished_now = snapshot["done"] - snapshot.get("done_before", 0)
    per_item = finished_now / elapsed
    left = snapshot["total"] - snapshot["done"]
    eta = left / per_item if per_item > 0 and left > 0 else (0.0 if left <= 0 else None)
    return snapshot["output_tokens"] / elapsed, per_item, eta


def describe(snapshot: Snapshot, now: float) -> str:
    """One line: done/failed/total, tokens, cost, concurrency, throughput, ETA."""
    tokens_per_second, _, eta = rates(snapshot, now)
    parts = [
        f"{snapshot['done']:,}/{snapshot['total']:,} done",
        f"{snapshot['failed']:,} failed",
        f"{snapshot['output_tokens']:,} out tokens",
        f"${snapshot['cost']:.4f}",
    ]
    if snapshot.get("via") == "batches":
        batches = snapshot.get("batches") or {}
        running = [batch for batch in batches.values() if batch["status"] != "ended"]
        processing = sum(int((batch.get("counts") or {}).get("processing") or 0) for batch in running)
        parts.append(
            f"{len(batches)} batches ({len(running)} in progress, {processing:,} requests processing)"
        )
    else:
        parts.append(f"{snapshot['in_flight']} in flight (limit {snapshot['concurrency']})")
        parts.append(f"{tokens_per_second:,.0f} tok/s")
    if snapshot.get("paused"):
        parts.append(f"paused: {snapshot['paused']}")
    parts.append(f"ETA {_duration(eta)}" if eta is not None else "ETA -")
    parts.append(_duration(now - snapshot["started"]))
    return " · ".join(parts)


def _table(snapshot: Snapshot, now: float) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    summary = Text(describe(snapshot, now))
    batches = snapshot.get("batches") or {}
    if not batches:
        return summary
    table = Table("batch", "state", "processing", "succeeded", "errored", "expired", "canceled", box=None)
    for batch_id, batch in list(batches.items())[-12:]:
        counts = batch.get("counts") or {}
        table.add_row(
            batch_id,
            batch["status"],
            *(
                f"{counts.get(name, 0):,}"
                for name in ("processing", "succeeded", "errored", "expired", "canceled")
            ),
        )
    return Group(summary, table)


class ProgressView:
    """Shows a run's progress until stopped.

    Args:
        snapshot: returns the run's numbers (see `describe` for the keys).
        file: where to write; stderr by default.
        live: a rich live view (True), plain lines (False), or decide by whether `file` is a terminal.
        refresh: seconds between plain lines.
        clock: monotonic seconds (tests inject one).
    """

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        *,
        file: TextIO | None = None,
        live: bool | None = None,
        refresh: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.snapshot = snapshot
        self.file = file if file is not None else sys.stderr
        self.live = self.file.isatty() if live is None else live
        self.refresh = refresh
        self.clock = clock

    async def run(self) -> None:
        """Show progress until cancelled."""
        if self.live:
            await self._live()
        else:
            while True:
                await asyncio.sleep(self.refresh)
                self.line()

    def line(self) -> None:
        print(f"longcall batch: {describe(self.snapshot(), self.clock())}", file=self.file, flush=True)

    async def _live(self) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.file)
        with Live(
            _table(self.snapshot(), self.clock()),
            console=console,
            refresh_per_second=4,
            transient=False,
        ) as live:
            try:
                while True:
                    await asyncio.sleep(0.25)
                    live.update(_table(self.snapshot(), self.clock()))
            finally:
                live.update(_table(self.snapshot(), self.clock()))
