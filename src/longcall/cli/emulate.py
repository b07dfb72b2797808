"""`longcall emulate`: run the local Messages API emulator in the foreground, slow or faulty on request.

The fault flags build one `Fault` per request (`fault_plan`): pacing applies to every request; a drop
or an error event applies to the first request only with `--once`, to every k-th with `--every K`,
else to every request. `longcall demo` builds its faults the same way.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from ._common import EXIT_OK, EXIT_USAGE, Formatter, fail, positive

if TYPE_CHECKING:
    from ..testing import Emulator, Fault, RequestRecord

# Faults queued ahead of the requests (the emulator takes one per request); topped up as they are used.
_QUEUE_AHEAD = 1000


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
        help="cut the connection after N bytes of a response body, as a network would",
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
        help="the drop or error hits the next request only; the ones after it go through",
    )
    which.add_argument(
        "--every", type=positive, metavar="K", help="the drop or error hits every K-th request"
    )


def fault_plan(args: argparse.Namespace) -> Iterator[Fault]:
    """The fault of each request in turn (endless)."""
    from ..testing import Fault

    pace = {"tokens_per_second": args.tokens_per_second}
    broken = Fault(drop_after_bytes=args.drop_after_bytes, error_after_events=args.error_after_events, **pace)
    calm = Fault(**pace)
    faulty = args.drop_after_bytes is not None or args.error_after_events is not None
    number = 0
    while True:
        number += 1
        if not faulty:
            yield calm
        elif args.once:
            yield broken if number == 1 else calm
        elif args.every:
            yield broken if number % args.every == 0 else calm
        else:
            yield broken


def describe(fault: Fault | None) -> str:
    if fault is None:
        return ""
    parts = []
    if fault.drop_after_bytes is not None:
        parts.append(f"drop after {fault.drop_after_bytes:,} bytes")
    if fault.error_after_events is not None:
        parts.append(f"error after {fault.error_after_events:,} events")
    if fault.tokens_per_second is not None:
        parts.append(f"{fault.tokens_per_second:g} tok/s")
    return ", ".join(parts)


def log_line(number: int, record: RequestRecord) -> str:
    body = record.body if isinstance(record.body, dict) else {}
    what = f"#{number} {record.method} {record.path}"
    if body.get("model"):
        what += f" {body['model']}"
    if body.get("max_tokens"):
        what += f" max_tokens {body['max_tokens']:,}"
    messages = body.get("messages") or []
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
        what += " (prefill)"
    fault = describe(record.fault)
    return what + (f" · {fault}" if fault else "")


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
        "  longcall emulate --error-after-events 200 --every 3 --log\n",
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

    try:
        emulator = Emulator(host=args.host, port=args.port).start()
    except OSError as exc:
        fail(
            EXIT_USAGE,
            f"could not listen on {args.host}:{args.port}: {exc.strerror or exc}; try another --port.",
        )
    try:
        print(
            f"longcall emulator listening on {emulator.url}; point the SDK at it with "
            f"ANTHROPIC_BASE_URL={emulator.url} ANTHROPIC_API_KEY=anything",
            flush=True,
        )
        serve(emulator, args, sys.stdout)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.close()
    return EXIT_OK


def serve(
    emulator: Emulator, args: argparse.Namespace, out: TextIO, stop: threading.Event | None = None
) -> None:
    """Keep the fault queue full and log requests until Ctrl-C (or `stop`)."""
    plan = fault_plan(args)
    queued = 0
    logged = 0
    stop = stop or threading.Event()
    while not stop.is_set():
        records = emulator.requests
        messages = sum(1 for record in records if record.method == "POST" and record.path == "/v1/messages")
        if queued - messages < _QUEUE_AHEAD // 2:
            emulator.add_faults(*(next(plan) for _ in range(_QUEUE_AHEAD)))
            queued += _QUEUE_AHEAD
        if args.log:
            for record in records[logged:]:
                logged += 1
                out.write(log_line(logged, record) + "\n")
            out.flush()
        stop.wait(0.1)
