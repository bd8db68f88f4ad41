"""The `idp` command line, run as operators run it: as a separate process."""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def idp(tmp_path, backend, request):
    from tests.conftest import make_config

    config = make_config(tmp_path, backend, request)
    path = tmp_path / "idp.toml"
    lines = [
        f'issuer = "{config.issuer}"',
        f'instance_dir = "{config.instance_dir}"',
        f'keys_dir = "{config.keys_dir}"',
        f'clients_dir = "{tmp_path / "clients"}"',
    ]
    if backend == "pg":
        lines += [
            f'database_url = "{config.database_url}"',
            f'redis_url = "{config.redis_url}"',
            f'redis_key_prefix = "{config.redis_key_prefix}"',
        ]
    path.write_text("\n".join(lines) + "\n")

    def run(*args, ok=True, env=None):
        result = subprocess.run(
            ["idp", "--config", str(path), *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=120,
        )
        if ok:
            assert result.returncode == 0, result.stderr + result.stdout
        return result

    run("init")
    yield run
    if backend == "pg":
        from tests.conftest import reset_pg

        reset_pg(config)


def test_init_is_idempotent_and_creates_keys(idp):
    result = idp("init")
    assert "database: up to date" in result.stdout and "present" in result.stdout
    keys = json.loads(idp("keys", "list", "--json").stdout)
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    assert all(k["state"] == "active" for k in keys)


def test_clients_add_list_show_disable_rotate(idp):
    out = json.loads(
        idp(
            "clients",
            "add",
            "--name",
            "Một cửa",
            "--redirect-uri",
            "https://a.example/cb",
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
            "--post-logout-redirect-uri",
            "https://a.example/",
            "--backchannel-logout-uri",
            "https://a.example/bc",
            "--scope",
            "openid profile national_id",
            "--first-party",
            "--json",
        ).stdout
    )
    client_id, secret = out["client_id"], out["client_secret"]
    assert len(secret) >= 43 and out["first_party"] is True
    assert out["redirect_uris"] == ["https://a.example/cb", "http://127.0.0.1:9/cb"]
    listed = json.loads(idp("clients", "list", "--json").stdout)
    assert [c["client_id"] for c in listed] == [client_id]
    assert "client_secret" not in listed[0]
    shown = json.loads(idp("clients", "show", client_id).stdout)
    assert shown["scope"] == "openid profile national_id"
    rotated = json.loads(idp("clients", "rotate-secret", client_id, "--json").stdout)
    assert rotated["client_secret"] != secret
    idp("clients", "disable", client_id)
    assert json.loads(idp("clients", "show", client_id).stdout)["disabled"] is True
    assert idp("clients", "show", "nope", ok=False).returncode != 0


def test_public_and_private_key_jwt_clients(idp, tmp_path):
    public = json.loads(
        idp(
            "clients",
            "add",
            "--name",
            "SPA",
            "--redirect-uri",
            "https://spa.example/cb",
            "--public",
            "--json",
        ).stdout
    )
    assert public["token_endpoint_auth_method"] == "none" and "client_secret" not in public
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    result = idp(
        "clients",
        "add",
        "--name",
        "PKJ",
        "--redirect-uri",
        "https://p.example/cb",
        "--auth-method",
        "private_key_jwt",
        "--jwks-uri",
        "https://p.example/jwks",
        "--json",
    )
    assert "client_secret" not in json.loads(result.stdout)
    bad = idp(
        "clients",
        "add",
        "--name",
        "X",
        "--redirect-uri",
        "https://p.example/cb",
        "--auth-method",
        "private_key_jwt",
        ok=False,
    )
    assert bad.returncode != 0 and "jwks" in bad.stderr


@pytest.mark.parametrize(
    "uri",
    [
        "http://evil.example/cb",
        "https://a.example/cb#frag",
        "https://*.example/cb",
        "/relative",
        "javascript:alert(1)",
    ],
)
def test_clients_add_refuses_bad_redirect_uris(idp, uri):
    result = idp("clients", "add", "--name", "X", "--redirect-uri", uri, ok=False)
    assert result.returncode != 0 and "redirect-uri" in result.stderr


def test_clients_sync_loads_files_with_hashed_or_env_secrets(idp, tmp_path):
    folder = tmp_path / "clients"
    folder.mkdir()
    shutil.copy(ROOT / "clients/examples/mot-cua.toml", folder / "mot-cua.toml")
    digest = hashlib.sha256(b"s3cret-value").hexdigest()
    (folder / "dat-dai.toml").write_text(
        'client_id = "dat-dai"\nname = "Đất đai"\nredirect_uris = ["https://dd.example/cb"]\n'
        f'client_secret_sha256 = "{digest}"\n'
    )
    missing = idp("clients", "sync", ok=False)
    assert missing.returncode != 0 and "MOT_CUA_CLIENT_SECRET" in missing.stderr
    assert json.loads(idp("clients", "list", "--json").stdout) == []  # nothing half-written
    result = idp("clients", "sync", env={"MOT_CUA_CLIENT_SECRET": "another-secret"})
    assert "created\tmot-cua-tinh" in result.stdout and "created\tdat-dai" in result.stdout
    result = idp("clients", "sync", env={"MOT_CUA_CLIENT_SECRET": "another-secret"})
    assert "updated\tmot-cua-tinh" in result.stdout
    shown = json.loads(idp("clients", "show", "mot-cua-tinh").stdout)
    assert shown["name"] == "Hệ thống Một cửa điện tử" and shown["first_party"] is True
    assert shown["scope"] == "openid profile email phone address national_id"
    assert shown["backchannel_logout_uri"] == "https://motcua.tinh.gov.vn/oidc/backchannel-logout"
    (folder / "off.toml").write_text(
        'client_id = "tam-dung"\nname = "Tạm dừng"\nredirect_uris = ["https://t.example/cb"]\n'
        f'client_secret_sha256 = "{digest}"\ndisabled = true\n'
    )
    idp("clients", "sync", env={"MOT_CUA_CLIENT_SECRET": "another-secret"})
    assert json.loads(idp("clients", "show", "tam-dung").stdout)["disabled"] is True


def test_clients_sync_rejects_bad_files(idp, tmp_path):
    folder = tmp_path / "clients"
    folder.mkdir()
    (folder / "bad.toml").write_text(
        'client_id = "x"\nname = "X"\n'
        'redirect_uris = ["http://evil.example/cb"]\n'
        'client_secret = "plaintext"\n'
    )
    result = idp("clients", "sync", ok=False)
    assert result.returncode != 0 and "unknown keys" in result.stderr


def test_users_add(idp):
    out = json.loads(
        idp(
            "users",
            "add",
            "--username",
            "nguyenvana",
            "--password",
            "Mật-khẩu-123",
            "--full-name",
            "Nguyễn Văn A",
            "--email",
            "a@example.vn",
            "--phone",
            "+84912345678",
            "--national-id",
            "001190000001",
            "--json",
        ).stdout
    )
    assert out["username"] == "nguyenvana" and out["sub"]
    again = idp("users", "add", "--username", "NguyenVanA", "--password", "Mật-khẩu-123", ok=False)
    assert "already taken" in again.stderr
    short = idp("users", "add", "--username", "abc", "--password", "Mật-khẩu-123", ok=False)
    assert "username" in short.stderr
    weak = idp("users", "add", "--username", "someone1", "--password", "short", ok=False)
    assert "password" in weak.stderr


def test_keys_rotate(idp):
    before = {k["kid"] for k in json.loads(idp("keys", "list", "--json").stdout)}
    result = idp("keys", "rotate", "--alg", "RS256")
    assert result.stdout.count("new signing key") == 1
    keys = json.loads(idp("keys", "list", "--json").stdout)
    states = {k["kid"]: k["state"] for k in keys}
    assert sum(1 for kid in before if states[kid] == "published") == 1
    assert sum(1 for s in states.values() if s == "active") == 2


def test_config_errors_are_reported_without_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("bogus = 1\n")
    result = subprocess.run(
        ["idp", "--config", str(bad), "init"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "unknown option bogus" in result.stderr
    assert "Traceback" not in result.stderr


def test_generated_client_ids_never_look_like_options():
    from idp.store.clients import new_client_id

    assert all(new_client_id()[0].isalnum() for _ in range(2000))


def test_users_unlinked_lists_accounts_without_a_national_link(idp):
    idp("init")
    for username in ("nguyenvana", "tranthib"):
        idp("users", "add", "--username", username, "--password", "Mật-khẩu-123")
    idp("users", "grant-role", "tranthib", "staff")
    listed = idp("users", "unlinked", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["username"] for r in rows] == ["nguyenvana"]  # staff keep local sign-in
    assert rows[0]["has_password"] is True
    assert "1 account(s) not linked" in idp("users", "unlinked").stderr
