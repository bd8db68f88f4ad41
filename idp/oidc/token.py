"""Token endpoint (RFC 6749 §3.2, §4.1.3, §6; OpenID Connect Core §3.1.3), plus the
revocation (RFC 7009), introspection (RFC 7662) and UserInfo (OIDC Core §5.3) endpoints, which
all authenticate a client or a token and answer JSON. Each of their writes is one statement, so on
PostgreSQL they run without transaction round trips (`autocommit_statements`)."""

from __future__ import annotations

from flask import current_app, jsonify, request

from ..store.db import autocommit_statements
from .blueprint import bp


def _server():  # noqa: ANN202
    return current_app.extensions["idp_oauth"]


def _require_form():  # noqa: ANN202
    """These endpoints take application/x-www-form-urlencoded POSTs only (RFC 6749 §3.2)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        response = jsonify(
            {
                "error": "invalid_request",
                "error_description": "Use application/x-www-form-urlencoded.",
            }
        )
        response.status_code = 400
        response.headers["Cache-Control"] = "no-store"
        return response
    return None


@bp.route("/token", methods=["POST"])
def token():  # noqa: ANN201
    autocommit_statements()
    return _require_form() or _server().create_token_response()


@bp.route("/revoke", methods=["POST"])
def revoke():  # noqa: ANN201
    autocommit_statements()
    return _require_form() or _server().create_endpoint_response("revocation")


@bp.route("/introspect", methods=["POST"])
def introspect():  # noqa: ANN201
    autocommit_statements()
    return _require_form() or _server().create_endpoint_response("introspection")


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():  # noqa: ANN201
    autocommit_statements()
    response = _server().create_endpoint_response("userinfo")
    response.headers["Cache-Control"] = "no-store"
    return response
