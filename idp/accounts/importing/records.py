"""One account as a source gives it, checked field by field before anything is stored.

A row without a usable source id or username, or with an identity number (CCCD, CMND, tax
code) that is not one, is skipped: a wrong identity number would merge two people or split
one. Any other field that is not valid is left out of the account and noted, so the operator
sees it; reasons name the field, never its value (they go to the terminal and the audit).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from .. import legacy_hashes
from .. import validators as v

ROLES = frozenset({"staff", "admin"})
ACCOUNT_TYPES = ("citizen", "organization")
# Profile columns an import may fill, with their width; `national_id` and `tax_code` are
# identity fields, checked on their own.
TEXT_FIELDS = {
    "full_name": 200,
    "address": 500,
    "business_name": 200,
    "contact_name": 100,
    "street": 200,
}
PROFILE_FIELDS = (
    *TEXT_FIELDS,
    "email",
    "email_verified",
    "phone",
    "phone_verified",
    "birthdate",
    "sex",
    "province_code",
    "ward_code",
)
MAX_SOURCE_ID = 200
MAX_LEGACY_SUBJECT = 255
MAX_LINKS = 20
# Dates before this are not real sign-up or sign-in dates of a public-service portal.
EARLIEST = int(datetime(1990, 1, 1, tzinfo=UTC).timestamp())


# An everyday address, checked without the full validator (a million rows): ASCII, one @, a
# dotted domain of letters, digits and hyphens. Anything else goes through email_validator.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(\.[A-Za-z0-9_%+-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}"
)


class RowError(ValueError):
    """The row cannot be imported; the message is the reason, safe to print and audit."""


@dataclass
class Record:
    source_id: str
    username: str
    account_type: str = "citizen"
    profile: dict = field(default_factory=dict)
    national_id: str | None = None
    former_national_id: str | None = None
    tax_code: str | None = None
    password_hash: str | None = None
    roles: list[str] = field(default_factory=list)
    active: bool = True
    created_at: int | None = None
    last_login_at: int | None = None
    federated: list[tuple[str, str]] = field(default_factory=list)
    legacy_subject: str | None = None
    aliases: list[str] = field(default_factory=list)
    # Fields left out (and why), for the conflicts file: "email: not valid".
    notes: list[str] = field(default_factory=list)

    def values(self) -> dict:
        """What the source says of each field the account keeps, for the three-way merge."""
        return {
            **self.profile,
            "national_id": self.national_id,
            "tax_code": self.tax_code,
            "password_hash": self.password_hash,
        }


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("not text")
    return unicodedata.normalize("NFC", str(value).strip()) or None


def _required_text(data: dict, name: str, max_length: int) -> str:
    try:
        value = _text(data.get(name))
    except ValueError:
        value = None
    if not value:
        raise RowError(f"no {name}")
    if len(value) > max_length or v.not_allowed(value) or any(c.isspace() for c in value):
        raise RowError(f"{name} not valid")
    return value


def username(value: object) -> str:
    """Former portals' usernames as they were (e-mail addresses, short names), but printable,
    without spaces, at most 64 characters."""
    return _required_text({"username": value}, "username", 64)


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "y", "có"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "n", "không", ""):
        return False
    raise ValueError("not true or false")


def timestamp(value: object, *, now: int) -> int | None:
    """Seconds since 1970 from seconds, milliseconds (Keycloak) or an ISO 8601 / dd/mm/yyyy
    date; a date outside 1990..now is not one."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("not a date")
    if isinstance(value, int | float):
        seconds = int(value / 1000) if value > 10**11 else int(value)
    elif isinstance(value, str):
        raw = value.strip()
        if re.fullmatch(r"\d{1,13}", raw):
            return timestamp(int(raw), now=now)
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", raw):
            day, month, year = (int(x) for x in raw.split("/"))
            raw = date(year, month, day).isoformat()
        if len(raw) > 40:
            raise ValueError("not a date")
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = int(parsed.timestamp())
    else:
        raise ValueError("not a date")
    if not EARLIEST <= seconds <= now + 86400:
        raise ValueError("out of range")
    return seconds


def _profile_value(name: str, value: object) -> object:
    if name in TEXT_FIELDS:
        text = _text(value)
        return v.clean_text(text, max_length=TEXT_FIELDS[name], required=False) if text else None
    if name in ("email_verified", "phone_verified"):
        return _bool(value)
    text = _text(value)
    if text is None:
        return None
    if name == "email":
        if len(text) <= 254 and _PLAIN_EMAIL.fullmatch(text):
            local, domain = text.rsplit("@", 1)
            return f"{local}@{domain.lower()}"  # what email_validator makes of a plain one
        return v.email(text, required=False)
    if name == "phone":
        return v.phone(text, required=False)
    if name == "birthdate":
        return v.birthdate(text).isoformat()
    if name == "sex":
        sex = {"nam": "male", "nữ": "female", "nu": "female", "m": "male", "f": "female"}
        return v.sex(sex.get(text.lower(), text.lower()))
    if name == "province_code" and re.fullmatch(r"\d{2}", text):
        return text
    if name == "ward_code" and re.fullmatch(r"\d{5}", text):
        return text
    raise ValueError("not valid")


def _identity(data: dict, rec: Record) -> None:
    try:
        number = _text(data.get("national_id"))
        former = _text(data.get("former_national_id"))
        tax = _text(data.get("tax_code"))
    except ValueError as exc:
        raise RowError("identity number not text") from exc
    if number and len(number) == 9 and not former:
        number, former = None, number  # an old CMND given where the CCCD goes
    if number:
        try:
            rec.national_id = v.national_id(number, born=None, sex_value=None)
        except v.FieldError as exc:
            raise RowError("national_id not a valid CCCD") from exc
    if former:
        if not re.fullmatch(r"\d{9}", former):
            raise RowError("former_national_id not a valid CMND")
        rec.former_national_id = former
    if tax:
        try:
            rec.tax_code = v.tax_code(tax)
        except v.FieldError as exc:
            raise RowError("tax_code not valid") from exc
    if rec.account_type == "organization" and not rec.tax_code:
        raise RowError("organisation without a tax code")


def _links(value: object) -> list[tuple[str, str]]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or len(value) > MAX_LINKS:
        raise ValueError("not a list")
    links = []
    for item in value:
        if not isinstance(item, dict):
            raise ValueError("not a list of objects")
        connector, subject = _text(item.get("connector")), _text(item.get("subject"))
        if (
            not connector
            or not subject
            or not re.fullmatch(r"[a-z0-9_-]{1,32}", connector)
            or len(subject) > 200
            or v.not_allowed(subject)
        ):
            raise ValueError("not (connector, subject)")
        links.append((connector, subject))
    return links


def _roles(value: object) -> list[str]:
    if value in (None, ""):
        return []
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(r, str) for r in items):
        raise ValueError("not a list")
    if not set(items) <= ROLES:
        raise ValueError("unknown role")
    return sorted(set(items))


def _aliases(value: object) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or len(value) > MAX_LINKS:
        raise ValueError("not a list")
    return [username(a) for a in value]


def from_mapping(data: dict, *, allow_unsalted: bool, now: int) -> Record:
    """Check one row of the hub's own format (JSONL, CSV or a mapped Keycloak user)."""
    if not isinstance(data, dict):
        raise RowError("not an object")
    source_id = _required_text(data, "source_id", MAX_SOURCE_ID)
    name = username(data.get("username"))
    account_type = data.get("account_type") or "citizen"
    if account_type not in ACCOUNT_TYPES:
        raise RowError("account_type not citizen or organization")
    rec = Record(source_id=source_id, username=name, account_type=account_type)
    _identity(data, rec)
    for key in PROFILE_FIELDS:
        if data.get(key) in (None, ""):
            continue
        try:
            value = _profile_value(key, data[key])
        except (ValueError, TypeError):  # FieldError is a ValueError
            rec.notes.append(f"{key}: not valid")
            continue
        if value is not None:
            rec.profile[key] = value
    checks = {
        "active": lambda x: True if x in (None, "") else _bool(x),
        "created_at": lambda x: timestamp(x, now=now),
        "last_login_at": lambda x: timestamp(x, now=now),
        "roles": _roles,
        "federated": _links,
        "aliases": _aliases,
    }
    for key, check in checks.items():
        try:
            setattr(rec, key, check(data.get(key)))
        except (ValueError, TypeError, RowError, OverflowError):
            rec.notes.append(f"{key}: not valid")
    legacy = data.get("legacy_subject")
    if legacy not in (None, ""):
        text = _text(legacy) if isinstance(legacy, str | int) else None
        if text and len(text) <= MAX_LEGACY_SUBJECT and not v.not_allowed(text):
            rec.legacy_subject = text
        else:
            rec.notes.append("legacy_subject: not valid")
    stored = data.get("password_hash")
    note = data.get("password_note")  # set by the Keycloak reader
    if note:
        note = note[:100] if isinstance(note, str) else "not recognised"
        rec.notes.append(f"password: {note}; imported without a password")
    elif stored not in (None, ""):
        try:
            rec.password_hash = legacy_hashes.normalize(stored, allow_unsalted)
        except legacy_hashes.Unrecognised as exc:
            rec.notes.append(f"password: {exc}; imported without a password")
    return rec
