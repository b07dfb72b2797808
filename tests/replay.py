"""A loopback HTTP server that answers each request with bytes a test chose: for streams the emulator
would never send (malformed, out of order, odd line ends) and for byte-for-byte comparisons."""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is routine here
            super().handle_error(request, client_address)


class ReplayServer:
    def __init__(self) -> None:
        self.replies: deque[tuple[int, bytes, Sequence[int]]] = deque()
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                server.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                status, body, cuts = server.replies.popleft()
                self.send_response(status)
                self.send_header("content-type", "text/event-stream" if status == 200 else "application/json")
                self.send_header("request-id", f"req_replay_{len(server.requests)}")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                last = 0
                try:
                    for cut in [*cuts, len(body)]:
                        piece = body[last:cut]
                        last = cut
                        if piece:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                            self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except ConnectionError:  # the client stopped reading (a protocol error): expected
                    self.close_connection = True

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reply(self, body: bytes, *, status: int = 200, cuts: Sequence[int] = ()) -> None:
        self.replies.append((status, body, sorted(cuts)))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def sse(events: Sequence[dict[str, Any]], *, newline: str = "\n") -> bytes:
    """Encode events as the API does: an `event:` line, a `data:` line, a blank line."""
    out = []
    for event in events:
        out.append(f"event: {event['type']}{newline}data: {json.dumps(event)}{newline}{newline}")
    return "".join(out).encode()
