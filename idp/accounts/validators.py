"""Field rules for local accounts, as the provincial portals state them.

Each validator takes the raw text a person typed and returns the normalised value, or raises
`FieldError` with a message in the user's language. They never touch the database; uniqueness
is checked by the registration service.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.vn import mst
from zxcvbn.frequency_lists import FREQUENCY_LISTS

# Birth-registration province codes of the 63 provinces before 2025 (Circular 07/2016/TT-BCA).
# Identity numbers are for life, so these stay valid after the 2025 merger into 34 provinces.
CCCD_PROVINCE_CODES = frozenset(
    {
        "001",
        "002",
        "004",
        "006",
        "008",
        "010",
        "011",
        "012",
        "014",
        "015",
        "017",
        "019",
        "020",
        "022",
        "024",
        "025",
        "026",
        "027",
        "030",
        "031",
        "033",
        "034",
        "035",
        "036",
        "037",
        "038",
        "040",
        "042",
        "044",
        "045",
        "046",
        "048",
        "049",
        "051",
        "052",
        "054",
        "056",
        "058",
        "060",
        "062",
        "064",
        "066",
        "067",
        "068",
        "070",
        "072",
        "074",
        "075",
        "077",
        "079",
        "080",
        "082",
        "083",
        "084",
        "086",
        "087",
        "089",
        "091",
        "092",
        "093",
        "094",
        "095",
        "096",
    }
)
# The 4th digit: century of birth and sex (0/1: 1900s male/female, 2/3: 2000s, 4/5: 2100s,
# 6/7: 2200s, 8/9: 1800s).
CENTURY_BY_DIGIT = {
    0: 1900,
    1: 1900,
    2: 2000,
    3: 2000,
    4: 2100,
    5: 2100,
    6: 2200,
    7: 2200,
    8: 1800,
    9: 1800,
}
# Mobile network prefixes in use in Viet Nam (after the 2018 11-to-10-digit conversion).
MOBILE_PREFIXES = frozenset(
    {
        "032",
        "033",
        "034",
        "035",
        "036",
        "037",
        "038",
        "039",  # Viettel
        "052",
        "055",
        "056",
        "058",
        "059",  # Vietnamobile, Reddi, Gmobile, iTel
        "070",
        "076",
        "077",
        "078",
        "079",  # MobiFone
        "081",
        "082",
        "083",
        "084",
        "085",
        "086",
        "087",
        "088",
        "089",  # VinaPhone, Viettel, iTel
        "090",
        "091",
        "092",
        "093",
        "094",
        "096",
        "097",
        "098",
        "099",
    }
)
USERNAME_RE = re.compile(r"[A-Za-z0-9._]{6,32}")
MIN_PASSWORD, MAX_PASSWORD = 8, 128
# Frequent choices in Vietnamese beyond zxcvbn's list of 30,000 common passwords.
VIETNAMESE_COMMON = frozenset(
    {
        "matkhau",
        "matkhau123",
        "matkhau@123",
        "123456a@",
        "123456aa",
        "anhyeuem",
        "anhyeuem123",
        "yeuem123",
        "vietnam",
        "vietnam123",
        "hanoi123",
        "saigon123",
        "abc@123",
        "a123456789",
        "12345678a",
        "1234567890a",
        "admin@123",
        "motcua123",
        "dichvucong",
    }
)
COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"]) | VIETNAMESE_COMMON


class FieldError(ValueError):
    """A field's value breaks a rule; `message` is what the person reads next to the field."""

    def __init__(self, message) -> None:  # noqa: ANN001
        super().__init__(str(message))
        self.message = message


def not_allowed(value: str) -> bool:
    """Control and invisible formatting characters, and U+FFFD, which is what bytes that were
    not valid UTF-8 became on the way in."""
    return "\ufffd" in value or any(
        unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in value
    )


def clean_text(value: str | None, *, max_length: int, required: bool = True) -> str | None:
    """Trimmed, NFC-normalised text without control characters; None when empty."""
    value = unicodedata.normalize("NFC", (value or "").strip())
    if not value:
        if required:
            raise FieldError(_l("This field is required."))
        return None
    if not_allowed(value):
        raise FieldError(_l("This field contains characters that are not allowed."))
    if len(value) > max_length:
        raise FieldError(_l("At most %(n)d characters.", n=max_length))
    return value


def full_name(value: str | None) -> str:
    name = clean_text(value, max_length=100)
    if any(c.isdigit() for c in name) or not any(c.isalpha() for c in name):
        raise FieldError(_l("Enter your full name in letters."))
    return " ".join(name.split())


def username_from_name(full_name: str) -> str:
    """A username to propose for a person's name: Vietnamese letters without their marks
    ("Trần Thị Bình" → "tranthibinh"), padded to the minimum length."""
    import unicodedata

    folded = unicodedata.normalize("NFD", full_name.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in folded if c.isascii() and c.isalnum()).lower()[:28]
    return plain if len(plain) >= 6 else (plain + "congdan")[:12]


def username(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        raise FieldError(_l("This field is required."))
    # Each message says what is wrong with this name; the rule itself is the field's hint.
    if len(value) < 6:
        raise FieldError(_l("Too short: the username needs at least 6 characters."))
    if len(value) > 32:
        raise FieldError(_l("Too long: the username has at most 32 characters."))
    if not USERNAME_RE.fullmatch(value):
        raise FieldError(
            _l("Only letters without accents, digits, '.' and '_' can be used in a username.")
        )
    return value


def password(value: str | None, *, username_value: str | None = None) -> str:
    value = value or ""
    if not value:
        raise FieldError(_l("This field is required."))
    if len(value) < MIN_PASSWORD:
        raise FieldError(_l("At least %(n)d characters.", n=MIN_PASSWORD))
    if len(value) > MAX_PASSWORD:
        raise FieldError(_l("At most %(n)d characters.", n=MAX_PASSWORD))
    if not_allowed(value):
        raise FieldError(_l("This field contains characters that are not allowed."))
    lowered = value.lower()
    if lowered in COMMON_PASSWORDS or (username_value and username_value.lower() in lowered):
        raise FieldError(_l("This password is too easy to guess. Choose another one."))
    return value


def phone(value: str | None, *, required: bool = True) -> str | None:
    """A Vietnamese mobile number in one normal form: 0 followed by 9 digits."""
    raw = (value or "").strip().replace(" ", "").replace(".", "").replace("-", "")
    if not raw:
        if required:
            raise FieldError(_l("This field is required."))
        return None
    if raw.startswith("+84"):
        raw = "0" + raw[3:]
    elif raw.startswith("84") and len(raw) == 11:
        raw = "0" + raw[2:]
    if not raw.isdigit() or not raw.isascii():
        raise FieldError(_l("Digits only, for example 0912345678 or +84912345678."))
    if len(raw) != 10 or raw[:3] not in MOBILE_PREFIXES:
        raise FieldError(_l("This is not a Vietnamese mobile number."))
    return raw


def email(value: str | None, *, required: bool = True) -> str | None:
    raw = (value or "").strip()
    if not raw:
        if required:
            raise FieldError(_l("This field is required."))
        return None
    if len(raw) > 254:
        raise FieldError(_l("At most %(n)d characters.", n=254))
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        raise FieldError(_l("This is not a valid email address.")) from None
    return result.normalized


def birthdate(value: str | None, *, today: date | None = None) -> date:
    raw = (value or "").strip()
    if not raw:
        raise FieldError(_l("This field is required."))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        year, month, day = (int(x) for x in raw.split("-"))
    elif re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", raw):
        day, month, year = (int(x) for x in raw.split("/"))
    else:
        raise FieldError(_l("Enter the date as dd/mm/yyyy."))
    try:
        born = date(year, month, day)
    except ValueError:
        # The shape is right (31/02/1992): the day itself is not on the calendar.
        raise FieldError(_l("This date does not exist.")) from None
    today = today or date.today()
    if born > today or born.year < 1900:
        raise FieldError(_l("This date of birth is not possible."))
    return born


def sex(value: str | None) -> str:
    if value not in ("male", "female"):
        raise FieldError(_l("Choose one."))
    return value


def national_id(
    value: str | None, *, born: date | None, sex_value: str | None, allow_cmnd: bool = False
) -> str:
    """A 12-digit CCCD / personal identification number whose structure agrees with the date
    of birth and sex; an old 9-digit CMND only where existing records are matched."""
    raw = (value or "").strip().replace(" ", "")
    if not raw:
        raise FieldError(_l("This field is required."))
    if not raw.isdigit() or not raw.isascii():
        raise FieldError(_l("Digits only."))
    if len(raw) == 9:
        if allow_cmnd:
            return raw
        raise FieldError(
            _l(
                "CMND numbers are no longer valid since 2025. Enter the 12-digit "
                "number of your citizen identity card (CCCD)."
            )
        )
    if len(raw) != 12:
        raise FieldError(_l("The identity number (CCCD) has 12 digits."))
    if raw[:3] not in CCCD_PROVINCE_CODES:
        raise FieldError(_l("The first three digits are not a province code."))
    if born is not None and sex_value is not None:
        digit = int(raw[3])
        century_ok = CENTURY_BY_DIGIT[digit] == born.year // 100 * 100
        sex_ok = (digit % 2 == 0) == (sex_value == "male")
        if not century_ok or not sex_ok or raw[4:6] != f"{born.year % 100:02d}":
            raise FieldError(_l("This number does not match your date of birth and sex."))
    return raw


def tax_code(value: str | None) -> str:
    """Mã số doanh nghiệp: 10 digits with a check digit, or 10 + '-' + 3 for a branch."""
    raw = (value or "").strip().replace(" ", "")
    if not raw:
        raise FieldError(_l("This field is required."))
    try:
        return mst.format(mst.validate(raw))
    except StdnumError:
        raise FieldError(
            _l("This is not a valid tax code (10 digits, or 13 with '-' for a branch).")
        ) from None
