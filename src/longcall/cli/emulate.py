"""`longcall emulate`: run the local Messages API emulator in the foreground, slow or faulty on request.

The fault flags become the emulator's faults (`apply_faults`): pacing applies to every request; a drop,
a reset or an error event to the next request only with `--once`, to every K-th with `--every K`, else
to every request. `--log` prints the emulator's line per request. `longcall demo` sets its faults the
same way.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import TYPE_CHECKING, Any

from ._common import EXIT_OK, EXIT_USAGE, Formatter, fail, positive

if TYPE_CHECKING:
    from ..testing import Emulator


def port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port: use 1 to 65535, or 0 for any free one")
    return number


def rate(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{value} must be a number above 0")
    return number


def count(value: str) -> int:
    try:
        number = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be 0 or more")
    return number


def add_fault_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tokens-per-second",
        type=rate,
        metavar="N",
        help="write N tokens a second, as a real model does (default: as fast as possible)",
    )
    parser.add_argument(
        "--drop-after-bytes",
        type=count,
        metavar="N",
        help="close the connection (FIN) after N bytes of a response body, as a proxy that gives up would",
    )
    parser.add_argument(
        "--reset-after-bytes",
        type=count,
        metavar="N",
        help="reset the connection (TCP RST) after N bytes of a response body, as a broken network "
        "would; 0: right after the headers",
    )
    parser.add_argument(
        "--error-after-events",
        type=count,
        metavar="N",
        help="send an overloaded_error event after N events of a response, as the API does under load",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--once",
        action="store_true",
        help="the drop, reset or error hits the next request only; the ones after it go through",
    )
    which.add_argument(
        "--every", type=positive, metavar="K", help="the drop, reset or error hits every K-th request"
    )


def apply_faults(emulator: Emulator, args: argparse.Namespace) -> None:
    """Set the flags' faults on `emulator`: pacing for every request; the drop, reset or error event
    for the next request only (`--once`, queued), every K-th (`--every K`), or every request."""
    from ..testing import Fault

    pace = {"tokens_per_second": args.tokens_per_second}
    cuts = {
        "drop_after_bytes": args.drop_after_bytes,
        "reset_after_bytes": getattr(args, "reset_after_bytes", None),  # `longcall demo` sets no reset
        "error_after_events": args.error_after_events,
    }
    if any(value is not None for value in cuts.values()):
        broken = Fault(**cuts, **pace)
        if args.once:
            emulator.add_faults(broken)
        else:
            emulator.fault_every(args.every or 1, broken)  # set first: the first that applies wins
    if args.tokens_per_second is not None:
        emulator.fault_every(1, Fault(**pace))


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulate",
        help="run the local Messages API emulator",
        description="Run longcall's Messages API emulator in the foreground (Ctrl-C stops it): a "
        "deterministic fake Claude for trying code without an API key. Ask it for "
        '"N words" to get a document of N tokens. It can be slow, drop connections and send '
        "error events, to watch a client cope.",
        epilog="examples:\n  longcall emulate --port 8000\n"
        '  ANTHROPIC_BASE_URL=http://127.0.0.1:8000 longcall "Write 3000 words"\n'
        "  longcall emulate --tokens-per-second 60 --drop-after-bytes 40000 --once --log\n"
        "                       slow, one dropped connection, then the resume goes through\n"
        "  longcall emulate --error-after-events 200 --every 3 --log\n"
        "  longcall emulate --reset-after-bytes 20000 --every 2 --log\n",
        formatter_class=Formatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="the interface to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=port, default=8000, help="the port (default: 8000; 0 for any free one)"
    )
    add_fault_options(parser)
    parser.add_argument("--log", action="store_true", help="print one line per request received")
    return parser


def run(args: argparse.Namespace) -> int:
    from ..testing import Emulator

    log = _print_line if args.log else None
    try:
        emulator = Emulator(host=args.host, port=args.port, log=log).start()
    except OSError as exc:
        fail(
            EXIT_USAGE,
            f"could not listen on {args.host}:{args.port}: {exc.strerror or exc}; try another --port.",
        )
    try:
        apply_faults(emulator, args)
        print(
            f"longcall emulator listening on {emulator.url}; point the SDK at it with "
            f"ANTHROPIC_BASE_URL={emulator.url} ANTHROPIC_API_KEY=anything",
            flush=True,
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.close()
    return EXIT_OK


def _print_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
