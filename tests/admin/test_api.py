"""The admin REST API: client-credentials tokens with the admin scope, every client and account
operation, the audit record each change leaves, and who is refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.admin import client_admin
from idp.store import audit as audit_store  # noqa: F401 - keeps the audit model registered
from idp.store import federation
from idp.store import users as store_users
from idp.store.db import db
from idp.store.models import AuditEvent

API = "/admin/api/v1"


def add_service(hub, scope: str = "admin") -> tuple[str, str]:
    with hub.app.app_context():
        checked = client_admin.check(
            {"name": "Tự động hóa", "grant_types": ["client_credentials"], "scope": scope}
        )
        assert not checked.errors, checked.errors
        client, secret = client_admin.create(checked.values, by="test")
        return client.client_id, secret


def service_token(hub, client_id: str, secret: str, **extra) -> dict:
    response = hub.token({"grant_type": "client_credentials", **extra}, auth=(client_id, secret))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def admin_api(hub):
    client_id, secret = add_service(hub)
    token = service_token(hub, client_id, secret)["access_token"]

    def call(method: str, path: str, json=None, **kwargs):  # noqa: ANN001, ANN202
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return hub.web.open(API + path, method=method, json=json, headers=headers, **kwargs)

    call.client_id = client_id
    return call


# What a client system's whole life leaves in the audit trail, in order.
CLIENT_LIFECYCLE_EVENTS = (
    "client_created",
    "client_updated",
    "client_secret_rotated",
    "client_disabled",
    "client_enabled",
    "client_deleted",
)


def events(hub, name: str) -> list[AuditEvent]:
    with hub.app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def test_client_credentials_token_has_no_refresh_token_and_no_user(hub):
    client_id, secret = add_service(hub)
    token = service_token(hub, client_id, secret)
    assert token["scope"] == "admin" and "refresh_token" not in token and "id_token" not in token
    userinfo = hub.web.get(
        "/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert userinfo.status_code == 403  # no openid scope, no user to describe
    introspected = hub.web.post(
        "/introspect", data={"token": token["access_token"]}, auth=(client_id, secret)
    ).get_json()
    assert introspected["active"] and introspected["sub"] == client_id
    assert "username" not in introspected
    assert events(hub, "client_credentials_token")[0].client_id == client_id


def test_client_credentials_refused_to_other_clients_and_other_scopes(hub):
    client_id, secret = hub.add_client()  # a departmental system: code flow only
    response = hub.token({"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert response.status_code == 400 and response.get_json()["error"] == "unauthorized_client"
    service_id, service_secret = add_service(hub)
    response = hub.token(
        {"grant_type": "client_credentials", "scope": "admin openid"},
        auth=(service_id, service_secret),
    )
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_scope"
    wrong = hub.token({"grant_type": "client_credentials"}, auth=(service_id, "wrong"))
    assert wrong.status_code == 401


def test_admin_scope_is_only_for_client_credentials_clients(hub):
    with hub.app.app_context():
        checked = client_admin.check(
            {"name": "X", "redirect_uris": ["https://x.example/cb"], "scope": "openid admin"}
        )
    assert "scope" in checked.errors


def test_api_refuses_no_token_a_user_token_and_a_token_without_admin(hub):
    assert hub.web.get(API + "/clients").status_code == 401
    client_id, secret = hub.add_client(scope="openid profile")
    hub.add_user()
    user_token = hub.tokens(client_id, secret, scope="openid profile")["access_token"]
    response = hub.web.get(API + "/clients", headers={"Authorization": f"Bearer {user_token}"})
    assert response.status_code == 403
    other_id, other_secret = add_service(hub, scope="admin")
    with hub.app.app_context():
        client = client_admin.clients.find(other_id)
        client_admin.update(client, {"scope": "admin"}, by="test")
    garbage = hub.web.get(API + "/users", headers={"Authorization": "Bearer nope"})
    assert garbage.status_code == 401 and garbage.get_json()["error"] == "invalid_token"


def test_register_read_change_rotate_disable_delete_a_client(hub, admin_api):
    created = admin_api(
        "POST",
        "/clients",
        json={
            "name": "Hệ thống Đất đai",
            "description": "Đăng ký đất đai",
            "redirect_uris": ["https://datdai.tinh.gov.vn/cb"],
            "post_logout_redirect_uris": ["https://datdai.tinh.gov.vn/"],
            "backchannel_logout_uri": "https://datdai.tinh.gov.vn/bcl",
            "first_party": True,
            "require_mfa": True,
            "scope": "openid profile national_id",
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    client_id, secret = body["client_id"], body["client_secret"]
    assert created.headers["Location"].endswith(f"/clients/{client_id}")
    assert body["require_mfa"] and body["first_party"] and body["source"] == "admin"
    # The secret works at the token endpoint (an unknown code, but the client is authenticated).
    answer = hub.token(
        {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://x"},
        auth=(client_id, secret),
    )
    assert answer.get_json()["error"] == "invalid_grant"

    got = admin_api("GET", f"/clients/{client_id}").get_json()
    assert got["name"] == "Hệ thống Đất đai" and "client_secret" not in got
    listed = admin_api("GET", "/clients?q=đất").get_json()
    assert [c["client_id"] for c in listed["items"]] == [client_id] and listed["total"] == 1

    changed = admin_api("PATCH", f"/clients/{client_id}", json={"require_mfa": False})
    assert changed.status_code == 200 and changed.get_json()["require_mfa"] is False

    rotated = admin_api("POST", f"/clients/{client_id}/secret").get_json()
    old = hub.token({"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert old.status_code == 401 and rotated["client_secret"] != secret

    assert admin_api("POST", f"/clients/{client_id}/disable").get_json()["disabled"] is True
    refused = hub.token(
        {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://x"},
        auth=(client_id, rotated["client_secret"]),
    )
    assert refused.status_code == 401
    assert admin_api("POST", f"/clients/{client_id}/enable").get_json()["disabled"] is False

    assert admin_api("DELETE", f"/clients/{client_id}").status_code == 204
    assert admin_api("GET", f"/clients/{client_id}").status_code == 404

    by = f"api:{admin_api.client_id}"
    for name in CLIENT_LIFECYCLE_EVENTS:
        (event,) = [e for e in events(hub, name) if e.client_id == client_id]
        assert event.detail["by"] == by, name
        assert event.ip == "127.0.0.1" and event.at > 0
    assert events(hub, "client_updated")[0].detail["fields"] == ["require_mfa"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "X", "redirect_uris": ["http://evil.example/cb"]}, "redirect_uris"),
        ({"name": "X", "redirect_uris": ["https://x.example/cb#frag"]}, "redirect_uris"),
        ({"name": "X", "redirect_uris": ["https://*.example/cb"]}, "redirect_uris"),
        ({"name": "X", "redirect_uris": []}, "redirect_uris"),
        ({"name": "", "redirect_uris": ["https://x.example/cb"]}, "name"),
        ({"name": "X", "redirect_uris": ["https://x.example/cb"], "scope": "root"}, "scope"),
        ({"name": "X", "redirect_uris": ["https://x.example/cb"], "secret": "s"}, "secret"),
        ({"name": "X", "redirect_uris": "https://x.example/cb"}, "redirect_uris"),
        (
            {"name": "X", "redirect_uris": ["https://x.example/cb"], "first_party": "yes"},
            "first_party",
        ),
    ],
)
def test_bad_client_fields_are_named(admin_api, body, field):
    response = admin_api("POST", "/clients", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_client_metadata"
    assert field in response.get_json()["fields"]


def test_bad_bodies_and_paging(admin_api):
    assert admin_api("POST", "/clients", data="name=x").status_code == 415
    assert (
        admin_api(
            "POST", "/clients", data="[1]", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert admin_api("GET", "/clients?limit=0").status_code == 400
    assert admin_api("GET", "/clients?offset=x").status_code == 400
    missing = admin_api("GET", "/no-such-thing")
    assert missing.status_code == 404 and missing.get_json()["error"] == "invalid_request"


def test_find_lock_unlock_and_end_sessions_of_an_account(hub, admin_api):
    client_id, secret = hub.add_client(scope="openid profile")
    sub = hub.add_user(
        full_name="Nguyễn Thị Mai",
        email="mai@example.vn",
        phone="0912000111",
        national_id="001199000123",
    )
    refresh = hub.tokens(client_id, secret, scope="openid profile")["refresh_token"]
    for q in ("citizen01", "thị mai", "0912000111", "MAI@example", "001199000123"):
        found = admin_api("GET", f"/users?q={q}").get_json()
        assert [u["sub"] for u in found["items"]] == [sub], q
    detail = admin_api("GET", f"/users/{sub}").get_json()
    assert detail["status"] == "active" and len(detail["sessions"]) == 1

    locked = admin_api("POST", f"/users/{sub}/lock")
    assert locked.status_code == 200 and locked.get_json()["status"] == "locked"
    assert locked.get_json()["sessions"] == []
    reused = hub.token(
        {"grant_type": "refresh_token", "refresh_token": refresh}, (client_id, secret)
    )
    assert reused.status_code == 400  # its tokens were revoked
    again = hub.sign_in(client_id, scope="openid profile")
    assert "code=" not in again.headers.get("Location", "")  # a locked account cannot sign in

    unlocked = admin_api("POST", f"/users/{sub}/unlock").get_json()
    assert unlocked["status"] == "active"
    hub.tokens(client_id, secret, scope="openid profile")
    ended = admin_api("POST", f"/users/{sub}/end-sessions").get_json()
    assert ended["sessions"] == []
    by = f"api:{admin_api.client_id}"
    for name in ("user_locked", "user_unlocked", "user_sessions_ended"):
        (event,) = events(hub, name)
        assert event.username == "citizen01" and event.detail["by"] == by


def test_resend_activation_and_remove_a_link(hub, admin_api):
    with hub.app.app_context():
        pending = store_users.create(
            username="chokichhoat", password="Mật-khẩu-123", email="p@example.vn", active=False
        )
        pending_sub = pending.subject
        active = store_users.by_username("chokichhoat")
        assert active is not None
    assert admin_api("POST", f"/users/{pending_sub}/resend-activation").status_code == 200
    assert admin_api("POST", f"/users/{pending_sub}/lock").status_code == 409
    sub = hub.add_user()
    assert admin_api("POST", f"/users/{sub}/resend-activation").status_code == 409
    with hub.app.app_context():
        user = store_users.by_subject(sub)
        row = federation.link(user, "dvcqg", "national-sub-1", {"name": "A"}, "LoA2")
        link_id = row.id
    detail = admin_api("GET", f"/users/{sub}").get_json()
    assert [link["connector"] for link in detail["links"]] == ["dvcqg"]
    assert admin_api("DELETE", f"/users/{sub}/links/{link_id}").status_code == 204
    assert admin_api("DELETE", f"/users/{sub}/links/{link_id}").status_code == 404
    assert admin_api("DELETE", f"/users/{sub}/links/99999999999").status_code == 404
    assert admin_api("GET", f"/users/{sub}").get_json()["links"] == []
    assert events(hub, "federated_link_removed")[0].detail["connector"] == "dvcqg"
    assert admin_api("GET", "/users/nobody").status_code == 404
