"""An email change a thief set in motion can be stopped (found by the second red-team pass):
one pending change at a time, the owner's present address told when it is asked for, the
pending link void after a password reset or the owner's report, a report that puts the old
address back, and a report link of its own for each recipient."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from idp.store import users
from tests.accounts.test_recovery_profile_staff import account_browser
from tests.accounts.test_stolen_password import PHONE, events
from tests.conftest import hidden_inputs, last_sms_code


def stepped_up(hub, app, smtp):
    """citizen01 (proved phone, owner@example.vn) signed in and past the SMS step-up."""
    from idp.store import db

    hub.add_user(phone=PHONE, email="owner@example.vn", full_name="Lê Thị Chủ")
    with app.app_context():
        users.by_username("citizen01").phone_verified = True
        db.session.commit()
    web = account_browser(hub)
    otp_page = web.get("/account/security/confirm?next=/account/profile").headers["Location"]
    sent = {**hidden_inputs(web.get(otp_page).text), "action": "send"}
    web.post(otp_page, data=sent)
    web.post(otp_page, data={**sent, "action": "verify", "code": last_sms_code(app)})
    return web


def ask_email_change(web, address: str):
    form = {**hidden_inputs(web.get("/account/profile").text), "full_name": "Lê Thị Chủ",
            "phone": PHONE, "email": address}  # fmt: skip
    assert web.post("/account/profile", data=form).status_code == 200


def link_to(smtp, address: str, path: str) -> str:
    """The newest link with `path` mailed to `address` (mail goes out from a queue)."""
    import time

    pattern = re.compile(r"https?://\S+?" + re.escape(path) + r"[A-Za-z0-9_-]+")
    deadline = time.monotonic() + 10
    while True:
        for mail in reversed([m for m in smtp.messages if m["To"] == address]):
            found = pattern.findall(mail.get_content())
            if found:
                return urlsplit(found[-1]).path
        assert time.monotonic() < deadline, f"no {path} link mailed to {address}"
        time.sleep(0.05)


def test_one_pending_change_and_the_owner_hears_of_it_first(hub, app, smtp):
    web = stepped_up(hub, app, smtp)
    ask_email_change(web, "evil1@example.com")
    first = link_to(smtp, "evil1@example.com", "/email/confirm/")
    assert link_to(smtp, "owner@example.vn", "/account/report/")  # told before it happens
    ask_email_change(web, "evil2@example.com")
    assert hub.app.test_client().get(first).status_code == 400  # the newer request voided it
    second = link_to(smtp, "evil2@example.com", "/email/confirm/")
    assert hub.app.test_client().get(second).status_code == 200


def test_a_password_reset_voids_a_pending_email_change(hub, app, smtp):
    web = stepped_up(hub, app, smtp)
    ask_email_change(web, "evil@example.com")
    pending = link_to(smtp, "evil@example.com", "/email/confirm/")
    owner = hub.app.test_client()
    form = hidden_inputs(owner.get("/password/forgot").get_data(as_text=True))
    owner.post("/password/forgot", data={**form, "identifier": "citizen01"})
    reset = link_to(smtp, "owner@example.vn", "/password/reset/")
    form = hidden_inputs(owner.get(reset).get_data(as_text=True))
    done = owner.post(reset, data={**form, "password": "Mật-khẩu-mới-2026",
                                   "password_confirm": "Mật-khẩu-mới-2026"})  # fmt: skip
    assert done.status_code in (200, 302), done.get_data(as_text=True)[:500]
    assert hub.app.test_client().get(pending).status_code == 400
    with app.app_context():
        assert users.by_username("citizen01").email == "owner@example.vn"


def test_the_owners_report_puts_the_old_address_back_and_cannot_be_spent_by_the_thief(
    hub, app, smtp
):
    web = stepped_up(hub, app, smtp)
    ask_email_change(web, "evil@example.com")
    confirm = link_to(smtp, "evil@example.com", "/email/confirm/")
    assert hub.app.test_client().get(confirm).status_code == 200
    with app.app_context():
        assert users.by_username("citizen01").email == "evil@example.com"
    thief = hub.app.test_client()
    thiefs = link_to(smtp, "evil@example.com", "/account/report/")
    page = thief.get(thiefs).get_data(as_text=True)
    thief.post(thiefs, data=hidden_inputs(page))  # the thief spends the report link he got
    owners = link_to(smtp, "owner@example.vn", "/account/report/")
    owner = hub.app.test_client()
    page = owner.get(owners)
    assert page.status_code == 200  # the owner's own link still works
    assert owner.post(owners, data=hidden_inputs(page.get_data(as_text=True))).status_code == 200
    with app.app_context():
        user = users.by_username("citizen01")
        assert user.email == "owner@example.vn" and user.email_verified
    assert "security_change_reported" in events(app)
