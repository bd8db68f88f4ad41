"""Every page of the journeys, saved at 390 and 1280 px into test-artifacts/gallery/ (with an
index.html side by side), and checked on a phone: no sideways scrolling, no text under 12 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import DevStack
from .gallery import Gallery, new_gallery
from .test_journeys import open_sign_in, sign_in_locally


@pytest.fixture(scope="module")
def gallery() -> Gallery:
    return new_gallery()


def test_gallery_sign_in_and_second_factor(page: Page, dev_stack: DevStack, gallery: Gallery):
    problems = []
    open_sign_in(page, dev_stack)
    problems += gallery.shoot(page, "sign-in", "Sign-in")
    page.fill("#username", "congdan01")
    page.fill("#password", "not-the-password")
    page.click("button.primary")
    expect(page.locator("#form-error")).to_be_visible()
    problems += gallery.shoot(page, "sign-in-wrong-password", "Sign-in: a wrong password")
    page.click("nav.lang a[lang=en]")
    problems += gallery.shoot(page, "sign-in-en", "Sign-in in English")
    page.click("nav.lang a[lang=vi]")

    dev_stack.add_user("anhdep.gallery", "Đặng Văn Ảnh", "0903000022")  # its own number
    open_sign_in(page, dev_stack, mfa=True)
    sign_in_locally(page, "anhdep.gallery")
    page.wait_for_url(re.compile(r".*/interaction/[^/]+/otp.*"))
    problems += gallery.shoot(page, "second-factor", "Second factor: SMS code")
    page.fill("#code", "000000")
    page.click("form:has(#code) button[type=submit]")
    problems += gallery.shoot(page, "second-factor-wrong-code", "Second factor: a wrong code")
    assert problems == []


def test_gallery_first_national_login(page: Page, dev_stack: DevStack, gallery: Gallery):
    problems = []
    open_sign_in(page, dev_stack)
    page.click("ul.national a.button")
    page.wait_for_url(dev_stack.mock + "/**")
    problems += gallery.shoot(page, "national-portal", "The mock national portal")
    page.click("button[name=person][value=cuong]")
    page.wait_for_url(re.compile(r".*/national/first$"))
    problems += gallery.shoot(page, "first-national-login", "First national login")
    page.fill("input[name=username]", "x")
    page.locator("form:has(input[name=username]) button[type=submit]").click()
    problems += gallery.shoot(
        page, "first-national-login-error", "First national login: a username refused"
    )
    assert problems == []


def test_gallery_registration_and_recovery(page: Page, dev_stack: DevStack, gallery: Gallery):
    problems = []
    for path, name, title in (
        ("/register", "register-citizen", "Register a citizen account"),
        ("/register/business", "register-business", "Register a business"),
    ):
        page.goto(dev_stack.hub + path)
        problems += gallery.shoot(page, name, title)
        page.locator("form button[type=submit]").last.click()
        expect(page.locator(".field-error").first).to_be_visible()
        problems += gallery.shoot(page, name + "-errors", title + ": sent empty")
    page.goto(dev_stack.hub + "/password/forgot")
    problems += gallery.shoot(page, "forgot-password", "Forgotten password")
    page.goto(dev_stack.hub + "/activate/resend")
    problems += gallery.shoot(page, "resend-activation", "Resend the activation email")
    assert problems == []


def test_gallery_account_pages(page: Page, dev_stack: DevStack, gallery: Gallery):
    problems = []
    page.goto(dev_stack.hub + "/account")
    sign_in_locally(page, "congdan01")
    page.wait_for_url(dev_stack.hub + "/account")
    for path, name, title in (
        ("/account", "account", "Account overview"),
        ("/account/sessions", "account-sessions", "Account: devices and sessions"),
        ("/account/profile", "account-profile", "Account: profile"),
        ("/account/password", "account-password", "Account: change password"),
        ("/account/security", "account-security", "Account: security"),
        ("/account/links", "account-links", "Account: linked national accounts"),
    ):
        page.goto(dev_stack.hub + path)
        problems += gallery.shoot(page, name, title)
    assert problems == []


def test_gallery_admin_pages(admin_page: Page, dev_stack: DevStack, gallery: Gallery):
    page = admin_page
    problems = []
    page.goto(dev_stack.hub + "/admin")
    problems += gallery.shoot(page, "admin-dashboard", "Admin: statistics")
    for path, name, title in (
        ("/admin/clients", "admin-clients", "Admin: client systems"),
        ("/admin/clients/demo-mot-cua", "admin-client", "Admin: one client system"),
        ("/admin/users?q=a", "admin-users", "Admin: accounts found"),
        ("/admin/audit", "admin-audit", "Admin: audit log"),
    ):
        page.goto(dev_stack.hub + path)
        problems += gallery.shoot(page, name, title)
    page.goto(dev_stack.hub + "/admin/users?q=congdan01")
    page.click("#users a")
    problems += gallery.shoot(page, "admin-user", "Admin: one account")
    assert problems == []


def test_gallery_error_pages(page: Page, dev_stack: DevStack, gallery: Gallery):
    problems = []
    page.goto(dev_stack.hub + "/no-such-page")
    problems += gallery.shoot(page, "error-not-found", "Error: page not found")
    page.goto(dev_stack.hub + "/interaction/not-a-sign-in/login")
    problems += gallery.shoot(page, "error-sign-in-expired", "Error: sign-in expired")
    assert problems == []


def test_the_gallery_check_finds_a_wide_page_and_small_text(
    page: Page, dev_stack: DevStack, tmp_path
):
    """The measures are live: a page made too wide, with tiny text, is reported."""
    page.goto(dev_stack.hub + "/no-such-page")
    page.evaluate(
        """() => { const p = document.querySelector('main p') || document.querySelector('h1');
                   p.style.fontSize = '9px'; p.style.display = 'block'; p.style.width = '900px'; }"""
    )
    problems = Gallery(tmp_path).shoot(page, "broken", "broken")
    assert any("scrolls sideways" in p for p in problems), problems
    assert any("under 12 px" in p for p in problems), problems
