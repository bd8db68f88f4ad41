"""What each worker process runs, under either engine: the app built from the configuration
file as it is now (a reload picks up changes), its logging, and its back-channel sender."""

from __future__ import annotations

from flask import Flask


def build_app(config_path: str | None = None) -> Flask:
    from .. import create_app
    from ..config import load_config
    from ..observability import configure_logging

    config = load_config(config_path)  # None: the file `idp serve` named in IDP_CONFIG
    configure_logging(config.server.log_format)
    app = create_app(config)
    # Each worker sends back-channel logouts owed by any worker (claimed, never twice).
    app.extensions["idp_backchannel"].start()
    return app
