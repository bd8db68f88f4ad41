"""`idp serve`: the hub under gunicorn (default) or granian, each worker building its own app.

This module is imported by the master: it must not import prometheus_client (nor the app),
or every worker would keep its metrics in its own memory instead of the shared folder.
"""

from __future__ import annotations

import os
import tempfile

from ..config import Config


def _metrics_dir() -> str:
    """The folder where every worker writes its Prometheus samples (multiprocess mode), set
    before any worker imports prometheus_client: the operator's PROMETHEUS_MULTIPROC_DIR
    (emptied by them between runs), else a fresh one for this server."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="idp-metrics-")
    os.makedirs(folder, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    return folder


def run(config: Config, config_path: str | None, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT; SIGHUP replaces the workers (new code and config)."""
    if config_path:
        # Workers (and the workers of a reload) read the configuration again from this file.
        os.environ["IDP_CONFIG"] = os.path.abspath(config_path)
    _metrics_dir()
    if config.server.engine == "gunicorn":
        from .gunicorn_engine import run_gunicorn

        run_gunicorn(config, config_path, host, port)
    else:
        from .granian_engine import run_granian

        run_granian(config, host, port)
