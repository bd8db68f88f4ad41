"""The way back to the client system after registering and activating, and after a password
reset, in the browser that started the sign-in; from the mail link in another browser a plain
"sign in again" page that continues nobody's sign-in. The register and forgot-password pages
link back to sign-in."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from .conftest import DevStack
from .test_journeys import SIGN_IN_URL, expect_signed_in_at_demo, open_sign_in, sign_in_locally

DEMO_CLIENT = "Hệ thống Một cửa điện tử (demo)"
NEW_PASSWORD = "Sen-hong-Tay-Ho-2026"  # noqa: S105 - a test account's password


def register_citizen(page: Page, who: dict) -> None:
    page.fill("#full_name", who["name"])
    page.fill("#birthdate", who["birthdate"])
    page.select_option("#sex", "female")
    page.fill("#national_id", who["national_id"])
    page.fill("#username", who["username"])
    page.fill("#phone", who["phone"])
    page.fill("#email", who["email"])
    page.fill("#address", "12 Lý Thường Kiệt, Phường Hoàn Kiếm")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_confirm", NEW_PASSWORD)
    page.locator("form button[type=submit]").last.click()
    expect(page.locator("h1")).to_have_text("Vui lòng kiểm tra thư điện tử")


def person(n: int) -> dict:
    return {
        "name": f"Đỗ Thị Mai {'ABC'[n]}",
        "birthdate": "15/06/1992",
        "national_id": f"00119200456{n}",
        "username": f"dothimai0{n}",
        "phone": f"098700011{n}",
        "email": f"mai{n}@example.vn",
    }


def test_registration_and_activation_lead_back_to_the_client(page: Page, dev_stack: DevStack):
    who = person(1)
    open_sign_in(page, dev_stack)
    page.click("ul.links a[href*='/register?']")
    back = page.locator("#back-to-sign-in")
    expect(back).to_have_text(f"Quay lại đăng nhập vào {DEMO_CLIENT}")
    register_citizen(page, who)
    expect(page.locator("#back-to-sign-in")).to_be_visible()
    page.goto(dev_stack.mail_link(who["email"], "/activate/"))
    expect(page.locator("h1")).to_have_text("Tài khoản đã được kích hoạt")
    expect(page.locator("#continue")).to_have_text(f"Tiếp tục vào {DEMO_CLIENT}")
    page.click("#continue")
    page.wait_for_url(SIGN_IN_URL)
    sign_in_locally(page, who["username"], NEW_PASSWORD)
    expect_signed_in_at_demo(page, dev_stack, who["name"])


def test_activation_in_another_browser_says_sign_in_again(
    page: Page, browser: Browser, dev_stack: DevStack
):
    who = person(2)
    open_sign_in(page, dev_stack)
    started_at = page.url
    page.click("ul.links a[href*='/register?']")
    register_citizen(page, who)
    link = dev_stack.mail_link(who["email"], "/activate/")
    other = browser.new_context(locale="vi-VN")
    try:
        elsewhere = other.new_page()
        elsewhere.goto(link)
        expect(elsewhere.locator("h1")).to_have_text("Tài khoản đã được kích hoạt")
        expect(elsewhere.locator("#sign-in-again")).to_contain_text("Đăng nhập lại")
        expect(elsewhere.locator("#continue")).to_have_count(0)
        iid = re.search(r"/interaction/([^/]+)/", started_at).group(1)
        assert iid not in elsewhere.content()  # nothing of the first browser's sign-in
        # Its sign-in page is still the first browser's alone.
        elsewhere.goto(started_at)
        expect(elsewhere.locator("#password")).to_have_count(0)
    finally:
        other.close()
    page.goto(started_at)  # the first browser goes on where it was
    sign_in_locally(page, who["username"], NEW_PASSWORD)
    expect_signed_in_at_demo(page, dev_stack, who["name"])


def test_password_reset_leads_back_to_the_client_and_elsewhere_to_sign_in_again(
    page: Page, browser: Browser, dev_stack: DevStack
):
    who = person(0)
    page.goto(dev_stack.hub + "/register")
    expect(page.locator("#back-to-sign-in")).to_have_attribute("href", "/login")
    register_citizen(page, who)
    page.goto(dev_stack.mail_link(who["email"], "/activate/"))
    expect(page.locator("#sign-in-again")).to_be_visible()  # not started from a client

    open_sign_in(page, dev_stack)
    page.click("ul.links a[href*='/password/forgot?']")
    expect(page.locator("#back-to-sign-in")).to_have_text(f"Quay lại đăng nhập vào {DEMO_CLIENT}")
    page.fill("#identifier", who["username"])
    page.locator("form button[type=submit]").click()
    expect(page.locator("[role=status]")).to_be_visible()
    first_link = dev_stack.mail_link(who["email"], "/password/reset/")
    page.goto(first_link)
    page.fill("#password", NEW_PASSWORD + "-2")
    page.fill("#password_confirm", NEW_PASSWORD + "-2")
    page.locator("form button[type=submit]").click()
    expect(page.locator("#continue")).to_have_text(f"Tiếp tục vào {DEMO_CLIENT}")
    page.click("#continue")
    page.wait_for_url(SIGN_IN_URL)
    sign_in_locally(page, who["username"], NEW_PASSWORD + "-2")
    expect_signed_in_at_demo(page, dev_stack, who["name"])

    # The same request from a client, but the mail opened in another browser.
    page.click("#logout")
    open_sign_in(page, dev_stack)
    page.click("ul.links a[href*='/password/forgot?']")
    page.fill("#identifier", who["username"])
    page.locator("form button[type=submit]").click()
    expect(page.locator("[role=status]")).to_be_visible()
    link = dev_stack.mail_link(who["email"], "/password/reset/", other_than=first_link)
    other = browser.new_context(locale="vi-VN")
    try:
        elsewhere = other.new_page()
        elsewhere.goto(link)
        elsewhere.fill("#password", NEW_PASSWORD + "-3")
        elsewhere.fill("#password_confirm", NEW_PASSWORD + "-3")
        elsewhere.locator("form button[type=submit]").click()
        expect(elsewhere.locator("#sign-in-again")).to_be_visible()
        expect(elsewhere.locator("#continue")).to_have_count(0)
    finally:
        other.close()
