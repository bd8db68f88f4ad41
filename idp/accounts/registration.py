"""Registration of citizens and organisations, and activation by an emailed link.

A registration creates an inactive account and mails a single-use link that works in any
browser (it names the account by a random secret, not by a browser session). Pending accounts
do not hold their identity number or tax code: only activation does, so a stranger who types
someone's CCCD cannot block its owner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .. import mail
from ..clock import now
from ..store import audit, db
from ..store import users as store_users
from ..store.models import User
from . import divisions, limits, links, phone
from . import validators as v

DUPLICATE_NATIONAL_ID = _l(
    'An account with this identity number already exists. If it is yours, use "Forgot '
    'password" on the sign-in page, or bring your CCCD to the one-stop counter (Bộ phận một '
    "cửa) to recover it."
)
DUPLICATE_TAX_CODE = _l(
    'An account for this tax code already exists. Use "Forgot password" on the sign-in page, '
    "or contact the one-stop counter to recover it."
)


@dataclass
class Outcome:
    """The result of a form: the account when it worked, otherwise a message per field."""

    user: User | None = None
    errors: dict[str, object] = field(default_factory=dict)
    mail_failed: bool = False
    # The link token of the page that proves the mobile number, and why no code went out.
    phone_token: str | None = None
    sms_problem: object | None = None
    # Too many registrations from this IP or with this number or address: nothing was done.
    limited: bool = False


def _check(errors: dict, name: str, rule: Callable[[], object]) -> object:
    try:
        return rule()
    except v.FieldError as exc:
        errors[name] = exc.message
        return None


def _common_credentials(form: dict, errors: dict, with_password: bool = True) -> dict:
    username = _check(errors, "username", lambda: v.username(form.get("username")))
    password = None
    if with_password:
        password = _check(
            errors, "password", lambda: v.password(form.get("password"), username_value=username)
        )
        if password and form.get("password_confirm") != form.get("password"):
            errors["password_confirm"] = _l("The two passwords are not the same.")
    email = _check(errors, "email", lambda: v.email(form.get("email")))
    phone = _check(errors, "phone", lambda: v.phone(form.get("phone")))
    if username and store_users.by_username(username) is not None:
        errors["username"] = _l("This username is taken. Choose another one.")
    return {"username": username, "password": password, "email": email, "phone": phone}


def register_citizen(form: dict, staff: User | None = None) -> Outcome:
    """A citizen registers themself, or counter staff register them (no password: the
    citizen sets it from the emailed link)."""
    errors: dict[str, object] = {}
    values = _common_credentials(form, errors, with_password=staff is None)
    values["full_name"] = _check(errors, "full_name", lambda: v.full_name(form.get("full_name")))
    born = _check(errors, "birthdate", lambda: v.birthdate(form.get("birthdate")))
    sex = _check(errors, "sex", lambda: v.sex(form.get("sex")))
    values["national_id"] = _check(
        errors,
        "national_id",
        lambda: v.national_id(form.get("national_id"), born=born, sex_value=sex),
    )
    values["address"] = _check(
        errors, "address", lambda: v.clean_text(form.get("address"), max_length=300)
    )
    # Only counter staff hear at once that a number already has an account: to anyone else
    # the answer would say whether a typed CCCD's owner is registered. A pending account does
    # not hold the number; its activation link says so to whoever holds that mailbox, within
    # the limits below.
    if staff is not None and values["national_id"]:
        if _active_with("national_id", values["national_id"]):
            errors["national_id"] = DUPLICATE_NATIONAL_ID
    if errors:
        return Outcome(errors=errors)
    if staff is None and not limits.registration_allowed(values["national_id"], values["email"]):
        return Outcome(limited=True)
    return _create(values, staff, birthdate=born.isoformat(), sex=sex, account_type="citizen")


def register_organization(form: dict) -> Outcome:
    errors: dict[str, object] = {}
    values = _common_credentials(form, errors)
    values["business_name"] = _check(
        errors, "business_name", lambda: v.clean_text(form.get("business_name"), max_length=200)
    )
    values["tax_code"] = _check(errors, "tax_code", lambda: v.tax_code(form.get("tax_code")))
    values["contact_name"] = _check(
        errors, "contact_name", lambda: v.full_name(form.get("contact_name"))
    )
    province = divisions.province(form.get("province_code"))
    if province is None:
        errors["province_code"] = _l("Choose a province.")
    ward = divisions.ward(form.get("province_code"), form.get("ward_code"))
    if ward is None:
        errors["ward_code"] = _l("Choose a commune or ward of that province.")
    values["street"] = _check(
        errors, "street", lambda: v.clean_text(form.get("street"), max_length=200)
    )
    # Tax codes are public (the business register), so a taken one is said at once.
    if values["tax_code"] and _active_with("tax_code", values["tax_code"]):
        errors["tax_code"] = DUPLICATE_TAX_CODE
    if errors:
        return Outcome(errors=errors)
    if not limits.registration_allowed(values["tax_code"], values["email"]):
        return Outcome(limited=True)
    address = ", ".join([values["street"], ward.name, province.label])
    return _create(
        values,
        account_type="organization",
        full_name=values["business_name"],
        province_code=province.code,
        ward_code=ward.code,
        address=address,
    )


def _active_with(column: str, value: str) -> bool:
    return (
        db.session.scalar(
            select(User.id).where(getattr(User, column) == value, User.active.is_(True))
        )
        is not None
    )


def _create(values: dict, staff: User | None = None, **extra) -> Outcome:
    fields = {**values, **extra}
    # A number the person proves themself is not vouched for; one taken at the counter is.
    user = store_users.create(active=False, phone_vouched=staff is not None, **fields)
    if staff is None:
        audit.record("user_registered", user=user, account_type=user.account_type)
    else:
        audit.record(
            "user_registered_by_staff",
            user=user,
            staff=staff.username,
            staff_name=staff.full_name,
            account_type=user.account_type,
        )
    try:
        send_activation(user) if staff is None else send_staff_activation(user, staff)
    except mail.MailError:
        # Nothing half-done stays behind: the person can submit the same form again.
        db.session.delete(user)
        db.session.commit()
        return Outcome(errors={}, mail_failed=True)
    problem = phone.send_code(user, user.phone) if user.phone else None
    return Outcome(user=user, phone_token=phone.registration_token(user), sms_problem=problem)


def send_activation(user: User) -> None:
    ttl = current_app.config["IDP"].accounts.activation_ttl
    link = links.issue("activate", user.id, "accounts.activate", ttl)
    mail.send_to_user(user, "activate", link=link, hours=ttl // 3600)


def send_staff_activation(user: User, staff: User) -> None:
    """The citizen activates the account by choosing their own password."""
    ttl = current_app.config["IDP"].accounts.activation_ttl
    link = links.issue("reset", user.id, "accounts.reset_password", ttl, single=True)
    mail.send_to_user(
        user,
        "staff_activate",
        link=link,
        hours=ttl // 3600,
        staff=staff.full_name or staff.username,
    )


def activate(token: str) -> tuple[User | None, object | None]:
    """Open an activation link; returns the account, or None and a message."""
    record = links.take("activate", token)
    user = store_users.by_id(record["user_id"]) if record else None
    if user is None:
        return None, _l("This activation link is not valid, was already used, or has expired.")
    if user.activated_at:
        return user, None
    user.active, user.activated_at, user.email_verified = True, now(), True
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None, (
            DUPLICATE_NATIONAL_ID if user.account_type == "citizen" else DUPLICATE_TAX_CODE
        )
    audit.record("user_activated", user=user)
    return user, None


def resend_activation(identifier: str) -> None:
    """Send a new link to a pending account named by username or email; silent otherwise.
    Runs from the background queue, so the page answers alike either way."""
    identifier = (identifier or "").strip()[:254]
    if "@" in identifier:
        try:
            address = v.email(identifier)
        except v.FieldError:
            return
        user = db.session.scalar(
            select(User)
            .where(func.lower(User.email) == address.lower(), User.activated_at.is_(None))
            .limit(1)
        )
    else:
        user = store_users.by_username(identifier)
    if user is not None and user.activated_at is None and user.email:
        try:
            send_activation(user)
        except mail.MailError:
            pass
        audit.record("activation_resent", user=user)
