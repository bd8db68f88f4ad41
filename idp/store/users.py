"""User accounts: lookups and creation."""

from __future__ import annotations

from sqlalchemy import select

from ..accounts.passwords import hash_password
from ..clock import now
from .db import db
from .models import User, UsernameAlias


def normalize_username(username: str) -> str:
    return username.strip().casefold()


def by_username(username: str) -> User | None:
    """The account with this username, or with it as an alias (a merged former portal's)."""
    if not isinstance(username, str) or not username or len(username) > 64:
        return None
    name = normalize_username(username)
    user = db.session.scalar(select(User).where(User.username_normalized == name))
    if user is not None:
        return user
    alias = db.session.get(UsernameAlias, name)
    return db.session.get(User, alias.user_id) if alias is not None else None


def username_taken(username: str) -> bool:
    """Whether an account has this username or alias: no other account may take it."""
    name = normalize_username(username)
    return (
        db.session.scalar(select(User.id).where(User.username_normalized == name)) is not None
        or db.session.get(UsernameAlias, name) is not None
    )


def by_id(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def by_subject(subject: str) -> User | None:
    return db.session.scalar(select(User).where(User.subject == subject))


def create(
    *,
    username: str,
    password: str | None,
    full_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    national_id: str | None = None,
    active: bool = True,
    **extra,
) -> User:
    user = User(
        username=username.strip(),
        username_normalized=normalize_username(username),
        password_hash=hash_password(password) if password else None,
        full_name=full_name,
        email=email,
        phone=phone,
        national_id=national_id,
        active=active,
        activated_at=now() if active else None,
        **extra,
    )
    db.session.add(user)
    db.session.commit()
    return user


def forget_verified(user: User, columns: list[str]) -> None:
    """The person changed these fields themselves: no longer values a national portal vouched
    for (see `User.verified_fields`). The caller commits."""
    if user.verified_fields and set(columns) & set(user.verified_fields):
        user.verified_fields = {k: m for k, m in user.verified_fields.items() if k not in columns}
