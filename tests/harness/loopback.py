"""Throwaway HTTP servers on 127.0.0.1 for tests (a chart repository, a fake Prometheus or executor)."""
from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """Mixin base: no access log on stderr (pytest would show it with every failure)."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        pass


@contextlib.contextmanager
def serve_http(handler: type[http.server.BaseHTTPRequestHandler] | object) -> Iterator[str]:
    """Serve `handler` (a request handler class, or a functools.partial of one) on a free loopback port in a
    thread; yields the base URL and shuts the server down afterwards."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
