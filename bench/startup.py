"""How long the `longcall` command takes to start: `--help`, `--version`, a subcommand's `--help`.

    python bench/startup.py            # median of 10 runs each, in seconds
    python bench/startup.py --runs 30

Each figure is the wall time of a fresh `python -m longcall ...` process (interpreter start included),
next to `python -c pass` (the floor) and `python -c "import anthropic"` (what every command paid
before the SDK was imported lazily). The target for `longcall --help` is under 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

CASES = {
    "python -c pass": ["-c", "pass"],
    "python -c 'import anthropic'": ["-c", "import anthropic"],
    "longcall --help": ["-m", "longcall", "--help"],
    "longcall --version": ["-m", "longcall", "--version"],
    "longcall logs --help": ["-m", "longcall", "logs", "--help"],
    "longcall emulate --help": ["-m", "longcall", "emulate", "--help"],
}


def wall_time(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    options = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    print(f"| command | median s | min s |  ({options.runs} runs, {sys.version.split()[0]})")
    print("|---|---:|---:|")
    for name, args in CASES.items():
        wall_time(args, env)  # warm the file cache
        times = [wall_time(args, env) for _ in range(options.runs)]
        print(f"| `{name}` | {statistics.median(times):.3f} | {min(times):.3f} |")


if __name__ == "__main__":
    main()
