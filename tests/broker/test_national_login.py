"""A departmental client's code flow through the hub and `idp mock-national` (its own process):
first national login creating an account, first national login linking an existing account
(right and wrong password), the returning login with the same `sub`, automatic linking only at
the configured level, a client that needs a second factor, and every upstream failure ending on
the sign-in page with a message. On SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from idp.config import BrokerConfig
from idp.store import db, federation, users
from idp.store.models import AuditEvent, FederatedIdentity
from tests.conftest import ISSUER, hidden_inputs, query_of
from tests.oidc.test_id_token_userinfo import verify

RP = "https://rp.example/cb"


def to_national_portal(hub, client_id, **params):
    """Start at the client, press the national button: the upstream's page address."""
    login = hub.login_url(client_id, **params)
    page = hub.web.get(login).get_data(as_text=True)
    assert "Tài khoản cấp bởi Cổng DVC quốc gia" in page and "/static/icons/national.svg" in page
    button = re.search(r'href="(/interaction/[^"]+/broker/dvcqg)"', page).group(1)
    response = hub.web.get(button)
    assert response.status_code == 302
    return response.headers["Location"]


def national(hub, client_id, person="an", account_type="vneid", fault="", cancel=False, **params):
    """The whole trip: the hub, the mock portal's page (over HTTP), back to the hub."""
    upstream = to_national_portal(hub, client_id, **params)
    page = requests.get(upstream, timeout=5)
    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text).group(1)
    form = {"request_id": request_id, "account_type": account_type, "fault": fault}
    form.update({"cancel": "1"} if cancel else {"person": person})
    decide = upstream.split("/oauth2/")[0] + "/oauth2/authorize/decide"
    back = requests.post(decide, data=form, allow_redirects=False, timeout=5)
    location = back.headers["Location"]
    assert location.startswith(ISSUER + "/broker/dvcqg/callback")
    return hub.web.get(location[len(ISSUER) :])


def choose(hub, response, **fields):
    location = response.headers["Location"]
    assert location.endswith("/national/first"), location
    form = hidden_inputs(hub.web.get(location).get_data(as_text=True))
    return hub.web.post(location, data={**form, **fields})


def signed_in_as_new_citizen(hub, client_id, secret) -> dict:
    """A first national login of the demo citizen "an" that creates an account."""
    first = national(hub, client_id, "an")
    created = choose(hub, first, action="create", username="nguyenvanan", email="a@x.vn")
    return hub.id_token_after(created, client_id, secret)


@pytest.fixture
def client(hub):
    return hub.add_client(first_party=True)


def test_first_login_creates_an_account_and_the_next_one_finds_it(hub, app, client):
    client_id, secret = client
    first = national(hub, client_id, "an")
    page = hub.web.get(first.headers["Location"]).get_data(as_text=True)
    assert "Nguyễn Văn An" in page and "001090000001" in page
    assert 'value="an@example.vn"' in page  # the email the portal gave, to review
    created = choose(hub, first, action="create", username="nguyenvanan", email="an@example.vn")
    claims = hub.id_token_after(created, client_id, secret)
    assert claims["acr"] == "LoA2" and claims["amr"] == ["fed"]
    with app.app_context():
        user = users.by_username("nguyenvanan")
        assert user.password_hash is None and user.national_id == "001090000001"
        assert user.full_name == "Nguyễn Văn An" and user.birthdate == "1990-05-17"
        assert user.phone == "0912345678" and user.phone_verified
        (link,) = federation.of_user(user.id)
        assert link.subject == "1:001090000001" and link.level == "LoA2"
        assert link.claims["HoVaTen"] == "Nguyễn Văn An"
        sub = user.subject
    assert claims["sub"] == sub
    # Returning, from another browser: straight to the client, the same sub.
    hub.web = app.test_client()
    again = national(hub, client_id, "an", account_type="dvcqg")
    claims = hub.id_token_after(again, client_id, secret)
    assert claims["sub"] == sub and claims["acr"] == "LoA1"  # a portal-issued account: level 1


def test_first_login_links_an_existing_account_with_its_password(hub, app, client):
    client_id, secret = client
    sub = hub.add_user(username="anlocal", national_id="001090000001", full_name="Nguyễn Văn An")
    first = national(hub, client_id, "an")
    wrong = choose(hub, first, action="link", national_id="001090000001", password="sai-mật-khẩu")
    assert wrong.status_code == 400 and "không đúng" in wrong.get_data(as_text=True)
    other = choose(hub, first, action="link", national_id="079195000123", password="Mật-khẩu-123")
    assert other.status_code == 400  # no such account, and never someone else's
    linked = choose(hub, first, action="link", national_id="001090000001", password="Mật-khẩu-123")
    claims = hub.id_token_after(linked, client_id, secret)
    assert claims["sub"] == sub
    with app.app_context():
        events = db.session.scalars(select(AuditEvent.event)).all()
        failures = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "login_failure")
        ).all()
    assert "federated_link_created" in events
    assert any(e.username == "anlocal" and e.detail["method"] == "national_link" for e in failures)


def test_a_wrong_link_password_counts_against_the_account(hub, app, client):
    client_id, _ = client
    hub.add_user(username="anlocal", national_id="001090000001")
    first = national(hub, client_id, "an")
    for _ in range(app.config["IDP"].login.max_attempts_per_user):
        choose(hub, first, action="link", national_id="001090000001", password="sai-mật-khẩu")
    locked = choose(hub, first, action="link", national_id="001090000001", password="Mật-khẩu-123")
    assert locked.status_code == 400 and "Quá nhiều lần thử" in locked.get_data(as_text=True)
    # The same lock holds at the password form: it is the account's limit.
    hub.web = app.test_client()
    refused = hub.login(hub.login_url(client_id), username="anlocal")
    assert refused.status_code == 400 and "khóa đến" in refused.get_data(as_text=True)


def test_creating_a_second_account_for_a_linked_identity_number_is_refused(hub, app, client):
    client_id, _ = client
    hub.add_user(username="anlocal", national_id="001090000001")
    first = national(hub, client_id, "an")
    refused = choose(hub, first, action="create", username="nguyenvanan2", email="x@example.vn")
    assert refused.status_code == 400 and "Đã tồn tại tài khoản" in refused.get_data(as_text=True)


def test_one_national_subject_links_to_one_account_only(app, hub):
    hub.add_user(username="first1")
    hub.add_user(username="second2")
    with app.app_context():
        federation.link(users.by_username("first1"), "dvcqg", "1:001090000001", {}, "LoA2")
        with pytest.raises(federation.AlreadyLinked):
            federation.link(users.by_username("second2"), "dvcqg", "1:001090000001", {}, "LoA2")
        assert db.session.scalar(select(func.count()).select_from(FederatedIdentity)) == 1


def test_automatic_linking_only_at_the_configured_level(hub, app, client):
    client_id, secret = client
    app.config["IDP"] = replace(app.config["IDP"], broker=BrokerConfig(auto_link=True))
    sub = hub.add_user(username="anlocal", national_id="001090000001")
    # A portal-issued account (level 1) is not enough: the person is asked.
    assert (
        national(hub, client_id, "an", account_type="dvcqg")
        .headers["Location"]
        .endswith("/national/first")
    )
    hub.web = app.test_client()
    response = national(hub, client_id, "an", account_type="vneid")
    claims = hub.id_token_after(response, client_id, secret)
    assert claims["sub"] == sub


def test_a_level_2_national_session_satisfies_a_client_that_requires_mfa(hub, app):
    client_id, secret = hub.add_client(first_party=True, require_mfa=True)
    hub.add_user(username="anlocal", national_id="001090000001", phone="0912345678")
    app.config["IDP"] = replace(app.config["IDP"], broker=BrokerConfig(auto_link=True))
    claims = hub.id_token_after(national(hub, client_id, "an"), client_id, secret)
    assert claims["acr"] == "LoA2"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cancel": True}, "Bạn đã hủy"),
        ({"fault": "error"}, "không thành công"),
        ({"fault": "token_error"}, "không thành công"),
        ({"fault": "bad_signature"}, "không thành công"),
        ({"fault": "wrong_aud"}, "không thành công"),
        ({"fault": "wrong_nonce"}, "không thành công"),
    ],
)
def test_upstream_failures_end_on_the_sign_in_page(hub, app, client, kwargs, message):
    client_id, _ = client
    response = national(hub, client_id, **kwargs)
    location = response.headers["Location"]
    assert "/login?reason=national_" in location
    page = hub.web.get(urlsplit(location).path + "?" + urlsplit(location).query)
    assert page.status_code == 400 and message in page.get_data(as_text=True)
    with app.app_context():
        assert "national_login_failed" in db.session.scalars(select(AuditEvent.event)).all()


def test_a_timeout_ends_on_the_sign_in_page(hub, app, client):
    client_id, _ = client
    connector = app.config["IDP"].connectors["dvcqg"]
    app.config["IDP"] = replace(
        app.config["IDP"], connectors={"dvcqg": replace(connector, timeout=0.5)}
    )
    response = national(hub, client_id, fault="slow_token")
    assert response.headers["Location"].endswith("reason=national_unreachable&via=dvcqg")


def test_a_replayed_or_unknown_callback_is_refused(hub, client):
    client_id, _ = client
    assert hub.web.get("/broker/dvcqg/callback?state=nothing&code=x").status_code == 400
    assert hub.web.get("/broker/dvcqg/callback").status_code == 400
    assert hub.web.get("/broker/nope/callback?state=x").status_code == 400


def national_only(app, citizen="2024-07-01", organization=""):
    app.config["IDP"] = replace(
        app.config["IDP"],
        broker=BrokerConfig(
            national_only_citizen_from=citizen, national_only_organization_from=organization
        ),
    )


def test_national_only_closes_local_passwords_for_citizens_and_links_on_first_use(hub, app, client):
    client_id, secret = client
    national_only(app)
    sub = hub.add_user(username="anlocal", national_id="001090000001")
    hub.add_user(username="congty01", account_type="organization", phone="0912345678")
    page = hub.web.get(hub.login_url(client_id)).get_data(as_text=True)
    assert "Nghị định 69/2024/NĐ-CP" in page
    refused = hub.login(hub.login_url(client_id), username="anlocal")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "Điều 40" in html
    # Organisations keep local sign-in until their own date.
    hub.web = app.test_client()
    assert "code" in query_of(hub.sign_in(client_id, username="congty01").headers["Location"])
    # The citizen links on first national use, with the identity number and the password.
    hub.web = app.test_client()
    first = national(hub, client_id, "an")
    linked = choose(hub, first, action="link", national_id="001090000001", password="Mật-khẩu-123")
    assert hub.id_token_after(linked, client_id, secret)["sub"] == sub


@pytest.mark.parametrize("closed_by", ["national_only", "client_level"])
def test_a_closed_password_form_answers_the_same_right_or_wrong(hub, app, client, closed_by):
    """No oracle: where no password can sign in (national-only mode, or a client needing a
    national level), the right and a wrong password get the same page, and both count."""
    client_id, _ = client
    if closed_by == "national_only":
        national_only(app)
    else:
        client_id, _ = hub.add_client(first_party=True, min_acr="LoA2")
    hub.add_user(username="anlocal", national_id="001090000001")
    login = hub.login_url(client_id)
    right = hub.login(login, username="anlocal", password="Mật-khẩu-123")
    wrong = hub.login(login, username="anlocal", password="Mật-khẩu-sai-999")

    def shown(response) -> str:
        html = response.get_data(as_text=True)
        found = re.search(r'id="form-error"><p>(.*?)</p>(.*?)</div>', html, re.S)
        return found[1] + re.sub(r"\d+", "N", found[2])  # the tries left fall by one each time

    assert right.status_code == wrong.status_code == 400
    assert shown(right) == shown(wrong)
    with app.app_context():
        recorded = db.session.scalars(
            select(AuditEvent.event).where(AuditEvent.username == "anlocal")
        ).all()
    assert sorted(recorded) == ["login_failure", "login_refused"]
    # Both count: the limit is reached whatever the passwords were.
    limit = app.config["IDP"].login.max_attempts_per_user
    for _ in range(limit - 2):
        hub.login(login, username="anlocal", password="Mật-khẩu-123")
    locked = hub.login(login, username="anlocal", password="Mật-khẩu-123")
    assert "đăng nhập sai quá nhiều lần" in shown(locked)


def test_national_only_answers_alike_for_unknown_names_and_staff(hub, app, client):
    """Red team: in national-only mode an unknown name, a staff member's wrong password and a
    closed citizen account get one answer (no account or staff oracle)."""
    client_id, _ = client
    national_only(app)
    hub.add_user(username="anlocal", national_id="001090000001")
    hub.add_user(username="canbo.motcua", phone="0912345678")
    with app.app_context():
        users.by_username("canbo.motcua").roles = ["staff"]
        db.session.commit()

    def shown(username, password):
        response = hub.login(hub.login_url(client_id), username=username, password=password)
        html = response.get_data(as_text=True)
        return response.status_code, re.search(r'id="form-error"><p>(.*?)</p>', html, re.S)[1]

    closed = shown("anlocal", "Mật-khẩu-123")
    assert closed == shown("khong.co.ai", "Mật-khẩu-123") == shown("canbo.motcua", "sai-mat-khau")
    assert closed[0] == 400 and "Điều 40" in closed[1]


def test_national_only_starts_on_its_date_in_vietnam_time(hub, app, client, clock):
    from datetime import datetime, timedelta, timezone

    client_id, _ = client
    hub.add_user(username="anlocal")
    start = datetime(2030, 7, 1, tzinfo=timezone(timedelta(hours=7))).timestamp()
    clock.value = start - 1
    national_only(app, citizen="2030-07-01")
    assert "code" in query_of(hub.sign_in(client_id, username="anlocal").headers["Location"])
    clock.value = start
    hub.web = app.test_client()
    assert hub.sign_in(client_id, username="anlocal").status_code == 400


def test_staff_keep_local_sign_in_with_a_second_factor(hub, app, client):
    client_id, _ = client
    national_only(app)
    hub.add_user(username="canbo.motcua", phone="0912345678")
    with app.app_context():
        users.by_username("canbo.motcua").roles = ["staff"]
        db.session.commit()
    response = hub.login(hub.login_url(client_id), username="canbo.motcua")
    assert response.status_code == 302 and response.headers["Location"].endswith("/otp")


def test_unlinked_accounts_are_listed_for_the_admin(hub, app, client):
    from idp.store.federation import unlinked_accounts

    client_id, _ = client
    hub.add_user(username="anlocal", national_id="001090000001")
    hub.add_user(username="binhlocal")
    hub.add_user(username="canbo.motcua", roles=["staff"])
    first = national(hub, client_id, "an")
    choose(hub, first, action="link", national_id="001090000001", password="Mật-khẩu-123")
    with app.app_context():
        assert [u.username for u in unlinked_accounts()] == ["binhlocal"]


def test_links_are_shown_and_the_last_way_in_is_kept(hub, app, client):
    client_id, secret = client
    signed_in_as_new_citizen(hub, client_id, secret)
    page = hub.web.get("/account/links")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Tài khoản cấp bởi Cổng DVC quốc gia" in html
    assert "Gỡ liên kết" not in html  # no password: the only way in
    with app.app_context():
        (link,) = federation.of_user(users.by_username("nguyenvanan").id)
        link_id = link.id
    form = hidden_inputs(hub.web.get("/account").get_data(as_text=True))  # a CSRF token
    refused = hub.web.post(f"/account/links/{link_id}/remove", data=form)
    assert refused.status_code == 400
    assert "cách duy nhất để đăng nhập" in refused.get_data(as_text=True)
    with app.app_context():
        from idp.accounts.passwords import hash_password

        users.by_username("nguyenvanan").password_hash = hash_password("Mật-khẩu-mới-123")
        db.session.commit()
    assert hub.web.post(f"/account/links/{link_id}/remove", data=form).status_code == 302
    with app.app_context():
        assert federation.of_user(users.by_username("nguyenvanan").id) == []
        events = db.session.scalars(select(AuditEvent.event)).all()
    assert "federated_link_removed" in events


def test_a_client_requiring_level_2_steps_up_through_the_national_portal(hub, app):
    plain, plain_secret = hub.add_client(first_party=True, name="Cổng thông tin")
    strict, strict_secret = hub.add_client(first_party=True, min_acr="LoA2", name="Đất đai")
    sub = hub.add_user(username="anlocal", national_id="001090000001")
    # A password alone is refused for the strict client, with the reason.
    refused = hub.login(hub.login_url(strict), username="anlocal")
    assert refused.status_code == 400 and "(mức LoA2)" in refused.get_data(as_text=True)
    # A password session elsewhere is sent to the national portal, not given a code.
    body = hub.tokens(plain, plain_secret, username="anlocal")
    assert verify(hub, body["id_token"]).claims["acr"] == "LoA1"
    response = hub.authorize(
        response_type="code", client_id=strict, redirect_uri=RP, scope="openid", state="s"
    )
    assert "/login?reason=national_level" in response.headers["Location"]
    silent = hub.authorize(
        response_type="code", client_id=strict, redirect_uri=RP, scope="openid", prompt="none"
    )
    assert query_of(silent.headers["Location"])["error"] == "interaction_required"
    first = national(hub, strict, "an", account_type="vneid")
    linked = choose(hub, first, action="link", national_id="001090000001", password="Mật-khẩu-123")
    claims = hub.id_token_after(linked, strict, strict_secret)
    assert claims["acr"] == "LoA2" and claims["sub"] == sub


def test_a_lower_national_level_is_refused_to_a_strict_client(hub, app):
    strict, _ = hub.add_client(first_party=True, min_acr="LoA2")
    hub.add_user(username="anlocal", national_id="001090000001")
    app.config["IDP"] = replace(
        app.config["IDP"], broker=BrokerConfig(auto_link=True, auto_link_level="LoA1")
    )
    response = national(hub, strict, "an", account_type="dvcqg")  # level 1
    # Nobody is signed in or linked; the page names the portal and the level needed.
    location = response.headers["Location"]
    assert "/login?reason=national_level_not_reached&via=dvcqg" in location
    page = hub.web.get(location[len(ISSUER) :] if location.startswith(ISSUER) else location)
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "Tài khoản cấp bởi Cổng DVC quốc gia chưa xác thực" in html and "(LoA2)" in html
    assert hub.web.get("/account").status_code == 302
    with app.app_context():
        assert federation.of_user(users.by_username("anlocal").id) == []
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "national_level_not_reached")
        ).one()
        assert event.detail["reached"] == "LoA1" and event.detail["needed"] == "LoA2"


def mock_base(app) -> str:
    return app.config["IDP"].connectors["dvcqg"].discovery_url.split("/.well-known")[0]


def test_the_portals_back_channel_logout_ends_the_hub_session_and_tells_each_client(
    hub, app, receiver
):
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import KeySet, RSAKey

    client_id, secret = hub.add_client(first_party=True, backchannel_logout_uri=receiver.url)
    signed_in_as_new_citizen(hub, client_id, secret)
    assert hub.web.get("/account").status_code == 200  # signed in at the hub
    issued = requests.post(mock_base(app) + "/mock/logout-token", data={"person": "an"}, timeout=5)
    token = issued.json()["logout_token"]
    # The same claims signed by someone else's key are refused.
    claims = jose_jwt.decode(
        token,
        KeySet.import_key_set(requests.get(mock_base(app) + "/oauth2/jwks", timeout=5).json()),
    ).claims
    forged = jose_jwt.encode({"alg": "RS256", "kid": "forged"}, claims, RSAKey.generate_key(2048))
    assert (
        hub.web.post("/broker/dvcqg/backchannel-logout", data={"logout_token": forged}).status_code
        == 400
    )
    ended = hub.web.post("/broker/dvcqg/backchannel-logout", data={"logout_token": token})
    assert ended.status_code == 200
    assert hub.web.get("/account").status_code == 302  # the hub session is over
    assert receiver.received.wait(15), "the departmental client was not told"
    replay = hub.web.post("/broker/dvcqg/backchannel-logout", data={"logout_token": token})
    assert replay.status_code == 400
    with app.app_context():
        events = db.session.scalars(select(AuditEvent.event)).all()
    assert "upstream_logout" in events and "upstream_logout_refused" in events


def test_signing_out_at_the_hub_signs_out_at_the_portal_too(hub, app, client):
    client_id, secret = client
    signed_in_as_new_citizen(hub, client_id, secret)
    form = hidden_inputs(hub.web.get("/account").get_data(as_text=True))
    page = hub.web.post("/account/logout", data=form).get_data(as_text=True)
    upstream = re.search(r'url=([^"]+)"', page).group(1).replace("&amp;", "&")
    assert upstream.startswith(mock_base(app) + "/oauth2/logout?") and "id_token_hint=" in upstream
    back = requests.get(upstream, allow_redirects=False, timeout=5)
    assert back.status_code == 302
    location = back.headers["Location"]
    assert location.startswith(ISSUER + "/broker/dvcqg/logged-out?state=")
    done = hub.web.get(location[len(ISSUER) :])
    assert done.status_code == 200 and "đã đăng xuất" in done.get_data(as_text=True).lower()
    assert hub.web.get(location[len(ISSUER) :]).status_code == 200  # used state: just the page


def test_sign_ins_record_how_the_person_signed_in_at_the_portal(hub, app, client):
    """The admin statistics count national sign-ins per kind (VNeID, portal account…)."""
    from idp.admin import statistics
    from idp.store.models import AuditEvent

    client_id, secret = client
    signed_in_as_new_citizen(hub, client_id, secret)  # through VNeID
    hub.web = app.test_client()
    hub.id_token_after(national(hub, client_id, "an", account_type="dvcqg"), client_id, secret)
    with app.app_context():
        methods = db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.event == "login_success")
        ).all()
        assert [m["method"] for m in methods] == ["national:dvcqg/vneid", "national:dvcqg/dvcqg"]
        assert dict(statistics.figures().by_method) == {
            "national:dvcqg/vneid": 1,
            "national:dvcqg/dvcqg": 1,
        }
