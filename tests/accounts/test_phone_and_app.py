"""The mobile number proved by SMS (at registration, by counter staff, on a change that first
needs a second factor) and the authenticator app on the account page (QR code, recovery codes
shown once, renew and disable with a fresh code)."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import select

from idp.store import db, users
from idp.store.models import AuditEvent
from tests.accounts.test_recovery_profile_staff import account_browser
from tests.accounts.test_registration import CITIZEN, post_form
from tests.conftest import hidden_inputs, last_sms_code, sms_messages


def form_post(web, path, **data):
    form = hidden_inputs(web.get(path).get_data(as_text=True))
    return web.post(path, data={**form, **data})


def sms_step_up(web, app, back="/account/security"):
    """Confirm it is you with an SMS code to the account's proved phone."""
    location = web.get(f"/account/security/confirm?next={back}").headers["Location"]
    form = {**hidden_inputs(web.get(location).get_data(as_text=True)), "action": "send"}
    web.post(location, data=form)
    return web.post(location, data={**form, "action": "verify", "code": last_sms_code(app)})


def counter_staff(hub, app, username="canbo.motcua"):
    """A browser of counter staff (a proved phone) that confirmed it is them by SMS."""
    hub.add_user(username=username, full_name="Phạm Thị Cán Bộ", phone="0909000002")
    with app.app_context():
        user = users.by_username(username)
        user.roles, user.phone_verified = ["staff"], True
        db.session.commit()
    staff = account_browser(hub, username)
    assert sms_step_up(staff, app).status_code == 302
    return staff


def confirm_it_is_you(web, code, method=None, back="/account/security"):
    """Step the session up through "confirm it is you" with `code`; returns the answer."""
    start = web.get(f"/account/security/confirm?next={back}")
    location = start.headers["Location"]
    page = web.get(location + (f"?method={method}" if method else ""))
    form = {**hidden_inputs(page.get_data(as_text=True)), "action": "verify", "code": code}
    if method:
        form["method"] = method
    return web.post(location, data=form)


def test_registration_proves_the_mobile_number_on_the_same_page(hub, app, smtp):
    response = post_form(hub.web, "/register", CITIZEN)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "09******78" in html
    assert sms_messages(app)[-1]["to"] == "0912345678"
    action = re.search(r'action="(/register/phone/[^"]+)"', html).group(1)
    wrong = form_post(hub.web, action, action="verify", code="00000")
    assert wrong.status_code == 400 and "Mã không đúng" in wrong.get_data(as_text=True)
    # The link belongs to the browser that registered: another one sees nothing, not even
    # the masked number, and the right code typed there proves nothing.
    other = hub.app.test_client()
    seen = other.get(action)
    assert seen.status_code == 400 and "09******78" not in seen.get_data(as_text=True)
    form = hidden_inputs(other.get("/register").get_data(as_text=True))
    code = last_sms_code(app)
    refused = other.post(action, data={**form, "action": "verify", "code": code})
    assert refused.status_code == 400 and "trình duyệt khác" in refused.get_data(as_text=True)
    done = form_post(hub.web, action, action="verify", code=code)
    assert done.status_code == 200 and "đã được xác nhận" in done.get_data(as_text=True)
    with app.app_context():
        user = users.by_username("nguyenvanan")
        assert user.phone_verified and not user.active  # activation is still by email
    assert hub.web.get("/register/phone/not-a-token").status_code == 400


def test_staff_take_the_citizens_sms_code_at_the_counter(hub, app, smtp):
    staff = counter_staff(hub, app)
    fields = {k: v for k, v in CITIZEN.items() if not k.startswith("password")}
    html = post_form(staff, "/staff/register", fields).get_data(as_text=True)
    action = re.search(r'action="(/register/phone/[^"]+)"', html).group(1)
    assert form_post(staff, action, action="verify", code=last_sms_code(app)).status_code == 200
    with app.app_context():
        assert users.by_username("nguyenvanan").phone_verified


def test_changing_a_proved_number_needs_a_second_factor_first(hub, app, clock, smtp):
    hub.add_user(phone="0912345678", email="a@example.vn", full_name="Lê Văn A")
    with app.app_context():
        users.by_username("citizen01").phone_verified = True
        db.session.commit()
    web = account_browser(hub)
    page = web.get("/account/profile").get_data(as_text=True)
    form = {**hidden_inputs(page), "full_name": "Lê Văn A", "email": "a@example.vn"}
    refused = web.post("/account/profile", data={**form, "phone": "0987654321"})
    assert refused.status_code == 400 and "xác nhận chính bạn" in refused.get_data(as_text=True)
    assert sms_messages(app) == []
    # Confirm it is you: a code to the current number steps the session up.
    start = web.get("/account/security/confirm?next=/account/profile")
    location = start.headers["Location"]
    assert location.endswith("/otp")
    send = {**hidden_inputs(web.get(location).get_data(as_text=True)), "action": "send"}
    assert web.post(location, data=send).status_code == 200
    assert sms_messages(app)[-1]["to"] == "0912345678"
    verify = {**send, "action": "verify", "code": last_sms_code(app)}
    back = web.post(location, data=verify)
    assert back.status_code == 302 and back.headers["Location"] == "/account/profile"
    clock.advance(60)
    moved = web.post("/account/profile", data={**form, "phone": "0987654321"})
    assert moved.status_code == 302 and moved.headers["Location"].endswith("/account/phone")
    assert sms_messages(app)[-1]["to"] == "0987654321"
    with app.app_context():
        assert users.by_username("citizen01").phone == "0912345678"  # not before the code
    done = form_post(web, "/account/phone", action="verify", code=last_sms_code(app))
    assert done.status_code == 302
    with app.app_context():
        user = users.by_username("citizen01")
        assert user.phone == "0987654321" and user.phone_verified
        events = db.session.scalars(select(AuditEvent.event)).all()
    assert "phone_verified" in events and "login_stepped_up" in events


def test_authenticator_app_enrolment_recovery_codes_and_disable(hub, app, clock):
    hub.add_user()
    web = account_browser(hub)
    page = web.get("/account/security/app")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg" in html and 'class="segno"' in html
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)
    bad = web.post("/account/security/app", data={**hidden_inputs(html), "code": "12345"})
    assert bad.status_code == 400
    # A failed try made a new secret: scan again.
    html = bad.get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html).group(1)
    shown = web.post(
        "/account/security/app",
        data={**hidden_inputs(html), "code": pyotp.TOTP(secret).at(int(clock()))},
    )
    codes = re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", shown.get_data(as_text=True))
    assert len(codes) == 10
    overview = web.get("/account/security").get_data(as_text=True)
    assert "Số mã khôi phục còn lại: 10" in overview
    assert not any(code in overview for code in codes)  # shown once only
    # The app just enrolled does not prove itself: new recovery codes first need the session
    # to confirm it is you with the app (then a fresh code); the old ones stop working.
    clock.advance(30)
    asked = web.post(
        "/account/security/recovery-codes",
        data={**hidden_inputs(overview), "code": pyotp.TOTP(secret).at(int(clock()))},
    )
    assert asked.status_code == 303 and "/account/security/confirm" in asked.headers["Location"]
    stepped = confirm_it_is_you(web, pyotp.TOTP(secret).at(int(clock())))
    assert stepped.status_code == 302 and stepped.headers["Location"] == "/account/security"
    clock.advance(30)
    renewed = web.post(
        "/account/security/recovery-codes",
        data={**hidden_inputs(overview), "code": pyotp.TOTP(secret).at(int(clock()))},
    )
    new_codes = re.findall(
        r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", renewed.get_data(as_text=True)
    )
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    clock.advance(30)
    wrong = web.post(
        "/account/security/app/disable", data={**hidden_inputs(overview), "code": "12345"}
    )
    assert wrong.status_code == 400
    off = web.post(
        "/account/security/app/disable",
        data={**hidden_inputs(overview), "code": pyotp.TOTP(secret).at(int(clock()))},
    )
    assert off.status_code == 302
    assert "Cài đặt ứng dụng xác thực" in web.get("/account/security").get_data(as_text=True)
