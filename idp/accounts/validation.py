"""Validation of local account fields, shared by the command line and the pages."""

from __future__ import annotations

import re

from sqlalchemy import select

from ..store import db
from ..store import users as store_users
from ..store.models import User
from .passwords import MAX_LENGTH, MIN_LENGTH

USERNAME_RE = re.compile(r"^[A-Za-z0-9._]{6,32}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class ValidationError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def normalize_phone(phone: str) -> str:
    """Vietnamese mobile numbers in one form: 0 followed by 9 digits (+84… becomes 0…)."""
    digits = phone.strip().replace(" ", "")
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    if not re.fullmatch(r"0[35789]\d{8}", digits):
        raise ValidationError("phone", "not a Vietnamese mobile number")
    return digits


def validate_new_user(
    *,
    username: str,
    password: str | None,
    full_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    national_id: str | None = None,
) -> dict:
    """Checked and normalised fields for `users.create`; raises ValidationError."""
    if not USERNAME_RE.fullmatch(username or ""):
        raise ValidationError("username", "6-32 characters: letters, digits, '.' or '_'")
    if store_users.username_taken(username):
        raise ValidationError("username", "already taken")
    if password is not None and not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValidationError("password", f"must be {MIN_LENGTH} to {MAX_LENGTH} characters")
    if full_name is not None and (not full_name.strip() or len(full_name) > 200):
        raise ValidationError("full_name", "must be 1-200 characters")
    if email is not None and not EMAIL_RE.fullmatch(email):
        raise ValidationError("email", "not a valid email address")
    if national_id is not None and not re.fullmatch(r"[0-9]{9}|[0-9]{12}", national_id):
        raise ValidationError("national_id", "must be 12 digits (CCCD) or 9 digits (CMND)")
    if national_id is not None and db.session.scalar(
        select(User.id).where(
            User.national_id == national_id,
            User.active.is_(True),
            User.account_type == "citizen",
        )
    ):
        raise ValidationError("national_id", "already the number of another active account")
    return {
        "username": username,
        "password": password,
        "full_name": full_name.strip() if full_name else None,
        "email": email,
        "phone": normalize_phone(phone) if phone else None,
        "national_id": national_id,
    }
