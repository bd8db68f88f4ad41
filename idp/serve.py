"""Run the hub under gunicorn: sync workers by default, each building its own app."""

from __future__ import annotations

import os

from gunicorn.app.base import BaseApplication

from .config import Config


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

        app = create_app(load_config(self.config_path))
        # Each worker sends back-channel logouts owed by any worker (claimed, never twice).
        app.extensions["idp_backchannel"].start()
        return app


def run(config: Config, config_path: str | None, host: str, port: int) -> None:
    if config_path:
        os.environ["IDP_CONFIG"] = os.path.abspath(config_path)
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": config.server.workers,
        "threads": config.server.threads,
        "worker_class": "sync" if config.server.threads == 1 else "gthread",
        "timeout": config.server.timeout,
        "accesslog": "-",
        "errorlog": "-",
        "limit_request_line": 8190,
        "limit_request_field_size": 8190,
        "proc_name": "idp",
        # gunicorn 27 opens a control socket at one fixed path per user; several hubs on one
        # host (workers behind a balancer, `idp dev` beside a test run) would take it from each
        # other, and the hub does not use it.
        "control_socket_disable": True,
    }
    HubApplication(options, config_path).run()
