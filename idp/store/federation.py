"""The federated-identity table: which national subject may sign in as which local account."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..clock import now
from .db import db
from .models import FederatedIdentity, User


class AlreadyLinked(Exception):
    """This national subject is linked to an account already."""


def masked(subject: str) -> str:
    """A national subject as audit records name it: the key often is the person's CCCD or tax
    code, so only its kind and last three characters are kept."""
    kind, _, key = subject.rpartition(":")
    shown = "*" * max(len(key) - 3, 0) + key[-3:]
    return f"{kind}:{shown}" if kind else shown


def find(connector: str, subject: str) -> FederatedIdentity | None:
    return db.session.scalar(
        select(FederatedIdentity).where(
            FederatedIdentity.connector == connector, FederatedIdentity.subject == subject
        )
    )


def of_user(user_id: int) -> list[FederatedIdentity]:
    return list(
        db.session.scalars(
            select(FederatedIdentity)
            .where(FederatedIdentity.user_id == user_id)
            .order_by(FederatedIdentity.id)
        )
    )


def unlinked_accounts() -> list[User]:
    """Active citizen and organisation accounts with no federated identity (staff and admin
    accounts keep local sign-in and are not listed)."""
    linked = select(FederatedIdentity.user_id)
    rows = db.session.scalars(
        select(User)
        .where(User.active.is_(True), User.id.not_in(linked))
        .where(User.account_type.in_(("citizen", "organization")))
        .order_by(User.username_normalized)
    )
    return [u for u in rows if not {"staff", "admin"} & set(u.roles or [])]


def unlink(user: User, link_id: int) -> FederatedIdentity | None:
    if not 0 < link_id < 2**31:  # the column is a 32-bit integer
        return None
    row = db.session.get(FederatedIdentity, link_id)
    if row is None or row.user_id != user.id:
        return None
    db.session.delete(row)
    db.session.commit()
    return row


def link(
    user: User, connector: str, subject: str, claims: dict, level: str | None
) -> FederatedIdentity:
    """Create the link; the unique constraint, not a prior look-up, decides a race."""
    at = now()
    row = FederatedIdentity(
        connector=connector,
        subject=subject,
        user_id=user.id,
        claims=claims,
        level=level,
        first_login_at=at,
        last_login_at=at,
    )
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise AlreadyLinked(f"{connector}:{subject}") from exc
    return row


def seen(row: FederatedIdentity, claims: dict, level: str | None) -> None:
    row.claims, row.level, row.last_login_at = claims, level, now()
    db.session.commit()
