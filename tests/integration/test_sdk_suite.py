"""The SDK's own tests, run against the wrapped client.

The anthropic source distribution for the installed SDK version ships its test suite. Its tests for
the streaming helpers (`tests/lib/streaming/test_messages.py`, `test_beta_messages.py`) mock HTTP with
respx and check every event, snapshot, header and error of `messages.stream()`; its API-resource
tests for messages (`tests/api_resources/test_messages.py`) call `create`, `with_raw_response` and
`with_streaming_response` against a mock server, here longcall's emulator. Both run here with every
client under test replaced by `longcall.wrap(client, journal=None)`: the SDK's suite is the oracle
for "drop-in".

Run by hand for the counts: `python -m tests.integration.test_sdk_suite [--unwrapped]`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import anthropic
import pytest

SUITES = (
    "tests/lib/streaming/test_messages.py",
    "tests/lib/streaming/test_beta_messages.py",
    "tests/api_resources/test_messages.py",
)
# Deliberate differences: test name (its id without class and parameters) -> why it fails against
# the wrapped client.
_LAST_EVENT = (
    "the SDK's fixtures end without the blank line after their last event (message_stop); the SDK's "
    "decoder drops that event, as the SSE spec says, and yields no message_stop. longcall reads it, "
    "and its stitched stream always ends with message_stop, so the wrapped stream yields one more event"
)
_OUT_OF_ORDER = (
    "the fixture sends content_block_stop before message_start; the SDK passes it on, longcall refuses "
    "the stream (StreamProtocolError) since it cannot place a block event outside a message. Its other "
    "unknown events (before message_start, after the last block's stop, after message_stop) are yielded "
    "where the SDK yields them: tests/integration/test_surface.py checks the same stream without the "
    "stray stop against the unwrapped SDK"
)
DIFFERENCES: dict[str, str] = {
    "test_basic_response": _LAST_EVENT,
    "test_tool_use": _LAST_EVENT,
    "test_server_tool_use": _LAST_EVENT,
    "test_compaction": _LAST_EVENT,
    "test_fallback_relabels_model": _LAST_EVENT,
    "test_incomplete_response": _LAST_EVENT,
    "test_unknown_events_are_passed_through": _OUT_OF_ORDER,
    "test_tool_use_invalid_json": (
        "the error is a ValueError as the SDK's, but longcall's (ToolInputInvalid) says in its own words "
        "which block's input is not JSON and what was kept, where the test matches the SDK's sentence"
    ),
}

CONFTEST = '''
"""Replaces the SDK suite's conftest: the same fixtures, with every client wrapped by longcall."""
from __future__ import annotations

import os
import warnings

import pytest
from pytest_asyncio import is_async_test

from anthropic import Anthropic, AsyncAnthropic

WRAP = os.environ.get("LONGCALL_SDK_SUITE_UNWRAPPED") != "1"
base_url = os.environ.get("TEST_API_BASE_URL", "http://127.0.0.1:4010")
api_key = "my-anthropic-api-key"


def wrapped(client):
    if not WRAP:
        return client
    import longcall

    return longcall.wrap(client, journal=None)


def pytest_collection_modifyitems(items):
    marker = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if is_async_test(item):
            item.add_marker(marker, append=False)
    seen = set()
    for item in items:
        module = item.module
        if module is None or id(module) in seen:
            continue
        seen.add(id(module))
        for name in ("sync_client", "async_client", "client"):
            value = getattr(module, name, None)
            if isinstance(value, (Anthropic, AsyncAnthropic)):
                setattr(module, name, wrapped(value))


@pytest.fixture(scope="session")
def client(request):
    strict = getattr(request, "param", True)
    with Anthropic(base_url=base_url, api_key=api_key, _strict_response_validation=strict) as client:
        yield wrapped(client)


@pytest.fixture(scope="session")
async def async_client(request):
    param = getattr(request, "param", True)
    strict = param if isinstance(param, bool) else param.get("strict", True)
    options = {"base_url": base_url, "api_key": api_key, "_strict_response_validation": strict}
    async with AsyncAnthropic(**options) as client:
        yield wrapped(client)
'''

PYTEST_INI = """
[pytest]
addopts = --tb=short -p tests._alias_httpx -p no:cacheprovider
pythonpath = .
xfail_strict = true
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
filterwarnings =
    error
    ignore::longcall.UnknownModelWarning
"""


def sdk_tests(cache: Path) -> Path | None:
    """The SDK's `tests/` for the installed version, from its sdist on PyPI (None if unreachable)."""
    version = anthropic.__version__
    root = cache / f"anthropic-{version}"
    if (root / "tests").is_dir():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    download = [sys.executable, "-m", "pip", "download", f"anthropic=={version}", "--no-deps"]
    download += ["--no-binary", ":all:", "-q", "-d", str(cache)]
    if subprocess.run(download, capture_output=True, timeout=300).returncode != 0:
        return None
    with tarfile.open(cache / f"anthropic-{version}.tar.gz") as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(f"anthropic-{version}/tests/")]
        archive.extractall(cache, members=members, filter="data")
    return root


def run_suite(root: Path, *, wrap: bool, base_url: str) -> tuple[dict[str, int], str]:
    """Run SUITES in `root` (the SDK's test tree, its conftest replaced); the outcome counts and output."""
    (root / "tests" / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (root / "pytest.ini").write_text(textwrap.dedent(PYTEST_INI))
    src = os.environ.get("LONGCALL_SRC") or Path(__file__).resolve().parents[2] / "src"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), str(root), *_extra_paths()]),
        "TEST_API_BASE_URL": base_url,
        "LONGCALL_SDK_SUITE_UNWRAPPED": "0" if wrap else "1",
    }
    env.pop("ANTHROPIC_API_KEY", None)
    command = [sys.executable, "-m", "pytest", "-q", "-rfE", *SUITES]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    counts = {
        kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|error|errors|skipped)", done.stdout)
    }
    return counts, done.stdout + done.stderr


def _extra_paths() -> list[str]:
    """Where respx and pytest-asyncio are, when not installed (`LONGCALL_SDK_SUITE_DEPS`)."""
    extra = os.environ.get("LONGCALL_SDK_SUITE_DEPS")
    return [extra] if extra else []


def _have_plugins() -> bool:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path, *_extra_paths()])}
    probe = [sys.executable, "-c", "import pytest_asyncio, respx"]
    return subprocess.run(probe, env=env, capture_output=True).returncode == 0


@pytest.mark.slow
def test_the_sdks_own_suite_passes_against_the_wrapped_client(emulator_server, tmp_path_factory) -> None:
    if not _have_plugins():
        pytest.skip("the SDK's suite needs respx and pytest-asyncio (the `test` extra)")
    cache = Path(os.environ.get("LONGCALL_SDK_CACHE", tmp_path_factory.getbasetemp() / "sdk-sdist"))
    root = sdk_tests(cache)
    if root is None:
        pytest.skip(f"the anthropic {anthropic.__version__} sdist could not be downloaded from PyPI")
    counts, output = run_suite(root, wrap=True, base_url=emulator_server.url)
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    unexpected = [test for test in failed if test.split("::")[-1].split("[")[0] not in DIFFERENCES]
    assert counts.get("passed", 0) > 50, output[-3000:]
    assert not unexpected, output[-6000:]


if __name__ == "__main__":
    from longcall.testing import Emulator

    if not _have_plugins():
        sys.exit("the SDK's suite needs respx and pytest-asyncio: pip install -e '.[test]'")
    root = sdk_tests(Path(os.environ.get("LONGCALL_SDK_CACHE", "/tmp/sdk-sdist")))
    if root is None:
        sys.exit("the sdist could not be downloaded")
    with Emulator() as emulator:
        counts, output = run_suite(root, wrap="--unwrapped" not in sys.argv, base_url=emulator.url)
    print(output[-8000:])
    print(counts)
