"""Sample the hub's workers with py-spy while a scenario runs, and say where the time went.

py-spy reads the worker processes from outside (no change to the hub, little cost to it). Each
sample is charged to the package of its innermost Python frame: time inside a C extension (the
SQLite or PostgreSQL driver, OpenSSL) counts for the Python code that called it, so "SQLAlchemy
+ driver" holds the database calls and "crypto" the RS256 signature. The raw stacks are kept
beside the summary (`<scenario>.txt`, one collapsed stack and its count per line: the input
flamegraph.pl and speedscope read).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Samples of threads that only wait (the back-channel sender between deliveries, a worker
# waiting for a connection): not the request's work, left out. py-spy's own idle detection
# does not see these waits here.
IDLE = ("Condition.wait", "Event.wait", "socket.accept", "select (/", "SyncWorker.wait")
# gunicorn 27's sync worker, after each answer, lingers until the client closes (up to 2 s, RFC
# 9112 §9.6): time the worker cannot serve anyone, though it spends no CPU.
LINGER = ("close_graceful (", "HTTP server: waiting for the client to close")
# First match wins; a path fragment of the innermost frame's file, and the group it counts for.
GROUPS = [
    ("/sqlalchemy/", "SQLAlchemy + driver"),
    # The hub's statements run on the driver without SQLAlchemy's Connection: a SQLite call's
    # innermost Python frame is there (psycopg has frames of its own).
    ("/idp/store/driver.py", "SQLAlchemy + driver"),
    ("/psycopg", "SQLAlchemy + driver"),
    ("/sqlite3/", "SQLAlchemy + driver"),
    ("/flask_sqlalchemy/", "SQLAlchemy + driver"),
    ("/redis/", "Redis client"),
    ("/joserfc/", "crypto (JWT, RS256)"),
    ("/cryptography/", "crypto (JWT, RS256)"),
    ("/argon2/", "crypto (argon2id)"),
    ("/gunicorn/", "HTTP server"),
    ("/granian/", "HTTP server"),
    ("/socket.py", "HTTP server"),
    ("/selectors.py", "HTTP server"),
    ("/idp/serve/", "HTTP server"),  # the hub's gunicorn worker: sending and closing
    ("/werkzeug/", "Werkzeug"),
    ("/flask_wtf/", "Flask"),
    ("/flask/", "Flask"),
    ("/jinja2/", "Jinja2 templates"),
    ("/authlib/", "Authlib"),
    ("/prometheus_client/", "metrics + logging"),
    ("/logging/", "metrics + logging"),
    ("/json/", "JSON"),
    ("/idp/", "the hub's own code"),
]
_FRAME = re.compile(r"\(([^():]+)(?::\d+)?\)$")


def executable() -> str:
    """py-spy, installed into this Python's environment on first use."""
    here = Path(sys.executable).parent / "py-spy"
    if here.exists():
        return str(here)
    found = shutil.which("py-spy")
    if found:
        return found
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy==0.4.3"],
                   check=True)  # fmt: skip
    return str(here)


class Recording:
    """py-spy on a server's master process and its workers, for the life of a `with` block."""

    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        self.command = [executable(), "record", "--pid", str(pid), "--subprocesses",
                        "--rate", str(rate), "--format", "raw", "--full-filenames",
                        "--output", str(out)]  # fmt: skip
        self.out = out
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Recording:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        try:
            _, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        if not self.out.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.strip()[-500:]}")


def group_of(stack: str) -> str | None:
    leaf = stack.rsplit(";", 1)[-1]
    if leaf.startswith(IDLE) or leaf.startswith("process "):
        # "process …" alone: a thread with no Python frame (granian's Rust runtime, or the
        # worker's Python thread waiting inside it), which py-spy cannot look into.
        return None
    if leaf.startswith(LINGER[0]):
        return LINGER[1]
    match = _FRAME.search(leaf)
    path = match.group(1) if match else leaf
    for fragment, group in GROUPS:
        if fragment in path:
            return group
    return "other (standard library, C)"


def summary(raw: Path) -> list[tuple[str, float]]:
    """(group, share of samples) from the largest down."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        group = group_of(stack) if stack and count.isdigit() else None
        if group is not None:
            counts[group] += int(count)
    total = sum(counts.values()) or 1
    return [(group, n / total) for group, n in counts.most_common()]


def describe(raw: Path) -> str:
    return ", ".join(f"{group} {share:.0%}" for group, share in summary(raw) if share >= 0.01)
