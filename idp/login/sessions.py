"""Server-side single sign-on sessions, kept in the short-lived store.

The browser holds only a random secret in an HttpOnly cookie; the store keys the session by the
secret's digest. The session's public id (``sid``, put into ID tokens) is a different random
value, so a relying party that sees ``sid`` cannot forge the cookie.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field

from flask import Response, current_app, request

from ..clock import now
from ..security import sha256_hex
from ..store import kv


@dataclass
class SsoSession:
    sid: str
    user_id: int
    auth_time: int
    amr: list[str]
    acr: str
    created_at: int
    last_seen: int
    clients: list[str] = field(default_factory=list)
    key: str = ""

    def to_record(self) -> dict:
        record = asdict(self)
        record.pop("key")
        return record


def _config():
    return current_app.config["IDP"].session


def _ttl(session: SsoSession, at: int) -> int:
    cfg = _config()
    absolute_left = session.created_at + cfg.absolute_timeout - at
    return max(0, min(cfg.idle_timeout, absolute_left))


def _save(session: SsoSession, at: int) -> None:
    ttl = _ttl(session, at)
    if ttl <= 0:
        end(session)
        return
    kv().put(f"sso:{session.key}", session.to_record(), ttl)
    kv().put(f"sid:{session.sid}", {"key": session.key, "user_id": session.user_id}, ttl)


def start(user_id: int, amr: list[str], acr: str) -> tuple[SsoSession, str]:
    """Create a session; returns it and the cookie secret to hand to the browser."""
    secret = secrets.token_urlsafe(32)
    at = now()
    session = SsoSession(
        sid=secrets.token_urlsafe(16),
        user_id=user_id,
        auth_time=at,
        amr=amr,
        acr=acr,
        created_at=at,
        last_seen=at,
        key=sha256_hex(secret),
    )
    _save(session, at)
    return session, secret


def current() -> SsoSession | None:
    """The live session named by the request's cookie, or None (expired, revoked, absent)."""
    secret = request.cookies.get(_config().cookie_name)
    if not secret or len(secret) > 128:
        return None
    key = sha256_hex(secret)
    record = kv().get(f"sso:{key}")
    if not record:
        return None
    session = SsoSession(key=key, **record)
    at = now()
    cfg = _config()
    if (
        at >= session.created_at + cfg.absolute_timeout
        or at >= session.last_seen + cfg.idle_timeout
    ):
        end(session)
        return None
    return session


# Writing the session on every request would double the store writes of a silent sign-in;
# idle time is counted in steps of this many seconds instead.
TOUCH_INTERVAL = 60


def touch(session: SsoSession, client_id: str | None = None) -> None:
    """Extend the idle lifetime and remember a client that received tokens in this session."""
    at = now()
    new_client = bool(client_id) and client_id not in session.clients
    if not new_client and at - session.last_seen < TOUCH_INTERVAL:
        return
    session.last_seen = at
    if new_client:
        session.clients.append(client_id)
    _save(session, at)


def end(session: SsoSession) -> None:
    kv().delete(f"sso:{session.key}")
    kv().delete(f"sid:{session.sid}")


def set_cookie(response: Response, secret: str) -> None:
    config = current_app.config["IDP"]
    response.set_cookie(
        config.session.cookie_name,
        secret,
        max_age=config.session.absolute_timeout,
        httponly=True,
        secure=config.issuer_is_https,
        samesite="Lax",
        path="/",
    )


def clear_cookie(response: Response) -> None:
    config = current_app.config["IDP"]
    response.delete_cookie(
        config.session.cookie_name,
        path="/",
        httponly=True,
        secure=config.issuer_is_https,
        samesite="Lax",
    )
