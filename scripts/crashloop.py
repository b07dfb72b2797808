"""The crash loop: kill the `longcall` command with SIGKILL at random moments, resume, check everything.

    python scripts/crashloop.py --kills 50             # 50 kills, a random seed (printed)
    python scripts/crashloop.py --kills 5 --seed 3     # a short, reproducible run

Each round starts `python -m longcall -m MODEL -o FILE "Write N words ..."` against an emulator
running in another process at a slow token rate, kills it with SIGKILL after a random delay, finds
the call in the journal with `longcall logs --json`, and runs `longcall resume ID -o FILE` until the
call is done; a resume is itself killed now and then (`--kill-resume`). After every kill and every
resume it checks:
- the journal passes `PRAGMA integrity_check`;
- what the journal holds after a kill is an exact beginning of the emulator's document;
- the finished call's text, in the `-o` file, in `longcall show ID` and in the journal, is exactly
  the emulator's document (`Emulator.document`), with the stop reason `end_turn`.
It prints the totals: kills (before the call was journaled, while streaming, after it finished),
resumes, rounds whose text came back exact, and the problems found, each with its round's seed.

TODO(issue 13): the batch runner gets the same loop (kill `longcall batch`, run it again, check that
no request is sent twice and every result is exact) once it exists; add it as another `--target`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY / "src") not in sys.path:
    sys.path.insert(0, str(REPOSITORY / "src"))  # the longcall of this checkout, as the children use
PREFILL_MODEL = "claude-haiku-4-5"
INSTRUCTION_MODEL = "claude-opus-4-6"
API_KEY = "sk-ant-crashloop-not-a-secret"


# -- the emulator, in its own process -----------------------------------------------------------------


def serve_emulator(rate: float) -> None:
    """Run an emulator whose every reply is paced at `rate` tokens per second; print its URL."""
    from longcall.testing import Emulator, Fault

    with Emulator() as emulator:
        # Faults are taken one per request: enough pacing faults for any run.
        emulator.add_faults(*[Fault(tokens_per_second=rate)] * 100_000)
        print(emulator.url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


class EmulatorProcess:
    """`serve_emulator` in a child process; `url` once it listens."""

    def __init__(self, rate: float, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-emulator", "--rate", str(rate)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError(f"the emulator did not start (it printed {self.url!r})")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.process.stdout is not None:
            self.process.stdout.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- checks -------------------------------------------------------------------------------------------


def integrity(journal: Path) -> str:
    db = sqlite3.connect(journal, timeout=10)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def journaled(journal: Path, call_id: str) -> tuple[str, str | None, str]:
    """(status, stop_reason, text) of a call, read from the journal file directly."""
    from longcall import Journal

    reader = Journal(journal)
    try:
        record = reader.get(call_id)
    finally:
        reader.close()
    if record is None:
        return "missing", None, ""
    return record.status, record.stop_reason, record.text


def document(model: str, prompt: str) -> str:
    from longcall.testing import Emulator

    return Emulator().document({"model": model, "messages": [{"role": "user", "content": prompt}]})


# -- the loop -----------------------------------------------------------------------------------------


@dataclass
class Totals:
    seed: int
    rounds: int = 0
    kills: Counter[str] = field(default_factory=Counter)  # by when they landed
    resumes: int = 0
    finished_before_kill: int = 0  # rounds whose first process ended before its kill was due
    exact: int = 0
    checkpoint_chars: list[int] = field(default_factory=list)  # what the journal kept at each kill
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No problem, and every round that reached the journal ended exact."""
        return not self.problems and self.exact == self.rounds - self.kills["before the call was journaled"]

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())

    def summary(self) -> str:
        kept = self.checkpoint_chars
        average = sum(kept) / len(kept) if kept else 0
        return "\n".join(
            [
                f"crash loop seed {self.seed}: {self.rounds} rounds, {self.total_kills} SIGKILLs in "
                f"{self.seconds:.0f} s ({', '.join(f'{k} {v}' for k, v in sorted(self.kills.items()))})",
                f"  rounds whose first run finished before its kill: {self.finished_before_kill}",
                f"  resumes: {self.resumes}; rounds ending with exactly the document: {self.exact} of "
                f"{self.rounds}",
                f"  journal after a kill: {len(kept)} partial texts, all checked as exact beginnings of the "
                f"document (average {average:,.0f} characters kept)",
                f"  integrity_check: run after every kill and every resume; problems: {len(self.problems)}",
                *(f"  - {problem}" for problem in self.problems[:20]),
            ]
        )


class Loop:
    def __init__(
        self,
        *,
        seed: int,
        folder: Path,
        url: str,
        env: dict[str, str],
        words: int,
        rate: float,
        thorough: bool,
    ):
        self.thorough = thorough  # every round through `longcall logs --json` and `longcall show`
        self.call_ids: list[str] = []
        self.seed = seed
        self.folder = folder
        self.journal = folder / "home" / "journal.db"
        self.env = {**env, "ANTHROPIC_BASE_URL": url, "LONGCALL_HOME": str(folder / "home")}
        self.words = words
        self.rate = rate
        self.totals = Totals(seed)

    def _longcall(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "longcall", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=self.env,
        )

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "longcall", *args],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env=self.env,
            timeout=timeout,
        )

    def _kill_after(self, process: subprocess.Popen[bytes], delay: float) -> bool:
        """SIGKILL after `delay` seconds; False if the process had already ended by then."""
        try:
            process.wait(timeout=delay)
            return False
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.communicate()
            return True

    def _problem(self, where: str, what: str) -> None:
        self.totals.problems.append(f"round {where}: {what}")

    def _check_integrity(self, where: str) -> None:
        if self.journal.exists():
            result = integrity(self.journal)
            if result != "ok":
                self._problem(where, f"PRAGMA integrity_check says {result!r}")

    def _wait_journaled(self, process: subprocess.Popen[bytes], prompt: str) -> None:
        from longcall import Journal

        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if self.journal.exists():
                reader = Journal(self.journal)
                try:
                    if any(record.prompt == prompt for record in reader.recent(5)):
                        return
                except Exception:  # noqa: BLE001 - the file may be mid-creation; look again
                    pass
                finally:
                    reader.close()
            time.sleep(0.05)

    def _find(self, prompt: str) -> str | None:
        """The call's id: from `longcall logs --json` (thorough), else read from the journal."""
        if self.thorough:
            listed = self._run("logs", "--json", "-n", "50")
            if listed.returncode != 0:
                self._problem("?", f"`longcall logs --json` exited {listed.returncode}: {listed.stderr!r}")
                return None
            records = [json.loads(line) for line in listed.stdout.decode().splitlines()]
            return next((str(r["id"]) for r in records if r.get("prompt") == prompt), None)
        if not self.journal.exists():
            return None
        from longcall import Journal

        reader = Journal(self.journal)
        try:
            return next((r.id for r in reader.recent(50) if r.prompt == prompt), None)
        finally:
            reader.close()

    def finish(self) -> None:
        """`longcall logs --json` lists every call that reached the journal, each done."""
        listed = self._run("logs", "--json", "-n", "10000")
        if listed.returncode != 0:
            self._problem("end", f"`longcall logs --json` exited {listed.returncode}: {listed.stderr!r}")
            return
        states = {r["id"]: r.get("state") for r in map(json.loads, listed.stdout.decode().splitlines())}
        for call_id in self.call_ids:
            state = states.get(call_id)
            if state != "done":
                self._problem("end", f"`longcall logs --json` lists call {call_id} as {state!r}")

    def round(self, number: int, *, kill_resume: float) -> None:
        rng = random.Random(f"{self.seed}/{number}")
        where = f"{self.seed}/{number}"
        model = rng.choice((PREFILL_MODEL, INSTRUCTION_MODEL))
        words = rng.randint(self.words // 2, self.words)
        prompt = f"Crash loop {where}: write {words} words about a harbor"
        expected = document(model, prompt)
        output = self.folder / f"out-{number}.txt"
        self.totals.rounds += 1
        full = words / self.rate
        process = self._longcall("-m", model, "-o", str(output), "--max-attempts", "20", prompt)
        if rng.random() < 0.15:  # any moment from the start, journaled yet or not
            killed = self._kill_after(process, rng.uniform(0.05, 3.0))
        else:  # a moment while it streams: the process takes seconds to start on a busy machine
            self._wait_journaled(process, prompt)
            killed = self._kill_after(process, rng.uniform(0.0, full))
        call_id = self._find(prompt)
        if not killed:
            self.totals.finished_before_kill += 1
        self._check_integrity(where)
        if killed and call_id is None:
            self.totals.kills["before the call was journaled"] += 1
            return
        if call_id is None:
            self._problem(where, f"the call finished (exit {process.returncode}) but is not in the journal")
            return
        resumes = 0
        while True:
            status, _, text = journaled(self.journal, call_id)
            if killed:
                self.totals.kills[
                    "while streaming" if status == "streaming" else f"with status {status}"
                ] += 1
                self.totals.checkpoint_chars.append(len(text))
                if not expected.startswith(text):
                    self._problem(
                        where,
                        f"after a kill the journal holds text that is not the document's start: "
                        f"{len(text)} characters, {text[-60:]!r}",
                    )
            if status == "done":
                break
            if resumes >= 8:
                self._problem(where, f"still {status} after {resumes} resumes")
                return
            resumes += 1
            self.totals.resumes += 1
            resume = self._longcall("resume", call_id, "-o", str(output))
            if rng.random() < kill_resume:
                killed = self._kill_after(resume, rng.uniform(0.3, 1.0 + full / 2))
            else:
                killed = False
                _, stderr = resume.communicate(timeout=120)
                if resume.returncode != 0:
                    self._problem(
                        where,
                        f"`longcall resume {call_id}` exited {resume.returncode}: "
                        f"{stderr.decode(errors='replace')[-300:]!r}",
                    )
                    self._check_integrity(where)
                    return
            self._check_integrity(where)
        status, stop_reason, text = journaled(self.journal, call_id)
        self.call_ids.append(call_id)
        views = {"journal": text, "-o file": output.read_text() if output.exists() else ""}
        if self.thorough:
            views["longcall show"] = self._run("show", call_id).stdout.decode()
        exact = True
        for name, got in views.items():
            if got != expected:
                exact = False
                at = next(
                    (i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b),
                    min(len(expected), len(got)),
                )
                self._problem(
                    where,
                    f"{name}: {len(got)} characters, expected {len(expected)}; first difference "
                    f"at {at}: expected {expected[at : at + 40]!r}, got {got[at : at + 40]!r}",
                )
        if stop_reason != "end_turn":
            exact = False
            self._problem(where, f"stop_reason {stop_reason!r}, expected 'end_turn'")
        self.totals.exact += exact


def run(
    *,
    kills: int,
    seed: int,
    words: int = 1200,
    rate: float = 300.0,
    kill_resume: float = 0.3,
    thorough: bool = True,
    progress: bool = False,
) -> Totals:
    """Rounds until `kills` SIGKILLs landed on a running `longcall` (journaled or not). `thorough`
    finds each call with `longcall logs --json` and reads it back with `longcall show` too (slower:
    each is a process start)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPOSITORY / "src"), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env["ANTHROPIC_API_KEY"] = API_KEY
    env.pop("ANTHROPIC_AUTH_TOKEN", None)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="longcall-crashloop-") as folder:
        emulator = EmulatorProcess(rate, env)
        try:
            loop = Loop(
                seed=seed,
                folder=Path(folder),
                url=emulator.url,
                env=env,
                words=words,
                rate=rate,
                thorough=thorough,
            )
            number = 0
            while loop.totals.total_kills < kills and number < kills * 4:
                loop.round(number, kill_resume=kill_resume)
                number += 1
                if progress:
                    print(
                        f"  round {number}: {loop.totals.total_kills} kills, {loop.totals.exact} exact, "
                        f"{len(loop.totals.problems)} problems",
                        file=sys.stderr,
                        flush=True,
                    )
            loop.finish()
        finally:
            emulator.close()
    loop.totals.seconds = time.monotonic() - started
    return loop.totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs to land (default 50)")
    parser.add_argument("--seed", type=int, help="the seed (default: random, printed)")
    parser.add_argument(
        "--words", type=int, default=1200, help="the longest document asked for (default 1200)"
    )
    parser.add_argument(
        "--rate", type=float, default=300.0, help="the emulator's tokens per second (default 300)"
    )
    parser.add_argument("--kill-resume", type=float, default=0.3, help="chance of killing a resume too")
    parser.add_argument(
        "--target", choices=["cli"], default="cli", help="what to kill (the batch runner: issue 13)"
    )
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_emulator:
        serve_emulator(args.rate)
        return 0
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    print(f"crash loop: seed {seed}", flush=True)
    totals = run(
        kills=args.kills,
        seed=seed,
        words=args.words,
        rate=args.rate,
        kill_resume=args.kill_resume,
        progress=True,
    )
    print(totals.summary())
    return 0 if totals.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
