"""What each user has allowed each client system to receive."""

from __future__ import annotations

from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from sqlalchemy import select

from ..clock import now
from .db import db
from .models import Consent


def covers(user_id: int, client_id: str, scope: str) -> bool:
    consent = db.session.scalar(
        select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    )
    if consent is None:
        return False
    return set(scope_to_list(scope) or []) <= set(scope_to_list(consent.scope) or [])


def grant(user_id: int, client_id: str, scope: str) -> None:
    consent = db.session.scalar(
        select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    )
    if consent is None:
        db.session.add(Consent(user_id=user_id, client_id=client_id, scope=scope, granted_at=now()))
    else:
        merged = set(scope_to_list(consent.scope) or []) | set(scope_to_list(scope) or [])
        consent.scope = list_to_scope(sorted(merged))
        consent.granted_at = now()
    db.session.commit()
