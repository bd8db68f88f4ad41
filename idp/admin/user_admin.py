"""Looking after accounts, shared by the console, the staff lookup and the REST API.

Locking is `active = False` on an account that was activated (its `activated_at` stays), as the
model describes; it ends the account's sessions (each client told by back-channel logout) and
revokes its tokens. Every change is audited with who made it.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from ..accounts import registration
from ..login import factor_lock, sessions, step_up
from ..login.logout import end_all_for_user
from ..store import audit, federation, tokens
from ..store.db import db
from ..store.models import AuditEvent, FederatedIdentity, User

SEARCHABLE = (
    User.username_normalized,
    User.full_name,
    User.phone,
    User.email,
    User.national_id,
    User.tax_code,
    User.business_name,
)


class UserAdminError(ValueError):
    """An operation that cannot be done on this account as it is (a readable reason)."""


def search(query: str = "", limit: int = 50, offset: int = 0) -> tuple[list[User], int]:
    """Accounts whose username, name, phone, email, identity number or tax code contains the
    query (case-insensitive); newest first."""
    statement = select(User)
    query = (query or "").strip()
    if query:
        like = f"%{query.lower()}%"
        statement = statement.where(
            or_(*(db.func.lower(db.func.coalesce(column, "")).like(like) for column in SEARCHABLE))
        )
    total = db.session.scalar(select(db.func.count()).select_from(statement.subquery()))
    rows = db.session.scalars(
        statement.order_by(User.created_at.desc(), User.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


def by_subject(subject: str) -> User | None:
    if not isinstance(subject, str) or len(subject) > 64:
        return None
    return db.session.scalar(select(User).where(User.subject == subject))


def status(user: User) -> str:
    if user.active:
        return "active"
    return "locked" if user.activated_at else "pending"


def summary(user: User) -> dict:
    return {
        "sub": user.subject,
        "username": user.username,
        "full_name": user.full_name,
        "account_type": user.account_type,
        "business_name": user.business_name,
        "email": user.email,
        "phone": user.phone,
        "national_id": user.national_id,
        "tax_code": user.tax_code,
        "roles": list(user.roles or []),
        "status": status(user),
        "created_at": user.created_at,
    }


def link_json(row: FederatedIdentity) -> dict:
    return {
        "id": row.id,
        "connector": row.connector,
        "subject": row.subject,
        "level": row.level,
        "first_login_at": row.first_login_at,
        "last_login_at": row.last_login_at,
    }


def session_json(session: sessions.SsoSession) -> dict:
    return {
        "sid": session.sid,
        "created_at": session.created_at,
        "last_seen": session.last_seen,
        "ip": session.ip,
        "user_agent": session.user_agent,
        "clients": list(session.clients),
        "acr": session.acr,
    }


def recent_events(user: User, limit: int = 20) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.user_id == user.id)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )


def detail(user: User) -> dict:
    data = summary(user)
    data.update(
        email_verified=bool(user.email_verified),
        phone_verified=bool(user.phone_verified),
        address=user.address,
        birthdate=user.birthdate,
        activated_at=user.activated_at,
        links=[link_json(row) for row in federation.of_user(user.id)],
        sessions=[session_json(s) for s in sessions.of_user(user.id)],
    )
    return data


def lock(user: User, by: str) -> int:
    """Lock an activated account; returns how many sessions ended."""
    if not user.activated_at:
        raise UserAdminError(_l("The account is not activated yet."))
    if not user.active:
        return 0
    user.active = False
    audit.record("user_locked", user=user, by=by, commit=False)
    db.session.commit()
    ended = end_all_for_user(user.id, "locked", by)
    tokens.revoke_for_user(user.id)
    return ended


def vouch_second_factor(user: User, by: str) -> None:
    """Another admin, having checked the person, vouches for their proved phone and app."""
    if user.username == by:
        raise UserAdminError(_l("Another administrator must vouch for your second factor."))
    if not step_up.has_second_factor(user):
        raise UserAdminError(_l("The account has no proved phone and no authenticator app."))
    step_up.vouch(user, by)


def unlock_second_factor(user: User, by: str) -> None:
    factor_lock.unlock(user, by)


def unlock(user: User, by: str) -> None:
    """Unlock the account, and its second factor if a day of wrong codes locked it."""
    if not user.activated_at:
        raise UserAdminError(_l("The account is not activated yet; resend the activation email."))
    factor_lock.unlock(user, by)
    if user.active:
        return
    user.active = True
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise UserAdminError(
            _l("Another active account now has this identity number or tax code.")
        ) from exc
    audit.record("user_unlocked", user=user, by=by, commit=False)
    db.session.commit()


def end_sessions(user: User, by: str) -> int:
    ended = end_all_for_user(user.id, "admin", by)
    audit.record("user_sessions_ended", user=user, by=by, count=ended)
    return ended


def resend_activation(user: User, by: str) -> None:
    if user.activated_at:
        raise UserAdminError(_l("The account is already activated."))
    if not user.email:
        raise UserAdminError(_l("The account has no email address."))
    registration.send_activation(user)
    audit.record("activation_resent", user=user, by=by)


def remove_link(user: User, link_id: int, by: str) -> FederatedIdentity:
    """Remove a national link (a wrong link, say). Unlike the citizen's own page this may
    remove the last way in: the citizen can still reset the password by email."""
    row = federation.unlink(user, link_id)
    if row is None:
        raise UserAdminError(_l("No such link on this account."))
    audit.record(
        "federated_link_removed",
        user=user,
        by=by,
        connector=row.connector,
        subject=federation.masked(row.subject),
    )
    return row
