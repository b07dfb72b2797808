"""Shared fixtures. The emulator fixtures (`emulator_server`, `emulator`) come from longcall's own
pytest plugin, enabled in pyproject.toml, as users enable it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from .replay import ReplayServer

# No per-example deadline: on a loaded 2-core CI machine an example can take longer than 200 ms for
# reasons that are not longcall's (speed is measured in bench/, not in tests). Tests that set their
# own settings keep them.
settings.register_profile("longcall", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("longcall")


@pytest.fixture(autouse=True)
def _journal_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own journal folder: nothing touches the real per-user one."""
    monkeypatch.setenv("LONGCALL_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    from longcall import _models_api

    _models_api.forget()  # what the Models API said in one test is not known in the next


@pytest.fixture(scope="session")
def replay() -> Iterator[ReplayServer]:
    server = ReplayServer()
    yield server
    server.close()
