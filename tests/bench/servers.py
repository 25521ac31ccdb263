"""Real local HTTP servers on 127.0.0.1 for driving the real ``ab`` in tests and report captures.

Each behaviour is one a benchmarked app can show: answer fine, answer 500, hang, close the connection
without answering, or answer bodies of varying length (ab counts those as "Length" failures).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from modelviz_cluster.ports import free_port

__all__ = ["BEHAVIOURS", "HANG_AFTER", "ServedURL", "free_port", "serve"]

BEHAVIOURS = ("ok", "error500", "hang", "close", "varylength", "flaky", "reset", "hangafter")
HANG_AFTER = 150


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def next(self) -> int:
        with self._lock:
            self.value += 1
            return self.value - 1


class ServedURL(str):
    """The base URL of a running test server; ``requests`` tells how many requests it has received so far."""

    _counter: _Counter

    def __new__(cls, url: str, counter: _Counter) -> ServedURL:
        self = super().__new__(cls, url)
        self._counter = counter
        return self

    @property
    def requests(self) -> int:
        return self._counter.value

    def wait_for_requests(self, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.requests < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self} got {self.requests} requests, not {count}")
            time.sleep(0.02)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so ``ab -k`` gets real keep-alive from this server (ab sends HTTP/1.0 + Connection: Keep-Alive).
    protocol_version = "HTTP/1.1"
    server_version = "TestServer/1.0"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms per keep-alive request.
    disable_nagle_algorithm = True
    behaviour = "ok"
    counter: _Counter
    stop: threading.Event = threading.Event()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        keep = self.headers.get("Connection", "").lower() == "keep-alive"
        self.send_header("Connection", "keep-alive" if keep else "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = not keep

    def do_GET(self) -> None:
        n = self.counter.next()
        b = self.behaviour
        if b == "ok":
            self._send(200, b"<html>hello</html>\n")
        elif b == "error500":
            self._send(500, b"<html>boom</html>\n")
        elif b == "hang":
            # Hold the connection open without answering until the server stops.
            self.stop.wait(30)
            self.close_connection = True
        elif b == "hangafter":
            # Answer the first HANG_AFTER requests, then hang: ab -s gives up part-way through the run.
            if n < HANG_AFTER:
                self._send(200, b"<html>hello</html>\n")
                return
            self.stop.wait(30)
            self.close_connection = True
        elif b == "close":
            self.close_connection = True
        elif b == "varylength":
            self._send(200, b"x" * (10 + n % 7))
        elif b == "flaky":
            # Every third request is dropped without an answer: ab then reports Receive/Exceptions failures.
            if n % 3 == 2:
                self.close_connection = True
                return
            self._send(200, b"<html>hello</html>\n")
        elif b == "reset":
            # Every third connection is aborted with a TCP RST (SO_LINGER 0): ab sees a receive error.
            if n % 3 == 2:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                return
            self._send(200, b"<html>hello</html>\n")
        else:
            raise ValueError(b)

    def do_POST(self) -> None:
        # The predict scenario's POST: read the body, then behave as for GET.
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


@contextmanager
def serve(behaviour: str = "ok", port: int | None = None) -> Iterator[ServedURL]:
    """Serve ``behaviour`` on 127.0.0.1 and yield the base URL (with trailing ``/``)."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(behaviour)
    counter, stop = _Counter(), threading.Event()
    handler = type("Handler", (_Handler,), {"behaviour": behaviour, "counter": counter, "stop": stop})
    server = _Server(("127.0.0.1", port or 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield ServedURL(f"http://127.0.0.1:{server.server_address[1]}/", counter)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
