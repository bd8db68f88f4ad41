"""The hub's pages in a real browser: accessibility (axe-core), narrow screens, no JavaScript,
keyboard only, the show-password switch, the language switch, and nothing from another host."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from idp.dev import DEMO_PASSWORD

from .conftest import DevStack, save_screenshots, serious_violations
from .test_journeys import claim, expect_signed_in_at_demo, open_sign_in, sign_in_locally


def test_sign_in_page_has_no_serious_accessibility_violations(page: Page, dev_stack: DevStack):
    open_sign_in(page, dev_stack)
    assert serious_violations(page) == []
    page.click("nav.lang a[lang=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert serious_violations(page) == []
    # A failed attempt shows its error; the page stays accessible.
    page.fill("#username", "congdan01")
    page.fill("#password", "not-the-password")
    page.click("button.primary")
    expect(page.locator("#form-error")).to_be_visible()
    assert serious_violations(page) == []


def test_the_accessibility_check_finds_a_violation(page: Page, dev_stack: DevStack):
    """The axe check is live: an input with no label is reported."""
    open_sign_in(page, dev_stack)
    page.evaluate("document.querySelector('label[for=username]').remove()")
    found = serious_violations(page)
    assert any(v["id"] == "label" for v in found), found


@pytest.mark.parametrize(
    ("link", "name"),
    [
        ("Đăng ký tài khoản công dân", "register-citizen"),
        ("Đăng ký tài khoản doanh nghiệp, tổ chức", "register-business"),
    ],
)
def test_registration_pages_have_no_serious_accessibility_violations(
    page: Page, dev_stack: DevStack, link: str, name: str
):
    open_sign_in(page, dev_stack)
    page.click(f"text={link}")
    expect(page.locator("h1")).to_be_visible()
    save_screenshots(page, name)
    assert serious_violations(page) == []
    # Sent empty: every error is beside its field, and still no serious violation.
    page.locator("form button[type=submit]").last.click()
    expect(page.locator(".field-error").first).to_be_visible()
    assert serious_violations(page) == []


def test_every_input_has_a_label(page: Page, dev_stack: DevStack):
    open_sign_in(page, dev_stack)
    for path in ("", "/register", "/register/business", "/password/forgot", "/activate/resend"):
        if path:
            page.goto(dev_stack.hub + path)
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
                .filter(el => !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
                .map(el => el.name || el.id)"""
        )
        assert unlabelled == [], (path, unlabelled)


@pytest.mark.parametrize("path", ["", "/register", "/register/business"])
def test_pages_fit_a_320_pixel_screen(page: Page, dev_stack: DevStack, path: str):
    open_sign_in(page, dev_stack)
    if path:
        page.goto(dev_stack.hub + path)
    page.set_viewport_size({"width": 320, "height": 640})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"{path or 'sign-in'} scrolls sideways: {width}px wide"


def test_nothing_is_loaded_from_another_host_and_no_csp_violation(page: Page, dev_stack: DevStack):
    requested: list[str] = []
    console_errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    open_sign_in(page, dev_stack)
    page.goto(dev_stack.hub + "/register")
    hub_requests = [url for url in requested if not url.startswith(dev_stack.demo)]
    assert hub_requests
    assert all(url.startswith(dev_stack.hub + "/") for url in hub_requests), hub_requests
    assert any("/static/hub.css" in url for url in hub_requests)
    assert any("/branding/theme.css" in url for url in hub_requests)
    assert any("/branding/logo" in url for url in hub_requests)
    assert console_errors == []


def test_security_headers_on_the_hubs_pages(page: Page, dev_stack: DevStack):
    open_sign_in(page, dev_stack)
    for url in (page.url, dev_stack.hub + "/register", dev_stack.hub + "/static/hub.css"):
        headers = page.request.get(url).headers
        csp = headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_local_sign_in_works_without_javascript(browser, dev_stack: DevStack):
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 390, "height": 844}, locale="vi-VN"
    )
    try:
        page = context.new_page()
        open_sign_in(page, dev_stack)
        expect(page.locator(".toggle-password")).to_have_count(0)  # only JavaScript adds it
        sign_in_locally(page, "congdan01")
        expect_signed_in_at_demo(page, dev_stack, "Lê Thị Hoa")
    finally:
        context.close()


def test_show_password_switch(page: Page, dev_stack: DevStack):
    open_sign_in(page, dev_stack)
    toggle = page.locator("button.toggle-password")
    expect(toggle).to_have_text("Hiện mật khẩu")
    page.fill("#password", DEMO_PASSWORD)
    toggle.click()
    expect(page.locator("#password")).to_have_attribute("type", "text")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(toggle).to_have_text("Ẩn mật khẩu")
    toggle.click()
    expect(page.locator("#password")).to_have_attribute("type", "password")


def test_keyboard_only_sign_in_with_visible_focus(page: Page, dev_stack: DevStack):
    open_sign_in(page, dev_stack)
    page.keyboard.press("Shift+Tab")  # from the username field (autofocus) back up the page
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused.startswith("Tài khoản định danh điện tử cấp bởi Bộ Công an (VNeID)")
    page.keyboard.press("Shift+Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused.startswith("Tài khoản cấp bởi Cổng DVC quốc gia")  # national first
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    for _ in range(3):  # English, Tiếng Việt, then the skip link, first on the page
        page.keyboard.press("Shift+Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["y"] >= 0  # shown once focused
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("ul.national a.button").first).to_be_focused()
    page.locator("#username").focus()
    page.keyboard.type("congdan01")
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect_signed_in_at_demo(page, dev_stack, "Lê Thị Hoa")


def test_language_switch_keeps_the_sign_in_going(page: Page, dev_stack: DevStack):
    open_sign_in(page, dev_stack)
    page.click("nav.lang a[lang=en]")
    expect(page.locator("p.client")).to_contain_text("Sign in to continue to")
    expect(page.locator("ul.national")).to_contain_text("National Public Service Portal")
    expect(page.locator("footer.help")).to_contain_text("Need help signing in?")
    assert re.search(r"/interaction/[^/]+/login", page.url)
    sign_in_locally(page, "congdan01")
    expect_signed_in_at_demo(page, dev_stack, "Lê Thị Hoa")
    assert claim(page, "acr") == "LoA1"


def test_account_pages_have_no_serious_accessibility_violations(page: Page, dev_stack: DevStack):
    page.goto(dev_stack.hub + "/account")
    sign_in_locally(page, "nguyenvanan")
    page.wait_for_url(dev_stack.hub + "/account")
    for path in (
        "/account",
        "/account/sessions",
        "/account/profile",
        "/account/password",
        "/account/security",
        "/account/links",
        "/logout",  # asks before signing out: no id_token_hint
        "/no-such-page",
    ):
        page.goto(dev_stack.hub + path)
        expect(page.locator("header.banner")).to_be_visible()  # the one layout, errors too
        assert serious_violations(page) == [], path
