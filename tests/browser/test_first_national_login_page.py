"""The first national login page: a username proposed, "create" as the main button when no
account here holds the person's number (and "link" when one does), an error that is not the
hint again, the birth date as dd/mm/yyyy."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import DevStack
from .test_journeys import open_sign_in


def test_first_national_login_proposes_a_name_and_makes_create_the_main_button(
    page: Page, dev_stack: DevStack
):
    open_sign_in(page, dev_stack)
    page.click("ul.national a.button")
    page.click("button[name=person][value=cuong]")  # no local account has his number
    page.wait_for_url(re.compile(r".*/national/first$"))
    expect(page.locator("input[name=username]")).to_have_value("levancuong")
    expect(page.locator("main dl")).to_contain_text("11/02/1988")  # not 1988-02-11
    create, link = page.locator("#create-button"), page.locator("#link-button")
    expect(create).not_to_have_class(re.compile("secondary"))
    expect(link).to_have_class(re.compile("secondary-button"))
    filled = create.evaluate("b => getComputedStyle(b).backgroundColor")
    assert filled != link.evaluate("b => getComputedStyle(b).backgroundColor")

    page.fill("input[name=username]", "le.c")
    create.click()
    error = page.locator("#username-error")
    hint = page.locator("#username-hint")
    expect(error).to_have_text("Quá ngắn: tên đăng nhập cần ít nhất 6 ký tự.")
    assert error.inner_text() != hint.inner_text()
    expect(page.locator("#email-error")).to_have_text("Trường này là bắt buộc.")


def test_first_national_login_with_a_matching_account_keeps_link_first(
    page: Page, dev_stack: DevStack
):
    open_sign_in(page, dev_stack)
    page.click("ul.national a.button")
    page.click("button[name=person][value=an]")  # nguyenvanan holds his number
    page.wait_for_url(re.compile(r".*/national/first$"))
    expect(page.locator("#link-button")).not_to_have_class(re.compile("secondary"))
    expect(page.locator("#create-button")).to_have_class(re.compile("secondary-button"))
