"""Forgotten passwords and email changes: single-use links sent by mail.

A reset request never says whether the account exists. A completed reset ends every session of
the account (tokens revoked, clients told) and lifts a brute-force lock.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .. import mail
from ..clock import now
from ..login import throttle
from ..login.logout import end_all_for_user
from ..store import audit, db
from ..store import users as store_users
from ..store.models import User
from . import links, notices
from . import validators as v
from .passwords import hash_password


def find_account(identifier: str) -> User | None:
    identifier = (identifier or "").strip()[:254]
    if "@" not in identifier:
        return store_users.by_username(identifier)
    try:
        address = v.email(identifier)
    except v.FieldError:
        return None
    return db.session.scalar(
        select(User)
        .where(func.lower(User.email) == address.lower(), User.active.is_(True))
        .limit(1)
    )


def request_reset(identifier: str) -> None:
    """Mail a reset link to an active account named by username or email; silent otherwise.
    Runs from the background queue, so the page answers alike either way."""
    user = find_account(identifier)
    if user is None or not user.active or not user.email:
        audit.record("password_reset_unknown", username=(identifier or "")[:64])
        return
    ttl = current_app.config["IDP"].accounts.reset_ttl
    link = links.issue("reset", user.id, "accounts.reset_password", ttl, single=True)
    try:
        mail.send_to_user(user, "reset", link=link, minutes=ttl // 60)
    except mail.MailError:
        audit.record("password_reset_mail_failed", user=user)
        return
    audit.record("password_reset_requested", user=user)


def peek_reset(token: str) -> User | None:
    """The account a reset link names, without using the link up."""
    record = links.peek("reset", token)
    return store_users.by_id(record["user_id"]) if record else None


def complete_reset(token: str, password: str, confirm: str) -> tuple[User | None, dict]:
    """Set the new password; returns the account, or None and the field errors."""
    user = peek_reset(token)
    if user is None:
        return None, {"token": _l("This link is not valid, was already used, or has expired.")}
    errors: dict = {}
    try:
        v.password(password, username_value=user.username)
    except v.FieldError as exc:
        errors["password"] = exc.message
    if not errors and password != confirm:
        errors["password_confirm"] = _l("The two passwords are not the same.")
    if errors:
        return None, errors
    if links.take("reset", token) is None:  # used meanwhile in another tab
        return None, {"token": _l("This link is not valid, was already used, or has expired.")}
    user.password_hash = hash_password(password)
    first = user.activated_at is None
    if first:  # made by staff: the citizen's first password activates it
        user.active, user.activated_at, user.email_verified = True, now(), True
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        from .registration import DUPLICATE_NATIONAL_ID

        return None, {"token": DUPLICATE_NATIONAL_ID}
    links.void_pending_changes(user.id)
    ended = end_all_for_user(user.id, "password_reset", by=user.username)
    throttle.clear(user.username)
    audit.record("password_reset", user=user, sessions_ended=ended)
    if not first:
        notices.security_change(user, "password_reset")
    return user, {}


def start_email_change(user: User, new_email: str) -> None:
    """The new address is used only after the person opens the link sent to it."""
    ttl = current_app.config["IDP"].accounts.activation_ttl
    # One pending change at a time: a new request voids the older link.
    link = links.issue(
        "email", user.id, "accounts.confirm_email", ttl, single=True, email=new_email
    )
    mail.send(
        new_email,
        "verify_email",
        str(get_locale() or "vi"),
        name=user.full_name or user.username,
        link=link,
        hours=ttl // 3600,
    )
    audit.record("email_change_requested", user=user)
    # The owner's present address hears of it before it happens, with a link that voids it.
    notices.security_change(user, "email_change_requested")


def confirm_email(token: str) -> User | None:
    record = links.take("email", token)
    user = store_users.by_id(record["user_id"]) if record else None
    if user is None:
        return None
    old = user.email
    user.email, user.email_verified = record["email"], True
    db.session.commit()
    links.void_all("reset", user.id)  # sent to the old address
    audit.record("email_changed", user=user)
    notices.security_change(user, "email_changed", old_email=old, revert={"email": old})
    return user
