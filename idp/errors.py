"""One small error hierarchy and one place that turns errors into answers.

Protocol endpoints answer JSON (the spec's `error` codes); pages answer a readable message in
the user's language. Nothing a client or user sends may produce a stack trace.
"""

from __future__ import annotations

import logging

from authlib.integrations.flask_oauth2.errors import _HTTPException as AuthlibHTTPException
from flask import Flask, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sqlalchemy_exc
from werkzeug.exceptions import HTTPException

from .store import StoreUnavailable

log = logging.getLogger(__name__)

JSON_PATHS = (
    "/token",
    "/userinfo",
    "/revoke",
    "/introspect",
    "/jwks",
    "/.well-known/",
    "/admin/api/",
    "/oauth/",
)


class IdpError(Exception):
    """An error shown to the user as a page."""

    status = 400
    message = _l("The request could not be processed.")

    def __init__(self, message=None, status: int | None = None) -> None:  # noqa: ANN001
        super().__init__(str(message or self.message))
        if message is not None:
            self.message = message
        if status is not None:
            self.status = status


class InvalidClientPage(IdpError):
    message = _l(
        "The service that sent you here is not registered with the sign-in hub, "
        "or it is disabled. Please go back and contact that service."
    )


class InvalidRedirectPage(IdpError):
    message = _l(
        "The service that sent you here gave a return address that is not registered. "
        "For your safety you were not sent back. Please contact that service."
    )


class BadEncoding(IdpError):
    """A form or query sent bytes that are not UTF-8 text."""

    message = _l("The form contained text in a wrong encoding. Please type it again.")


class InteractionExpired(IdpError):
    message = _l(
        "This sign-in took too long or was already finished. Please go back to the "
        "service and start again."
    )


def wants_json() -> bool:
    return request.path.startswith(JSON_PATHS)


def error_page(message, status: int) -> tuple[str, int]:  # noqa: ANN001
    return render_template("errors/page.html", message=message, status=status), status


def init_error_handlers(app: Flask) -> None:
    @app.errorhandler(IdpError)
    def handle_idp_error(error: IdpError):  # noqa: ANN202
        if wants_json():
            return _json_error("invalid_request", str(error.message), error.status)
        return error_page(error.message, error.status)

    @app.errorhandler(CSRFError)
    def handle_csrf(error: CSRFError):  # noqa: ANN202
        return error_page(
            _l(
                "The form expired or was sent from another site. "
                "Please go back, reload the page and try again."
            ),
            400,
        )

    @app.errorhandler(StoreUnavailable)
    @app.errorhandler(sqlalchemy_exc.OperationalError)
    @app.errorhandler(sqlalchemy_exc.InterfaceError)
    @app.errorhandler(sqlalchemy_exc.TimeoutError)
    def handle_store_down(error: Exception):  # noqa: ANN202
        """Redis or the database is unreachable: 503, no trace, nothing half-written (the
        session is rolled back), and the next request tries again."""
        if not isinstance(error, StoreUnavailable):
            from .store.db import db

            try:
                db.session.rollback()
            except Exception:  # noqa: BLE001, S110 - the connection is already gone
                pass
        log.error("%s unavailable: %s", "database" if not isinstance(error, StoreUnavailable)
                  else "short-lived store", str(error).splitlines()[0][:300])  # fmt: skip
        if wants_json():
            return _json_error("temporarily_unavailable", "Try again later.", 503)
        return error_page(
            _l(
                "The sign-in service is temporarily unavailable. Please try again in a few minutes."
            ),
            503,
        )

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException):  # noqa: ANN202
        if isinstance(error, AuthlibHTTPException):
            return error  # Authlib's own RFC 6750 answer: JSON body and WWW-Authenticate
        if wants_json():
            code = "invalid_request" if error.code and error.code < 500 else "server_error"
            return _json_error(code, error.name, error.code or 500)
        messages = {
            404: _l("This page does not exist."),
            405: _l("This address does not accept that kind of request."),
            413: _l("The request is too large."),
        }
        return error_page(messages.get(error.code, error.name), error.code or 500)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):  # noqa: ANN202
        log.exception("unexpected error on %s %s", request.method, request.path)
        if wants_json():
            return _json_error("server_error", "Unexpected error.", 500)
        return error_page(_l("Something went wrong on our side. Please try again."), 500)


def _json_error(code: str, description: str, status: int) -> Response:
    response = jsonify({"error": code, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
