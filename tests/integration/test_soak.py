"""The fault soak in CI: 400 generations through the emulator at once, random faults, exact checks.

The soak itself is `tests/soak_lib.py` (shared with `bench/soak.py`, which runs it for as long as
asked). It runs once per session; each test below asserts one of its invariants, so a failure names
the invariant and lists the failing cases with their replay command:

    LONGCALL_SOAK_SEED=S pytest tests/integration/test_soak.py               # the same 400 cases
    LONGCALL_SOAK_SEED=S LONGCALL_SOAK_CASE=N pytest tests/integration/test_soak.py   # one of them
    LONGCALL_SOAK_CALLS=1000 pytest tests/integration/test_soak.py            # more of them
"""

from __future__ import annotations

import os

import pytest

from .. import soak_lib
from ..soak_lib import Totals

CALLS = int(os.environ.get("LONGCALL_SOAK_CALLS", "400"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def soak() -> Totals:
    seed = soak_lib.seed_from_env()
    only = soak_lib.case_from_env()
    print(f"fault soak: seed {seed} (replay with LONGCALL_SOAK_SEED={seed})")
    totals = soak_lib.run(seed=seed, calls=CALLS, only=only)
    print(totals.summary())
    return totals


def failing(totals: Totals, *checks: str, limit: int = 8) -> str:
    """The reports of the cases failing any of `checks`, for the assertion message."""
    outcomes = [o for o in totals.failures if any(p.check in checks for p in o.problems)]
    head = f"{len(outcomes)} of {totals.calls} calls fail {'/'.join(checks)} (seed {totals.seed})"
    return "\n".join([head, *(o.report() for o in outcomes[:limit]), totals.summary()])


def test_the_soak_covers_every_surface_driver_and_fault(soak: Totals) -> None:
    if soak_lib.case_from_env() is not None:
        pytest.skip("one case replayed")
    assert soak.calls >= CALLS
    surfaces = {f"{surface}/{driver}" for surface in soak_lib.SURFACES for driver in ("sync", "async")}
    assert set(soak.by_surface) == surfaces
    fired = {kind.split(":")[0] for kind in soak.faults_fired}
    expected = {"drop", "error_event", "http_429", "http_529", "http_500", "stall", "slow", "slow_drop"}
    if soak_lib.SUPPORTS_RESET:
        expected.add("reset")
    assert expected <= fired, soak.summary()
    error_types = {kind.split(":")[1] for kind in soak.faults_fired if kind.startswith("error_event:")}
    assert error_types == set(soak_lib.RETRIED_ERROR_EVENTS)


def test_every_call_finishes(soak: Totals) -> None:
    survived, calls = soak.survived, soak.calls
    assert survived == calls, failing(soak, "raised")


def test_every_text_is_exactly_the_fault_free_text(soak: Totals) -> None:
    lost, duplicated, calls = soak.chars_lost, soak.chars_duplicated, soak.problems["content"]
    assert (lost, duplicated, calls) == (0, 0, 0), failing(soak, "content")


def test_every_stop_reason_is_the_fault_free_one(soak: Totals) -> None:
    calls = soak.problems["stop_reason"]
    assert calls == 0, failing(soak, "stop_reason")


def test_usage_counts_what_the_server_generated(soak: Totals) -> None:
    error, calls = soak.usage_error, soak.problems["usage"]
    assert (error, calls) == (0, 0), failing(soak, "usage")


def test_a_capped_call_never_generates_past_max_tokens(soak: Totals) -> None:
    calls = soak.problems["budget"]
    assert calls == 0, failing(soak, "budget")


def test_stream_true_keeps_the_event_protocol(soak: Totals) -> None:
    calls = soak.problems["protocol"]
    assert calls == 0, failing(soak, "protocol")


def test_the_journal_holds_every_call_and_stays_sound(soak: Totals) -> None:
    calls = soak.problems["journal"]
    assert calls == 0, failing(soak, "journal")
    unsound = soak.problems["journal integrity"]
    assert unsound == 0, soak.summary()
