"""Issue 16, findings 1 and 2: an attacker holding only the password. Every security change
(authenticator app, recovery codes, email, phone, password, national links) first needs the
account's existing second factor, passed recently; a factor being enrolled never proves
itself; the admin console takes only a vouched factor; the owner hears of each change by mail
and SMS, with a link that ends every session."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import select

from idp.login import totp
from idp.store import db, users
from idp.store.models import AuditEvent
from tests.accounts.test_phone_and_app import confirm_it_is_you, form_post
from tests.accounts.test_recovery_profile_staff import PASSWORD, account_browser
from tests.conftest import hidden_inputs, last_sms_code, sms_messages

PHONE = "0912345678"


def events(app) -> list[str]:
    with app.app_context():
        return db.session.scalars(select(AuditEvent.event).order_by(AuditEvent.id)).all()


@pytest.fixture
def victim(hub, app, smtp):
    """citizen01 with a proved phone and an email: a password alone must not change them."""
    hub.add_user(phone=PHONE, email="owner@example.vn", full_name="Lê Thị Chủ")
    with app.app_context():
        users.by_username("citizen01").phone_verified = True
        db.session.commit()
    return account_browser(hub)


def asked_to_confirm(response) -> bool:
    location = response.headers.get("Location", "")
    return response.status_code in (302, 303) and "/account/security/confirm" in location


def test_password_alone_cannot_enrol_an_app_on_an_account_with_a_phone(hub, app, clock, victim):
    assert asked_to_confirm(victim.get("/account/security/app"))
    posted = victim.post(
        "/account/security/app", data={**hidden_inputs(victim.get("/account").text), "code": "1"}
    )
    assert asked_to_confirm(posted)
    with app.app_context():
        assert totp.enrolment(users.by_username("citizen01")) is None
    # Confirmed with the phone's SMS code, the owner enrols; the app is vouched for.
    confirm = victim.get("/account/security/confirm?next=/account/security/app").headers["Location"]
    form = {**hidden_inputs(victim.get(confirm).text), "action": "send"}
    victim.post(confirm, data=form)
    back = victim.post(confirm, data={**form, "action": "verify", "code": last_sms_code(app)})
    assert back.headers["Location"] == "/account/security/app"
    html = victim.get("/account/security/app").text
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)
    done = victim.post(
        "/account/security/app",
        data={**hidden_inputs(html), "code": pyotp.TOTP(secret).at(int(clock()))},
    )
    assert done.status_code == 200
    with app.app_context():
        assert totp.enrolment(users.by_username("citizen01")).vouched
    assert "step_up_required" in events(app) and "security_notice" in events(app)


def test_a_step_up_is_good_for_ten_minutes_only(hub, app, clock, victim):
    confirm = victim.get("/account/security/confirm?next=/account/password").headers["Location"]
    form = {**hidden_inputs(victim.get(confirm).text), "action": "send"}
    victim.post(confirm, data=form)
    victim.post(confirm, data={**form, "action": "verify", "code": last_sms_code(app)})
    assert victim.get("/account/password").status_code == 200
    clock.advance(app.config["IDP"].login.step_up_max_age + 1)
    assert asked_to_confirm(victim.get("/account/password"))


@pytest.mark.parametrize(
    "path, data",
    [
        ("/account/password", {"current_password": PASSWORD, "password": "Khác-hẳn-2026!x"}),
        ("/account/security/recovery-codes", {"code": "123456"}),
        ("/account/security/app/disable", {"code": "123456"}),
        ("/account/links/1/remove", {}),
    ],
)
def test_each_security_change_needs_the_second_factor_first(hub, app, victim, path, data):
    token = hidden_inputs(victim.get("/account").text)
    response = victim.post(path, data={**token, **data, "password_confirm": data.get("password")})
    assert asked_to_confirm(response), (path, response.status_code)
    with app.app_context():
        user = users.by_username("citizen01")
        assert user.phone == PHONE and user.email == "owner@example.vn"


def test_the_email_address_cannot_be_moved_with_the_password_alone(hub, app, smtp, victim):
    page = victim.get("/account/profile").text
    form = {**hidden_inputs(page), "full_name": "Lê Thị Chủ", "phone": PHONE}
    refused = victim.post("/account/profile", data={**form, "email": "thief@example.vn"})
    assert refused.status_code == 400 and 'id="email-error"' in refused.text
    assert not [m for m in smtp.messages if m["To"] == "thief@example.vn"]
    # With the owner's SMS code first, the change goes ahead; the old address is told.
    assert confirm_it_is_you(victim, "", method="sms", back="/account/profile").status_code == 400
    otp_page = victim.get("/account/security/confirm?next=/account/profile").headers["Location"]
    sent = {**hidden_inputs(victim.get(otp_page).text), "action": "send"}
    victim.post(otp_page, data=sent)
    victim.post(otp_page, data={**sent, "action": "verify", "code": last_sms_code(app)})
    moved = victim.post("/account/profile", data={**form, "email": "new@example.vn"})
    assert moved.status_code == 200
    link = urlsplit(smtp.last_link("/email/confirm/")).path
    assert hub.app.test_client().get(link).status_code == 200
    told = [m for m in smtp.messages if m["To"] == "owner@example.vn"]
    assert told and "/account/report/" in told[-1].get_content()
    notices = [m for m in sms_messages(app) if m["to"] == PHONE and "/account/report/" in m["text"]]
    assert notices


def test_the_owner_ends_every_session_from_the_notice(hub, app, smtp, victim):
    with app.test_request_context():
        from idp.accounts import notices

        notices.security_change(users.by_username("citizen01"), "password_changed")
    link = urlsplit(smtp.last_link("/account/report/")).path
    other = hub.app.test_client()
    page = other.get(link)
    assert page.status_code == 200
    assert victim.get("/account").status_code == 200
    done = other.post(link, data=hidden_inputs(page.text))
    assert done.status_code == 200
    assert victim.get("/account").status_code == 302  # the thief's session is over
    assert "security_change_reported" in events(app)
    assert other.post(link, data=hidden_inputs(page.text)).status_code == 400  # used once


def admin_browser(hub, app, *, phone: str | None):
    hub.add_user(username="quantri01", phone=phone, full_name="Quản Trị")
    with app.app_context():
        user = users.by_username("quantri01")
        user.roles, user.phone_verified = ["admin"], phone is not None
        db.session.commit()
    return account_browser(hub, "quantri01")


def test_an_app_enrolled_with_a_password_alone_does_not_open_the_console(hub, app, clock, smtp):
    web = admin_browser(hub, app, phone=None)
    html = web.get("/account/security/app").text  # no factor yet: nothing to step up with
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)
    web.post(
        "/account/security/app",
        data={**hidden_inputs(html), "code": pyotp.TOTP(secret).at(int(clock()))},
    )
    clock.advance(30)
    stepped = confirm_it_is_you(web, pyotp.TOTP(secret).at(int(clock())), back="/admin")
    assert stepped.status_code == 302
    with app.app_context():
        assert not totp.enrolment(users.by_username("quantri01")).vouched
    refused = web.get("/admin")
    assert refused.status_code == 403


def test_the_console_asks_for_the_vouched_factor(hub, app, clock, smtp):
    web = admin_browser(hub, app, phone=PHONE)
    with app.test_request_context():
        user = users.by_username("quantri01")
        secret, _ = totp.start(user)
        totp.confirm(user, pyotp.TOTP(secret).at(int(clock())))  # not vouched
    clock.advance(30)
    confirm_it_is_you(web, pyotp.TOTP(secret).at(int(clock())), back="/admin")
    asked = web.get("/admin")
    assert asked.status_code == 302 and "method=sms" in asked.headers["Location"]
    otp_page = web.get(asked.headers["Location"]).headers["Location"]
    assert "method=sms" in otp_page
    sent = {**hidden_inputs(web.get(otp_page).text), "action": "send", "method": "sms"}
    web.post(otp_page, data=sent)
    back = web.post(otp_page, data={**sent, "action": "verify", "code": last_sms_code(app)})
    assert back.headers["Location"] == "/admin"
    assert web.get("/admin").status_code == 200


def test_a_number_proved_with_a_password_alone_is_not_vouched(hub, app, smtp):
    hub.add_user(username="quantri01", phone=None, roles=["admin"], email="qt@example.vn")
    web = account_browser(hub, "quantri01")
    page = web.get("/account/profile").text
    form = {**hidden_inputs(page), "full_name": "Quản Trị", "email": "qt@example.vn"}
    assert web.post("/account/profile", data={**form, "phone": PHONE}).status_code == 302
    proved = form_post(web, "/account/phone", action="verify", code=last_sms_code(app))
    assert proved.status_code == 302
    with app.app_context():
        user = users.by_username("quantri01")
        assert user.phone_verified and not user.phone_vouched
    assert web.get("/admin").status_code == 403


def new_device_notices(app) -> int:
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.event == "security_notice")
        ).all()
    return sum(1 for detail in rows if (detail or {}).get("kind") == "admin_new_device")


def test_an_admin_signing_in_from_a_new_device_is_told(hub, app, smtp):
    hub.add_user(username="quantri01", roles=["admin"], email="qt@example.vn")
    web = account_browser(hub, "quantri01")
    assert new_device_notices(app) == 1
    assert [m for m in smtp.messages if m["To"] == "qt@example.vn"]
    web.post("/account/logout", data=hidden_inputs(web.get("/account").text))
    again = web.get(web.get("/login").headers["Location"])
    form = {**hidden_inputs(again.text), "username": "quantri01", "password": PASSWORD}
    assert web.post(again.request.path, data=form).status_code == 302
    assert new_device_notices(app) == 1  # the same browser
    account_browser(hub, "quantri01")
    assert new_device_notices(app) == 2
    hub.add_user()
    account_browser(hub)  # a citizen: no such notice
    assert new_device_notices(app) == 2


def test_the_counter_vouches_for_a_factor_and_unlocks_it(tmp_path):
    import os
    import subprocess

    config = tmp_path / "idp.toml"
    config.write_text(f'instance_dir = "{tmp_path / "i"}"\n')

    def run(*args):
        return subprocess.run(
            ["idp", "--config", str(config), *args], capture_output=True, text=True, timeout=120,
            env=os.environ,
        )  # fmt: skip

    assert run("init").returncode == 0
    run("users", "add", "--username", "quantri01", "--password", PASSWORD, "--phone", PHONE)
    assert "nothing" in run("users", "vouch-second-factor", "quantri01").stdout  # unproved
    assert "was not locked" in run("users", "unlock-second-factor", "quantri01").stdout
    assert run("users", "vouch-second-factor", "nobody").returncode != 0


def test_another_admin_vouches_for_a_factor_and_unlocks_it(hub, app, smtp):
    from tests.admin.test_console import csrf, signed_in, step_up

    admin = step_up(hub, signed_in(hub, "quantri09", ["admin"], phone="0909000009"))
    web = admin_browser(hub, app, phone=PHONE)
    with app.app_context():
        user = users.by_username("quantri01")
        user.phone_vouched = False
        user.second_factor_locked_at = 1
        db.session.commit()
        sub = user.subject
    assert web.get("/admin").status_code == 403  # nothing vouched to confirm with
    token = {"csrf_token": csrf(admin)}
    for action in ("vouch-second-factor", "unlock-second-factor"):
        assert admin.post(f"/admin/users/{sub}/{action}", data=token).status_code == 302
    with app.app_context():
        user = users.by_username("quantri01")
        assert user.phone_vouched and user.second_factor_locked_at is None
    assert "second_factor_vouched" in events(app) and "second_factor_unlocked" in events(app)
    assert web.get("/admin").status_code == 302  # now asked for the vouched SMS code
