"""An interaction: one authorization request waiting for the user to sign in or consent.

The protocol side stores the request's parameters here and sends the browser to the sign-in
pages; they record what the user did (`login_sid`, `consent_given`, `denied`) and send the
browser back to `/authorize/resume/<id>`, where the same checks run again on the stored
parameters.

An interaction belongs to the browser that started it (threat model §1): the browser holds a
random secret in an HttpOnly cookie, the interaction keeps its digest, and every step compares
the two. The interaction id alone opens nothing — a link sent to someone else, or a page opened
in another browser, gets the "start again" page and sees nobody's data.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, Response, current_app, g, request
from flask_babel import lazy_gettext as _l

from ..errors import InteractionExpired
from ..security import sha256_hex
from ..store import audit, kv

BROWSER_COOKIE = "idp_browser"


class ForeignBrowser(InteractionExpired):
    """The step was opened in a browser other than the one that started the sign-in."""

    message = _l(
        "This sign-in was started in another browser or has expired. Please start again from "
        "the service you were using."
    )


def browser_cookie_name() -> str:
    """`__Host-` over https: a cookie no subdomain or plain-http page can plant or widen."""
    return current_app.config["IDP"].cookie(BROWSER_COOKIE)


def _sent_secret() -> str | None:
    secret = g.get("idp_browser_secret") or request.cookies.get(browser_cookie_name())
    if not secret or not 32 <= len(secret) <= 64:
        return None
    return secret


def browser_digest() -> str | None:
    """This browser's binding digest, or None when it holds no secret (none is handed out)."""
    secret = _sent_secret()
    return sha256_hex(secret) if secret else None


def browser_binding() -> str:
    """The digest that ties state to this browser; hands the browser a secret when it has none
    (the cookie is set on this request's response)."""
    secret = _sent_secret()
    if secret is None:
        secret = secrets.token_urlsafe(32)
        g.idp_browser_secret = secret
    return sha256_hex(secret)


def same_browser(binding: object) -> bool:
    """Whether this request comes from the browser whose digest is `binding`."""
    secret = _sent_secret()
    if secret is None or not isinstance(binding, str):
        return False
    return hmac.compare_digest(sha256_hex(secret), binding)


def require_same_browser(binding: object, what: str) -> None:
    if not same_browser(binding):
        audit.record("interaction_foreign_browser", step=what[:64], path=request.path[:200])
        raise ForeignBrowser(status=400)


def _put(iid: str, record: dict) -> None:
    kv().put(f"ix:{iid}", record, current_app.config["IDP"].session.interaction_ttl)


def create(params: dict[str, str]) -> str:
    iid = secrets.token_urlsafe(24)
    _put(iid, {"params": params, "browser": browser_binding()})
    return iid


def create_for_hub(return_to: str) -> str:
    """An interaction for signing in to the hub's own pages; `return_to` is a local path."""
    iid = secrets.token_urlsafe(24)
    _put(iid, {"return_to": return_to, "browser": browser_binding()})
    return iid


def load(iid: str) -> dict:
    """The interaction of this browser, or a friendly 'start again' page when it is gone or
    belongs to another browser."""
    if not iid or len(iid) > 64:
        raise InteractionExpired(status=400)
    record = kv().get(f"ix:{iid}")
    if record is None:
        raise InteractionExpired(status=400)
    require_same_browser(record.get("browser"), "interaction")
    return record


def update(iid: str, record: dict, **changes) -> dict:
    record.update(changes)
    _put(iid, record)
    return record


def finish(iid: str) -> None:
    kv().delete(f"ix:{iid}")


def _set_browser_cookie(response: Response) -> Response:
    secret = g.get("idp_browser_secret")
    if secret:
        config = current_app.config["IDP"]
        response.set_cookie(
            browser_cookie_name(),
            secret,
            httponly=True,
            secure=config.issuer_is_https,
            samesite="Lax",
            path="/",
        )
    return response


def init_app(app: Flask) -> None:
    app.after_request(_set_browser_cookie)
