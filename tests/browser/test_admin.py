"""The admin console in a real browser: an admin signs in with a password and an SMS code,
registers a client system and sees its secret once; the pages pass the axe check."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from idp.dev import DEMO_PASSWORD

from .conftest import DevStack, save_screenshots, serious_violations


def test_admin_signs_in_with_a_code_and_registers_a_client(page: Page, dev_stack: DevStack):
    page.goto(dev_stack.hub + "/admin")
    page.fill("#username", "quantri01")
    page.fill("#password", DEMO_PASSWORD)
    page.click("button.primary")
    page.wait_for_url(re.compile(r".*/interaction/[^/]+/otp.*"))
    sent_before = len(dev_stack.sms_codes())
    page.click("form.resend button")  # a step-up sends its code when asked
    expect(page.locator("#code")).to_be_visible()
    assert len(dev_stack.sms_codes()) == sent_before + 1
    page.fill("#code", dev_stack.sms_codes()[-1])
    page.click("form:has(#code) button[type=submit]")
    page.wait_for_url(dev_stack.hub + "/admin")
    expect(page.locator("h1")).to_have_text("Quản trị")
    expect(page.locator("svg.chart")).to_have_count(5)
    save_screenshots(page, "admin-dashboard")
    assert serious_violations(page) == []

    page.click("text=Hệ thống kết nối")
    expect(page.locator("#clients")).to_contain_text("demo-mot-cua")
    assert serious_violations(page) == []
    page.click("#new-client")
    assert serious_violations(page) == []
    page.fill("#name", "Hệ thống Giáo dục")
    page.fill("#redirect_uris", "https://giaoduc.tinh.gov.vn/cb")
    page.check("input[name=scope][value=email]")
    page.click("#save")
    expect(page.locator("#client-secret")).to_be_visible()
    client_id = page.locator("#client-id").inner_text()
    page.click("text=Quay lại hệ thống kết nối")
    expect(page.locator("#name")).to_have_value("Hệ thống Giáo dục")
    expect(page.locator("#client-secret")).to_have_count(0)  # shown once only
    page.goto(dev_stack.hub + f"/admin/audit?event=client_created&client={client_id}")
    expect(page.locator("#audit")).to_contain_text("quantri01")
    assert serious_violations(page) == []
