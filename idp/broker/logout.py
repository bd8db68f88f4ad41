"""Logout in both directions with an upstream (RP-Initiated Logout 1.0, Back-Channel Logout
1.0): the hub's logout continues at the upstream's end-session endpoint and comes back to
ISSUER/broker/NAME/logged-out; the upstream's logout tokens end the matching hub sessions,
which tells every departmental client in turn."""

from __future__ import annotations

import logging
import secrets

from flask import Blueprint, current_app, jsonify, make_response, redirect, request

from ..security import sha256_hex
from ..store import audit, kv
from .upstream import LOGOUT_TOKEN_LEEWAY, Connector, UpstreamError

log = logging.getLogger(__name__)
bp = Blueprint("broker_logout", __name__)

RETURN_TTL = 600


def init_app(app) -> None:  # noqa: ANN001
    """Hand the hub's logouts (idp.login.logout.upstream_logout_uri) the way upstream."""
    app.extensions["idp_upstream_logout"] = upstream_logout_uri


def upstream_logout_uri(upstream: dict, final_uri: str | None) -> str | None:
    """Where to send the browser to end the upstream session too, then to `final_uri`."""
    config = current_app.config["IDP"]
    name = upstream.get("connector", "")
    connector_config = config.connectors.get(name)
    if connector_config is None:
        return None
    state = secrets.token_urlsafe(24)
    url = Connector(name, connector_config).end_session_url(
        upstream, f"{config.issuer}/broker/{name}/logged-out", state
    )
    if url is not None:
        kv().put(f"upstream-logout:{sha256_hex(state)}", {"return": final_uri or ""}, RETURN_TTL)
    return url


@bp.route("/broker/<name>/logged-out")
def logged_out(name: str):  # noqa: ANN201
    """Back from the upstream's logout: on to where the client asked, else the signed-out page."""
    from ..login.logout import logged_out_page

    state = request.args.get("state", "")
    record = kv().take(f"upstream-logout:{sha256_hex(state)}") if 0 < len(state) <= 256 else None
    if record and record["return"]:
        return redirect(record["return"])
    return logged_out_page([], None, None)


def _refuse(description: str, name: str):  # noqa: ANN202
    audit.record("upstream_logout_refused", connector=name, reason=description[:200])
    response = jsonify(error="invalid_request", error_description=description)
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/broker/<name>/backchannel-logout", methods=["POST"])
def backchannel_logout(name: str):  # noqa: ANN201
    from ..login import sessions
    from ..login.logout import end_session

    connector_config = current_app.config["IDP"].connectors.get(name)
    if connector_config is None:
        return _refuse("unknown connector", name)
    token = request.form.get("logout_token", "")
    if not token or len(token) > 16384:
        return _refuse("logout_token is missing", name)
    max_age = current_app.config["IDP"].broker.logout_token_max_age
    try:
        claims = Connector(name, connector_config).verify_logout_token(token, max_age)
    except UpstreamError as exc:
        log.warning("logout token from %s refused: %s", name, exc)
        return _refuse("the logout token is not valid", name)
    jti = str(claims["jti"])[:256]
    # Remembered for as long as the token could pass the age check, and then some.
    memory = max_age + 2 * LOGOUT_TOKEN_LEEWAY
    if not kv().add(f"upstream-jti:{name}:{sha256_hex(jti)}", {}, memory):
        return _refuse("the logout token was used already", name)
    sub = claims.get("sub") if isinstance(claims.get("sub"), str) else None
    sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
    ended = 0
    for session in sessions.by_upstream(name, sub, sid):
        end_session(session, "upstream_logout", by=name)
        ended += 1
    audit.record("upstream_logout", connector=name, sessions_ended=ended)
    response = make_response("", 200)
    response.headers["Cache-Control"] = "no-store"
    return response
