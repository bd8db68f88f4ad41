"""Run the hub under gunicorn: sync workers by default, each building its own app."""

from __future__ import annotations

import os
import tempfile

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from .config import Config


class RedactingLogger(Logger):
    """gunicorn's access lines (text logs) with the secrets of paths, query strings and the
    Referer replaced: a reset link or an upstream code must not reach a log file."""

    def atoms(self, resp, req, environ, request_time) -> dict:  # noqa: ANN001
        # Imported here, in the worker: the master must not load prometheus_client before
        # PROMETHEUS_MULTIPROC_DIR is set, or every worker's metrics stay in its own memory.
        from .observability import redact

        atoms = super().atoms(resp, req, environ, request_time)
        # Every text atom: the request line, path, query, Referer and any header or environ
        # value an operator's access_log_format may name.
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}


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
        from . import create_app
        from .config import load_config
        from .observability import configure_logging

        config = load_config(self.config_path)
        configure_logging(config.server.log_format)
        app = create_app(config)
        # Each worker sends back-channel logouts owed by any worker (claimed, never twice).
        app.extensions["idp_backchannel"].start()
        return app


def _metrics_dir() -> str:
    """The folder where every worker writes its Prometheus samples (multiprocess mode), set
    before any worker imports prometheus_client: the operator's PROMETHEUS_MULTIPROC_DIR
    (emptied by them between runs), else a fresh one for this server."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="idp-metrics-")
    os.makedirs(folder, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    return folder


def _child_exit(server, worker) -> None:  # noqa: ANN001
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def run(config: Config, config_path: str | None, host: str, port: int) -> None:
    if config_path:
        os.environ["IDP_CONFIG"] = os.path.abspath(config_path)
    _metrics_dir()
    json_logs = config.server.log_format == "json"
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": config.server.workers,
        "threads": config.server.threads,
        "worker_class": "sync" if config.server.threads == 1 else "gthread",
        "timeout": config.server.timeout,
        # JSON logs: the app writes one access line per request, with its request id.
        "accesslog": None if json_logs else "-",
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
    HubApplication(options, config_path).run()
