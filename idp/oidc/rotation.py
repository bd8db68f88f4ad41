"""Refresh-token rotation that is safe to retry (RFC 9700 §4.14.2, with a grace period).

A rotation uses the old refresh token up and writes the new pair in one statement, so a failure
leaves the old token working. When the answer is lost after that (a client time-out, a worker or
Redis failing before the answer left), the client retries with the old token: within
`tokens.refresh_retry_window` seconds, by the same confidential client, while the new pair is
still unused, it gets that same pair again instead of being taken for a thief. A public client
gets no such grace: anyone holding its refresh token is that client, so a second use is always
treated as reuse. The pair is kept on the old row
sealed with the old refresh token itself (AES-GCM under a key derived from it; the row keeps
only its SHA-256 digest), so the database alone never yields a usable token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from ..clock import now
from ..store import tokens
from ..store.models import Token

_CONTEXT = b"idp refresh-token retry"


def _key(refresh_token: str) -> bytes:
    """Not the stored digest (SHA-256 of the token): an HMAC keyed by the token."""
    return hmac.new(refresh_token.encode(), _CONTEXT, hashlib.sha256).digest()


def seal(used_refresh_token: str, pair: dict) -> str:
    """The new pair, readable only by whoever presents the refresh token it replaced."""
    nonce = os.urandom(12)
    plain = json.dumps(
        {"access_token": pair["access_token"], "refresh_token": pair.get("refresh_token")}
    ).encode()
    sealed = AESGCM(_key(used_refresh_token)).encrypt(nonce, plain, _CONTEXT)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(used_refresh_token: str, sealed: str | None) -> dict | None:
    if not sealed:
        return None
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        plain = AESGCM(_key(used_refresh_token)).decrypt(raw[:12], raw[12:], _CONTEXT)
        return json.loads(plain)
    except (InvalidTag, ValueError):
        return None


@dataclass
class Retry:
    """What a retry of a rotated refresh token comes to."""

    pair: dict | None  # the pair the rotation made, as a token response; None: refused
    theft: bool  # refused because this looks like reuse by someone else: revoke the grant


def retry_of(parent: Token, presented: str, client_id: str, confidential: bool) -> Retry:
    """Decide about a refresh token that rotation has already used up. Only an authenticated
    (confidential) client's retry can be told from a thief's replay."""
    window = current_app.config["IDP"].tokens.refresh_retry_window
    if (
        window <= 0
        or not confidential
        or parent.client_id != client_id
        or parent.rotated_at is None
        or now() - parent.rotated_at > window
    ):
        return Retry(None, theft=True)
    pair = unseal(presented, parent.successor)
    child = tokens.by_refresh_token(pair.get("refresh_token") or "") if pair else None
    if child is None or child.grant_id != parent.grant_id:
        return Retry(None, theft=True)
    if child.refresh_revoked or child.access_revoked:
        # Used already (so the answer did arrive: reuse), or ended for another reason (logout).
        return Retry(None, theft=child.refresh_revoked_reason == "rotated")
    return Retry(
        {
            "token_type": "Bearer",
            "access_token": pair["access_token"],
            "refresh_token": pair["refresh_token"],
            "expires_in": max(0, child.access_expires_at - now()),
            "scope": child.scope,
        },
        theft=False,
    )
