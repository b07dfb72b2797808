"""No secret anywhere: a recognisable API key, every failure path, every output and file searched.

The key is set on the client (as `x-api-key`, and as a bearer token, which is what `auth_token` and
`ANTHROPIC_AUTH_TOKEN` send) and in the environment. Each failure path runs through the wrapped
client with the journal on; then everything it produced is searched for the key: the exception's
str, repr, traceback and pickle, the partial message's pickle, the attempt records, log records at
DEBUG, stdout and stderr, the journal's bytes (the database, its -wal and -shm), and what the emulator
recorded. The CLI is searched too (with `--debug`), and `longcall emulate`'s output. The journal's
files and folder must be owner-only; the servers longcall starts must listen on loopback unless told
otherwise, and say so loudly when told otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import socket
import stat
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import pytest

import longcall
from longcall.testing import Emulator, Fault, Script

SECRET = "LONGCALLSECRET"
KEY = f"sk-ant-api03-{SECRET}-0123456789abcdefABCDEF0123456789abcdef-XYZ"
NEEDLES = (KEY.encode(), SECRET.encode(), f"Bearer {KEY}".encode())
FAST = longcall.Policy(max_attempts=3, backoff_initial=0.01, backoff_max=0.02, idle_timeout=0.3)
PROMPT = "Write 120 words about a locked door"
TOOL_PROMPT = "Call the broken tool"
SRC = Path(__file__).resolve().parents[2] / "src"


def leaks(outputs: dict[str, bytes]) -> list[str]:
    """The outputs that hold the key (or its distinctive part), with a little context."""
    found = []
    for name, blob in outputs.items():
        for needle in NEEDLES:
            at = blob.find(needle)
            if at >= 0:
                found.append(f"{name}: ...{blob[max(0, at - 60) : at + len(needle) + 20]!r}...")
                break
    return found


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the library's failure paths ----------------------------------------------------------------------

# name: (faults queued, prompt, what the call raises)
PATHS: dict[str, tuple[list[Fault], str, type[BaseException] | tuple[type[BaseException], ...]]] = {
    "401": ([Fault(status=401)], PROMPT, anthropic.AuthenticationError),
    "403": ([Fault(status=403)], PROMPT, anthropic.PermissionDeniedError),
    "400 bad request": ([Fault(status=400)], PROMPT, anthropic.BadRequestError),
    "429 exhausted": ([Fault(status=429, retry_after=0)] * 3, PROMPT, longcall.ServerError),
    "529 exhausted": ([Fault(status=529)] * 3, PROMPT, longcall.ServerError),
    "error event exhausted": ([Fault(error_after_events=5)] * 3, PROMPT, longcall.GenerationFailed),
    "drop exhausted": ([Fault(drop_after_bytes=900)] * 3, PROMPT, longcall.StreamIncomplete),
    "stall exhausted": ([Fault(stall_after_events=6, stall_seconds=3)] * 3, PROMPT, longcall.StreamStalled),
    "resume rejected": ([Fault(drop_after_bytes=900), Fault(status=400)], PROMPT, longcall.ResumeRejected),
    "protocol error": ([], TOOL_PROMPT, longcall.StreamProtocolError),
    "connection refused": ([], PROMPT, (longcall.GenerationFailed, anthropic.APIConnectionError)),
    "hook raises": ([], PROMPT, RuntimeError),
    "success": ([], PROMPT, ()),
}


def _failing_hook(text: str) -> None:
    raise RuntimeError("the caller's hook failed")


def run_path(
    name: str, emulator: Emulator, kind: str, credential: str, journal: Path
) -> tuple[BaseException | None, Any]:
    faults, prompt, _ = PATHS[name]
    emulator.add_faults(*faults)
    emulator.script(
        TOOL_PROMPT,
        Script(
            content=[{"type": "tool_use", "name": "f", "input": {}}],
            raw_deltas={0: [{"type": "input_json_delta", "partial_json": '{"broken": '}]},
            stop_reason="tool_use",
        ),
    )
    url = f"http://127.0.0.1:{closed_port()}" if name == "connection refused" else emulator.url
    auth = {"api_key": KEY} if credential == "x-api-key" else {"auth_token": KEY, "api_key": None}
    params: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": prompt}],
        "longcall_policy": FAST,
    }
    if name == "hook raises":
        params["on_text"] = _failing_hook
    if kind == "sync":
        with longcall.wrap(
            anthropic.Anthropic(base_url=url, max_retries=0, **auth), journal=str(journal)
        ) as client:
            try:
                return None, client.messages.create(**params)
            except Exception as exc:  # noqa: BLE001 - the exception is what is searched
                return exc, None

    async def run() -> tuple[BaseException | None, Any]:
        async with longcall.wrap(
            anthropic.AsyncAnthropic(base_url=url, max_retries=0, **auth), journal=str(journal)
        ) as client:
            try:
                return None, await client.messages.create(**params)
            except Exception as exc:  # noqa: BLE001
                return exc, None

    return asyncio.run(run())


def _pickled(value: Any) -> bytes:
    try:
        return pickle.dumps(value)
    except Exception as exc:  # noqa: BLE001 - reported as its own problem
        return f"<not picklable: {type(exc).__name__}: {exc}>".encode()


def outputs_of(
    error: BaseException | None, message: Any, journal: Path, emulator: Emulator
) -> dict[str, bytes]:
    outputs: dict[str, bytes] = {}
    if error is not None:
        outputs["str(exception)"] = str(error).encode()
        outputs["repr(exception)"] = repr(error).encode()
        outputs["traceback"] = "".join(traceback.format_exception(error)).encode()
        outputs["pickle(exception)"] = _pickled(error)
        partial = getattr(error, "partial", None)
        if partial is not None:
            outputs["pickle(exception.partial)"] = _pickled(partial)
            outputs["repr(exception.partial)"] = repr(partial).encode()
        attempts = getattr(error, "attempts", None) or []
        outputs["attempts"] = repr([attempt.to_dict() for attempt in attempts]).encode()
        cause = getattr(error, "cause", None)
        if cause is not None:
            outputs["repr(exception.cause)"] = repr(cause).encode()
    if message is not None:
        outputs["pickle(message)"] = _pickled(message)
        outputs["repr(message)"] = repr(message).encode()
        outputs["attempts"] = repr([attempt.to_dict() for attempt in message.attempts]).encode()
        outputs["message.model_dump_json()"] = message.model_dump_json().encode()
    for suffix in ("", "-wal", "-shm"):
        path = Path(str(journal) + suffix)
        if path.exists():
            outputs[f"journal file {path.name}"] = path.read_bytes()
    records = longcall.Journal(journal)
    try:
        outputs["journal records"] = repr([r.to_dict() for r in records.recent(50)]).encode()
    finally:
        records.close()
    outputs["emulator records"] = repr(emulator.requests).encode()
    return outputs


@pytest.mark.parametrize("credential", ["x-api-key", "bearer"])
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("name", list(PATHS))
def test_no_failure_path_shows_the_key(
    name: str,
    kind: str,
    credential: str,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", KEY)
    journal = tmp_path / "home" / "journal.db"
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a JournalWarning would still be searched below, in the logs
        error, message = run_path(name, emulator, kind, credential, journal)
    expected = PATHS[name][2]
    if expected:
        assert isinstance(error, expected), f"{name}: expected {expected}, got {error!r}"
    else:
        assert error is None, repr(error)
    outputs = outputs_of(error, message, journal, emulator)
    captured = capsys.readouterr()
    outputs["stdout"] = captured.out.encode()
    outputs["stderr"] = captured.err.encode()
    outputs["log records"] = "\n".join(
        f"{record.name}: {record.getMessage()} {record.args!r}" for record in caplog.records
    ).encode()
    found = leaks(outputs)
    assert not found, f"the API key appears on the {name!r} path ({kind}, {credential}):\n" + "\n".join(found)
    not_picklable = [
        k for k, v in outputs.items() if k.startswith("pickle") and v.startswith(b"<not picklable")
    ]
    assert not not_picklable, {k: outputs[k] for k in not_picklable}


def test_the_journal_is_owner_only(emulator: Emulator, tmp_path: Path) -> None:
    home = tmp_path / "fresh" / "home"
    journal = home / "journal.db"
    run_path("drop exhausted", emulator, "sync", "x-api-key", journal)
    run_path("success", emulator, "sync", "x-api-key", journal)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in [home, *home.iterdir()]}
    shared = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert not shared, f"readable by others: {shared}"
    assert journal.name in modes


# -- the command line ---------------------------------------------------------------------------------


def cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "longcall", *args],
        capture_output=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def cli_env(tmp_path: Path, emulator: Emulator) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]),
        ANTHROPIC_API_KEY=KEY,
        ANTHROPIC_BASE_URL=emulator.url,
        LONGCALL_HOME=str(tmp_path / "home"),
    )
    env.pop("ANTHROPIC_AUTH_TOKEN", None)
    return env


CLI_PATHS: dict[str, tuple[list[Fault], list[str]]] = {
    "401": ([Fault(status=401)], []),
    "529 exhausted": ([Fault(status=529)] * 2, ["--max-attempts", "2"]),
    "drop exhausted": ([Fault(drop_after_bytes=900)] * 2, ["--max-attempts", "2"]),
    "error event exhausted": ([Fault(error_after_events=5)] * 2, ["--max-attempts", "2"]),
    "connection refused": ([], []),
    "success": ([], []),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CLI_PATHS))
def test_the_cli_with_debug_never_shows_the_key(
    name: str, emulator: Emulator, cli_env: dict[str, str], tmp_path: Path
) -> None:
    faults, extra = CLI_PATHS[name]
    emulator.add_faults(*faults)
    if name == "connection refused":
        cli_env["ANTHROPIC_BASE_URL"] = f"http://127.0.0.1:{closed_port()}"
    outputs: dict[str, bytes] = {}
    done = cli(["--debug", "-m", "claude-haiku-4-5", "--max-tokens", "2000", *extra, PROMPT], cli_env)
    outputs["stdout"], outputs["stderr"] = done.stdout, done.stderr
    for args in (["logs"], ["logs", "--json"]):
        listed = cli(args, cli_env)
        outputs[f"longcall {' '.join(args)}"] = listed.stdout + listed.stderr
    home = Path(cli_env["LONGCALL_HOME"])
    for path in home.glob("*") if home.exists() else []:
        outputs[f"journal file {path.name}"] = path.read_bytes()
    found = leaks(outputs)
    assert not found, f"the key appears in the CLI's output on the {name!r} path:\n" + "\n".join(found)
    if name == "success":
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode != 0


# -- servers ------------------------------------------------------------------------------------------


def test_the_emulator_listens_on_loopback_by_default() -> None:
    with Emulator() as emulator:
        assert emulator._server is not None
        host = emulator._server.socket.getsockname()[0]
    assert host == "127.0.0.1"


def test_the_emulator_says_loudly_when_told_to_listen_beyond_loopback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Emulator(host="0.0.0.0"):
            pass
    said = " ".join(str(w.message) for w in caught) + capsys.readouterr().err
    assert "0.0.0.0" in said or "loopback" in said.lower() or "network" in said.lower(), (
        "Emulator(host='0.0.0.0') listened on every interface without a word"
    )


def _emulate(args: list[str], env: dict[str, str]) -> tuple[str, str]:
    """Start `longcall emulate ARGS`, send it one request carrying the key, stop it: (stdout, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "longcall", "emulate", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = next((word for word in line.replace(";", " ").split() if word.startswith("http://")), None)
        assert url is not None, line
        port = url.rsplit(":", 1)[1]
        client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key=KEY, max_retries=0)
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
        )
        client.close()
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    return line + out, err


@pytest.mark.slow
def test_longcall_emulate_listens_on_loopback_and_logs_no_key(cli_env: dict[str, str]) -> None:
    out, err = _emulate([], cli_env)
    assert "http://127.0.0.1:" in out
    found = leaks({"stdout": out.encode(), "stderr": err.encode()})
    assert not found, found


@pytest.mark.slow
def test_longcall_emulate_warns_loudly_beyond_loopback(cli_env: dict[str, str]) -> None:
    out, err = _emulate(["--host", "0.0.0.0"], cli_env)
    said = (out + err).lower()
    assert "warning" in said or "every interface" in said or "network" in said, (
        f"`longcall emulate --host 0.0.0.0` said only: {out!r} {err!r}"
    )


def test_the_key_is_in_no_repr_of_the_wrapped_client() -> None:
    shown: list[Callable[[], str]] = []
    with longcall.wrap(anthropic.Anthropic(api_key=KEY), journal=None) as client:
        shown += [lambda: repr(client), lambda: str(client), lambda: repr(client.messages)]
        found = leaks({f"repr {i}": show().encode() for i, show in enumerate(shown)})
    assert not found, found
