"""The hub under granian (`[server] engine = "granian"`, the default): a Rust HTTP server
calling the WSGI app, with less cost per request than gunicorn's Python workers.

granian writes no access line here (its own would not be redacted): the app writes one per
request, text or JSON (idp.observability). What gunicorn did for us and granian does not is
done here: the 414 on an over-long request line, an environ without the process's variables,
and cleaning dead workers' live gauges.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from urllib.parse import quote

from ..config import Config

# gunicorn's limit_request_line, which the hub kept under gunicorn: an operator-visible
# contract (a 414, not a request that reaches the app).
MAX_REQUEST_LINE = 8190
# The whole request head (request line and headers) granian buffers before answering 431.
MAX_HEAD_BYTES = 64 * 1024
REQUEST_KEYS = {
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE",
    "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE",
    "REMOTE_ADDR", "GATEWAY_INTERFACE",
}  # fmt: skip
PATH_SAFE = "/%:@!$&'()*+,;=-._~"
METRICS_FILE = re.compile(r"_(\d+)\.db$")


class GranianEnviron:
    """What gunicorn gave the app and granian does not: a 414 for a request line over
    MAX_REQUEST_LINE bytes, and an environ holding the request only. granian copies the whole
    process environment into every request's environ (CGI style): a secret's variable would
    sit beside the headers, and an HTTP_PROXY variable would read as a client's header."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app
        # The server's own keys are the request's even if a variable had the same name; a
        # client's header equal to a variable of the process (HTTP_…) goes with it, harmlessly.
        self.inherited = [(k, v) for k, v in os.environ.items() if k not in REQUEST_KEYS]

    def __call__(self, environ: dict, start_response):  # noqa: ANN204, ANN001
        for key, value in self.inherited:
            if environ.get(key) == value:
                del environ[key]
        # granian gives the decoded path (WSGI: its bytes as latin-1); quoting it again gives
        # back about the bytes sent.
        path = environ.get("PATH_INFO", "")
        try:
            path = quote(path, safe=PATH_SAFE, encoding="latin-1")
        except UnicodeEncodeError:
            path = quote(path, safe=PATH_SAFE)
        query = environ.get("QUERY_STRING", "")
        protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
        # "METHOD path[?query] protocol", as gunicorn's limit_request_line counts it.
        length = len(environ.get("REQUEST_METHOD", "")) + len(path) + len(protocol) + 2
        length += len(query) + 1 if query else 0
        if length <= MAX_REQUEST_LINE:
            return self.app(environ, start_response)
        logging.getLogger("idp.access").warning(
            "request line over %d bytes refused with 414", MAX_REQUEST_LINE
        )
        body = b"Request-URI Too Long\n"
        start_response(
            "414 Request-URI Too Long",
            [
                ("Content-Type", "text/plain"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ],
        )
        return [body]


def forget_dead_workers() -> None:
    """granian has no child_exit hook: a worker starting drops the live gauges of workers
    that are gone (counters and histograms stay, so totals never go back)."""
    from prometheus_client import multiprocess

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    pids = {int(m.group(1)) for name in os.listdir(folder) if (m := METRICS_FILE.search(name))}
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, folder)
        except PermissionError:
            pass  # alive, another user's


def worker_app():  # noqa: ANN201
    """granian's factory target, called once in each worker process."""
    from .worker import build_app

    forget_dead_workers()
    app = GranianEnviron(build_app())
    # granian copies os.environ into every request's environ once this returns. A CGI request
    # variable set in the process (CONTENT_TYPE…) would stand for any request that lacks it;
    # GranianEnviron cannot tell it from the client's, so it never gets there (red team).
    for key in REQUEST_KEYS:
        os.environ.pop(key, None)
    return app


class GranianJsonLines(logging.Formatter):
    """granian's own lines (start, workers, reloads) as JSON like the hub's, for collectors;
    the master must not import idp.observability (prometheus_client), hence this one."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z"
        return json.dumps(
            {
                "time": stamp,
                "level": record.levelname.lower(),
                "logger": "granian",
                "message": record.getMessage(),
            },
            ensure_ascii=False,
        )


def log_config(log_format: str) -> dict:
    """granian's logging: on stderr like the hub's lines, JSON or text as [server] says."""
    if log_format == "json":
        formatter = {"()": f"{__name__}.GranianJsonLines"}
    else:
        formatter = {
            "()": "logging.Formatter",
            "fmt": "%(asctime)s %(levelname)s granian %(message)s",
        }
    return {
        "formatters": {"generic": formatter},
        "handlers": {
            "console": {
                "formatter": "generic",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {"_granian": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }


def _process_name() -> str | None:
    try:
        import setproctitle  # noqa: F401  (granian's optional extra; without it no name)
    except ImportError:
        return None
    return "idp"


def _migrate_warning(workers: int) -> None:
    """Each granian worker listens on its own SO_REUSEPORT socket: unless the kernel migrates
    them, connections queued on a worker that a reload or recycling stops are reset."""
    try:
        with open("/proc/sys/net/ipv4/tcp_migrate_req") as fh:
            enabled = fh.read().strip() == "1"
    except OSError:
        return  # not Linux, or a kernel without it: nothing to advise
    if workers > 1 and not enabled:
        print(
            "WARNING: net.ipv4.tcp_migrate_req is 0: connections queued on a worker that a "
            "reload stops are reset; set it to 1 (deploy/README.md)",
            file=sys.stderr,
        )


def run_granian(config: Config, host: str, port: int) -> None:
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.server import Server

    server = config.server
    _migrate_warning(server.workers)
    Server(
        f"{__name__}:worker_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=server.workers,
        blocking_threads=server.threads,
        http1_settings=HTTP1Settings(max_buffer_size=MAX_HEAD_BYTES),
        log_access=False,
        log_dictconfig=log_config(server.log_format),
        respawn_failed_workers=True,
        workers_lifetime=server.max_worker_lifetime or None,
        workers_kill_timeout=server.timeout,
        process_name=_process_name(),
    ).serve()
