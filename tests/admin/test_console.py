"""The admin console: who may open it (admins with a second factor; staff only the lookup),
every client and account action with the audit record it leaves, the audit log with its CSV,
and the statistics on a seeded database."""

from __future__ import annotations

import csv
import io
import re

import pytest

from idp.admin import statistics
from idp.store import clients as store_clients
from idp.store import federation
from idp.store import users as store_users
from idp.store.db import db
from tests.conftest import hidden_inputs, last_sms_code

from .test_api import CLIENT_LIFECYCLE_EVENTS, events

PASSWORD = "Mật-khẩu-123"


def signed_in(hub, username: str, roles: list[str], *, phone: str | None = "0912345678"):
    """A browser signed in to the hub as a new account with these roles."""
    hub.add_user(username=username, phone=phone, full_name=f"Người {username}")
    with hub.app.app_context():
        user = store_users.by_username(username)
        user.roles = roles
        user.phone_verified = phone is not None
        db.session.commit()
    web = hub.app.test_client()
    response = web.get("/account")
    response = web.get(response.headers["Location"])
    login_url = response.headers["Location"]
    form = hidden_inputs(web.get(login_url).get_data(as_text=True))
    form.update(username=username, password=PASSWORD)
    assert web.post(login_url, data=form).headers["Location"] == "/account"
    return web


def step_up(hub, web, target: str = "/admin"):
    """Open an admin page and confirm with the SMS code it asks for."""
    first = web.get(target)
    assert first.status_code == 302 and "/account/security/confirm" in first.headers["Location"]
    start = web.get(first.headers["Location"])
    otp = start.headers["Location"]
    send = {**hidden_inputs(web.get(otp).get_data(as_text=True)), "action": "send"}
    web.post(otp, data=send)
    verify = {**send, "action": "verify", "code": last_sms_code(hub.app)}
    back = web.post(otp, data=verify)
    assert back.status_code == 302 and back.headers["Location"] == target
    return web


@pytest.fixture
def admin(hub):
    return step_up(hub, signed_in(hub, "quantri01", ["admin"]))


def csrf(web) -> str:
    return hidden_inputs(web.get("/admin/clients/new").get_data(as_text=True))["csrf_token"]


def test_citizen_and_staff_get_403_and_strangers_are_sent_to_sign_in(hub):
    stranger = hub.app.test_client().get("/admin/clients")
    assert (
        stranger.status_code == 302 and "/login?next=/admin/clients" in stranger.headers["Location"]
    )
    citizen = signed_in(hub, "congdan01", [])
    staff = signed_in(hub, "canbo001", ["staff"], phone="0912345679")
    for web in (citizen, staff):
        for path in (
            "/admin",
            "/admin/clients",
            "/admin/users",
            "/admin/audit",
            "/admin/audit.csv",
        ):
            assert web.get(path).status_code == 403, path
    assert citizen.get("/staff/users").status_code == 403
    # Staff open accounts too: only after their vouched second factor.
    step_up(hub, staff, "/staff/users")
    assert staff.get("/staff/users?q=congdan").status_code == 200


def test_an_admin_without_a_second_factor_in_the_session_is_asked_for_one(hub):
    web = signed_in(hub, "quantri02", ["admin"], phone=None)
    page = web.get("/admin")
    assert page.status_code == 403 and "/account/security" in page.get_data(as_text=True)
    step_up(hub, signed_in(hub, "quantri03", ["admin"], phone="0912345670"))


def test_register_edit_rotate_disable_delete_a_client_in_the_console(hub, admin):
    token = csrf(admin)
    bad = admin.post(
        "/admin/clients/new",
        data={"csrf_token": token, "name": "Y tế", "redirect_uris": "http://yte.example/cb"},
    )
    assert bad.status_code == 400 and "https" in bad.get_data(as_text=True)
    created = admin.post(
        "/admin/clients/new",
        data={
            "csrf_token": token,
            "name": "Hệ thống Y tế",
            "description": "Sở Y tế",
            "redirect_uris": "https://yte.tinh.gov.vn/cb\nhttps://yte.tinh.gov.vn/cb2",
            "post_logout_redirect_uris": "https://yte.tinh.gov.vn/",
            "backchannel_logout_uri": "https://yte.tinh.gov.vn/bcl",
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": ["profile", "email"],
            "first_party": "on",
        },
    )
    page = created.get_data(as_text=True)
    assert created.status_code == 200
    client_id = re.search(r'id="client-id">([^<]+)<', page).group(1)
    secret = re.search(r'id="client-secret">([^<]+)<', page).group(1)
    with hub.app.app_context():
        client = store_clients.find(client_id)
        assert client.check_client_secret(secret)
        assert client.redirect_uris == ["https://yte.tinh.gov.vn/cb", "https://yte.tinh.gov.vn/cb2"]
        assert client.scope == "openid profile email" and client.first_party
    edited = admin.post(
        f"/admin/clients/{client_id}",
        data={
            "csrf_token": token,
            "name": "Hệ thống Y tế tỉnh",
            "redirect_uris": "https://yte.tinh.gov.vn/cb",
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": ["profile"],
            "require_mfa": "on",
        },
    )
    assert edited.status_code == 302
    assert "Hệ thống Y tế tỉnh" in admin.get(f"/admin/clients/{client_id}").get_data(as_text=True)
    rotated = admin.post(f"/admin/clients/{client_id}/secret", data={"csrf_token": token})
    new_secret = re.search(r'id="client-secret">([^<]+)<', rotated.get_data(as_text=True)).group(1)
    admin.post(f"/admin/clients/{client_id}/disable", data={"csrf_token": token})
    with hub.app.app_context():
        client = store_clients.find(client_id)
        assert client.disabled and client.require_mfa and client.check_client_secret(new_secret)
        assert not client.check_client_secret(secret)
    admin.post(f"/admin/clients/{client_id}/enable", data={"csrf_token": token})
    kept = admin.post(f"/admin/clients/{client_id}/delete", data={"csrf_token": token})
    assert kept.status_code == 302  # not confirmed: nothing deleted
    with hub.app.app_context():
        assert store_clients.find(client_id) is not None
    admin.post(
        f"/admin/clients/{client_id}/delete", data={"csrf_token": token, "confirm": client_id}
    )
    listing = admin.get("/admin/clients?q=y tế").get_data(as_text=True)
    assert client_id not in listing
    for name in CLIENT_LIFECYCLE_EVENTS:
        (event,) = events(hub, name)
        assert event.detail["by"] == "quantri01" and event.ip == "127.0.0.1", name


def test_console_forms_need_the_csrf_token(hub, admin):
    response = admin.post("/admin/clients/new", data={"name": "X", "redirect_uris": "https://x/cb"})
    assert response.status_code == 400
    with hub.app.app_context():
        assert store_clients.all_clients() == []


def test_find_an_account_lock_unlock_end_sessions_remove_link(hub, admin):
    token = csrf(admin)
    citizen = signed_in(hub, "congdan01", [], phone="0987654321")
    with hub.app.app_context():
        user = store_users.by_username("congdan01")
        user.national_id, user.email = "001099000777", "cd@example.vn"
        row = federation.link(user, "dvcqg", "1:001099000777", {}, "LoA2")
        db.session.commit()
        sub, link_id = user.subject, row.id
    for q in ("congdan", "0987654321", "cd@example", "001099000777", "Người congdan01"):
        assert f"/admin/users/{sub}" in admin.get(f"/admin/users?q={q}").get_data(as_text=True), q
    page = admin.get(f"/admin/users/{sub}").get_data(as_text=True)
    assert "dvcqg" in page and 'id="sessions"' in page and "login_success" in page
    admin.post(f"/admin/users/{sub}/lock", data={"csrf_token": token})
    assert citizen.get("/account").status_code == 302  # the session ended
    assert 'id="state">đã khóa' in admin.get(f"/admin/users/{sub}").get_data(as_text=True)
    admin.post(f"/admin/users/{sub}/unlock", data={"csrf_token": token})
    admin.post(f"/admin/users/{sub}/end-sessions", data={"csrf_token": token})
    admin.post(f"/admin/users/{sub}/links/{link_id}/remove", data={"csrf_token": token})
    with hub.app.app_context():
        assert federation.of_user(store_users.by_subject(sub).id) == []
    for name in ("user_locked", "user_unlocked", "user_sessions_ended", "federated_link_removed"):
        (event,) = events(hub, name)
        assert event.detail["by"] == "quantri01" and event.username == "congdan01", name


def test_staff_lookup_shows_the_account_without_admin_actions(hub):
    hub.add_user(username="congdan02", full_name="Trần Văn B", phone="0911111111")
    staff = step_up(hub, signed_in(hub, "canbo002", ["staff"], phone="0912345679"), "/staff/users")
    found = staff.get("/staff/users?q=Trần").get_data(as_text=True)
    sub = re.search(r'href="/staff/users/([^"]+)"', found).group(1)
    page = staff.get(f"/staff/users/{sub}").get_data(as_text=True)
    assert "Trần Văn B" in page and 'id="lock"' not in page and "Vai trò" not in page
    assert staff.get(f"/admin/users/{sub}").status_code == 403


def test_audit_log_filters_and_csv_export(hub, admin):
    token = csrf(admin)
    admin.post(
        "/admin/clients/new",
        data={
            "csrf_token": token,
            "name": "Hệ thống Giáo dục",
            "redirect_uris": "https://x.example/cb",
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )
    page = admin.get("/admin/audit?event=client_created").get_data(as_text=True)
    table = page[page.index('id="audit"') :]
    assert "client_created" in table and "login_success" not in table
    assert admin.get("/admin/audit?from=2026-13-01").status_code == 400
    exported = admin.get("/admin/audit.csv?user=quantri01")
    assert (
        exported.mimetype == "text/csv" and "attachment" in exported.headers["Content-Disposition"]
    )
    text = exported.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["at", "event", "username", "user_id", "client_id", "ip", "detail"]
    assert {row[1] for row in rows[1:]} >= {"login_success", "otp_verified"}
    assert all(row[2] == "quantri01" for row in rows[1:])
    everything = admin.get("/admin/audit.csv?event=client_created").get_data(as_text=True)
    assert "client_created" in everything


def test_statistics_on_a_seeded_database(hub, admin, clock):
    client_id, secret = hub.add_client(name="Một cửa", first_party=True)
    for i in range(3):
        hub.add_user(username=f"nguoidan{i}", full_name=f"Dân {i}")
    for i in range(3):
        web = hub.app.test_client()
        hub_web, hub.web = hub.web, web
        hub.code_for(client_id, username=f"nguoidan{i}", consent=False)
        hub.web = hub_web
    page = admin.get("/admin").get_data(as_text=True)

    def figure(name: str) -> int:
        return int(re.search(rf'id="{name}">(\d+)<', page).group(1))

    # three citizens and the admin signed in today
    assert figure("sign-ins-today") == 4 and figure("sign-ins-total") == 4
    assert figure("online-now") == 4 and figure("accounts-total") == 4
    assert figure("sign-ins-month") >= 4 and figure("sign-ins-week") >= 4
    assert page.count('<svg class="chart"') == 5
    assert "Một cửa: 3" in page and "Tài khoản của hệ thống tỉnh (mật khẩu): 4" in page
    clock.advance(3 * 3600)  # past the session idle time: nobody is online now
    with hub.app.app_context():
        later = statistics.figures()
    assert later.online_now == 0 and later.sign_ins_total == 4


def png(width: int = 64, height: int = 64, size: int = 100) -> bytes:
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR"
    body = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x06\x00\x00\x00"
    return (header + body).ljust(size, b"\x00")


def test_a_client_logo_is_served_by_the_hub_on_its_sign_in_page(hub, admin):
    import io

    client_id, _ = hub.add_client(name="Hệ thống Tư pháp")
    token = csrf(admin)

    def upload(data: bytes, name: str = "logo.png"):
        return admin.post(
            f"/admin/clients/{client_id}/logo",
            data={"csrf_token": token, "logo": (io.BytesIO(data), name)},
            content_type="multipart/form-data",
        )

    for bad in (b"<svg onload='alert(1)'/>", png(size=49 * 1024), png(width=4000)):
        upload(bad)
        with hub.app.app_context():
            assert store_clients.find(client_id).logo_version is None
    upload(png())
    hub.web = hub.app.test_client()
    page = hub.web.get(hub.login_url(client_id)).get_data(as_text=True)
    src = re.search(r'<img class="client-logo" src="([^"]+)"', page).group(1)
    served = hub.web.get(src)
    assert served.mimetype == "image/png" and served.data == png()
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    admin.post(f"/admin/clients/{client_id}/remove-logo", data={"csrf_token": token})
    assert hub.web.get(src).status_code == 404
    assert [e.event for e in events(hub, "client_logo_set")] == ["client_logo_set"]
