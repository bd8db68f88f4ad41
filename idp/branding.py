"""The province's look, from config: its colour as a small stylesheet and its emblem.

CSP allows no inline style, so the configured colour reaches pages as `/branding/theme.css`;
its URL carries a digest of the colour, so browsers may cache it for long and still see a change.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, send_file, url_for

bp = Blueprint("branding", __name__)
DEFAULT_EMBLEM = Path(__file__).parent / "static" / "emblem.svg"


def _darker(color: str, factor: float = 0.8) -> str:
    """The colour for hover and pressed states: the brand colour, a fifth darker."""
    r, g, b = (int(int(color[i : i + 2], 16) * factor) for i in (1, 3, 5))
    return f"#{r:02x}{g:02x}{b:02x}"


def theme_css(color: str) -> str:
    return f":root {{ --brand: {color}; --brand-dark: {_darker(color)}; }}\n"


@bp.get("/branding/theme.css")
def theme() -> Response:
    response = Response(theme_css(current_app.config["IDP"].ui.brand_color), mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/branding/logo")
def logo() -> Response:
    configured = current_app.config["IDP"].ui.logo_file
    path = Path(configured) if configured else DEFAULT_EMBLEM
    response = send_file(path.resolve(), max_age=86400)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/clients/<client_id>/logo")
def client_logo(client_id: str) -> Response:
    """A client system's PNG logo, shown beside its name on the sign-in page."""
    from sqlalchemy import select

    from .store.db import db
    from .store.models import Client

    if len(client_id) > 64:
        abort(404)
    data = db.session.scalar(
        select(Client.logo_png).where(Client.client_id == client_id, Client.disabled.is_(False))
    )
    if not data:
        abort(404)
    response = Response(data, mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    ui = app.config["IDP"].ui
    version = hashlib.sha256(f"{ui.brand_color}|{ui.logo_file}".encode()).hexdigest()[:10]

    @app.context_processor
    def branding_urls() -> dict:
        return {
            "theme_css_url": url_for("branding.theme", v=version),
            "logo_url": url_for("branding.logo", v=version),
        }
