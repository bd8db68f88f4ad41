"""Single-use links sent by mail (activation, password reset, email change).

The link carries a random secret; the short-lived store keeps only its digest with the account
it names, for a limited time. Nothing ties a link to a browser, so it works wherever it is
opened.
"""

from __future__ import annotations

import secrets

from flask import url_for

from ..security import sha256_hex
from ..store import kv

MAX_TOKEN = 128


def issue(kind: str, user_id: int, endpoint: str, ttl: int, **extra) -> str:
    """Store a new secret for the account; returns the absolute URL that carries it."""
    secret = secrets.token_urlsafe(32)
    kv().put(f"{kind}:{sha256_hex(secret)}", {"user_id": user_id, **extra}, ttl)
    return url_for(endpoint, token=secret, _external=True)


def peek(kind: str, token: str | None) -> dict | None:
    """What the link names, without using it up."""
    if not token or len(token) > MAX_TOKEN:
        return None
    return kv().get(f"{kind}:{sha256_hex(token)}")


def take(kind: str, token: str | None) -> dict | None:
    """Use the link: of several concurrent openings exactly one gets the record."""
    if not token or len(token) > MAX_TOKEN:
        return None
    return kv().take(f"{kind}:{sha256_hex(token)}")
