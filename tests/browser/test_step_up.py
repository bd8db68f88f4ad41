"""Issue 16, finding 1, in a real browser: with only the password of an account whose phone is
proved, the page that enrols an authenticator app is reached only after the SMS code to that
phone ("Confirm it is you"); the app being enrolled is never what proves it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from idp.dev import DEMO_PASSWORD

from .conftest import DevStack, save_screenshots


def test_enrolling_an_app_first_asks_for_the_existing_second_factor(
    page: Page, dev_stack: DevStack
):
    page.goto(dev_stack.hub + "/login?next=/account/security/app")
    page.wait_for_url(re.compile(r".*/interaction/[^/]+/login$"))
    page.fill("#username", "nguyenvanan")
    page.fill("#password", DEMO_PASSWORD)
    page.click("button.primary")
    # The password opened the account, but not the enrolment: the phone's code comes first.
    page.wait_for_url(re.compile(r".*/interaction/[^/]+/otp.*"))
    expect(page.locator("main")).to_contain_text("09******78")
    expect(page.locator("svg.segno")).to_have_count(0)  # no QR code, no secret
    expect(page.locator("code.secret")).to_have_count(0)
    save_screenshots(page, "step-up-before-app")
    sent_before = len(dev_stack.sms_codes())
    page.click("form.resend button[type=submit]")
    page.wait_for_selector("#code")
    codes = dev_stack.sms_codes()
    assert len(codes) == sent_before + 1
    page.fill("#code", codes[-1])
    page.click("form:has(#code) button[type=submit]")
    page.wait_for_url(dev_stack.hub + "/account/security/app")
    expect(page.locator("code.secret")).to_be_visible()
    expect(page.locator("svg.segno")).to_be_visible()
