"""Proving a mobile number by SMS code: at registration, and before a changed number is used.

The number waiting for proof is the one the code was sent to (kept with the code in the
short-lived store); the account's number changes only when the code comes back. A pending
registration is named by a random link token, since it has no session yet.
"""

from __future__ import annotations

import secrets

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..login import interaction, otp
from ..security import sha256_hex
from ..store import audit, db, kv, users
from ..store.models import User

PHONE_SMS = _l(
    "Your code to confirm this mobile number is {code}. It is valid for {minutes} minutes."
)


def _subject(user: User) -> str:
    return str(user.id)


def send_code(user: User, phone: str) -> object | None:
    """Send a code to `phone` for this account; a message for the page when it was not sent."""
    return otp.send_or_explain(
        "phone",
        _subject(user),
        phone,
        PHONE_SMS,
        user,
        _l("We could not send the SMS just now. Please try again in a moment."),
    )


def pending_number(user: User) -> str | None:
    record = otp.pending("phone", _subject(user))
    return record["phone"] if record else None


def number_to_prove(user: User) -> str | None:
    """The number a code would go to now: one waiting for proof, else an unproved own one."""
    return pending_number(user) or (user.phone if user.phone and not user.phone_verified else None)


def confirm(user: User, code: str, vouched: bool | None = None) -> object | None:
    """Check the code; on success the account takes the number, proved. `vouched`: whether
    the number was set by a session that passed another factor (None: as the account was
    made, by the person or at the counter). Returns a message when it failed."""
    phone = pending_number(user) or user.phone
    result = otp.verify("phone", _subject(user), code, user=user)
    if result is not otp.Result.OK:
        return otp.RESULT_MESSAGES[result]
    changed = user.phone != phone
    user.phone, user.phone_verified = phone, True
    if changed:
        users.forget_verified(user, ["phone"])
    if vouched is not None:
        user.phone_vouched = vouched
    db.session.commit()
    audit.record(
        "phone_verified", user=user, phone=otp.mask(phone), changed=changed, vouched=vouched
    )
    return None


def answer(user: User, number: str, form, vouched: bool | None = None):  # noqa: ANN001, ANN201
    """One POST of a phone-proof page: "send" a code to `number`, or check the code typed.
    Returns (proved, message for the page, notice)."""
    if form.get("action") == "send":
        message = send_code(user, number)
        return False, message, None if message else _l("A new code was sent.")
    message = confirm(user, form.get("code", "")[:64], vouched)
    return message is None, message, None


def page_context(user: User, number: str) -> dict:
    """What the phone-proof page shows about the number and its code."""
    return {
        "masked": otp.mask(number),
        "resend_in": otp.resend_wait(number),
        "sent": pending_number(user) is not None,
    }


def registration_token(user: User) -> str:
    """A link token naming a just-registered (not yet active) account for its phone proof,
    valid only in the browser that registered it (the citizen's, or the counter's)."""
    token = secrets.token_urlsafe(24)
    ttl = current_app.config["IDP"].accounts.activation_ttl
    record = {"user_id": user.id, "browser": interaction.browser_binding()}
    kv().put(f"phone-reg:{sha256_hex(token)}", record, ttl)
    return token


def by_registration_token(token: str) -> User | None:
    """The account waiting for its phone proof; another browser gets the 'start again' page."""
    if not token or len(token) > 64:
        return None
    record = kv().get(f"phone-reg:{sha256_hex(token)}")
    if record is None:
        return None
    interaction.require_same_browser(record.get("browser"), "registration_phone")
    return users.by_id(record["user_id"])
