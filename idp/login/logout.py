"""Ending sessions: one place that revokes the session's tokens, notifies its clients through
the back channel, forgets the session, and leaves an audit record; and the page that loads the
clients' front-channel logout URIs (OpenID Connect Front-Channel Logout 1.0 §3)."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Response, current_app, make_response, render_template

from ..store import audit, clients, tokens, users
from ..store.models import Client
from . import sessions


def end_session(session: sessions.SsoSession, reason: str, by: str | None = None) -> list[Client]:
    """End one SSO session everywhere; returns its clients with a front-channel logout URI."""
    user = users.by_id(session.user_id)
    client_ids = session.clients
    sessions.end(session)
    revoked = tokens.revoke_for_sessions([session.sid])
    # The protocol side's outbox, reached through the app so the sign-in pages import nothing
    # of it (it sends the signed logout tokens in the background).
    outbox = current_app.extensions["idp_backchannel"]
    owed = outbox.queue(session.sid, user.subject, client_ids) if user else 0
    audit.record(
        "logout",
        user=user,
        sid=session.sid,
        reason=reason,
        by=by,
        clients=client_ids,
        tokens_revoked=revoked,
        backchannel=owed,
    )
    front = [clients.get(c) for c in client_ids]
    return [c for c in front if c is not None and c.frontchannel_logout_uri]


def end_all_for_user(
    user_id: int, reason: str, by: str | None = None, keep_sid: str | None = None
) -> int:
    """End every session of a user (but `keep_sid`); returns how many ended. Tokens issued in
    sessions that already ended on their own (idle, expired) are revoked too: after "sign out
    everywhere" or a password reset nothing but the kept session still works."""
    ended = 0
    for session in sessions.of_user(user_id):
        if session.sid != keep_sid:
            end_session(session, reason, by)
            ended += 1
    tokens.revoke_for_user(user_id, "logout", keep_sid=keep_sid)
    return ended


def upstream_logout_uri(upstream: dict | None, final_uri: str | None) -> str | None:
    """Where to send the browser to end the session's upstream (national portal) session too,
    then on to `final_uri`; None when there is none. The broker registers how (the
    "idp_upstream_logout" extension), so neither the sign-in pages nor the OIDC endpoints
    import it."""
    hook = current_app.extensions.get("idp_upstream_logout")
    return hook(upstream, final_uri) if hook is not None and upstream else None


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def frontchannel_page(
    template: str, front: list[Client], sid: str | None, redirect_uri: str | None
) -> Response:
    """A page that loads each client's front-channel logout URI in a hidden frame, then
    (without JavaScript, by meta refresh) goes on to `redirect_uri` when there is one."""
    issuer = current_app.config["IDP"].issuer
    frames = []
    for client in front:
        uri = client.frontchannel_logout_uri
        sep = "&" if "?" in uri else "?"
        frames.append(uri + sep + urlencode({"iss": issuer, "sid": sid or ""}))
    response = make_response(
        render_template(
            template,
            frames=frames,
            redirect_uri=redirect_uri,
            delay=current_app.config["IDP"].logout.frontchannel_redirect_delay,
        )
    )
    if frames:
        response.csp_frame_src = " ".join(sorted({_origin(f) for f in frames}))
    return response


def logged_out_page(front: list[Client], sid: str | None, redirect_uri: str | None) -> Response:
    """The signed-out page (front-channel frames, then back to the client when it asked)."""
    response = frontchannel_page("login/logged_out.html", front, sid, redirect_uri)
    sessions.clear_cookie(response)
    return response
