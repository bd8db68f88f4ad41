"""One person across the national portal and VNeID (two `idp mock-national` processes, each
with its own people and subjects): a connector trusted for identity numbers links at an equal
or higher level, otherwise the person proves the account with the portal used before (never a
password the account does not have); linking fills the account from verified values; a client
needing level 2 makes the hub ask the portal for it (acr_values, prompt=login, max_age=0) and
refuse a lower answer. On SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from idp.store import db, federation, users
from idp.store.models import AuditEvent
from tests.broker.conftest import SECRET, mock_connector, vneid_connector
from tests.conftest import ISSUER, hidden_inputs, make_config, query_of, sms_messages

RP = "https://rp.example/cb"
VNEID = "Tài khoản định danh điện tử cấp bởi Bộ Công an (VNeID)"
CUONG = "038088001234"  # Lê Văn Cường, a citizen of both mock portals


@pytest.fixture
def config(tmp_path, backend, request, mock_national, mock_vneid, monkeypatch):
    monkeypatch.setenv("IDP_MOCK_NATIONAL_SECRET", SECRET)
    connectors = {
        "dvcqg": mock_connector(mock_national, trusted_identity=True),
        "vneid": vneid_connector(mock_vneid),
    }
    return make_config(tmp_path, backend, request, connectors=connectors)


@pytest.fixture
def client(hub):
    return hub.add_client(first_party=True, scope="openid profile phone address")


def start(hub, client_id, connector, **params) -> str:
    """From the client to the connector's button: the upstream address the hub sends to."""
    page = hub.web.get(hub.login_url(client_id, **params)).get_data(as_text=True)
    button = re.search(rf'href="(/interaction/[^"]+/broker/{connector})"', page).group(1)
    response = hub.web.get(button)
    assert response.status_code == 302
    return response.headers["Location"]


def at_portal(hub, upstream, person, account_type="", browser=None, remember=False):
    """The person at the portal's page (or its silent answer); the hub's answer to the
    callback."""
    browser = browser or requests.Session()
    page = browser.get(upstream, allow_redirects=False, timeout=5)
    if page.status_code == 302:  # the portal answered from the session it has
        location = page.headers["Location"]
    else:
        request_id = re.search(r'name="request_id" value="([^"]+)"', page.text).group(1)
        form = {"request_id": request_id, "person": person}
        form.update({"account_type": account_type} if account_type else {})
        form.update({"remember": "1"} if remember else {})
        base = upstream.split("/oauth2/")[0]
        answer = browser.post(base + "/oauth2/authorize/decide", data=form,
                              allow_redirects=False, timeout=5)  # fmt: skip
        location = answer.headers["Location"]
    assert location.startswith(ISSUER + "/broker/"), location
    return hub.web.get(location[len(ISSUER) :])


def first_login_page(hub, response) -> tuple[str, str]:
    location = response.headers["Location"]
    assert urlsplit(location).path.endswith("/national/first"), location
    path = urlsplit(location).path + (f"?{urlsplit(location).query}" if "?" in location else "")
    return path, hub.web.get(path).get_data(as_text=True)


def post_choice(hub, path, html, **fields):
    return hub.web.post(urlsplit(path).path, data={"csrf_token": hidden_inputs(html)["csrf_token"],
                                                    **fields})  # fmt: skip


def created_through_vneid(hub, client_id, secret) -> str:
    """Lê Văn Cường's first sign-in, through VNeID (level 2): a new account, no password."""
    first = at_portal(hub, start(hub, client_id, "vneid"), "cuong")
    path, html = first_login_page(hub, first)
    created = post_choice(hub, path, html, action="create", username="levancuong",
                          email="cuong@example.vn")  # fmt: skip
    claims = hub.id_token_after(created, client_id, secret)
    assert claims["acr"] == "LoA2"
    hub.web = hub.app.test_client()  # a new browser for what follows
    return claims["sub"]


def events(app, name):
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)).all()


def test_an_account_made_through_vneid_is_proved_with_vneid_not_a_password(
    hub, app, client, mock_vneid
):
    client_id, secret = client
    sub = created_through_vneid(hub, client_id, secret)
    # Through the national portal's own account kind (level 1, below the VNeID link's 2).
    first = at_portal(hub, start(hub, client_id, "dvcqg"), "cuong", "dvcqg")
    path, html = first_login_page(hub, first)
    # The proof's form leads to VNeID: the page's CSP lets the browser follow it, even in a
    # worker that has not read VNeID's discovery yet.
    from idp.broker.upstream import forget_caches

    forget_caches()
    csp = hub.web.get(path).headers["Content-Security-Policy"]
    form_action = next(d for d in csp.split(";") if d.strip().startswith("form-action"))
    assert mock_vneid in form_action
    assert "Chứng minh bằng cổng bạn đã dùng trước đây" in html and VNEID in html
    assert 'id="password"' not in html  # no password form for an account without one
    # A password it never had: said at once, nothing checked or counted.
    tried = post_choice(hub, path, html, action="link", national_id=CUONG, password="x" * 12)
    assert tried.status_code == 400 and "không có mật khẩu" in tried.get_data(as_text=True)
    assert events(app, "login_failure") == []
    # The proof: a sign-in through VNeID as the same person.
    proving = post_choice(hub, path, html, action="prove", connector="vneid")
    assert proving.headers["Location"].endswith("/broker/vneid")
    upstream = hub.web.get(proving.headers["Location"]).headers["Location"]
    claims = hub.id_token_after(at_portal(hub, upstream, "cuong"), client_id, secret)
    assert claims["sub"] == sub
    with app.app_context():
        user = users.by_username("levancuong")
        assert {link.connector for link in federation.of_user(user.id)} == {"vneid", "dvcqg"}
    [linked] = [
        e for e in events(app, "federated_link_created") if e.detail["how"] != "new_account"
    ]
    assert linked.detail["how"] == "proved_with:vneid" and linked.detail["connector"] == "dvcqg"
    # From now on the national portal signs him straight in.
    hub.web = app.test_client()
    again = at_portal(hub, start(hub, client_id, "dvcqg"), "cuong", "dvcqg")
    assert hub.id_token_after(again, client_id, secret)["sub"] == sub


def test_a_proof_through_someone_elses_account_links_nothing(hub, app, client):
    client_id, secret = client
    created_through_vneid(hub, client_id, secret)
    first = at_portal(hub, start(hub, client_id, "dvcqg"), "cuong", "dvcqg")
    path, html = first_login_page(hub, first)
    proving = post_choice(hub, path, html, action="prove", connector="vneid")
    upstream = hub.web.get(proving.headers["Location"]).headers["Location"]
    back = at_portal(hub, upstream, "dung")  # another citizen's VNeID
    assert back.headers["Location"].endswith("/national/first?proof=mismatch")
    page = hub.web.get(back.headers["Location"])
    assert "không phải tài khoản đã liên kết" in page.get_data(as_text=True)
    assert hub.web.get("/account").status_code == 302  # nobody signed in
    with app.app_context():
        user = users.by_username("levancuong")
        assert [link.connector for link in federation.of_user(user.id)] == ["vneid"]
    assert events(app, "federated_link_refused")[-1].detail["reason"] == "proof_mismatch"
    # A connector that is not one of the account's cannot be named for a proof.
    refused = post_choice(hub, path, html, action="prove", connector="elsewhere")
    assert refused.status_code == 400 and "không thể chứng minh" in refused.get_data(as_text=True)


def test_a_trusted_connector_at_an_equal_level_links_by_number_and_tells_the_owner(
    hub, app, client
):
    client_id, secret = client
    sub = created_through_vneid(hub, client_id, secret)
    sent_before = len(sms_messages(app))
    # The national portal, signed in with VNeID (level 2): no page, the same account.
    again = at_portal(hub, start(hub, client_id, "dvcqg"), "cuong", "vneid")
    assert hub.id_token_after(again, client_id, secret)["sub"] == sub
    [linked] = [
        e for e in events(app, "federated_link_created") if e.detail["how"] != "new_account"
    ]
    assert linked.detail["how"] == "trusted_identity"
    told = sms_messages(app)[sent_before:]
    assert [m["to"] for m in told] == ["0903123456"]  # the number VNeID vouched for


def test_a_connector_not_trusted_for_numbers_never_links_by_them(hub, app, client):
    client_id, secret = client
    created_through_vneid(hub, client_id, secret)
    connectors = dict(app.config["IDP"].connectors)
    connectors["dvcqg"] = replace(connectors["dvcqg"], trusted_identity=False)
    app.config["IDP"] = replace(app.config["IDP"], connectors=connectors)
    first = at_portal(hub, start(hub, client_id, "dvcqg"), "cuong", "vneid")
    first_login_page(hub, first)  # asked, not linked
    assert [e.detail["how"] for e in events(app, "federated_link_created")] == ["new_account"]


def test_linking_fills_what_the_account_lacks_and_replaces_only_when_asked(hub, app, client):
    client_id, secret = client
    hub.add_user(username="cuonglocal", full_name="Cường Lê", national_id=CUONG,
                 email="c@example.vn")  # fmt: skip
    scope = "openid profile phone address"
    first = at_portal(hub, start(hub, client_id, "dvcqg", scope=scope), "cuong", "vneid")
    path, html = first_login_page(hub, first)
    linked = post_choice(hub, path, html, action="link", national_id=CUONG,
                         password="Mật-khẩu-123")  # fmt: skip
    code = query_of(hub.follow(linked).headers["Location"])["code"]
    token = hub.token({"grant_type": "authorization_code", "code": code, "redirect_uri": RP},
                      auth=(client_id, secret)).get_json()  # fmt: skip
    with app.app_context():
        user = users.by_username("cuonglocal")
        assert user.full_name == "Cường Lê"  # what he entered stays
        assert (user.birthdate, user.gender, user.phone) == ("1988-02-11", "male", "0903123456")
        assert user.phone_verified
        marks = user.verified_fields
        assert marks["birthdate"]["source"] == "dvcqg" and marks["phone"]["at"] > 0
        assert "full_name" not in marks
    info = hub.web.get("/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    claims = info.get_json()
    assert claims["gender"] == "male" and claims["phone_number"] == "+84903123456"
    assert claims["phone_number_verified"] is True and claims["birthdate"] == "1988-02-11"
    assert claims["address"]["formatted"].startswith("Thôn Đông")


def test_a_chosen_replacement_takes_the_national_name(hub, app, client):
    client_id, secret = client
    hub.add_user(username="cuonglocal", full_name="Cường Lê", national_id=CUONG,
                 email="c@example.vn")  # fmt: skip
    first = at_portal(hub, start(hub, client_id, "dvcqg"), "cuong", "vneid")
    path, html = first_login_page(hub, first)
    linked = post_choice(hub, path, html, action="link", national_id=CUONG,
                         password="Mật-khẩu-123", replace="1")  # fmt: skip
    hub.id_token_after(linked, client_id, secret)
    with app.app_context():
        user = users.by_username("cuonglocal")
        assert user.full_name == "Lê Văn Cường" and user.verified_fields["full_name"]
    # Edited by the person later: no longer marked as the state's value.
    page = hub.web.get("/account/profile").get_data(as_text=True)
    form = {"csrf_token": hidden_inputs(page)["csrf_token"], "full_name": "Lê Cường",
            "address": "", "email": "c@example.vn", "phone": "0903123456"}  # fmt: skip
    hub.web.post("/account/profile", data=form)
    with app.app_context():
        user = users.by_username("cuonglocal")
        assert user.full_name == "Lê Cường" and "full_name" not in user.verified_fields


def test_step_up_asks_the_portal_for_level_2_and_refuses_a_lower_answer(hub, app, client):
    client_id, secret = client
    strict, strict_secret = hub.add_client(first_party=True, min_acr="LoA2", name="Đất đai")
    portal = requests.Session()  # the browser's cookies at the portal
    # A level-1 sign-in at the portal that it remembers, then a level-1 hub session.
    first = at_portal(hub, start(hub, client_id, "dvcqg"), "cuong", "dvcqg", portal, True)
    path, html = first_login_page(hub, first)
    created = post_choice(hub, path, html, action="create", username="levancuong",
                          email="c@example.vn")  # fmt: skip
    assert hub.id_token_after(created, client_id, secret)["acr"] == "LoA1"
    # The strict client: the hub sends him to the portal asking for level 2, now.
    response = hub.authorize(response_type="code", client_id=strict, redirect_uri=RP,
                             scope="openid", state="s")  # fmt: skip
    login = response.headers["Location"]
    assert "reason=national_level" in login
    button = re.search(r'href="(/interaction/[^"]+/broker/dvcqg)"',
                       hub.web.get(login).get_data(as_text=True)).group(1)  # fmt: skip
    upstream = hub.web.get(button).headers["Location"]
    asked = query_of(upstream)
    assert (asked["acr_values"], asked["prompt"], asked["max_age"]) == ("LoA2", "login", "0")
    # The remembered level-1 session does not answer: he signs in with VNeID (level 2).
    stepped = at_portal(hub, upstream, "cuong", "vneid", portal)
    claims = hub.id_token_after(stepped, strict, strict_secret)
    assert claims["acr"] == "LoA2"


def test_without_prompt_the_portal_answers_from_its_weaker_session_and_is_refused(hub, app, client):
    client_id, secret = client
    connectors = dict(app.config["IDP"].connectors)
    connectors["dvcqg"] = replace(connectors["dvcqg"], step_up_prompt="", step_up_max_age=-1)
    app.config["IDP"] = replace(app.config["IDP"], connectors=connectors)
    strict, _ = hub.add_client(first_party=True, min_acr="LoA2", name="Đất đai")
    portal = requests.Session()
    first = at_portal(hub, start(hub, client_id, "dvcqg"), "cuong", "dvcqg", portal, True)
    path, html = first_login_page(hub, first)
    post_choice(hub, path, html, action="create", username="levancuong", email="c@example.vn")
    upstream = start(hub, strict, "dvcqg")
    assert "prompt" not in query_of(upstream) and query_of(upstream)["acr_values"] == "LoA2"
    refused = at_portal(hub, upstream, "cuong", browser=portal)  # silent, level 1
    assert "reason=national_level_not_reached&via=dvcqg" in refused.headers["Location"]
    page = hub.web.get(refused.headers["Location"]).get_data(as_text=True)
    assert "Tài khoản cấp bởi Cổng DVC quốc gia chưa xác thực" in page
    [event] = events(app, "national_level_not_reached")
    assert (event.detail["reached"], event.detail["needed"]) == ("LoA1", "LoA2")


def test_an_account_made_through_a_portal_sets_its_first_password_after_a_fresh_sign_in(
    hub, app, client, clock
):
    client_id, secret = client
    first = at_portal(hub, start(hub, client_id, "vneid"), "cuong")
    path, html = first_login_page(hub, first)
    hub.id_token_after(post_choice(hub, path, html, action="create", username="levancuong",
                                   email="c@example.vn"), client_id, secret)  # fmt: skip
    page = hub.web.get("/account/password").get_data(as_text=True)
    assert "Đặt mật khẩu" in page and 'name="current_password"' not in page
    form = {"csrf_token": hidden_inputs(page)["csrf_token"], "password": "Mật-khẩu-mới-456",
            "password_confirm": "Mật-khẩu-mới-456"}  # fmt: skip
    # Long after the national sign-in, the session alone does not set one.
    clock.advance(app.config["IDP"].login.step_up_max_age + 60)
    stale = hub.web.post("/account/password", data=form)
    assert stale.status_code in (303, 400)
    with app.app_context():
        assert users.by_username("levancuong").password_hash is None
    # Right after signing in again through the portal, it does; then it signs in locally.
    hub.web = app.test_client()
    again = at_portal(hub, start(hub, client_id, "vneid"), "cuong")
    hub.id_token_after(again, client_id, secret)
    page = hub.web.get("/account/password").get_data(as_text=True)
    form["csrf_token"] = hidden_inputs(page)["csrf_token"]
    assert hub.web.post("/account/password", data=form).status_code == 200
    hub.web = app.test_client()
    signed_in = hub.sign_in(client_id, username="levancuong", password="Mật-khẩu-mới-456")
    assert "code" in query_of(signed_in.headers["Location"])


def test_an_account_made_at_level_1_never_absorbs_a_later_verified_login(hub, app, client):
    """Red team: a level-1 login (a number nobody checked) made an account; the real person's
    VNeID login at level 2 must not be joined to it without a proof."""
    client_id, secret = client
    first = at_portal(hub, start(hub, client_id, "dvcqg"), "cuong", "dvcqg")  # level 1
    path, html = first_login_page(hub, first)
    post_choice(hub, path, html, action="create", username="cuongatt", email="att@evil.example")
    hub.web = app.test_client()  # the real Cường, in his own browser
    verified = at_portal(hub, start(hub, client_id, "vneid"), "cuong")  # level 2
    first_login_page(hub, verified)  # asked, not joined
    assert [e.detail["how"] for e in events(app, "federated_link_created")] == ["new_account"]
    assert hub.web.get("/account").status_code == 302  # nobody signed in


def test_an_essential_acr_in_the_claims_parameter_is_a_level_needed(hub, app, client):
    """Red team: claims={"id_token":{"acr":{"essential":true,"values":["LoA2"]}}} asks for
    level 2 as acr_values does (OIDC Core §5.5.1.1): asked of the portal, a lower answer
    refused."""
    import json

    client_id, _ = client
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["LoA2"]}}})
    upstream = start(hub, client_id, "dvcqg", claims=claims)
    assert query_of(upstream)["acr_values"] == "LoA2"
    refused = at_portal(hub, upstream, "cuong", "dvcqg")  # level 1
    assert "reason=national_level_not_reached" in refused.headers["Location"]
    # Malformed or not essential: no level from it, and no error from this part.
    from idp.login.assurance import essential_acr

    with app.app_context():
        for raw in ('{"id_token": []}', "[1]", "{", '{"id_token":{"acr":{"values":["LoA2"]}}}'):
            assert essential_acr(raw) is None


def test_audit_records_do_not_carry_the_identity_number(hub, app, client):
    """Red team (log reader): the federated subject is often the CCCD itself; audit details
    name it by kind and last three digits only."""
    import json

    client_id, secret = client
    sub = created_through_vneid(hub, client_id, secret)
    again = at_portal(hub, start(hub, client_id, "dvcqg"), "cuong", "vneid")  # trusted link
    assert hub.id_token_after(again, client_id, secret)["sub"] == sub
    with app.app_context():
        details = [json.dumps(e.detail, ensure_ascii=False) for e in db.session.scalars(
            select(AuditEvent))]  # fmt: skip
    assert details and not [d for d in details if CUONG in d]
    assert any("*********234" in d for d in details)
