"""A few rounds of the crash loop (`scripts/crashloop.py`): the `longcall` command killed with SIGKILL
while it streams, resumed with `longcall resume ID`, and its text checked exactly against the
emulator's document, with `PRAGMA integrity_check` after every kill and every resume; and `longcall
batch` killed and run again, with no request sent for an item already done.

    LONGCALL_CRASHLOOP_SEED=S pytest tests/integration/test_crashloop.py     # replay a seed
    python scripts/crashloop.py --kills 50                                   # the long run
    python scripts/crashloop.py --target batch --kills 50                    # the batch runner
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "crashloop.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
]


def load_crashloop():
    spec = importlib.util.spec_from_file_location("crashloop", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["crashloop"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_killed_cli_resumes_to_exactly_the_document() -> None:
    crashloop = load_crashloop()
    seed = int(os.environ.get("LONGCALL_CRASHLOOP_SEED") or random.SystemRandom().randrange(1, 10**6))
    totals = crashloop.run(kills=3, seed=seed, words=400, rate=300.0, kill_resume=0.3, thorough=False)
    summary = totals.summary()
    print(summary)
    assert totals.total_kills >= 3, summary
    assert not totals.problems, summary
    journaled = totals.rounds - totals.kills["before the call was journaled"]
    assert journaled >= 1, summary
    assert totals.exact == journaled, summary
    assert totals.resumes >= 1, summary


def test_killed_batch_runs_again_with_no_request_repeated() -> None:
    crashloop = load_crashloop()
    seed = int(os.environ.get("LONGCALL_CRASHLOOP_SEED") or random.SystemRandom().randrange(1, 10**6))
    totals = crashloop.run_batch(kills=2, seed=seed, words=600, rate=600.0, kill_resume=0.3)
    summary = totals.summary()
    print(summary)
    assert totals.total_kills >= 2, summary
    assert not totals.problems, summary
    assert totals.requests_after_done == 0, summary
    assert totals.exact == totals.rounds >= 1, summary
    assert totals.integrity_checks >= 1, summary
