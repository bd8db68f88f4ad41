"""A small HTTP server on loopback that plays a client system's back-channel logout endpoint."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class Receiver:
    """Records every POST; answers 200, 500, or hangs until released (mode)."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.tokens: list[str] = []
        self.received = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = parse_qs(self.rfile.read(length).decode())
                outer.tokens.append(body.get("logout_token", [""])[0])
                outer.received.set()
                if outer.mode == "hang":
                    outer.release.wait(30)
                status = 500 if outer.mode == "error" else 200
                try:
                    self.send_response(status)
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def wait_until(predicate, timeout: float = 20.0) -> bool:  # noqa: ANN001
    """Wait for something the code under test does in the background (bounded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
