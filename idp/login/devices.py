"""Admins and counter staff hear of each sign-in from a device their account has not used
before: their accounts open every other account, so a stolen password used elsewhere must not
go unnoticed.

A device is a random value in a long-lived HttpOnly cookie; the short-lived store keeps only
its digest, per account, for as long as the cookie lives.
"""

from __future__ import annotations

import secrets

from flask import Response, current_app, request

from ..clock import now
from ..security import sha256_hex
from ..store import kv
from ..store.models import User

COOKIE = "idp_device"
LIFETIME = 400 * 24 * 3600  # the longest a browser keeps a cookie
WATCHED_ROLES = frozenset({"admin", "staff"})


def note_sign_in(user: User, response: Response) -> None:
    """Remember this browser for the account; tell the owner when it is new to it."""
    if not WATCHED_ROLES & set(user.roles or []):
        return
    device = request.cookies.get(COOKIE) or ""
    if not 20 <= len(device) <= 64:
        device = secrets.token_urlsafe(24)
    key = f"device:{user.id}:{sha256_hex(device)}"
    if kv().get(key) is None:
        from ..accounts import notices

        notices.security_change(user, "admin_new_device")
    kv().put(key, {"seen": now()}, LIFETIME)
    response.set_cookie(
        COOKIE,
        device,
        max_age=LIFETIME,
        httponly=True,
        secure=current_app.config["IDP"].issuer_is_https,
        samesite="Lax",
        path="/",
    )
