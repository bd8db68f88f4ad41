"""The second factor at sign-in: SMS codes (read from the dev outbox), authenticator-app codes
(computed from the enrolled secret), recovery codes; resend cooldown, expiry and wrong tries
with the clock injected; step-up of a password-only session for a client that requires MFA;
`amr`/`acr` in the ID token. On SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

from dataclasses import replace

import pyotp
import pytest
from sqlalchemy import select

from idp.config import LoginConfig
from idp.login import totp
from idp.store import db, users
from idp.store.models import AuditEvent
from tests.conftest import hidden_inputs, last_sms_code, query_of, sms_messages
from tests.oidc.test_id_token_userinfo import verify
from tests.test_sms_otp import Gateway

PHONE = "0912345689"
RP = "https://rp.example/cb"


def events(app) -> list[str]:
    with app.app_context():
        return db.session.scalars(select(AuditEvent.event).order_by(AuditEvent.id)).all()


def password_step(hub, client_id, **params) -> str:
    """Sign in with the password; returns the second-factor page it leads to."""
    response = hub.login(hub.login_url(client_id, **params))
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.endswith("/otp"), location
    return location


def post_code(hub, location, code, method=None):
    page = hub.web.get(location + (f"?method={method}" if method else ""))
    form = hidden_inputs(page.get_data(as_text=True))
    form.update(action="verify", code=code)
    if method:
        form["method"] = method
    return hub.web.post(location, data=form)


def post_send(hub, location):
    form = hidden_inputs(hub.web.get(location + "?method=sms").get_data(as_text=True))
    form.update(action="send", method="sms")
    return hub.web.post(location, data=form)


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


@pytest.fixture
def mfa_client(hub):
    return hub.add_client(first_party=True, require_mfa=True)


@pytest.fixture
def enrolled(app, hub, clock):
    """citizen01 with an authenticator app; returns its secret."""
    hub.add_user(phone=PHONE)
    with app.test_request_context():
        user = users.by_username("citizen01")
        secret, _ = totp.start(user)
        codes = totp.confirm(user, pyotp.TOTP(secret).at(int(clock())))
    clock.advance(30)  # the enrolment code's step is used
    return secret, codes


def test_sms_sign_in_for_a_client_that_requires_mfa(hub, app, mfa_client):
    client_id, secret = mfa_client
    hub.add_user(phone=PHONE)
    location = password_step(hub, client_id)
    page = hub.web.get(location).get_data(as_text=True)
    assert "09******89" in page and "Gửi lại OTP" in page and 'data-resend-in="60"' in page
    assert len(sms_messages(app)) == 1 and sms_messages(app)[0]["to"] == PHONE
    assert "Ma xac thuc dang nhap" in sms_messages(app)[0]["text"]  # Vietnamese, no diacritics
    claims = hub.id_token_after(post_code(hub, location, last_sms_code(app)), client_id, secret)
    assert claims["amr"] == ["pwd", "sms", "mfa"] and claims["acr"] == "LoA1-MFA"
    with app.app_context():
        assert users.by_username("citizen01").phone_verified  # the code reached it
    assert {"otp_sent", "otp_verified", "login_success"} <= set(events(app))


def test_no_second_factor_without_a_reason(hub):
    client_id, secret = hub.add_client(first_party=True)
    hub.add_user(phone=PHONE)
    claims = verify(hub, hub.tokens(client_id, secret)["id_token"]).claims
    assert claims["amr"] == ["pwd"] and claims["acr"] == "LoA1"


def test_authenticator_app_sign_in_and_a_used_code_is_refused(hub, app, clock, enrolled):
    secret, _ = enrolled
    client_id, client_secret = hub.add_client(first_party=True)
    location = password_step(hub, client_id)  # enrolled users always give a second factor
    assert "ứng dụng xác thực" in hub.web.get(location).get_data(as_text=True)
    code = pyotp.TOTP(secret).at(int(clock()))
    claims = hub.id_token_after(post_code(hub, location, code), client_id, client_secret)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == "LoA1-MFA"
    assert sms_messages(app) == []  # the app was used, no SMS went out
    # The same code again, from another browser, within its time step: refused.
    hub.web = app.test_client()
    location = password_step(hub, client_id)
    again = post_code(hub, location, code)
    assert again.status_code == 400 and "đã được sử dụng" in again.get_data(as_text=True)
    assert "otp_reused" in events(app)


def test_recovery_code_signs_in_once(hub, app, enrolled):
    _, codes = enrolled
    client_id, secret = hub.add_client(first_party=True)
    location = password_step(hub, client_id)
    claims = hub.id_token_after(
        post_code(hub, location, codes[0], method="recovery"), client_id, secret
    )
    assert claims["amr"] == ["pwd", "mfa"]
    hub.web = app.test_client()
    location = password_step(hub, client_id)
    assert post_code(hub, location, codes[0], method="recovery").status_code == 400


def test_five_wrong_app_codes_end_the_sign_in_and_count_against_the_account(
    hub, app, clock, enrolled
):
    secret, _ = enrolled
    client_id, _ = hub.add_client(first_party=True)
    location = password_step(hub, client_id)
    bad = wrong(pyotp.TOTP(secret).at(int(clock())))
    for _ in range(4):
        assert post_code(hub, location, bad).status_code == 400
    last = post_code(hub, location, bad)
    assert last.status_code == 302 and last.headers["Location"].endswith("/login?reason=otp")
    page = hub.web.get(last.headers["Location"]).get_data(as_text=True)
    assert "Nhập sai mã quá nhiều lần" in page
    # The waiting second factor is gone: the right code no longer helps.
    assert hub.web.get(location).status_code == 302
    assert "otp_locked" in events(app)


def test_five_wrong_sms_codes_void_the_code_then_a_new_one_works(hub, app, clock, mfa_client):
    client_id, secret = mfa_client
    hub.add_user(phone=PHONE)
    location = password_step(hub, client_id)
    code = last_sms_code(app)
    results = [post_code(hub, location, wrong(code)) for _ in range(5)]
    assert [r.status_code for r in results] == [400] * 5
    assert "không còn dùng được" in results[-1].get_data(as_text=True)
    assert "hết hạn" in post_code(hub, location, code).get_data(as_text=True)
    clock.advance(app.config["IDP"].otp.resend_cooldown)
    assert post_send(hub, location).status_code == 200
    claims = hub.id_token_after(post_code(hub, location, last_sms_code(app)), client_id, secret)
    assert "sms" in claims["amr"]


def test_resend_waits_for_the_cooldown_and_replaces_the_code(hub, app, clock, mfa_client):
    client_id, secret = mfa_client
    hub.add_user(phone=PHONE)
    location = password_step(hub, client_id)
    first = last_sms_code(app)
    too_soon = post_send(hub, location)
    assert too_soon.status_code == 400 and "Vui lòng chờ" in too_soon.get_data(as_text=True)
    assert len(sms_messages(app)) == 1
    clock.advance(60)
    resent = post_send(hub, location)
    assert resent.status_code == 200 and "Đã gửi mã mới" in resent.get_data(as_text=True)
    second = last_sms_code(app)
    assert len(sms_messages(app)) == 2
    if first != second:
        assert post_code(hub, location, first).status_code == 400  # the old code is replaced
    hub.id_token_after(post_code(hub, location, second), client_id, secret)


def test_an_expired_sms_code_is_refused(hub, app, clock, mfa_client):
    client_id, _ = mfa_client
    hub.add_user(phone=PHONE)
    location = password_step(hub, client_id)
    clock.advance(app.config["IDP"].otp.code_ttl + 1)
    response = post_code(hub, location, last_sms_code(app))
    assert response.status_code == 400 and "Mã đã hết hạn" in response.get_data(as_text=True)
    assert "otp_expired" in events(app)


def test_a_failed_sms_is_shown_as_failed(hub, app, mfa_client, monkeypatch):
    gateway = Gateway("error")
    try:
        app.config["IDP"] = replace(
            app.config["IDP"],
            sms=replace(
                app.config["IDP"].sms, gateway="http", http_url=gateway.url, timeout=0.5, retries=0
            ),
        )
        client_id, _ = mfa_client
        hub.add_user(phone=PHONE)
        location = password_step(hub, client_id)
        page = hub.web.get(location)
        html = page.get_data(as_text=True)
        assert page.status_code == 400 and "Hiện chưa gửi được tin nhắn SMS" in html
        assert "Chúng tôi đã gửi" not in html and 'name="code"' not in html
        assert "otp_send_failed" in events(app)
    finally:
        gateway.close()


def test_step_up_of_a_password_session_keeps_the_session(hub, app, mfa_client):
    plain, plain_secret = hub.add_client(first_party=True, name="Cổng thông tin")
    client_id, secret = mfa_client
    hub.add_user(phone=PHONE)
    first = verify(hub, hub.tokens(plain, plain_secret)["id_token"]).claims
    assert first["acr"] == "LoA1"
    silent = hub.authorize(
        response_type="code", client_id=client_id, redirect_uri=RP, scope="openid", prompt="none"
    )
    assert query_of(silent.headers["Location"])["error"] == "interaction_required"
    response = hub.authorize(
        response_type="code", client_id=client_id, redirect_uri=RP, scope="openid", state="s"
    )
    location = response.headers["Location"]
    assert location.endswith("/otp")  # no password asked again
    assert sms_messages(app) == []  # nothing is sent by a GET
    assert post_send(hub, location).status_code == 200
    claims = hub.id_token_after(post_code(hub, location, last_sms_code(app)), client_id, secret)
    assert claims["acr"] == "LoA1-MFA" and claims["amr"] == ["pwd", "sms", "mfa"]
    assert claims["sid"] == first["sid"] and claims["auth_time"] == first["auth_time"]
    assert "login_stepped_up" in events(app)
    # The session stays stepped up: the other client now gets the higher level silently.
    again = verify(hub, hub.tokens(plain, plain_secret)["id_token"]).claims
    assert again["acr"] == "LoA1-MFA"


def test_acr_values_ask_for_the_mfa_level(hub, app):
    client_id, secret = hub.add_client(first_party=True)
    hub.add_user(phone=PHONE)
    location = password_step(hub, client_id, acr_values="LoA1-MFA urn:unknown")
    claims = hub.id_token_after(post_code(hub, location, last_sms_code(app)), client_id, secret)
    assert claims["acr"] == "LoA1-MFA"
    hub.web = app.test_client()
    body = hub.tokens(client_id, secret, acr_values="LoA1 LoA1-MFA")  # LoA1 is enough
    assert verify(hub, body["id_token"]).claims["acr"] == "LoA1"


def test_config_can_require_a_second_factor_of_everyone(hub, app):
    app.config["IDP"] = replace(app.config["IDP"], login=LoginConfig(require_mfa=True))
    client_id, _ = hub.add_client(first_party=True)
    hub.add_user(phone=PHONE)
    password_step(hub, client_id)


def test_no_way_to_give_a_second_factor_is_explained(hub, mfa_client):
    client_id, _ = mfa_client
    hub.add_user()  # no phone, no app
    response = hub.login(hub.login_url(client_id))
    assert response.status_code == 403
    assert "chưa có số điện thoại" in response.get_data(as_text=True)


def test_discovery_lists_both_levels(hub):
    metadata = hub.web.get("/.well-known/openid-configuration").get_json()
    assert metadata["acr_values_supported"] == ["LoA1", "LoA1-MFA"]


def test_sms_sends_per_ip_are_capped(app, clock):
    from idp.login import otp

    app.config["IDP"] = replace(
        app.config["IDP"], otp=replace(app.config["IDP"].otp, max_per_ip_hour=2)
    )
    with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        otp.send("phone", "1", "0912000001", "{code}")
        otp.send("phone", "2", "0912000002", "{code}")
        with pytest.raises(otp.SendRefused):
            otp.send("phone", "3", "0912000003", "{code}")
    with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.10"}):
        otp.send("phone", "3", "0912000003", "{code}")  # another address is not affected
