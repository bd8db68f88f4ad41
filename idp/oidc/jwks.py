"""The JSON Web Key Set (RFC 7517) with every published signing key, retired ones included."""

from __future__ import annotations

from flask import current_app, jsonify

from .blueprint import bp


@bp.route("/jwks")
def jwks():  # noqa: ANN201
    response = jsonify(current_app.extensions["idp_keys"].jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
