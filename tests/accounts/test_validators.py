"""Every field rule with real and malformed values."""

from datetime import date

import pytest

from idp.accounts import divisions
from idp.accounts import validators as v

BORN_1990 = date(1990, 5, 17)
BORN_2003 = date(2003, 1, 2)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0912345678", "0912345678"),
        ("+84912345678", "0912345678"),
        ("84912345678", "0912345678"),
        ("091 234 5678", "0912345678"),
        ("0321234567", "0321234567"),
        ("0862345678", "0862345678"),
    ],
)
def test_phone_accepted_and_normalised(value, expected):
    assert v.phone(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "091234567",
        "09123456789",
        "0212345678",
        "0112345678",
        "+8491234567a",
        "０９１２３４５６７８",
        "+1 202 555 0100",
        "0912345678\x00",
    ],
)
def test_phone_refused(value):
    with pytest.raises(v.FieldError):
        v.phone(value)


@pytest.mark.parametrize(
    "value, born, sex",
    [
        ("001090000001", BORN_1990, "male"),  # Hà Nội, 1900s male, born 1990
        ("079190123456", BORN_1990, "female"),  # TP HCM, 1900s female
        ("096203000001", BORN_2003, "male"),  # Cà Mau, 2000s male, born 2003
        ("001303999999", BORN_2003, "female"),  # 2000s female
    ],
)
def test_cccd_accepted(value, born, sex):
    assert v.national_id(value, born=born, sex_value=sex) == value


@pytest.mark.parametrize(
    "value, born, sex",
    [
        ("003090000001", BORN_1990, "male"),  # 003 is not a province code
        ("097090000001", BORN_1990, "male"),  # beyond 096
        ("001190000001", BORN_1990, "male"),  # 1 = female, but male given
        ("001290000001", BORN_1990, "male"),  # 2 = 2000s, but born 1990
        ("001091000001", BORN_1990, "male"),  # year digits 91 != 90
        ("00109000000", BORN_1990, "male"),  # 11 digits
        ("0010900000011", BORN_1990, "male"),  # 13 digits
        ("00109000000a", BORN_1990, "male"),
        ("", BORN_1990, "male"),
    ],
)
def test_cccd_refused(value, born, sex):
    with pytest.raises(v.FieldError):
        v.national_id(value, born=born, sex_value=sex)


def test_cmnd_only_for_existing_records():
    with pytest.raises(v.FieldError, match="CMND"):
        v.national_id("123456789", born=BORN_1990, sex_value="male")
    assert v.national_id("123456789", born=None, sex_value=None, allow_cmnd=True) == "123456789"


@pytest.mark.parametrize(
    "value, ok",
    [
        ("nguyenvana", True),
        ("nguyen.van_a", True),
        ("abc123", True),
        ("a" * 32, True),
        ("abc12", False),
        ("a" * 33, False),
        ("nguyễnvăna", False),
        ("nguyen van", False),
        ("nguyen-van", False),
        ("", False),
        ("user\x00name", False),
    ],
)
def test_username(value, ok):
    if ok:
        assert v.username(value) == value
    else:
        with pytest.raises(v.FieldError):
            v.username(value)


@pytest.mark.parametrize(
    "value, ok",
    [
        ("Tr4ng-Đồng-Đông-Sơn", True),
        ("correct horse battery", True),
        ("short1!", False),
        ("password", False),
        ("12345678", False),
        ("matkhau123", False),
        ("Matkhau@123", False),
        ("x" * 129, False),
        ("nguyenvana-2024", False),
    ],
)
def test_password(value, ok):
    if ok:
        assert v.password(value, username_value="nguyenvana") == value
    else:
        with pytest.raises(v.FieldError):
            v.password(value, username_value="nguyenvana")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0100109106", "0100109106"),
        ("0100109106-001", "0100109106-001"),
        ("0100109106001", "0100109106-001"),
    ],
)
def test_tax_code_accepted(value, expected):
    assert v.tax_code(value) == expected


@pytest.mark.parametrize("value", ["0100109107", "010010910", "01001091060", "abcdefghij", ""])
def test_tax_code_refused(value):
    with pytest.raises(v.FieldError):
        v.tax_code(value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("17/05/1990", date(1990, 5, 17)),
        ("1990-05-17", date(1990, 5, 17)),
        ("2/1/2003", BORN_2003),
    ],
)
def test_birthdate_accepted(value, expected):
    assert v.birthdate(value, today=date(2026, 11, 22)) == expected


@pytest.mark.parametrize(
    "value", ["31/02/1990", "1990/05/17", "17-05-1990", "01/01/2030", "01/01/1850", "", "hôm qua"]
)
def test_birthdate_refused(value):
    with pytest.raises(v.FieldError):
        v.birthdate(value, today=date(2026, 11, 22))


@pytest.mark.parametrize(
    "value, ok",
    [
        ("a@example.vn", True),
        ("Nguyen.Van.A@Example.VN", True),
        ("no-at-sign", False),
        ("a@b", False),
        ("a@@b.vn", False),
        ("x" * 250 + "@e.vn", False),
    ],
)
def test_email(value, ok):
    if ok:
        assert "@" in v.email(value)
    else:
        with pytest.raises(v.FieldError):
            v.email(value)


@pytest.mark.parametrize(
    "value, ok",
    [
        ("Nguyễn Văn A", True),
        ("  Trần   Thị  B ", True),
        ("", False),
        ("12345", False),
        ("A" * 101, False),
        ("Lê\u202eVăn", False),
        ("Lê\x07", False),
    ],
)
def test_full_name(value, ok):
    if ok:
        assert v.full_name(value) == " ".join(value.split())
    else:
        with pytest.raises(v.FieldError):
            v.full_name(value)


def test_administrative_list_after_july_2025():
    assert len(divisions.provinces()) == 34
    assert sum(len(divisions.wards(p.code)) for p in divisions.provinces()) == 3321
    assert divisions.province("01").label == "Thành phố Hà Nội"
    assert divisions.ward("01", "00070").name == "Phường Hoàn Kiếm"
    assert divisions.ward("04", "00070") is None  # a ward belongs to one province
