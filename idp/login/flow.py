"""What every way of signing in shares: loading the waiting interaction, rendering its pages,
and finishing — a new SSO session (or a stepped-up one) and the way back to the client system
or to the hub page that asked. Password, second factor and (later) national sign-in end here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import g, make_response, redirect, render_template, url_for

from ..clock import now
from ..store import audit, clients
from ..store.models import Client, User
from . import devices, interaction, sessions, throttle
from .logout import end_session, frontchannel_page


def load(iid: str, allow_hub: bool = False) -> tuple[dict, dict, Client | None]:
    """The interaction, its authorization parameters and client. A sign-in to the hub's own
    pages (`return_to`, no client) is allowed only where `allow_hub` says so."""
    ix = interaction.load(iid)
    params = ix.get("params") or {}
    if allow_hub and ix.get("return_to"):
        return ix, params, None
    client = clients.get(params.get("client_id"))
    if client is None:
        interaction.finish(iid)
        raise interaction.InteractionExpired(status=400)
    g.ui_locales = params.get("ui_locales")
    return ix, params, client


def client_id_of(client: Client | None) -> str | None:
    return client.client_id if client is not None else None


def redirect_origin(uri: str) -> str:
    """Scheme, host and port of a redirect URI, for the sign-in page's CSP form-action."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def page(template: str, params: dict, status: int = 200, **context):  # noqa: ANN201
    response = make_response(render_template(template, **context), status)
    # The form's POST ends in a redirect to the client; let the browser follow it (CSP 3).
    response.csp_form_action = redirect_origin(params.get("redirect_uri", ""))
    return response


def _onward(iid: str, ix: dict, client: Client | None):  # noqa: ANN202
    if client is None:
        interaction.finish(iid)
        return redirect(ix["return_to"])
    return redirect(url_for("oidc.resume", iid=iid))


def complete_login(
    iid: str,
    ix: dict,
    client: Client | None,
    user: User,
    amr: list[str],
    acr: str,
    method: str,
    upstream: dict | None = None,
    factor: str | None = None,
):  # noqa: ANN201
    """A finished authentication: replace any old session with a new one, remember that this
    interaction signed in (so prompt=login and max_age are satisfied), go on.

    The session it replaces (the same person signing in again, or someone else in this browser)
    ends exactly as at logout: its tokens revoked, its clients told by the back channel and, on
    a short page before going on, the front channel."""
    old = sessions.current()
    front = end_session(old, "replaced") if old is not None else []
    session, secret = sessions.start(user.id, amr, acr, upstream, factor=factor)
    ix.pop("mfa", None)
    interaction.update(iid, ix, login_sid=session.sid)
    throttle.clear(user.username)
    user.last_login_at = now()
    audit.record("login_success", user=user, client_id=client_id_of(client), method=method, acr=acr)
    response = _onward(iid, ix, client)
    if front:
        response = frontchannel_page("login/switching.html", front, old.sid, response.location)
    sessions.set_cookie(response, secret)
    devices.note_sign_in(user, response)
    return response


def complete_step_up(
    iid: str,
    ix: dict,
    client: Client | None,
    user: User,
    session: sessions.SsoSession,
    amr: list[str],
    acr: str,
    method: str,
    factor: str | None = None,
):  # noqa: ANN201
    """A second factor proved inside a live session: the session keeps its sid and rises."""
    sessions.elevate(session, amr, acr, factor=factor)
    ix.pop("mfa", None)
    interaction.update(iid, ix)
    audit.record(
        "login_stepped_up", user=user, client_id=client_id_of(client), method=method, acr=acr
    )
    return _onward(iid, ix, client)
