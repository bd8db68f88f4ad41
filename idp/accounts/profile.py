"""A signed-in person updates their own information. The identity number and the username
change only through staff; a new email address is used once it is confirmed. The email, the
phone and the password are how an account is recovered: changing them needs the account's
second factor first (idp.login.step_up), and the owner is told."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from .. import mail
from ..login import step_up
from ..login.logout import end_all_for_user
from ..login.sessions import SsoSession
from ..store import audit, db, users
from ..store.models import User
from . import links, notices, phone, recovery
from . import validators as v
from .passwords import hash_password, verify_password


@dataclass
class ProfileOutcome:
    errors: dict = field(default_factory=dict)
    notice: object | None = None
    # A new mobile number waits for its SMS code (the page goes on to enter it).
    phone_pending: bool = False


CONFIRM_FIRST = _l(
    "To change your email address, mobile number or password, first confirm it is you with a code."
)


FIRST_PASSWORD_NEEDS_RECENT_SIGN_IN = _l(
    "To set a first password, sign out and sign in again with your national account, then "
    "come back here within a few minutes."
)


def update(user: User, form, session: SsoSession) -> ProfileOutcome:  # noqa: ANN001
    errors: dict = {}
    values = {}
    for name, rule in (
        ("full_name", lambda: v.full_name(form.get("full_name"))),
        ("address", lambda: v.clean_text(form.get("address"), max_length=300, required=False)),
        ("email", lambda: v.email(form.get("email"))),
        ("phone", lambda: v.phone(form.get("phone"))),
    ):
        try:
            values[name] = rule()
        except v.FieldError as exc:
            errors[name] = exc.message
    new_phone = values.get("phone") if values.get("phone") != user.phone else None
    new_email = (values.get("email") or "").lower() != (user.email or "").lower()
    if new_phone and step_up.needed(session, user):
        errors["phone"] = CONFIRM_FIRST
    if "email" in values and new_email and step_up.needed(session, user):
        errors["email"] = CONFIRM_FIRST
    if errors:
        return ProfileOutcome(errors=errors)
    changed = [n for n in ("full_name", "address") if getattr(user, n) != values[n]]
    for name in changed:
        setattr(user, name, values[name])
    users.forget_verified(user, changed)
    db.session.commit()
    notice = _l("Your information was saved.")
    if new_email:
        try:
            recovery.start_email_change(user, values["email"])
            notice = _l(
                "Your information was saved. We sent a link to %(email)s: the new "
                "address is used once you open it.",
                email=values["email"],
            )
        except mail.MailError:
            return ProfileOutcome(
                errors={
                    "email": _l(
                        "We could not send the confirmation email to this address. Try again later."
                    )
                }
            )
    if changed:
        audit.record("profile_updated", user=user, fields=changed)
    if new_phone:
        problem = phone.send_code(user, new_phone)
        if problem is not None:
            return ProfileOutcome(errors={"phone": problem})
        return ProfileOutcome(notice=notice, phone_pending=True)
    return ProfileOutcome(notice=notice)


def change_password(user: User, session: SsoSession, current: str, new: str, confirm: str) -> dict:
    """Needs the current password (and, by the page, a recent second factor); other sessions
    end, this one stays, and no reset link sent before works any more. An account made through
    a national portal has no password to give: its first one needs a recent national sign-in
    (or second factor) instead."""
    if user.password_hash is None:
        if not step_up.recent(session):
            return {"current_password": FIRST_PASSWORD_NEEDS_RECENT_SIGN_IN}
    elif not verify_password(user.password_hash, current):
        return {"current_password": _l("The current password is not right.")}
    try:
        v.password(new, username_value=user.username)
    except v.FieldError as exc:
        return {"password": exc.message}
    if new != confirm:
        return {"password_confirm": _l("The two passwords are not the same.")}
    user.password_hash = hash_password(new)
    db.session.commit()
    links.void_pending_changes(user.id)
    ended = end_all_for_user(user.id, "password_changed", by=user.username, keep_sid=session.sid)
    audit.record("password_changed", user=user, other_sessions_ended=ended)
    notices.security_change(user, "password_changed")
    return {}
