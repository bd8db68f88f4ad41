"""The audit trail: who did what, when, from where."""

from __future__ import annotations

import logging

from flask import has_request_context, request

from ..clock import now
from ..observability import count_audit_event
from .db import db
from .models import AuditEvent

log = logging.getLogger("idp.audit")


def record(
    event: str,
    *,
    user=None,
    username: str | None = None,  # noqa: ANN001
    client_id: str | None = None,
    commit: bool = True,
    **detail,
) -> None:
    """Write one audit event and commit it at once, so it survives a later failure; with
    commit=False it joins the caller's transaction, to be committed with the change it records."""
    ip = request.remote_addr if has_request_context() else None
    entry = AuditEvent(
        at=now(),
        event=event,
        user_id=getattr(user, "id", None),
        username=username or getattr(user, "username", None),
        client_id=client_id,
        ip=ip,
        detail=detail or None,
    )
    db.session.add(entry)
    count_audit_event(event, detail)
    if commit:
        db.session.commit()
    log.info(
        "audit %s user=%s client=%s ip=%s %s", event, entry.username, client_id, ip, detail or ""
    )
