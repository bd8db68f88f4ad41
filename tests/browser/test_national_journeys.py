"""One citizen across the two state portals of `idp dev`, in a real browser: an account made
through VNeID, proved with VNeID when he first comes through the national portal at a lower
level, then a step-up to level 2 that the hub asks the portal for (past the portal's
remembered level-1 session)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import DevStack, save_screenshots
from .test_journeys import claim, expect_signed_in_at_demo, open_sign_in

FIRST_LOGIN = re.compile(r".*/national/first$")


def portal_button(page: Page, connector: str) -> None:
    page.click(f"ul.national a.button[href$='/broker/{connector}']")


def test_one_citizen_across_vneid_and_the_national_portal_with_a_step_up(
    page: Page, dev_stack: DevStack
):
    # Through VNeID first: a new account, level 2, no password.
    open_sign_in(page, dev_stack)
    portal_button(page, "vneid")
    page.wait_for_url(dev_stack.vneid + "/**")
    page.click("button[name=person][value=cuong]")
    page.wait_for_url(FIRST_LOGIN)
    page.fill("input[name=email]", "cuong@example.vn")
    page.click("text=Tạo tài khoản và đăng nhập")
    expect_signed_in_at_demo(page, dev_stack, "Lê Văn Cường")
    sub = claim(page, "sub")
    assert claim(page, "acr") == "LoA2" and claim(page, "gender") == "male"
    page.click("#logout")
    page.wait_for_url(dev_stack.demo + "/")

    # Through the national portal's own account (level 1): he proves it with VNeID, once.
    open_sign_in(page, dev_stack)
    portal_button(page, "dvcqg")
    page.wait_for_url(dev_stack.mock + "/**")
    page.check("#remember")  # the portal keeps this level-1 session
    page.click("button[name=person][value=cuong]")
    page.wait_for_url(FIRST_LOGIN)
    expect(page.locator("#prove-title")).to_have_text("Chứng minh bằng cổng bạn đã dùng trước đây")
    expect(page.locator("#password")).to_have_count(0)  # no password he never had
    save_screenshots(page, "national-prove-with-vneid")
    page.click("#prove-vneid")
    page.wait_for_url(dev_stack.vneid + "/**")
    page.click("button[name=person][value=cuong]")
    expect_signed_in_at_demo(page, dev_stack, "Lê Văn Cường")
    assert claim(page, "sub") == sub
    page.click("#logout")
    page.wait_for_url(dev_stack.demo + "/")

    # The national portal answers from its remembered session: signed straight in, level 1.
    open_sign_in(page, dev_stack)
    portal_button(page, "dvcqg")
    expect_signed_in_at_demo(page, dev_stack, "Lê Văn Cường")
    assert claim(page, "sub") == sub and claim(page, "acr") == "LoA1"

    # A service needing level 2: the hub asks the portal for it, and the portal asks again.
    page.click("#login-level2")
    expect(page.locator("#form-error")).to_contain_text("(mức LoA2)")
    save_screenshots(page, "national-step-up-needed")
    portal_button(page, "dvcqg")
    page.wait_for_url(dev_stack.mock + "/**")
    expect(page.locator("#requested-level")).to_contain_text("LoA2")
    page.check("input[name=account_type][value=vneid]")
    page.click("button[name=person][value=cuong]")
    expect_signed_in_at_demo(page, dev_stack, "Lê Văn Cường")
    assert claim(page, "sub") == sub and claim(page, "acr") == "LoA2"
