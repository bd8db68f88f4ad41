"""Administration: the console (/admin), the staff lookup, and the REST API (/admin/api)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .. import csrf
    from . import labels
    from .api import bp as api_bp
    from .console import bp as console_bp

    labels.init_app(app)

    app.register_blueprint(console_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # bearer tokens, no cookies
