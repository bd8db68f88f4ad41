"""The relying-party surface: every OpenID Connect / OAuth 2.0 endpoint of the hub."""

from __future__ import annotations

from flask import Flask

from . import (  # noqa: F401 - modules add routes
    authorize,
    backchannel,
    discovery,
    end_session,
    jwks,
    registration,
    token,
)
from .blueprint import bp
from .server import create_server


def init_app(app: Flask) -> None:
    app.extensions["idp_oauth"] = create_server(app)
    backchannel.init_app(app)
    app.register_blueprint(bp)
