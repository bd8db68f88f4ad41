"""Dates with the full year in Vietnam's time zone and devices in words on the sessions page;
the mock national portal styled and usable on a phone."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import DevStack
from .gallery import MEASURE_TEXT
from .test_journeys import open_sign_in, sign_in_locally


def test_sessions_show_full_dates_in_vietnam_time_and_devices_in_words(
    page: Page, dev_stack: DevStack
):
    page.goto(dev_stack.hub + "/account")
    sign_in_locally(page, "congdan01")
    page.wait_for_url(dev_stack.hub + "/account")
    page.goto(dev_stack.hub + "/account/sessions")
    device = page.locator(".session .device").first
    expect(device).to_have_text(re.compile(r"^HeadlessChrome trên Linux"))
    assert "Mozilla" not in page.locator("main").inner_text()
    text = page.locator(".sessions").inner_text()
    assert re.search(r"\b\d{2}/\d{2}/20\d{2} \d{2}:\d{2}\b", text), text
    assert not re.search(r"\b\d{1,2}/\d{1,2}/\d{2}\b(?!\d)", text), text
    # Vietnam's clock (UTC+7), whatever the browser's or the server's time zone.
    shown = re.search(r"(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2})", text).groups()
    now_hanoi = page.evaluate(
        """() => new Intl.DateTimeFormat('en-GB', {timeZone: 'Asia/Ho_Chi_Minh', year: 'numeric',
            month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23'})
            .format(new Date())"""
    )
    day, month, year, hour = re.match(r"(\d{2})/(\d{2})/(\d{4}), (\d{2})", now_hanoi).groups()
    assert (shown[0], shown[1], shown[2]) == (day, month, year) or shown[3] in ("23", "00")
    assert abs(int(shown[3]) - int(hour)) in (0, 1, 23)


def test_the_mock_national_portal_is_styled_and_fits_a_phone(page: Page, dev_stack: DevStack):
    page.set_viewport_size({"width": 390, "height": 844})
    open_sign_in(page, dev_stack)
    page.click("ul.national a.button")
    page.wait_for_url(dev_stack.mock + "/**")
    band = page.locator("header.top")
    assert band.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(11, 61, 145)"
    for button in page.locator("button[name=person]").all():
        box = button.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 300, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate(MEASURE_TEXT) == []
