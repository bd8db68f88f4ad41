"""The owner hears of every security change, by email and by SMS, through channels a thief
holding only the password does not have: a factor added or removed, the email or the phone
changed (the old address and number are told too), the password changed or reset, a national
link added or removed, an admin's sign-in from a new device, a second factor locked.

Each notice carries a link that ends every session of the account and reports the change (an
audited event staff can follow). Mail and SMS go out from the background queue; a failed send
is logged and audited, never shown as the change failing.
"""

from __future__ import annotations

import unicodedata

from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from .. import background, mail, sms
from ..store import audit, users
from ..store.models import User
from . import links

WHAT = {
    "factor_added": _l("A second factor (authenticator app or recovery codes) was set up"),
    "factor_removed": _l("The authenticator app was turned off"),
    "recovery_codes": _l("New recovery codes were made"),
    "email_change_requested": _l("A change of the email address was asked for"),
    "email_changed": _l("The email address was changed"),
    "phone_changed": _l("The mobile number was changed"),
    "password_changed": _l("The password was changed"),
    "password_reset": _l("The password was reset"),
    "link_added": _l("A national account was linked"),
    "link_removed": _l("A national account link was removed"),
    "admin_new_device": _l("An administrator account signed in from a new device"),
    "second_factor_locked": _l("Too many wrong codes: the second factor was locked"),
}
NOTICE_SMS = _l(
    "{province}: {what} on account {username}. If it was not you, end every session at {link}"
)


def sms_text(text: str) -> str:
    """Vietnamese SMS go without diacritics: brandname gateways bill Unicode at 70 characters
    a part instead of 160."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def security_change(
    user: User,
    kind: str,
    *,
    old_email: str | None = None,
    old_phone: str | None = None,
    extra_link: str | None = None,
    revert: dict | None = None,
) -> None:
    """Tell the owner (and the old email address / number) about `kind`; audited. Each
    recipient gets a report link of its own, so whoever else received one (the new address a
    thief set) cannot use up the owner's; `revert` is what reporting puts back."""
    ttl = current_app.config["IDP"].accounts.notice_link_ttl
    what = str(WHAT[kind])
    emails = [a for a in dict.fromkeys([user.email, old_email]) if a]
    phones = [
        p for p in dict.fromkeys([user.phone if user.phone_verified else None, old_phone]) if p
    ]
    province = current_app.config["IDP"].ui.province_name
    lang = str(get_locale() or "vi")

    def report_link() -> str:
        return links.issue("report", user.id, "owner.report", ttl, revert=revert, change=kind)

    for address in emails:
        context = {
            "name": user.full_name or user.username,
            "username": user.username,
            "what": what,
            "link": report_link(),
            "extra_link": extra_link,
            "days": ttl // 86400,
        }
        background.submit(_send_mail, user.id, address, lang, context)
    for number in phones:
        text = sms_text(
            str(NOTICE_SMS)
            .replace("{province}", province)
            .replace("{what}", what)
            .replace("{username}", user.username)
            .replace("{link}", report_link())
        )
        background.submit(_send_sms, user.id, number, text)
    audit.record("security_notice", user=user, kind=kind, emails=len(emails), sms=len(phones))


def _send_mail(user_id: int, address: str, lang: str, context: dict) -> None:
    try:
        mail.send(address, "security_notice", lang, **context)
    except mail.MailError:
        audit.record("security_notice_failed", user=users.by_id(user_id), channel="mail")


def _send_sms(user_id: int, number: str, text: str) -> None:
    try:
        sms.send(number, text)
    except sms.SmsError:
        audit.record("security_notice_failed", user=users.by_id(user_id), channel="sms")
