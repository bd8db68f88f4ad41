"""Server-side single sign-on sessions, kept in the short-lived store.

The browser holds only a random secret in an HttpOnly cookie; the store keys the session by the
secret's digest. The session's public id (``sid``, put into ID tokens) is a different random
value, so a relying party that sees ``sid`` cannot forge the cookie. Two sets sit beside each
session: the clients that received tokens in it (for single logout) and, per user, the user's
sessions (for "devices and sessions" and for ending them all).
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime

from flask import Response, current_app, has_request_context, request

from ..clock import now
from ..security import sha256_hex
from ..store import kv

# Writing the session on every request would double the store writes of a silent sign-in;
# idle time is counted in steps of this many seconds instead.
TOUCH_INTERVAL = 60


@dataclass
class SsoSession:
    sid: str
    user_id: int
    auth_time: int
    amr: list[str]
    acr: str
    created_at: int
    last_seen: int
    user_agent: str = ""
    ip: str = ""
    # Signed in through a national connector: {"connector", "sub", "sid", "id_token"}, for
    # logging out upstream and for the upstream's back-channel logout.
    upstream: dict | None = None
    # Clients already in the session's client set, so a returning one costs no store write.
    joined: list[str] = field(default_factory=list)
    # When and with which factor ("sms", "totp", "recovery") this session last passed a second
    # factor: security changes need a recent one (idp.login.step_up).
    mfa_at: int = 0
    mfa_factor: str = ""
    key: str = ""

    def to_record(self) -> dict:
        record = asdict(self)
        record.pop("key")
        return record

    @property
    def created_at_dt(self) -> datetime:
        return datetime.fromtimestamp(self.created_at, UTC)

    @property
    def last_seen_dt(self) -> datetime:
        return datetime.fromtimestamp(self.last_seen, UTC)

    @property
    def clients(self) -> list[str]:
        return kv().set_members(f"sso-clients:{self.sid}")


_FIELDS = frozenset(f.name for f in fields(SsoSession)) - {"key"}


def _config():  # noqa: ANN202
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
    kv().put_many(
        [
            (f"sso:{session.key}", session.to_record(), ttl),
            (f"sid:{session.sid}", {"key": session.key, "user_id": session.user_id}, ttl),
        ]
    )


def start(
    user_id: int,
    amr: list[str],
    acr: str,
    upstream: dict | None = None,
    factor: str | None = None,
) -> tuple[SsoSession, str]:
    """Create a session; returns it and the cookie secret to hand to the browser."""
    secret = secrets.token_urlsafe(32)
    at = now()
    agent = ip = ""
    if has_request_context():
        agent = (request.user_agent.string or "")[:200]
        ip = request.remote_addr or ""
    session = SsoSession(
        sid=secrets.token_urlsafe(16),
        user_id=user_id,
        auth_time=at,
        amr=amr,
        acr=acr,
        created_at=at,
        last_seen=at,
        user_agent=agent,
        ip=ip,
        upstream=upstream,
        mfa_at=at if factor else 0,
        mfa_factor=factor or "",
        key=sha256_hex(secret),
    )
    _save(session, at)
    ttl = _config().absolute_timeout
    kv().set_add(f"user-sessions:{user_id}", session.sid, ttl)
    if upstream:
        connector = upstream["connector"]
        kv().set_add(f"upstream-sessions:{connector}:{upstream['sub']}", session.sid, ttl)
        if upstream.get("sid"):
            kv().put(f"upstream-sid:{connector}:{upstream['sid']}", {"sid": session.sid}, ttl)
    return session, secret


def by_upstream(connector: str, sub: str | None, sid: str | None) -> list[SsoSession]:
    """Live hub sessions that an upstream session (its `sub` and/or `sid`) stands for."""
    if sub is None:
        pointer = kv().get(f"upstream-sid:{connector}:{sid}") if sid else None
        session = by_sid(pointer["sid"]) if pointer else None
        return [session] if session is not None else []
    found = []
    for hub_sid in kv().set_members(f"upstream-sessions:{connector}:{sub}"):
        session = by_sid(hub_sid)
        if session is not None and (sid is None or (session.upstream or {}).get("sid") == sid):
            found.append(session)
    return found


def _live(record: dict | None, key: str) -> SsoSession | None:
    if not record:
        return None
    # Fields this version does not know (a newer worker wrote the record during a rolling
    # deploy) are left aside rather than failing the request.
    session = SsoSession(key=key, **{k: v for k, v in record.items() if k in _FIELDS})
    at = now()
    cfg = _config()
    if (
        at >= session.created_at + cfg.absolute_timeout
        or at >= session.last_seen + cfg.idle_timeout
    ):
        end(session)
        return None
    return session


def current() -> SsoSession | None:
    """The live session named by the request's cookie, or None (expired, revoked, absent)."""
    secret = request.cookies.get(current_app.config["IDP"].cookie(_config().cookie_name))
    if not secret or len(secret) > 128:
        return None
    key = sha256_hex(secret)
    return _live(kv().get(f"sso:{key}"), key)


def by_sid(sid: str) -> SsoSession | None:
    pointer = kv().get(f"sid:{sid}") if sid and len(sid) <= 64 else None
    if not pointer:
        return None
    return _live(kv().get(f"sso:{pointer['key']}"), pointer["key"])


def of_user(user_id: int) -> list[SsoSession]:
    """The user's live sessions, newest first; forgets ones that ended on their own."""
    sessions = []
    for sid in kv().set_members(f"user-sessions:{user_id}"):
        session = by_sid(sid)
        if session is None:
            kv().set_remove(f"user-sessions:{user_id}", sid)
        else:
            sessions.append(session)
    return sorted(sessions, key=lambda s: s.created_at, reverse=True)


def touch(session: SsoSession, client_id: str | None = None) -> None:
    """Extend the idle lifetime and remember a client that received tokens in this session."""
    at = now()
    joining = client_id is not None and client_id not in session.joined
    if joining:
        # The set is what logout reads; `joined` only spares the write next time.
        kv().set_add(f"sso-clients:{session.sid}", client_id, _config().absolute_timeout)
        session.joined.append(client_id)
    if joining or at - session.last_seen >= TOUCH_INTERVAL:
        session.last_seen = at
        _save(session, at)


def elevate(session: SsoSession, amr: list[str], acr: str, factor: str | None = None) -> None:
    """Record a step-up (a second factor proved within this session): new `amr` and `acr`,
    the same sid, so clients already signed in stay tied to it."""
    at = now()
    session.amr, session.acr, session.last_seen = list(amr), acr, at
    if factor:
        session.mfa_at, session.mfa_factor = at, factor
    _save(session, at)


def end(session: SsoSession) -> None:
    kv().delete(f"sso:{session.key}")
    kv().delete(f"sid:{session.sid}")
    kv().set_remove(f"user-sessions:{session.user_id}", session.sid)


def set_cookie(response: Response, secret: str) -> None:
    config = current_app.config["IDP"]
    response.set_cookie(
        config.cookie(config.session.cookie_name),
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
        config.cookie(config.session.cookie_name),
        path="/",
        httponly=True,
        secure=config.issuer_is_https,
        samesite="Lax",
    )
