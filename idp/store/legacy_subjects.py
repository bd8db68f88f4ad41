"""Which `sub` a client system sees: the hub's own subject, or, for a system that opted in
(`legacy_subject_source` in its registration), the subject the former portal it used gave the
person, so the system's user mappings survive the move. One value per person per source (a
unique constraint); a person the source did not know gets the hub subject."""

from __future__ import annotations

from sqlalchemy import select

from .db import db
from .models import Client, ImportedAccount, User


def subject_for(user: User, client: Client | None) -> str:
    source = getattr(client, "legacy_subject_source", None)
    if not source:
        return user.subject
    legacy = db.session.scalar(
        select(ImportedAccount.legacy_subject).where(
            ImportedAccount.source == source,
            ImportedAccount.user_id == user.id,
            ImportedAccount.legacy_subject.is_not(None),
        )
    )
    return legacy or user.subject
