"""Dates dd/mm/yyyy with the full year in Vietnam's time zone, devices in words, audit events
and details in the interface language, and the lock time with its date."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from idp import display
from idp.admin.audit_log import AuditFilter
from idp.admin.labels import detail_items, event_label

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def test_dates_are_day_month_full_year(app):
    with app.test_request_context():
        assert display.day("1995-03-08") == "08/03/1995"
        assert display.day("19950308") == "08/03/1995"  # the national portal's shape
        assert display.day(date(2026, 12, 1)) == "01/12/2026"
        assert display.day("not a date") == "not a date"
        assert display.day(None) == ""


def test_times_are_in_vietnam_whatever_the_server_zone(app):
    # 17:59 UTC on 30 Nov is 00:59 on 1 Dec in Hà Nội: the day changes too.
    at = datetime(2026, 11, 30, 17, 59, 30, tzinfo=UTC)
    with app.test_request_context():
        assert display.moment(at.timestamp()) == "01/12/2026 00:59"
        assert display.moment(at) == "01/12/2026 00:59"
        assert display.moment(at.replace(tzinfo=None)) == "01/12/2026 00:59"  # naive is UTC
        assert display.moment(at.timestamp(), seconds=True) == "01/12/2026 00:59:30"
        assert display.clock_time(at.timestamp()) == "00:59 01/12/2026"


def test_devices_are_named_in_words(app):
    with app.test_request_context("/?lang=vi"):
        assert display.device(WINDOWS_CHROME) == "Chrome trên Windows"
        assert display.device(IPHONE) == "Mobile Safari trên iOS (Apple iPhone)"
        assert display.device("") == "Thiết bị không rõ"
        assert display.device("\x00\x07") == "Thiết bị không rõ"
        assert display.device("Ứng dụng/1.0 " + "x" * 100) == "Ứng dụng/1.0 " + "x" * 47
    with app.test_request_context("/?lang=en"):
        assert display.device(WINDOWS_CHROME) == "Chrome on Windows"


def test_audit_events_and_details_read_in_the_interface_language(app):
    with app.test_request_context("/?lang=vi"):
        assert event_label("login_stepped_up") == "Đã xác thực thêm lớp thứ hai"
        assert event_label("something_new") == "Something new"  # a code without a label
        assert detail_items({"acr": "LoA1-MFA", "method": "sms"}) == [
            ("mức", "LoA1-MFA"),
            ("phương thức", "mã SMS"),
        ]
        until = datetime(2026, 12, 1, 3, 0, tzinfo=UTC).timestamp()
        assert detail_items({"until": int(until)}) == [("đến", "01/12/2026 10:00")]


def test_audit_filter_takes_day_month_year(app):
    flt, errors = AuditFilter.from_args({"from": "01/12/2026", "to": "2026-12-02"})
    assert errors == {}
    assert flt.since == int(datetime(2026, 11, 30, 17, 0, tzinfo=UTC).timestamp())
    assert flt.until == int(datetime(2026, 12, 2, 17, 0, tzinfo=UTC).timestamp())
    assert AuditFilter.from_args({"from": "31/02/2026"})[1] == {"from": "dd/mm/yyyy"}


def test_the_lock_says_until_what_time_on_what_day(hub, app, clock):
    client_id, _ = hub.add_client(first_party=True)
    hub.add_user()
    for _ in range(app.config["IDP"].login.max_attempts_per_user):
        last = hub.sign_in(client_id, password="wrong-password!")
    html = last.get_data(as_text=True)
    until = clock() + app.config["IDP"].login.lockout_seconds
    with app.test_request_context():
        expected = display.clock_time(until)
    assert re.fullmatch(r"\d{2}:\d{2} \d{2}/\d{2}/\d{4}", expected)
    assert f"khóa đến {expected}" in html
