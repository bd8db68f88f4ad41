"""Single-use links sent by mail (activation, password reset, email change, security notices).

The link carries a random secret; the short-lived store keeps only its digest with the account
it names, for a limited time. Nothing ties a link to a browser, so it works wherever it is
opened. A `single` kind (password reset) has one live link per account: a pointer names the
newest, so issuing one voids the older ones and `void_all` (the link used, the password
changed) voids them all, wherever they were sent.
"""

from __future__ import annotations

import hmac
import secrets

from flask import current_app, has_request_context, request, url_for

from ..security import sha256_hex
from ..store import kv

MAX_TOKEN = 128


def _live_key(kind: str, user_id: int) -> str:
    return f"{kind}-live:{user_id}"


def issue(kind: str, user_id: int, endpoint: str, ttl: int, single: bool = False, **extra) -> str:
    """Store a new secret for the account; returns the absolute URL (on the issuer) that
    carries it."""
    secret = secrets.token_urlsafe(32)
    digest = sha256_hex(secret)
    if single:
        older = kv().get(_live_key(kind, user_id))
        if older:
            kv().delete(f"{kind}:{older['digest']}")
        kv().put(_live_key(kind, user_id), {"digest": digest}, ttl)
    kv().put(f"{kind}:{digest}", {"user_id": user_id, "single": single, **extra}, ttl)
    # On the issuer's address, never the request's Host header (which a sender could forge to
    # have the mail point elsewhere).
    path = url_for(endpoint, token=secret)
    root = request.script_root if has_request_context() else ""
    return current_app.config["IDP"].issuer + path[len(root) :]


def _current(kind: str, digest: str, record: dict | None) -> dict | None:
    """The record, unless a newer link of a `single` kind replaced it or all were voided."""
    if record is None or not record.get("single"):
        return record
    pointer = kv().get(_live_key(kind, record["user_id"]))
    if pointer is None or not hmac.compare_digest(pointer["digest"], digest):
        return None
    return record


def peek(kind: str, token: str | None) -> dict | None:
    """What the link names, without using it up."""
    if not token or len(token) > MAX_TOKEN:
        return None
    digest = sha256_hex(token)
    return _current(kind, digest, kv().get(f"{kind}:{digest}"))


def take(kind: str, token: str | None) -> dict | None:
    """Use the link: of several concurrent openings exactly one gets the record."""
    if not token or len(token) > MAX_TOKEN:
        return None
    digest = sha256_hex(token)
    record = _current(kind, digest, kv().take(f"{kind}:{digest}"))
    if record is not None and record.get("single"):
        void_all(kind, record["user_id"])
    return record


def void_all(kind: str, user_id: int) -> None:
    """No link of this kind for the account works any more."""
    pointer = kv().take(_live_key(kind, user_id))
    if pointer:
        kv().delete(f"{kind}:{pointer['digest']}")


def void_pending_changes(user_id: int) -> None:
    """Void what a thief may have set in motion: a password reset link and an email change
    waiting for its confirmation (the password reset or changed, every session ended, the
    owner reporting a change)."""
    for kind in ("reset", "email"):
        void_all(kind, user_id)
