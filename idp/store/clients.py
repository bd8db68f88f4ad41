"""Client systems: lookups (cached briefly per process) and registration."""

from __future__ import annotations

import secrets
import threading
import time

from sqlalchemy import select

from ..security import new_secret, sha256_hex
from .db import db
from .models import Client

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
DEFAULT_SCOPE = "openid profile email phone address"

# Client lookups are on every token request; a few seconds of caching bounds how long another
# instance keeps honouring a disabled client. The cached object is detached and shared read-only:
# merging it into each request's session cost more than the rest of a userinfo lookup.
CACHE_SECONDS = 3.0
_cache: dict[str, tuple[float, Client | None]] = {}
_cache_lock = threading.Lock()


def get(client_id: str | None) -> Client | None:
    """An enabled client by id, or None; read-only (change clients through `find`)."""
    if not client_id or not isinstance(client_id, str) or len(client_id) > 64:
        return None
    now = time.monotonic()
    hit = _cache.get(client_id)
    if hit and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    client = db.session.scalar(select(Client).where(Client.client_id == client_id))
    if client is not None and client.disabled:
        client = None
    if client is not None:
        db.session.expunge(client)
    with _cache_lock:
        _cache[client_id] = (now, client)
    return client


def forget(client_id: str | None = None) -> None:
    with _cache_lock:
        if client_id is None:
            _cache.clear()
        else:
            _cache.pop(client_id, None)


def find(client_id: str) -> Client | None:
    """A client by id whether enabled or not (for administration)."""
    return db.session.scalar(select(Client).where(Client.client_id == client_id))


def all_clients() -> list[Client]:
    return list(db.session.scalars(select(Client).order_by(Client.name)))


def new_client_id() -> str:
    """Random and URL-safe; never starting with '-', which command lines read as an option."""
    while True:
        client_id = secrets.token_urlsafe(18)
        if client_id[0].isalnum():
            return client_id


def create(
    *,
    name: str,
    redirect_uris: list[str],
    auth_method: str,
    post_logout_redirect_uris: list[str] | None = None,
    backchannel_logout_uri: str | None = None,
    frontchannel_logout_uri: str | None = None,
    jwks_uri: str | None = None,
    jwks: dict | None = None,
    scope: str = DEFAULT_SCOPE,
    first_party: bool = False,
    require_mfa: bool = False,
    min_acr: str | None = None,
    legacy_subject_source: str | None = None,
    client_id: str | None = None,
    client_secret_hash: str | None = None,
    id_token_alg: str | None = None,
    source: str = "cli",
) -> tuple[Client, str | None]:
    """Register a client; returns it and the plaintext secret (shown once) if one was made."""
    secret = None
    if auth_method in ("client_secret_basic", "client_secret_post") and not client_secret_hash:
        secret = new_secret()
        client_secret_hash = sha256_hex(secret)
    client = Client(
        client_id=client_id or new_client_id(),
        name=name,
        redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(post_logout_redirect_uris or []),
        backchannel_logout_uri=backchannel_logout_uri,
        frontchannel_logout_uri=frontchannel_logout_uri,
        token_endpoint_auth_method=auth_method,
        client_secret_hash=client_secret_hash
        if auth_method != "none" and auth_method != "private_key_jwt"
        else None,
        jwks_uri=jwks_uri,
        jwks=jwks,
        scope=scope,
        first_party=first_party,
        require_mfa=require_mfa,
        min_acr=min_acr,
        legacy_subject_source=legacy_subject_source,
        id_token_signed_response_alg=id_token_alg,
        source=source,
    )
    db.session.add(client)
    db.session.commit()
    forget(client.client_id)
    return client, secret


def rotate_secret(client: Client) -> str:
    secret = new_secret()
    client.client_secret_hash = sha256_hex(secret)
    db.session.commit()
    forget(client.client_id)
    return secret


def set_disabled(client: Client, disabled: bool) -> None:
    client.disabled = disabled
    db.session.commit()
    forget(client.client_id)
