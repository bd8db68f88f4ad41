"""Citizen and organisation registration → activation email (real SMTP) → sign in."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.conftest import hidden_inputs, query_of

CITIZEN = {
    "full_name": "Nguyễn Văn An",
    "birthdate": "17/05/1990",
    "sex": "male",
    "national_id": "001090000001",
    "username": "nguyenvanan",
    "phone": "+84912345678",
    "email": "an@example.vn",
    "address": "12 Tràng Tiền, Hoàn Kiếm, Hà Nội",
    "password": "Tr4ng-Đồng-Đông-Sơn",
    "password_confirm": "Tr4ng-Đồng-Đông-Sơn",
}
BUSINESS = {
    "business_name": "Công ty TNHH Một Cửa",
    "tax_code": "0100109106",
    "province_code": "01",
    "ward_code": "00070",
    "street": "1 Tràng Tiền",
    "contact_name": "Trần Thị Bình",
    "username": "motcua.tnhh",
    "phone": "0987654321",
    "email": "lienhe@motcua.vn",
    "password": "Tr4ng-Đồng-Đông-Sơn",
    "password_confirm": "Tr4ng-Đồng-Đông-Sơn",
}


def post_form(web, path, data):
    form = hidden_inputs(web.get(path).get_data(as_text=True))
    return web.post(path, data={**form, **data})


def sign_in(hub, client_id, username, password):
    return hub.sign_in(client_id, username=username, password=password)


def test_citizen_registers_activates_by_email_and_signs_in(hub, smtp):
    client_id, secret = hub.add_client(first_party=True)
    response = post_form(hub.web, "/register", CITIZEN)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "an@example.vn" in response.get_data(as_text=True)
    message = smtp.messages[-1]
    assert message["To"] == "an@example.vn" and "Kích hoạt" in message["Subject"]
    # Before activation the sign-in page says so.
    refused = sign_in(hub, client_id, "nguyenvanan", CITIZEN["password"])
    assert refused.status_code == 400
    assert "chưa được kích hoạt" in refused.get_data(as_text=True)
    # The link works in another browser (no cookie of the registration needed).
    link = smtp.last_link("/activate/")
    other_browser = hub.app.test_client()
    activated = other_browser.get(urlsplit(link).path)
    assert activated.status_code == 200 and "nguyenvanan" in activated.get_data(as_text=True)
    assert other_browser.get(urlsplit(link).path).status_code == 400  # single use
    tokens = hub.tokens(
        client_id,
        secret,
        username="nguyenvanan",
        password=CITIZEN["password"],
        scope="openid profile phone email",
    )
    claims = hub.web.get(
        "/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]}
    ).get_json()
    assert claims["name"] == "Nguyễn Văn An" and claims["birthdate"] == "1990-05-17"
    assert claims["phone_number"] == "+84912345678" and claims["email_verified"] is True
    assert claims["account_type"] == "citizen"


def test_business_registration_with_province_and_ward(hub, smtp):
    first = post_form(hub.web, "/register/business", {**BUSINESS, "ward_code": ""})
    page = first.get_data(as_text=True)
    assert first.status_code == 400 and "Phường Hoàn Kiếm" in page  # the ward list appeared
    assert 'value="Công ty TNHH Một Cửa"' in page and "Tr4ng" not in page
    response = post_form(hub.web, "/register/business", BUSINESS)
    assert response.status_code == 200, response.get_data(as_text=True)
    hub.app.test_client().get(urlsplit(smtp.last_link("/activate/")).path)
    with hub.app.app_context():
        from idp.store import users

        user = users.by_username("motcua.tnhh")
        assert user.account_type == "organization" and user.tax_code == "0100109106"
        assert user.address == "1 Tràng Tiền, Phường Hoàn Kiếm, Thành phố Hà Nội"
        assert user.active


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("national_id", "001190000001", "không khớp"),
        ("national_id", "123456789", "CMND"),
        ("username", "abc", "Quá ngắn"),
        ("username", "", "Trường này là bắt buộc"),  # required, not the rule again
        ("username", "nguyễn.an", "chữ cái không dấu"),
        ("phone", "0212345678", "di động"),
        ("password", "12345678", "dễ đoán"),
        ("birthdate", "31/02/1990", "không có trên lịch"),  # the shape is right, the day is not
        ("birthdate", "1990/02/28", "dd/mm/yyyy"),
        ("password", "", "Trường này là bắt buộc"),
        ("email", "not-an-email", "không hợp lệ"),
        ("full_name", "x" * 500, "Tối đa"),
        ("address", "phố\x01cổ", "không được phép"),
    ],
)
def test_each_field_error_is_shown_next_to_the_field_and_values_kept(hub, field, value, message):
    response = post_form(hub.web, "/register", {**CITIZEN, field: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    error = html.split(f'id="{field}-error">')[1].split("</p>")[0]
    assert message in error
    if field not in ("password", "full_name", "address"):
        assert 'value="Nguyễn Văn An"' in html
    assert CITIZEN["password"] not in html


def test_password_confirmation_must_match(hub):
    response = post_form(hub.web, "/register", {**CITIZEN, "password_confirm": "other-pass-1!"})
    assert 'id="password_confirm-error"' in response.get_data(as_text=True)


def test_english_messages_with_the_language_switch(hub):
    hub.web.get("/?lang=en")
    response = post_form(hub.web, "/register", {**CITIZEN, "phone": "12"})
    assert "Digits only" in response.get_data(
        as_text=True
    ) or "not a Vietnamese mobile number" in response.get_data(as_text=True)


def test_one_active_account_per_identity_number(hub, smtp):
    post_form(hub.web, "/register", CITIZEN)
    hub.app.test_client().get(urlsplit(smtp.last_link("/activate/")).path)
    second = post_form(
        hub.app.test_client(),
        "/register",
        {**CITIZEN, "username": "another1", "email": "b@example.vn"},
    )
    # The page does not say the number has an account (anyone could type a CCCD); only the
    # link mailed to the address given does, when it is opened.
    assert second.status_code == 200 and "national_id-error" not in second.get_data(as_text=True)
    late = hub.app.test_client().get(urlsplit(smtp.last_link("/activate/")).path)
    html = late.get_data(as_text=True)
    assert late.status_code == 400 and "Quên mật khẩu" in html and "một cửa" in html


def test_pending_registration_does_not_block_the_real_owner(hub, smtp):
    post_form(hub.web, "/register", {**CITIZEN, "username": "impostor1", "email": "x@example.vn"})
    impostor_link = smtp.last_link("/activate/")
    post_form(hub.app.test_client(), "/register", CITIZEN)
    assert hub.app.test_client().get(urlsplit(smtp.last_link("/activate/")).path).status_code == 200
    late = hub.app.test_client().get(urlsplit(impostor_link).path)
    assert late.status_code == 400  # the number is now held by its owner


def test_duplicate_username_is_refused(hub, smtp):
    hub.add_user(username="nguyenvanan")
    response = post_form(hub.web, "/register", CITIZEN)
    assert 'id="username-error"' in response.get_data(as_text=True)


def test_resend_activation_does_not_reveal_accounts(hub, smtp):
    post_form(hub.web, "/register", CITIZEN)
    count = len(smtp.messages)
    for identifier in ("nguyenvanan", "AN@example.vn", "nobody", "nobody@example.vn"):
        response = post_form(hub.web, "/activate/resend", {"identifier": identifier})
        assert response.status_code == 200 and "mailbox" not in response.get_data(as_text=True)
    assert len(smtp.messages) == count + 2


def test_mail_failure_is_shown_and_nothing_is_saved(hub, smtp, app):
    from dataclasses import replace

    app.config["IDP"] = replace(
        app.config["IDP"], mail=replace(app.config["IDP"].mail, smtp_port=1)
    )
    response = post_form(hub.web, "/register", CITIZEN)
    assert response.status_code == 400
    assert (
        "Không gửi được" in response.get_data(as_text=True)
        or "không gửi được" in response.get_data(as_text=True).lower()
    )
    with app.app_context():
        from idp.store import users

        assert users.by_username("nguyenvanan") is None


def test_registration_form_needs_csrf(hub):
    assert hub.web.post("/register", data=CITIZEN).status_code == 400


def test_login_page_links_to_registration(hub):
    client_id, _ = hub.add_client()
    login_url = hub.login_url(client_id)
    html = hub.web.get(login_url).get_data(as_text=True)
    assert "/register" in html and "/activate/resend" in html
    assert query_of("x?a=1") == {"a": "1"}


def test_wrong_encoding_and_hostile_values_get_messages_not_500(hub):
    form = hidden_inputs(hub.web.get("/register").get_data(as_text=True))
    raw = (
        f"csrf_token={form['csrf_token']}&full_name=Nguy%ff%fen&birthdate=17%2F05%2F1990"
        "&sex=male&national_id=001090000001&username=nguyenvanan&phone=0912345678"
        "&email=an%40example.vn&address=%c3%28&password=%ff%ffabcdefgh"
        "&password_confirm=%ff%ffabcdefgh"
    )
    response = hub.web.post("/register", data=raw, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "sai bảng mã" in response.get_data(as_text=True)
    token = hub.web.post(
        "/token", data=b"grant_type=%ff", content_type="application/x-www-form-urlencoded"
    )
    assert token.status_code == 400 and token.get_json()["error"] == "invalid_request"
    for hostile in (
        {"sex": "<script>"},
        {"national_id": "'; DROP TABLE users;--"},
        {"birthdate": "9" * 300},
        {"username": "a" * 10_000},
    ):
        response = post_form(hub.web, "/register", {**CITIZEN, **hostile})
        assert response.status_code in (400, 413)
        assert "<script>" not in response.get_data(as_text=True).split("<main")[1].replace(
            "&lt;script&gt;", ""
        )
