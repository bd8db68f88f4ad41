"""A small closed-loop HTTP load generator for loopback benchmarks, bounded in time and count.

Gunicorn's sync workers answer one request per connection (Connection: close), so each request
opens a connection, sends prepared bytes and reads to the end. Several client processes run
side by side; each replays its share of a scenario's requests and records every latency.
A scenario is a list of request chains: a chain's later requests are built from the answer to
the one before (the silent SSO round trip: authorize → token → userinfo).
"""

from __future__ import annotations

import multiprocessing
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

# A step turns the previous answer (None at the start of a chain) into the next request's
# bytes, or None when the chain is over.
Step = Callable[[bytes | None], bytes | None]


@dataclass
class Result:
    name: str
    completed: int  # chains (or single requests) that finished as expected
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(p / 100 * len(data)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0


def request_bytes(method: str, path: str, headers: dict[str, str] | None = None,
                  body: bytes = b"", host: str = "127.0.0.1") -> bytes:  # fmt: skip
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def status_of(answer: bytes) -> int:
    try:
        return int(answer[9:12])
    except ValueError:
        return 0


def _send(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(payload)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _worker(port, chains, ok, deadline, queue) -> None:  # noqa: ANN001
    latencies, completed, requests, errors, first_error = [], 0, 0, 0, ""
    for chain in chains:
        if time.monotonic() >= deadline:
            break
        answer, good = None, True
        for step in chain:
            payload = step(answer)
            if payload is None:
                break
            started = time.perf_counter()
            try:
                answer = _send(port, payload)
            except OSError as exc:
                answer = f"HTTP/1.1 599 {exc}".encode()
            latencies.append((time.perf_counter() - started) * 1000)
            requests += 1
            if status_of(answer) not in ok:
                good = False
                if not first_error:
                    first_error = answer[:300].decode("latin-1")
                break
        completed += good
        errors += not good
    queue.put((completed, requests, errors, latencies, first_error, time.monotonic()))


def run(name: str, port: int, chains: list[list[Step]], *, ok=(200, 302), clients: int = 4,
        max_seconds: float = 10.0) -> Result:  # fmt: skip
    """Replay the chains with `clients` processes until all are done or time is up."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    shares = [chains[i::clients] for i in range(clients)]
    started = time.monotonic()
    deadline = started + max_seconds
    processes = [
        context.Process(target=_worker, args=(port, share, set(ok), deadline, queue))
        for share in shares
    ]
    for process in processes:
        process.start()
    parts = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    ended = max(part[5] for part in parts)
    return Result(
        name=name,
        completed=sum(p[0] for p in parts),
        requests=sum(p[1] for p in parts),
        errors=sum(p[2] for p in parts),
        seconds=ended - started,
        latencies_ms=[x for p in parts for x in p[3]],
        first_error=next((p[4] for p in parts if p[4]), ""),
    )


def fixed(payload: bytes) -> list[Step]:
    """A chain of one unchanging request."""
    return [lambda _previous, payload=payload: payload]
