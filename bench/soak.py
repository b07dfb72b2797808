"""The fault soak, for as long as asked: the same cases and checks as `tests/integration/test_soak.py`.

    python bench/soak.py --calls 3000              # 3,000 calls, a random seed (printed)
    python bench/soak.py --minutes 10 --seed 7     # as many as fit in 10 minutes
    python bench/soak.py --seed 7 --case 123       # replay one case and show what failed

Prints the totals: calls, faults injected by kind (counted when they fired), calls that survived,
characters lost and duplicated, the usage error, and the calls failing each check, then the first
failing cases with their replay command. The soak's logic is `tests/soak_lib.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for tests.soak_lib

from tests import soak_lib  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, help="how many calls (default 3000 unless --minutes)")
    parser.add_argument("--minutes", type=float, help="run for this long instead of a number of calls")
    parser.add_argument("--seed", type=int, help="the seed (default: random, printed)")
    parser.add_argument("--case", type=int, help="run only this case of the seed")
    parser.add_argument("--threads", type=int, default=4, help="sync workers (default 4)")
    parser.add_argument("--tasks", type=int, default=4, help="asyncio tasks (default 4)")
    parser.add_argument("--show", type=int, default=10, help="failing cases to print (default 10)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else soak_lib.seed_from_env()
    calls = args.calls if args.calls is not None or args.minutes is not None else 3000
    print(f"fault soak: seed {seed}", flush=True)
    last = [time.monotonic()]

    def progress(outcome: soak_lib.Outcome) -> None:
        if time.monotonic() - last[0] > 30:
            last[0] = time.monotonic()
            print(f"  ... case {outcome.case.number} done", file=sys.stderr, flush=True)

    totals = soak_lib.run(
        seed=seed,
        calls=calls,
        minutes=args.minutes,
        threads=args.threads,
        tasks=args.tasks,
        only=args.case,
        on_outcome=progress,
    )
    print(totals.summary())
    print(soak_lib.breakdown(totals))
    for report in soak_lib.iter_failures(totals, args.show):
        print(report)
    return 0 if not totals.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
