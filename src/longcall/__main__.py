"""`python -m longcall`: the `longcall` command (see `longcall.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
