"""Form messages that say what is wrong (an impossible date, a missing value), tries left
before a lock on the password and code pages, the "or" divider when its words wrap, and
Accept-Language on a first visit."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from .conftest import DevStack
from .test_journeys import open_sign_in, sign_in_locally


def test_form_messages_say_what_is_wrong(page: Page, dev_stack: DevStack):
    page.goto(dev_stack.hub + "/register")
    page.fill("#birthdate", "31/02/1992")
    page.locator("form button[type=submit]").last.click()
    expect(page.locator("#birthdate-error")).to_have_text("Ngày này không có trên lịch.")
    expect(page.locator("#username-error")).to_have_text("Trường này là bắt buộc.")
    expect(page.locator("#password-error")).to_have_text("Trường này là bắt buộc.")
    page.fill("#birthdate", "31-02-1992")
    page.locator("form button[type=submit]").last.click()
    expect(page.locator("#birthdate-error")).to_have_text(
        "Nhập ngày theo dạng ngày/tháng/năm (dd/mm/yyyy)."
    )


def test_tries_left_on_the_password_and_code_pages(page: Page, dev_stack: DevStack):
    open_sign_in(page, dev_stack)
    sign_in_locally(page, "khongcotaikhoan", "wrong-password")
    first = page.locator("#tries-left").inner_text()
    sign_in_locally(page, "khongcotaikhoan", "wrong-password")
    second = page.locator("#tries-left").inner_text()
    n1 = int(re.match(r"Còn (\d+) lần thử", first).group(1))
    assert re.match(rf"Còn {n1 - 1} lần thử trước khi việc đăng nhập bị tạm khóa", second)

    dev_stack.add_user("thuso.ma", "Vũ Thị Thử", "0903000021")  # its own number
    open_sign_in(page, dev_stack, mfa=True)
    sign_in_locally(page, "thuso.ma")
    page.wait_for_url(re.compile(r".*/interaction/[^/]+/otp.*"))
    page.fill("#code", "000000")
    page.click("form:has(#code) button[type=submit]")
    expect(page.locator("#tries-left")).to_have_text(
        re.compile(r"^Còn \d+ lần thử trước khi mã này hết hiệu lực\.$")
    )
    left = int(re.search(r"\d+", page.locator("#tries-left").inner_text()).group(0))
    page.fill("#code", "000001")
    page.click("form:has(#code) button[type=submit]")
    expect(page.locator("#tries-left")).to_contain_text(f"Còn {left - 1} lần thử")


def test_the_or_divider_keeps_its_lines_when_the_words_wrap(page: Page, dev_stack: DevStack):
    open_sign_in(page, dev_stack)
    page.click("nav.lang a[lang=en]")
    page.set_viewport_size({"width": 320, "height": 640})
    divider = page.locator("p.or")
    assert divider.evaluate("e => e.getClientRects()[0].height") > 30  # the words wrapped
    for side in ("::before", "::after"):
        width = divider.evaluate(f"e => parseFloat(getComputedStyle(e, '{side}').width)")
        assert width >= 20, (side, width)


def test_accept_language_english_on_a_first_visit_and_a_chosen_language_wins(
    browser: Browser, dev_stack: DevStack
):
    context = browser.new_context(locale="en-US")
    try:
        page = context.new_page()
        page.goto(dev_stack.hub + "/register")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("h1")).to_have_text("Register a citizen account")
        page.click("nav.lang a[lang=vi]")
        page.goto(dev_stack.hub + "/register")
        expect(page.locator("html")).to_have_attribute("lang", "vi")
    finally:
        context.close()
