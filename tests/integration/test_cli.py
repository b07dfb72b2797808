"""The `longcall` command as people run it: a subprocess talking to the emulator over loopback.

The emulator runs in this process; each test points the command at it through the environment, with a
journal in its own folder. The terminal view is read from a real pseudo-terminal (and from tmux's
screen when tmux is installed). The crash test kills the command with SIGKILL mid-generation at
seeded random moments and resumes it until the document is complete.
"""

from __future__ import annotations

import fcntl
import gc
import io
import json
import os
import pty
import random
import re
import select
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import termios
import time
import uuid
from pathlib import Path

import anthropic
import pytest

from longcall import cli
from longcall.journal import Journal
from longcall.testing import Emulator, Fault

from .drivers import api_requests

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals and POSIX signals")

KEY = "test-secret-key-123"
DEFAULT_MODEL = cli.DEFAULT_MODEL
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][A-Z0-9]|[=>])")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def env(emulator: Emulator, home: Path) -> dict[str, str]:
    return make_env(emulator, home)


def make_env(emulator: Emulator, home: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "LONGCALL_"))}
    return {
        **clean,
        "ANTHROPIC_BASE_URL": emulator.url,
        "ANTHROPIC_API_KEY": KEY,
        "LONGCALL_HOME": str(home),
        "COLUMNS": "100",
    }


# A process started in the background by a non-interactive shell (as CI may run us) inherits SIGINT
# ignored, and Python then never turns Ctrl-C into KeyboardInterrupt. Every command starts with the
# default restored (it survives exec), as it has on a person's terminal.
_DEFAULT_SIGINT = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "


def command(*args: str) -> list[str]:
    launch = _DEFAULT_SIGINT + "os.execv(sys.executable, [sys.executable, '-m', 'longcall', *sys.argv[1:]])"
    return [sys.executable, "-c", launch, *args]


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args),
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def journal_of(home: Path) -> Journal:
    return Journal(home / "journal.db")


def only_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- generating ---------------------------------------------------------------------------------------


def test_a_prompt_argument_then_logs_and_show(
    emulator: Emulator, env: dict[str, str], home: Path, monkeypatch, capsys
):
    result = run(env, "Write 400 words about rivers")

    assert result.returncode == 0, result.stderr
    body = api_requests(emulator)[0].body
    assert (body["model"], body["max_tokens"]) == (DEFAULT_MODEL, 64_000)  # the model's largest output
    assert result.stdout == emulator.document(body)  # stdout is a pipe: the text and nothing else
    call_id = re.search(r"call (\w+) started", result.stderr).group(1)  # type: ignore[union-attr]
    assert "done (end_turn)" in result.stderr

    logs = run(env, "logs")
    assert logs.returncode == 0
    assert call_id in logs.stdout and "done" in logs.stdout and "Write 400 words about rivers" in logs.stdout

    shown = run(env, "show", call_id[:5])
    assert shown.stdout == emulator.document(body)

    # The same commands in this process (quicker): filters and JSON.
    monkeypatch.setenv("LONGCALL_HOME", str(home))
    assert cli.main(["logs", "--json", "--search", "RIVERS", "--status", "done"]) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [call_id]
    assert cli.main(["logs", "--model", "claude-opus-4-6"]) == 0
    assert capsys.readouterr().out.strip() == "No calls match."
    assert cli.main(["show", call_id, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "done" and record["params"]["model"] == DEFAULT_MODEL
    assert (
        record["cost"] > 0
        and record["usage"]["output_tokens"] == api_requests(emulator)[0].usage["output_tokens"]
    )
    assert KEY not in json.dumps(record)


def test_the_prompt_on_stdin(emulator: Emulator, env: dict[str, str]):
    result = run(env, stdin="Write 300 words about the sea\n")

    assert result.returncode == 0, result.stderr
    body = api_requests(emulator)[0].body
    assert body["messages"][0]["content"] == "Write 300 words about the sea\n"
    assert result.stdout == emulator.document(body)


def test_a_prompt_file_attachments_and_an_output_file(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
):
    (tmp_path / "prompt.txt").write_text("Write 250 words about maps")
    (tmp_path / "notes.txt").write_text("Coasts and compasses.")
    out = tmp_path / "out.md"

    result = run(
        env,
        "-f",
        str(tmp_path / "prompt.txt"),
        "-a",
        str(tmp_path / "notes.txt"),
        "-a",
        "-",
        "-s",
        "Be brief.",
        "-o",
        str(out),
        stdin="piped context",
    )

    assert result.returncode == 0, result.stderr
    body = api_requests(emulator)[0].body
    assert body["system"] == "Be brief."
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": '<document name="notes.txt">\nCoasts and compasses.\n</document>'},
        {"type": "text", "text": '<document name="stdin">\npiped context\n</document>'},
        {"type": "text", "text": "Write 250 words about maps"},
    ]
    assert result.stdout == ""
    assert out.read_text() == emulator.document(body)


def test_json_output(emulator: Emulator, env: dict[str, str]):
    result = run(env, "--json", "--stop", "never-there", "--effort", "high", "Write 120 words about tea")

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    body = api_requests(emulator)[0].body
    assert (body["stop_sequences"], body["output_config"]) == (["never-there"], {"effort": "high"})
    assert "temperature" not in body
    assert data["content"][0]["text"] == emulator.document(body)
    assert data["stop_reason"] == "end_turn"
    assert data["usage"]["output_tokens"] == api_requests(emulator)[0].usage["output_tokens"]
    assert re.fullmatch(r"[0-9a-f]{12}", data["longcall"]["call_id"])
    assert data["longcall"]["cost_usd"] > 0 and len(data["longcall"]["attempts"]) == 1


def test_continuing_past_max_tokens_is_on_by_default(emulator: Emulator, env: dict[str, str]):
    whole = run(env, "--max-tokens", "100", "Write 350 words about trains")
    assert whole.returncode == 0, whole.stderr
    body = api_requests(emulator)[0].body
    assert whole.stdout == emulator.document(body)
    assert len(api_requests(emulator)) >= 3 and "continuations)" in whole.stderr

    emulator.reset()
    cut = run(env, "--max-tokens", "100", "--no-continue", "Write 350 words about trains")
    assert cut.returncode == 0
    assert len(api_requests(emulator)) == 1 and "(max_tokens)" in cut.stderr
    assert emulator.document(body).startswith(cut.stdout) and len(cut.stdout) < len(whole.stdout)


def test_the_demo_needs_no_key(env: dict[str, str]):
    bare = {k: v for k, v in env.items() if not k.startswith("ANTHROPIC_")}
    result = run(bare, "demo", "--words", "300", "--speed", "5000")

    assert result.returncode == 0, result.stderr
    assert len(result.stdout) > 1000
    assert re.search(r"dropped at byte [\d,]+", result.stderr)
    assert "2 attempts (1 resume)" in result.stderr
    assert "identical to the emulator's document: no text lost, none repeated" in result.stderr


# -- errors for people -----------------------------------------------------------------------------------


def test_no_api_key_and_a_network_that_is_down(emulator: Emulator, env: dict[str, str]):
    bare = {k: v for k, v in env.items() if not k.startswith("ANTHROPIC_")}
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = {**env, "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}"}
    runs = [  # at the same time: quicker
        subprocess.Popen(
            command(*args),
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for environment, args in ((bare, ("hello",)), (down, ("--max-attempts", "2", "hello")))
    ]
    (no_key_out, no_key_err), (_, down_err) = (proc.communicate(timeout=60) for proc in runs)

    assert runs[0].returncode == cli.EXIT_USAGE
    line = only_line(no_key_err)
    assert "ANTHROPIC_API_KEY" in line and "longcall demo" in line and "longcall emulate" in line
    assert no_key_out == ""
    assert runs[1].returncode == cli.EXIT_API
    error = down_err.splitlines()[-1]
    assert "could not reach" in error and "check your network" in error
    assert "Traceback" not in down_err
    assert api_requests(emulator) == []


def test_a_local_server_needs_no_key(emulator: Emulator, env: dict[str, str]):
    result = run({k: v for k, v in env.items() if k != "ANTHROPIC_API_KEY"}, "Write 20 words")
    assert result.returncode == 0, result.stderr
    assert result.stdout == emulator.document(api_requests(emulator)[0].body)


def test_an_unknown_model(emulator: Emulator, env: dict[str, str], monkeypatch, capsys):
    emulator.add_faults(Fault(status=404, message="model: claude-nope-9"))
    result = run(env, "-m", "claude-nope-9", "hello")

    assert result.returncode == cli.EXIT_API
    assert "Traceback" not in result.stderr
    error = result.stderr.splitlines()[-1]
    assert "does not know the model 'claude-nope-9'" in error and "-m/--model" in error

    # --debug adds the traceback (in this process: quicker).
    emulator.add_faults(Fault(status=404, message="model: claude-nope-9"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["-m", "claude-nope-9", "--debug", "hello"]) == cli.EXIT_API
    err = capsys.readouterr().err
    assert "Traceback" in err and "NotFoundError" in err


def _open_http_clients() -> list[object]:
    import httpx2

    return [o for o in gc.get_objects() if isinstance(o, httpx2.Client) and not o.is_closed]


@pytest.mark.parametrize(
    "args", [["models", "--json"], ["models"], ["Write 20 words about owls"], ["demo", "--speed", "50"]]
)
def test_a_command_closes_the_sdk_client_it_made(
    emulator: Emulator, env: dict[str, str], monkeypatch, capsys, args: list[str]
):
    """Left to the garbage collector, a client's pooled socket can be finalized before the client
    closes it: a ResourceWarning in whatever runs then (`cli.main` is called in-process by tools too)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = {id(client) for client in _open_http_clients()}
    gc.disable()  # a collection would close an unreachable client for us
    try:
        assert cli.main(args) == cli.EXIT_OK
        left = [client for client in _open_http_clients() if id(client) not in before]
    finally:
        gc.enable()
    capsys.readouterr()
    assert left == []


def test_a_prompt_over_the_context_window(emulator: Emulator, env: dict[str, str]):
    emulator.add_faults(Fault(status=400, message="prompt is too long: 250123 tokens > 200000 maximum"))
    result = run(env, "hello")

    assert result.returncode == cli.EXIT_API  # the API refused it: something was sent
    line = only_line(result.stderr.split("\n", 1)[1])  # after the "call ... started" line
    assert "does not fit" in line and "context window" in line and "shorten the prompt" in line


def test_max_tokens_is_lowered_when_the_default_does_not_fit(emulator: Emulator, env: dict[str, str]):
    emulator.add_faults(
        Fault(
            status=400,
            message="input length and `max_tokens` exceed context limit: "
            "190000 + 64000 > 200000, decrease input length or `max_tokens`",
        )
    )
    result = run(env, "Write 60 words")

    assert result.returncode == 0, result.stderr
    assert api_requests(emulator)[1].body["max_tokens"] == 200_000 - 190_000 - 16
    assert result.stdout == emulator.document(api_requests(emulator)[1].body)
    assert "sending --max-tokens 9,984" in result.stderr


def test_usage_errors(monkeypatch, capsys, tmp_path: Path):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert cli.main([]) == cli.EXIT_USAGE
    assert "no prompt" in capsys.readouterr().err
    assert cli.main(["-f", str(tmp_path / "missing.txt")]) == cli.EXIT_USAGE
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["--temperature", "0.5", "hi"]) == cli.EXIT_USAGE
    assert "--effort" in capsys.readouterr().err
    assert cli.main(["--max-tokens", "lots", "hi"]) == cli.EXIT_USAGE
    assert "not a whole number" in capsys.readouterr().err
    assert cli.main(["resume", "nosuchcall"]) == cli.EXIT_USAGE
    assert "no call 'nosuchcall'" in capsys.readouterr().err
    assert cli.main(["logs"]) == cli.EXIT_OK
    assert "No calls yet." in capsys.readouterr().out
    assert cli.main(["--help"]) == cli.EXIT_OK
    help_text = capsys.readouterr().out
    assert "examples:" in help_text and "longcall -- logs" in help_text and "exit codes:" in help_text
    for name in cli.SUBCOMMANDS:
        assert cli.main([name, "--help"]) == cli.EXIT_OK
        assert "examples:" in capsys.readouterr().out


def test_a_prompt_that_is_a_subcommand_name(emulator: Emulator, monkeypatch, capsys):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", emulator.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    assert cli.main(["--", "logs"]) == cli.EXIT_OK
    assert api_requests(emulator)[0].body["messages"][0]["content"] == "logs"
    assert capsys.readouterr().out == emulator.document("logs", model=DEFAULT_MODEL)


def test_emulate_serves_until_interrupted(env: dict[str, str]):
    with subprocess.Popen(
        command("emulate", "--port", "0"), env=env, stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)  # type: ignore[union-attr]
            with anthropic.Anthropic(base_url=url, api_key="anything") as client:
                reply = client.messages.create(
                    model="claude-haiku-4-5",
                    max_tokens=50,
                    messages=[{"role": "user", "content": "Write 10 words"}],
                )
            assert reply.content[0].type == "text" and reply.usage.output_tokens >= 10
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    assert proc.returncode == 0


# -- interruptions and crashes ------------------------------------------------------------------------


def start(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start the command; return it and its call id once it announced the call."""
    proc = subprocess.Popen(
        command(*args), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    line = proc.stderr.readline().decode()  # type: ignore[union-attr]
    match = re.search(r"call (\w+) started", line)
    assert match, line + proc.stderr.read().decode()  # type: ignore[union-attr]
    return proc, match.group(1)


def test_ctrl_c_keeps_the_partial_and_resume_finishes_it(emulator: Emulator, env: dict[str, str], home: Path):
    emulator.add_faults(Fault(tokens_per_second=500))
    proc, call_id = start(env, "Write 2000 words about winter")
    os.read(proc.stdout.fileno(), 1)  # type: ignore[union-attr] - text is arriving
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)

    assert proc.returncode == cli.EXIT_INTERRUPTED
    assert f"continue with: longcall resume {call_id}" in err.decode()
    assert "Traceback" not in err.decode()
    saved = journal_of(home).get(call_id)
    assert saved is not None and saved.status == "interrupted" and saved.text
    document = emulator.document(api_requests(emulator)[0].body)

    resumed = run(env, "resume", call_id)

    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == document
    assert journal_of(home).get(call_id).status == "done"  # type: ignore[union-attr]


def test_sigkill_at_random_moments_then_resume_gives_the_whole_document(
    emulator: Emulator, env: dict[str, str], home: Path
):
    rng = random.Random(20251125)
    emulator.add_faults(Fault(tokens_per_second=1500))
    proc, call_id = start(env, "Write 3000 words about lighthouses")
    kept: list[int] = []
    for round_ in range(3):
        time.sleep(rng.uniform(0.2, 1.2))
        proc.kill()
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        record = journal_of(home).get(call_id)
        assert record is not None and record.state in ("crashed", "done")
        kept.append(len(record.text))
        if record.status == "done" or round_ == 2:
            break
        emulator.add_faults(Fault(tokens_per_second=1000))
        proc, resumed_id = start(env, "resume", call_id)
        assert resumed_id == call_id
    document = emulator.document(api_requests(emulator)[0].body)
    assert kept == sorted(kept) and kept[0] < len(document)  # each run went on from the last checkpoint

    final = run(env, "resume", call_id)

    assert final.returncode == 0, final.stderr
    assert final.stdout == document
    record = journal_of(home).get(call_id)
    assert record is not None and record.status == "done" and record.text == document
    assert len({attempt["run"] for attempt in record.attempts}) >= 2
    with sqlite3.connect(home / "journal.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for path in home.iterdir():  # the database, its WAL and shared memory
        assert KEY.encode() not in path.read_bytes(), path


# -- the terminal view ---------------------------------------------------------------------------------


def _screen_text(raw: bytes) -> str:
    return ANSI.sub("", raw.decode("utf-8", "replace")).replace("\r", "")


# Run in a new session, this makes the pty its controlling terminal (so Ctrl-C is a real SIGINT),
# then becomes the command. Done after exec, not in preexec_fn, which is unsafe with threads running.
_WITH_TERMINAL = _DEFAULT_SIGINT + (
    "import fcntl, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'longcall', *sys.argv[1:]])"
)


def in_terminal(env: dict[str, str], *args: str, press_ctrl_c_after: str | None = None) -> tuple[int, str]:
    """Run the command in a 30x100 pseudo-terminal; return its exit code and everything it showed
    (escape sequences removed). With `press_ctrl_c_after` (a regular expression), type Ctrl-C once
    the screen showed it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))  # rows, columns
    proc = subprocess.Popen(
        [sys.executable, "-c", _WITH_TERMINAL, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**env, "TERM": "xterm-256color", "LINES": "30"},
        close_fds=True,
        start_new_session=True,
    )
    os.close(slave)
    raw = bytearray()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            raw += chunk
            if press_ctrl_c_after is not None and re.search(press_ctrl_c_after, _screen_text(bytes(raw))):
                os.write(master, b"\x03")
                press_ctrl_c_after = None
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(master)
    return proc.returncode, _screen_text(bytes(raw))


def test_the_live_view_in_a_pseudo_terminal(emulator: Emulator, env: dict[str, str]):
    emulator.add_faults(Fault(drop_after_bytes=60_000, tokens_per_second=1500), Fault(tokens_per_second=1500))

    code, screen = in_terminal(env, "Write 1200 words about bridges")

    assert code == 0, screen[-2000:]
    document = emulator.document(api_requests(emulator)[0].body)
    status = [line for line in screen.splitlines() if "tok/s" in line]
    assert status, screen[-2000:]
    assert any(
        re.search(r"~[\d,]+ / 64,000 tokens · [\d,]+ tok/s · 0:\d\d · 1 attempt", line) for line in status
    )
    assert any("2 attempts (1 resume)" in line for line in status)  # the resume, seen live
    assert document.split("\n")[0][:60] in screen  # the text itself (printed whole at the end)
    assert re.search(r"done \(end_turn\) · [\d,]+ output tokens", screen)


def test_ctrl_c_in_a_terminal(emulator: Emulator, env: dict[str, str], home: Path):
    emulator.add_faults(Fault(tokens_per_second=300))

    code, screen = in_terminal(
        env, "Write 2000 words about tides", press_ctrl_c_after=r"~[1-9][\d,]* / 64,000 tokens"
    )

    assert code == cli.EXIT_INTERRUPTED, screen[-2000:]
    call_id = journal_of(home).recent()[0].id
    assert "interrupted ·" in screen and "Traceback" not in screen
    assert f"longcall resume {call_id}" in screen.replace("\n", "")
    assert journal_of(home).get(call_id).status == "interrupted"  # type: ignore[union-attr]


def test_a_closed_pipe_stops_the_call(emulator: Emulator, env: dict[str, str], home: Path):
    emulator.add_faults(Fault(tokens_per_second=300))
    pipeline = f"{_quote(sys.executable)} -m longcall 'Write 3000 words about pipes' | head -c 50"

    result = subprocess.run(["sh", "-c", pipeline], env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0 and len(result.stdout) == 50
    assert "stdout was closed, so the call was stopped" in result.stderr and "Traceback" not in result.stderr
    assert len(api_requests(emulator)) == 1  # not taken for a network failure and retried
    assert journal_of(home).recent()[0].status == "interrupted"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_screen_a_person_sees_in_tmux(emulator: Emulator, env: dict[str, str], tmp_path: Path):
    emulator.add_faults(Fault(tokens_per_second=350))
    socket_name = f"longcall-test-{uuid.uuid4().hex[:8]}"
    script = tmp_path / "run.sh"
    exports = "".join(f"export {k}={_quote(v)}\n" for k, v in env.items() if k != "COLUMNS")
    script.write_text(
        f"{exports}{_quote(sys.executable)} -m longcall 'Write 700 words about kites'\n"
        "echo EXIT=$?\nsleep 30\n"
    )
    tmux = ["tmux", "-L", socket_name, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-x", "100", "-y", "24", "sh", str(script)], check=True)
    try:
        live = _wait_for_screen(tmux, lambda text: "tok/s" in text)
        rows = [row for row in live.splitlines() if row.strip()]
        assert re.search(r"~[\d,]+ / 64,000 tokens · [\d,]+ tok/s", rows[-1]), live  # the bottom line
        assert len(live.splitlines()) <= 24
        final = _wait_for_screen(tmux, lambda text: "EXIT=" in text)
        assert "EXIT=0" in final and "done (end_turn)" in final and "tok/s" not in final
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _wait_for_screen(tmux: list[str], ready, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout
        if ready(text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"the screen never showed what was expected:\n{text}")
