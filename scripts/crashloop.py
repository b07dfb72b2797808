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

`--target batch` does the same to the batch runner: each round writes an input of 6-20 requests,
runs `longcall batch IN -o OUT -c 4`, kills it with SIGKILL at a random moment, and runs the same
command again (killed again now and then) until it exits 0. After every kill and every run:
- the run's state file passes `PRAGMA integrity_check`;
- no request reached the emulator, after a kill, for an item whose result was already in OUT (the
  emulator, in its own process, logs every request it gets);
and at the end every line of OUT is JSON, every id is in it exactly once, `succeeded` with exactly
the emulator's document and the stop reason `end_turn`.

    python scripts/crashloop.py --target batch --kills 50
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
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY / "src") not in sys.path:
    sys.path.insert(0, str(REPOSITORY / "src"))  # the longcall of this checkout, as the children use
PREFILL_MODEL = "claude-haiku-4-5"
INSTRUCTION_MODEL = "claude-opus-4-6"
API_KEY = "sk-ant-crashloop-not-a-secret"


# -- the emulator, in its own process -----------------------------------------------------------------


def serve_emulator(rate: float, requests_log: str | None = None) -> None:
    """Run an emulator whose every reply is paced at `rate` tokens per second; print its URL. With
    `requests_log`, append one JSON line per POST /v1/messages to it: the first user turn's text and
    whether the request continues an answer."""
    from longcall.testing import Emulator, Fault

    with Emulator() as emulator:
        # Faults are taken one per request: enough pacing faults for any run.
        emulator.add_faults(*[Fault(tokens_per_second=rate)] * 100_000)
        if requests_log is not None:
            emulator.interceptors.insert(0, _request_logger(Path(requests_log)))
        print(emulator.url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


def _request_logger(path: Path) -> Any:
    lock = threading.Lock()
    file = path.open("a", encoding="utf-8")

    def note(handler: Any, method: str, route: str, body: Any) -> bool:
        if method == "POST" and route == "/v1/messages" and isinstance(body, dict):
            line = json.dumps({"prompt": prompt_of(body), "continuation": is_continuation(body)})
            with lock:
                file.write(line + "\n")
                file.flush()
        return False  # only watching: the emulator answers as always

    return note


def prompt_of(body: dict[str, Any]) -> str:
    """The original prompt of a request (the first user turn; a resume may make it a block list)."""
    content = body["messages"][0]["content"]
    return content if isinstance(content, str) else "".join(block.get("text", "") for block in content)


def is_continuation(body: dict[str, Any]) -> bool:
    return any(message.get("role") == "assistant" for message in body["messages"])


class EmulatorProcess:
    """`serve_emulator` in a child process; `url` once it listens."""

    def __init__(self, rate: float, env: dict[str, str], requests_log: Path | None = None) -> None:
        log = ["--requests-log", str(requests_log)] if requests_log is not None else []
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-emulator", "--rate", str(rate), *log],
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
    integrity_checks: int = 0
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
                f"  integrity_check: {self.integrity_checks} runs, after every kill and every resume; "
                f"problems: {len(self.problems)}",
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
            self.totals.integrity_checks += 1
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


# -- the batch runner ---------------------------------------------------------------------------------


@dataclass
class BatchTotals(Totals):
    items: int = 0
    items_exact: int = 0
    results_before_kill: list[int] = field(default_factory=list)  # results already in OUT at each kill
    requests_after_done: int = 0  # requests for an item after its result was written: must stay 0

    @property
    def ok(self) -> bool:
        return not self.problems and self.exact == self.rounds

    def summary(self) -> str:
        kept = self.results_before_kill
        return "\n".join(
            [
                f"batch crash loop seed {self.seed}: {self.rounds} rounds, {self.total_kills} SIGKILLs in "
                f"{self.seconds:.0f} s ({', '.join(f'{k} {v}' for k, v in sorted(self.kills.items()))})",
                f"  rounds whose first run finished before its kill: {self.finished_before_kill}",
                f"  reruns: {self.resumes}; rounds ending with every item exact: {self.exact} of "
                f"{self.rounds}; items exact: {self.items_exact} of {self.items}",
                f"  results already written at the kills: {sum(kept)} (of the items in those rounds); "
                f"requests sent again for them after a kill: {self.requests_after_done}",
                f"  integrity_check: {self.integrity_checks} runs, after every kill and every run; "
                f"problems: {len(self.problems)}",
                *(f"  - {problem}" for problem in self.problems[:20]),
            ]
        )


class BatchLoop:
    """Rounds of `longcall batch` killed and run again; see the module docstring for the checks."""

    def __init__(
        self,
        *,
        seed: int,
        folder: Path,
        url: str,
        env: dict[str, str],
        words: int,
        rate: float,
        requests: Path,
    ) -> None:
        self.seed = seed
        self.folder = folder
        self.env = {**env, "ANTHROPIC_BASE_URL": url, "LONGCALL_HOME": str(folder / "home")}
        self.words = words
        self.rate = rate
        self.requests = requests  # the emulator's request log
        self.totals = BatchTotals(seed)

    def _logged(self) -> list[dict[str, Any]]:
        if not self.requests.exists():
            return []
        return [json.loads(line) for line in self.requests.read_text(encoding="utf-8").splitlines() if line]

    def _problem(self, where: str, what: str) -> None:
        self.totals.problems.append(f"round {where}: {what}")

    def _wait_requested(self, process: subprocess.Popen[bytes], before: int) -> None:
        """Until the emulator logged a request past the first `before` (or the process ended)."""
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline and len(self._logged()) <= before:
            time.sleep(0.05)

    def _results(self, output: Path, where: str, *, final: bool) -> list[dict[str, Any]]:
        """The result lines in OUT. After a kill the last line may be cut short; at the end none may."""
        if not output.exists():
            return []
        results = []
        lines = output.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                results.append(json.loads(line))
            except json.JSONDecodeError:
                if final or number != len(lines):
                    self._problem(where, f"line {number} of the output is not JSON: {line[:80]!r}")
        return results

    def _check_integrity(self, output: Path, where: str) -> None:
        for state in output.parent.glob(output.name + "*.db"):
            self.totals.integrity_checks += 1
            result = integrity(state)
            if result != "ok":
                self._problem(where, f"PRAGMA integrity_check of {state.name} says {result!r}")

    def round(self, number: int, *, kill_resume: float) -> None:
        rng = random.Random(f"batch/{self.seed}/{number}")
        where = f"{self.seed}/{number}"
        folder = self.folder / f"round-{number}"
        folder.mkdir()
        items = {}
        with (folder / "in.jsonl").open("w", encoding="utf-8") as file:
            for item in range(rng.randint(6, 20)):
                model = rng.choice((PREFILL_MODEL, INSTRUCTION_MODEL))
                words = rng.randint(self.words // 8, self.words // 3)
                prompt = f"Batch crash loop {where}/{item}: write {words} words about a harbor"
                params = {
                    "model": model,
                    "max_tokens": 8000,
                    "messages": [{"role": "user", "content": prompt}],
                }
                items[f"item-{item}"] = (prompt, document(model, prompt))
                file.write(json.dumps({"custom_id": f"item-{item}", "params": params}) + "\n")
        output = folder / "out.jsonl"
        command = [sys.executable, "-m", "longcall", "batch", str(folder / "in.jsonl"), "-o", str(output)]
        command += ["-c", "4", "--fixed", "--no-progress", "--max-attempts", "20"]
        self.totals.rounds += 1
        self.totals.items += len(items)
        runs = 0
        while True:
            before = len(self._logged())
            done = {r.get("custom_id") for r in self._results(output, where, final=False)}
            process = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )
            kill = runs == 0 or rng.random() < kill_resume
            killed = False
            if kill:
                left = [text for custom_id, (_, text) in items.items() if custom_id not in done]
                full = sum(len(text.split()) for text in left) / self.rate / 4  # at concurrency 4
                if rng.random() < 0.15:  # any moment from the start, streaming yet or not
                    delay = rng.uniform(0.05, 2.0)
                else:  # a moment while it streams: the process takes seconds to start on a busy machine
                    self._wait_requested(process, before)
                    delay = rng.uniform(0.0, full)
                try:
                    process.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    process.send_signal(signal.SIGKILL)
                    killed = True
            _, stderr = process.communicate(timeout=300)
            if runs == 0 and not killed:
                self.totals.finished_before_kill += 1
            if runs:
                self.totals.resumes += 1
            runs += 1
            # what this run asked for items whose results were already written before it started
            again = [
                r
                for r in self._logged()[before:]
                if any(r["prompt"] == items[i][0] for i in done if i in items)
            ]
            if again:
                self.totals.requests_after_done += len(again)
                self._problem(
                    where, f"{len(again)} requests after a kill for items already done: {again[:3]}"
                )
            self._check_integrity(output, where)
            if killed:
                written = self._results(output, where, final=False)
                self.totals.results_before_kill.append(len(written))
                self.totals.kills["before any result" if not written else "with results written"] += 1
                continue
            if process.returncode != 0:
                error = stderr.decode(errors="replace")[-300:]
                self._problem(where, f"`longcall batch` exited {process.returncode}: {error!r}")
                return
            break
        results = self._results(output, where, final=True)
        ids = Counter(r.get("custom_id") for r in results)
        exact = True
        for custom_id in items:
            if ids[custom_id] != 1:
                exact = False
                self._problem(where, f"{custom_id} is in the output {ids[custom_id]} times")
        for record in results:
            custom_id = record.get("custom_id")
            if custom_id not in items:
                exact = False
                self._problem(where, f"the output has an id that is not in the input: {custom_id!r}")
                continue
            expected = items[custom_id][1]
            message = record.get("message") or {}
            got = "".join(block.get("text", "") for block in message.get("content", []))
            if (
                record.get("status") != "succeeded"
                or got != expected
                or message.get("stop_reason") != "end_turn"
            ):
                exact = False
                self._problem(
                    where,
                    f"{custom_id}: {record.get('status')}, stop_reason {message.get('stop_reason')!r}, "
                    f"{len(got)} characters, expected {len(expected)}",
                )
            elif ids[custom_id] == 1:
                self.totals.items_exact += 1
        self.totals.exact += exact


def run_batch(
    *,
    kills: int,
    seed: int,
    words: int = 1200,
    rate: float = 300.0,
    kill_resume: float = 0.3,
    progress: bool = False,
) -> BatchTotals:
    """Rounds of the batch runner until `kills` SIGKILLs landed on a running `longcall batch`."""
    env = _child_env()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="longcall-crashloop-batch-") as folder:
        requests = Path(folder) / "requests.jsonl"
        emulator = EmulatorProcess(rate, env, requests_log=requests)
        try:
            loop = BatchLoop(
                seed=seed,
                folder=Path(folder),
                url=emulator.url,
                env=env,
                words=words,
                rate=rate,
                requests=requests,
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
        finally:
            emulator.close()
    loop.totals.seconds = time.monotonic() - started
    return loop.totals


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPOSITORY / "src"), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env["ANTHROPIC_API_KEY"] = API_KEY
    env.pop("ANTHROPIC_AUTH_TOKEN", None)
    return env


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
    env = _child_env()
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
        "--target",
        choices=["cli", "batch"],
        default="cli",
        help="what to kill: `longcall` and `longcall resume` (cli), or `longcall batch` (batch)",
    )
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--requests-log", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_emulator:
        serve_emulator(args.rate, args.requests_log)
        return 0
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    print(f"crash loop: seed {seed}", flush=True)
    if args.target == "batch":
        batch_totals = run_batch(
            kills=args.kills,
            seed=seed,
            words=args.words,
            rate=args.rate,
            kill_resume=args.kill_resume,
            progress=True,
        )
        print(batch_totals.summary())
        return 0 if batch_totals.ok else 1
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
