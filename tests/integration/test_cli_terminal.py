"""The terminal a person lives in, through tmux: scrollback while the call streams, narrow screens, seams.

tmux gives what a person sees (`capture-pane`) and what they can scroll back to (`capture-pane -S -`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from longcall.testing import Emulator, Fault

from .test_cli import _quote, make_env

pytestmark = pytest.mark.skipif(sys.platform == "win32" or shutil.which("tmux") is None, reason="needs tmux")


@pytest.fixture
def env(emulator: Emulator, tmp_path: Path) -> dict[str, str]:
    return make_env(emulator, tmp_path / "home")


class Tmux:
    def __init__(self, tmp_path: Path, env: dict[str, str], args: str, *, width: int, height: int = 24):
        self.server = ["tmux", "-L", f"longcall-test-{uuid.uuid4().hex[:8]}", "-f", "/dev/null"]
        script = tmp_path / "run.sh"
        exports = "".join(f"export {k}={_quote(v)}\n" for k, v in env.items() if k != "COLUMNS")
        script.write_text(
            f"unset COLUMNS LINES\n{exports}{_quote(sys.executable)} -m longcall {args}\n"
            "echo EXIT=$?\nsleep 60\n"
        )
        subprocess.run(
            [*self.server, "new-session", "-d", "-x", str(width), "-y", str(height), "sh", str(script)],
            check=True,
        )
        subprocess.run([*self.server, "set-option", "-g", "history-limit", "50000"], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.server, "capture-pane", "-p"], capture_output=True, text=True).stdout

    def history(self) -> str:
        """The scrollback and the screen, joined wrapped lines."""
        return subprocess.run(
            [*self.server, "capture-pane", "-p", "-J", "-S", "-"], capture_output=True, text=True
        ).stdout

    def wait(self, ready, what=None, timeout: float = 40.0) -> str:
        read = what or self.screen
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = read()
            if ready(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"the terminal never showed what was expected:\n{text}")

    def close(self) -> None:
        subprocess.run([*self.server, "kill-server"], check=False)


def _paragraphs(document: str) -> list[str]:
    return [part for part in document.split("\n\n") if part.strip()]


def _words(text: str, count: int) -> str:
    return " ".join(text.split()[:count])


def test_the_first_paragraph_is_in_the_scrollback_while_the_call_still_streams(
    emulator: Emulator, env: dict[str, str], tmp_path: Path
):
    emulator.add_faults(Fault(tokens_per_second=120))
    prompt = "Write 1500 words about harbors"
    document = emulator.document(prompt, model="claude-sonnet-4-6")
    first, second = _paragraphs(document)[:2]
    tmux = Tmux(tmp_path, env, _quote(prompt), width=100, height=20)
    try:
        # Wait until the third paragraph is being written: the first two are finished by then.
        third = _paragraphs(document)[2]
        history = tmux.wait(lambda text: _words(third, 3) in " ".join(text.split()), tmux.history)
        screen = tmux.screen()
        assert "tok/s" in screen, "the call must still be streaming"
        flat = " ".join(history.split())
        assert _words(first, 12) in flat and _words(second, 12) in flat
        # Printed once, above the live region: each paragraph appears a single time in the history.
        assert flat.count(_words(first, 12)) == 1
        assert len(screen.splitlines()) <= 20

        final = tmux.wait(lambda text: "EXIT=" in text, tmux.history, timeout=60)
        assert "EXIT=0" in final and "done (end_turn)" in final
        flat = " ".join(final.split())
        for paragraph in _paragraphs(document):  # the whole answer, each paragraph once
            assert flat.count(_words(paragraph, 10)) == 1, paragraph[:80]
    finally:
        tmux.close()


@pytest.mark.parametrize("width", [60, 40])
def test_a_narrow_terminal_keeps_cost_and_attempts_in_the_status_line(
    emulator: Emulator, env: dict[str, str], tmp_path: Path, width: int
):
    emulator.add_faults(Fault(drop_after_bytes=30_000, tokens_per_second=400), Fault(tokens_per_second=150))
    tmux = Tmux(tmp_path, env, "'Write 900 words about kites'", width=width)
    try:
        live = tmux.wait(lambda text: re.search(r"2 att.*\$\d", text) is not None)
        status = [row for row in live.splitlines() if row.strip()][-1]
        assert len(status.rstrip()) <= width
        assert re.search(r"\$\d+\.\d{4}", status) and "2 att" in status, status
        if width >= 60:
            assert "tok/s" in status
        final = tmux.wait(lambda text: "EXIT=" in text, tmux.history)
        assert "EXIT=0" in final and "Traceback" not in final
        assert max(len(row) for row in tmux.screen().splitlines()) <= width
    finally:
        tmux.close()


def test_verbose_leaves_a_marker_at_the_seam(emulator: Emulator, env: dict[str, str], tmp_path: Path):
    emulator.add_faults(Fault(drop_after_bytes=40_000, tokens_per_second=2000), Fault(tokens_per_second=2000))
    tmux = Tmux(tmp_path, env, "--verbose 'Write 900 words about canals'", width=100)
    try:
        final = tmux.wait(lambda text: "EXIT=" in text, tmux.history)
        assert "EXIT=0" in final
        marker = re.search(r"⟳ connection dropped at \d+ KB · resumed by (prefill|instruction)", final)
        assert marker, final[-3000:]
        before, after = final.split(marker.group(0))
        assert "done (end_turn)" in after and len(before.split()) > 100  # in the text, not at its end
    finally:
        tmux.close()


def test_the_demo_shows_the_seam_in_a_terminal(env: dict[str, str], tmp_path: Path):
    bare = {k: v for k, v in env.items() if not k.startswith("ANTHROPIC_")}
    tmux = Tmux(tmp_path, bare, "demo --words 600 --speed 3000", width=100)
    try:
        final = tmux.wait(lambda text: "EXIT=" in text, tmux.history)
        assert "EXIT=0" in final
        assert re.search(r"⟳ connection dropped at \d+ KB · resumed by prefill", final), final[-3000:]
        assert "identical to the emulator's document" in " ".join(final.split())
    finally:
        tmux.close()


@pytest.mark.parametrize("width", [40, 60])
def test_logs_keep_the_id_status_and_question_on_a_narrow_terminal(
    emulator: Emulator, env: dict[str, str], tmp_path: Path, width: int
):
    done = subprocess.run(
        [sys.executable, "-m", "longcall", "Write 20 words about narrow rooms"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    call_id = re.search(r"call (\w+) started", done.stderr).group(1)  # type: ignore[union-attr]
    tmux = Tmux(tmp_path, env, "logs", width=width)
    try:
        final = tmux.wait(lambda text: "EXIT=" in text)
        row = next(line for line in final.splitlines() if call_id in line)
        assert "done" in row and "Write 20" in row and len(row.rstrip()) <= width, final
    finally:
        tmux.close()
