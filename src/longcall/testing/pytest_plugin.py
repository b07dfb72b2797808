"""pytest fixtures for the emulator. Enable with `pytest_plugins = ["longcall.testing.pytest_plugin"]`.

- `emulator_server`: one running Emulator for the whole session.
- `emulator`: that same server, reset (faults, scripts, records, prompt cache, settings) for each test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._server import Emulator


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Emulator]:
    """One emulator for the session, on 127.0.0.1 and a free port."""
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def emulator(emulator_server: Emulator) -> Emulator:
    """The session's emulator, reset for this test."""
    emulator_server.reset()
    return emulator_server
