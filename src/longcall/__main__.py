"""`python -m longcall`: the `longcall` command (see `longcall.cli`)."""

import sys

if __name__ == "__main__":
    try:
        from .cli import main
    except KeyboardInterrupt:  # Ctrl-C while Python is still starting: no traceback
        sys.stderr.write("longcall: interrupted.\n")
        sys.exit(130)
    sys.exit(main())
