"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the logged-out page with
front-channel logout frames (OpenID Connect Front-Channel Logout 1.0 §3).

Authlib's EndSessionEndpoint validates the request (id_token_hint signature, client_id against
`aud`, exact post_logout_redirect_uri). When the request cannot be tied to the browser's
session (no hint, or a hint for another session) the user confirms first, so a third-party page
cannot sign citizens out silently (§6).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import current_app, g, make_response, redirect, render_template, request
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from ..errors import IdpError
from ..login import sessions
from ..login.logout import end_session, logged_out_page, upstream_logout_uri
from ..store import clients, users
from ..store.legacy_subjects import subject_for
from .blueprint import bp

LOGOUT_PARAMS = (
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
    "logout_hint",
)


class HubEndSessionEndpoint(EndSessionEndpoint):
    def get_server_jwks(self):  # noqa: ANN201
        return current_app.extensions["idp_keys"].verification_keyset()

    def get_algorithms(self) -> list[str]:
        return ["RS256", "ES256"]

    def is_post_logout_redirect_uri_legitimate(
        self,
        request,
        post_logout_redirect_uri,  # noqa: ANN001
        client,
        logout_hint,
    ) -> bool:
        # Without a hint the user has confirmed on our page, the client was named, and the
        # URI matched one it registered exactly: returning there opens no redirect.
        return True

    def end_session(self, end_session_request) -> None:  # noqa: ANN001
        """Unused: the view below ends the session itself (it also renders front-channel)."""


class InvalidLogoutRequest(IdpError):
    pass


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def _audience(claims: dict):  # noqa: ANN202
    """The client an ID token hint was issued to (the `sub` it saw depends on it)."""
    aud = claims.get("aud")
    aud = aud[0] if isinstance(aud, list) and len(aud) == 1 else aud
    return clients.get(aud) if isinstance(aud, str) else None


@bp.route("/logout", methods=["GET", "POST"])
def logout():  # noqa: ANN201
    server = current_app.extensions["idp_oauth"]
    try:
        req = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        raise InvalidLogoutRequest(status=400) from error
    g.ui_locales = req.ui_locales
    claims = req.id_token_claims
    if claims is not None and claims.get("iss") != current_app.config["IDP"].issuer:
        raise InvalidLogoutRequest(status=400)

    session = sessions.current()
    if session is None:
        # Nothing to end here; still honour a legitimate return address.
        if req.redirect_uri:
            response = redirect(req.redirect_uri)
            sessions.clear_cookie(response)
            return response
        return logged_out_page([], None, None)

    user = users.by_id(session.user_id)
    tied = claims is not None and (
        claims.get("sid") == session.sid
        or (
            not claims.get("sid")
            and user is not None
            and claims.get("sub") == subject_for(user, _audience(claims))
        )
    )
    if not tied:
        decision = request.form.get("decision") if request.method == "POST" else None
        if decision is None:
            return _confirm_page(req, user)
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError as exc:
            raise CSRFError(exc.args[0] if exc.args else None) from exc
        if decision != "logout":
            return make_response(render_template("login/still_signed_in.html", user=user))

    front = end_session(session, "rp_initiated", by=req.client.client_id if req.client else None)
    final = upstream_logout_uri(session.upstream, req.redirect_uri) or req.redirect_uri
    if front:
        return logged_out_page(front, session.sid, final)
    if final:
        response = redirect(final)
        sessions.clear_cookie(response)
        return response
    return logged_out_page([], session.sid, None)


def _confirm_page(req, user):  # noqa: ANN001, ANN202
    hidden = {name: request.values.get(name) for name in LOGOUT_PARAMS if request.values.get(name)}
    response = make_response(
        render_template("login/logout_confirm.html", hidden=hidden, client=req.client, user=user)
    )
    if req.redirect_uri:
        response.csp_form_action = _origin(req.redirect_uri)
    return response
