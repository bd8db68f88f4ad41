"""`idp users export`: every account as one line of the hub's own JSONL, the format `idp users
import --format jsonl` reads, for a backup or for leaving the hub. Password hashes only when
asked (`--with-credentials`); the file is created new, mode 0600, never over another."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import select

from ...store.db import db
from ...store.models import FederatedIdentity, ImportedAccount, User, UsernameAlias
from .records import PROFILE_FIELDS
from .report import audit_transfer

BATCH = 1000


def _grouped(model, column, user_ids: list[int]) -> dict[int, list]:  # noqa: ANN001
    out: dict[int, list] = {}
    for row in db.session.scalars(select(model).where(column.in_(user_ids))):
        out.setdefault(row.user_id, []).append(row)
    return out


def record_of(
    user: User,
    links: list[FederatedIdentity],
    aliases: list[UsernameAlias],
    sources: list[ImportedAccount],
    with_credentials: bool,
) -> dict:
    """One account in the import format. Its hub subject is the source id and the legacy
    subject, so a hub importing it keeps what clients know."""
    record = {
        "source_id": user.subject,
        "username": user.username,
        "account_type": user.account_type,
        "national_id": user.national_id,
        "tax_code": user.tax_code,
        **{key: getattr(user, key) for key in PROFILE_FIELDS},
        "roles": list(user.roles or []),
        "active": bool(user.active),
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
        "federated": [{"connector": f.connector, "subject": f.subject} for f in links],
        "aliases": [a.username for a in aliases],
        "legacy_subject": user.subject,
        "former_national_id": next(
            (s.former_national_id for s in sources if s.former_national_id), None
        ),
    }
    if with_credentials and user.password_hash:
        record["password_hash"] = user.password_hash
    return {k: v for k, v in record.items() if v not in (None, [], "")}


def export(path: Path, *, with_credentials: bool, by: str = "cli") -> int:
    """Write every account to a new file; returns how many (inside an app context)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    count = 0
    last_id = 0
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        while True:
            users = list(
                db.session.scalars(
                    select(User).where(User.id > last_id).order_by(User.id).limit(BATCH)
                )
            )
            if not users:
                break
            ids = [u.id for u in users]
            links = _grouped(FederatedIdentity, FederatedIdentity.user_id, ids)
            aliases = _grouped(UsernameAlias, UsernameAlias.user_id, ids)
            sources = _grouped(ImportedAccount, ImportedAccount.user_id, ids)
            for user in users:
                record = record_of(
                    user,
                    links.get(user.id, []),
                    aliases.get(user.id, []),
                    sources.get(user.id, []),
                    with_credentials,
                )
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += len(users)
            last_id = ids[-1]
            db.session.expunge_all()
    audit_transfer("users_export", by, accounts=count, with_credentials=with_credentials)
    return count
