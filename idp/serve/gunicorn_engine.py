"""The hub under gunicorn (`[server] engine = "gunicorn"`): sync workers by default, gthread
with more threads; gunicorn writes the text access lines, redacted here."""

from __future__ import annotations

import array
import contextlib
import fcntl
import random
import socket
import threading
import time

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.http.body import LengthReader
from gunicorn.workers.sync import SyncWorker

from ..config import Config

SIOCOUTQNSD = 0x894B  # linux/sockios.h; elsewhere the ioctl fails and the worker lingers
TCP_CORK = getattr(socket, "TCP_CORK", 0)  # Linux only (a developer's macOS has none)


class RedactingLogger(Logger):
    """gunicorn's access lines (text logs) with the secrets of paths, query strings and the
    Referer replaced: a reset link or an upstream code must not reach a log file."""

    def atoms(self, resp, req, environ, request_time) -> dict:  # noqa: ANN001
        # Imported here, in the worker: the master must not load prometheus_client before
        # PROMETHEUS_MULTIPROC_DIR is set, or every worker's metrics stay in its own memory.
        from ..observability import redact

        atoms = super().atoms(resp, req, environ, request_time)
        # Every text atom: the request line, path, query, Referer and any header or environ
        # value an operator's access_log_format may name.
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}


class PromptCloseSyncWorker(SyncWorker):
    """gunicorn's sync worker, closing at once when the client has nothing more to send.

    gunicorn 27 lingers after every answer until the client closes, up to 2 s, so that request
    bytes arriving after the close cannot make the kernel reset the connection and throw away
    the part of the answer not yet delivered (RFC 9112 section 9.6). The worker serves no one
    meanwhile: under load, a seventh to a fifth of its time. Like nginx's default
    (`lingering_close on`), this worker lingers only when it may matter: the request's body was
    not read to its end, bytes wait unread in the socket, or part of the answer (a large one, a
    client slow to read) has not left yet. And it sends a short answer in one segment, with
    its FIN, rather than three (head, body, FIN).
    """

    _notified = 0.0

    def notify(self) -> None:
        """Tell the master this worker is alive at most once a second, not before every
        connection: the master's check (`timeout`, 30 s by default) needs no more, and the
        file-time update it takes is a system call per request otherwise. A request may so get
        up to a second less than `timeout` before the master stops a worker stuck in it."""
        now = time.monotonic()
        if now - self._notified >= min(1.0, self.cfg.timeout / 4):
            self._notified = now
            super().notify()

    def handle_request(self, listener, req, client, addr) -> None:  # noqa: ANN001
        if self.cfg.is_ssl:
            super().handle_request(listener, req, client, addr)
            return
        if TCP_CORK and not getattr(req, "_expected_100_continue", True):
            # gunicorn writes the head and the body apart: corked, they wait for the FIN (full
            # segments leave at once; a streamed answer's pause can hold a partial one up to
            # 200 ms: nginx's tcp_nopush). Not when the client waits for a "100 Continue".
            with contextlib.suppress(OSError):  # not TCP (a Unix socket)
                client.setsockopt(socket.IPPROTO_TCP, TCP_CORK, 1)
        super().handle_request(listener, req, client, addr)
        try:
            client.shutdown(socket.SHUT_WR)  # the answer, then FIN: sent, or queued to send
        except OSError:
            return  # gone: gunicorn's close follows
        if answer_sent(client) and nothing_left_to_read(req, client):
            client.close()  # gunicorn's own lingering close then finds it closed


def answer_sent(client: socket.socket) -> bool:
    """True when every byte of the answer, and the FIN, has left the socket (none queued
    behind a full receive window): a reset that a later byte from the client provokes then
    finds nothing of ours left to throw away. Linux's SIOCOUTQNSD: bytes queued, not sent."""
    queued = array.array("i", [0])
    try:
        fcntl.ioctl(client.fileno(), SIOCOUTQNSD, queued)
    except OSError:
        return False
    return queued[0] == 0


def nothing_left_to_read(req, client: socket.socket) -> bool:  # noqa: ANN001
    """True when the request's declared body was read to its end and the socket holds no
    unread byte. A chunked body, a pipelined request or bytes waiting keep gunicorn's
    lingering close."""
    reader = getattr(req.body, "reader", None)
    if not isinstance(reader, LengthReader) or reader.length:
        return False
    try:
        waiting = client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return waiting == b""  # the client has already closed its side


class HubApplication(BaseApplication):
    def __init__(self, options: dict, config_path: str | None) -> None:
        self.options = options
        self.config_path = config_path
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                self.cfg.set(key, value)

    def load(self):  # noqa: ANN201
        from .worker import build_app

        return build_app(self.config_path)


def _child_exit(server, worker) -> None:  # noqa: ANN001
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def retire_after(worker, seconds: float) -> threading.Timer:  # noqa: ANN001
    """gunicorn has no worker lifetime, only max_requests: after `seconds` the worker stops
    taking requests, as max_requests makes it, finishes the one it has, and the master
    starts a fresh one."""
    timer = threading.Timer(seconds, setattr, (worker, "alive", False))
    timer.daemon = True
    timer.start()
    return timer


def _lifetime_hook(lifetime: int):  # noqa: ANN202
    def post_worker_init(worker) -> None:  # noqa: ANN001
        retire_after(worker, lifetime + random.uniform(0, lifetime / 10))

    return post_worker_init


def options(config: Config, host: str, port: int) -> dict:
    server = config.server
    result = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": server.workers,
        "threads": server.threads,
        "worker_class": PromptCloseSyncWorker if server.threads == 1 else "gthread",
        "timeout": server.timeout,
        "graceful_timeout": server.timeout,
        # JSON logs: the app writes one access line per request, with its request id.
        "accesslog": None if server.log_format == "json" else "-",
        "errorlog": "-",
        "logger_class": RedactingLogger,
        "child_exit": _child_exit,
        "limit_request_line": 8190,
        "limit_request_field_size": 8190,
        "proc_name": "idp",
        # gunicorn 27 opens a control socket at one fixed path per user; several hubs on one
        # host (workers behind a balancer, `idp dev` beside a test run) would take it from each
        # other, and the hub does not use it.
        "control_socket_disable": True,
    }
    if server.max_worker_lifetime:
        result["post_worker_init"] = _lifetime_hook(server.max_worker_lifetime)
    return result


def run_gunicorn(config: Config, config_path: str | None, host: str, port: int) -> None:
    HubApplication(options(config, host, port), config_path).run()
