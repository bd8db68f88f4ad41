"""`idp users import`: former portals' accounts come in with their passwords, each signs in
through the real sign-in page and is then argon2id; one person from two sources is one
account; clashes, malformed rows and re-runs are reported, never silent."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from idp.accounts import importing
from idp.accounts.importing.export import export
from idp.store import db
from idp.store import users as store_users
from idp.store.models import AuditEvent, ImportedAccount, User, UsernameAlias
from tests.accounts.import_files import (
    bcrypt_hash,
    keycloak_user,
    php_sha256,
    ssha256,
    write_csv,
    write_jsonl,
    write_keycloak,
)

PW = "Mật-khẩu-cũ-2019"


def do_import(app, path: Path, source: str, fmt: str = "jsonl", dry_run: bool = False) -> dict:
    with app.app_context():
        result = importing.run(path, source, fmt, dry_run=dry_run, conflicts_dir=path.parent)
        return result.as_dict(source, fmt, dry_run)


def conflicts(summary: dict) -> list[dict]:
    path = summary["conflicts_file"]
    if not path:
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def signs_in(hub, client_id: str, username: str, password: str) -> bool:
    hub.web.delete_cookie("idp_sso")
    response = hub.login(hub.login_url(client_id), username, password)
    return response.status_code == 302 and "/interaction/" not in response.headers["Location"]


def stored_hash(app, username: str) -> str | None:
    with app.app_context():
        db.session.expire_all()
        return store_users.by_username(username).password_hash


def count_users(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(User.id)))


def test_keycloak_export_pbkdf2_passwords_sign_in_then_are_argon2id(hub, app, tmp_path):
    client_id, _ = hub.add_client(first_party=True)
    users = [
        keycloak_user("kc-1", "kc.sha256", PW, "pbkdf2-sha256", cccd="001090000011"),
        keycloak_user("kc-2", "kc.sha512", PW, "pbkdf2-sha512", cccd="001090000012"),
        keycloak_user("kc-3", "kc.sha1", PW, "pbkdf2", phone="0912345678"),
        keycloak_user("kc-4", "kc.nopass", None),
    ]
    unknown = keycloak_user("kc-5", "kc.scrypt", PW)
    unknown["credentials"][0]["credentialData"] = json.dumps({"algorithm": "scrypt"})
    path = write_keycloak(tmp_path / "realm.json", [*users, unknown])
    summary = do_import(app, path, "keycloak-cu", "keycloak")
    assert (summary["rows"], summary["created"], summary["skipped"]) == (5, 5, 0)
    assert summary["notes"] == {"password": 1}
    for name in ("kc.sha256", "kc.sha512", "kc.sha1"):
        assert stored_hash(app, name).startswith("$pbkdf2-")
        assert not signs_in(hub, client_id, name, PW + "x")
        assert signs_in(hub, client_id, name, PW), name
        assert stored_hash(app, name).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    for name in ("kc.nopass", "kc.scrypt"):
        assert stored_hash(app, name) is None
        assert not signs_in(hub, client_id, name, PW)
    with app.app_context():
        user = store_users.by_username("kc.sha256")
        # Vietnamese order, the CCCD from the attributes; Keycloak's realm roles give nothing.
        assert (user.full_name, user.national_id, user.roles) == (
            "Nguyễn Văn An",
            "001090000011",
            [],
        )


def test_bcrypt_and_salted_sha256_rows_of_a_csv_sign_in(hub, app, tmp_path):
    client_id, _ = hub.add_client(first_party=True)
    rows = [
        {"source_id": "1", "username": "bc2y", "password_hash": bcrypt_hash(PW, "$2y$")},
        {"source_id": "2", "username": "bc2a", "password_hash": bcrypt_hash(PW, "$2a$")},
        {"source_id": "3", "username": "ldapssha", "password_hash": ssha256(PW)},
        {"source_id": "4", "username": "phpsha", "password_hash": php_sha256(PW)},
        {
            "source_id": "5",
            "username": "django",
            "password_hash": "pbkdf2_sha256$1000$abc$"
            + __import__("base64")
            .b64encode(__import__("hashlib").pbkdf2_hmac("sha256", PW.encode(), b"abc", 1000))
            .decode(),
            "roles": "staff",
            "federated": [{"connector": "vneid", "subject": "vn-123"}],
        },
    ]
    summary = do_import(app, write_csv(tmp_path / "old.csv", rows), "php-portal", "csv")
    assert summary["created"] == 5, summary
    for row in rows:
        assert signs_in(hub, client_id, row["username"], PW), row["username"]
        assert stored_hash(app, row["username"]).startswith("$argon2id$")
    with app.app_context():
        user = store_users.by_username("django")
        assert user.roles == ["staff"]
        from idp.store import federation

        assert [(f.connector, f.subject) for f in federation.of_user(user.id)] == [
            ("vneid", "vn-123")
        ]
    assert {"roles given"} <= {c["reason"] for c in conflicts(summary)}


def test_one_person_from_two_sources_is_one_account_and_aliases_sign_in(hub, app, tmp_path):
    client_id, _ = hub.add_client(first_party=True)
    first = write_jsonl(
        tmp_path / "a.jsonl",
        [
            {
                "source_id": "a-1",
                "username": "an.nguyen",
                "national_id": "001090000021",
                "email": "an@example.vn",
                "password_hash": bcrypt_hash("Old-password-A1"),
                "created_at": "2019-03-01",
                "last_login_at": "2023-01-01",
            }
        ],
    )
    second = write_jsonl(
        tmp_path / "b.jsonl",
        [
            {
                "source_id": "b-77",
                "username": "annguyen",
                "national_id": "001090000021",
                "former_national_id": "123456789",
                "email": "an.other@example.vn",
                "phone": "0912345678",
                "password_hash": bcrypt_hash(PW),
                "created_at": "2016-05-01",
                "last_login_at": "2025-02-01",
            }
        ],
    )
    third = write_jsonl(
        tmp_path / "c.jsonl",
        [{"source_id": "c-5", "username": "an_cmnd", "former_national_id": "123456789"}],
    )
    assert do_import(app, first, "tinh-a")["created"] == 1
    merged = do_import(app, second, "tinh-b")
    assert (merged["created"], merged["merged"]) == (0, 1)
    assert do_import(app, third, "tinh-c")["merged"] == 1
    assert count_users(app) == 1
    with app.app_context():
        user = db.session.scalar(select(User))
        # The older portal's username is kept; the phone filled; the email not overwritten.
        assert user.username == "annguyen"
        assert (user.email, user.phone) == ("an@example.vn", "0912345678")
        aliases = {a.username for a in db.session.scalars(select(UsernameAlias))}
        assert aliases == {"an.nguyen", "an_cmnd"}
        assert db.session.scalar(select(func.count(ImportedAccount.id))) == 3
    reasons = {c["reason"] for c in conflicts(merged)}
    assert {"values differ: the account's kept", "older username became the username"} <= reasons
    # The password of the latest sign-in (source b) signs in under every name.
    for name in ("annguyen", "an.nguyen", "an_cmnd"):
        assert signs_in(hub, client_id, name, PW), name
    assert not signs_in(hub, client_id, "an.nguyen", "Old-password-A1")


def test_two_people_with_one_username_get_a_reported_rename(hub, app, tmp_path):
    client_id, _ = hub.add_client(first_party=True)
    hostile = '=HYPERLINK("http://x")'
    rows_a = [
        {
            "source_id": "1",
            "username": "tranbinh",
            "national_id": "001090000031",
            "password_hash": bcrypt_hash(PW),
        },
        {"source_id": "2", "username": hostile, "national_id": "001090000033"},
    ]
    rows_b = [
        {
            "source_id": "9",
            "username": "tranbinh",
            "national_id": "001090000032",
            "password_hash": bcrypt_hash("Another-pass-9"),
        },
        {"source_id": "8", "username": hostile, "national_id": "001090000034"},
    ]
    do_import(app, write_jsonl(tmp_path / "a.jsonl", rows_a), "tinh-a")
    summary = do_import(app, write_jsonl(tmp_path / "b.jsonl", rows_b), "tinh-b")
    assert summary["created"] == 2
    assert summary["reasons"]["created"] == {"username taken: renamed": 2}
    assert count_users(app) == 4
    assert signs_in(hub, client_id, "tranbinh", PW)
    assert signs_in(hub, client_id, "tranbinh.tinh_b", "Another-pass-9")
    rows = conflicts(summary)
    assert {r["detail"] for r in rows} >= {"tranbinh -> tranbinh.tinh_b"}
    # A cell that starts like a formula is text to a spreadsheet.
    raw = Path(summary["conflicts_file"]).read_text(encoding="utf-8")
    assert "'=HYPERLINK" in raw
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())
    assert stat.S_IMODE(Path(summary["conflicts_file"]).stat().st_mode) == 0o600


def test_rerun_updates_instead_of_duplicating_and_keeps_changes_made_here(app, tmp_path):
    rows = [
        {
            "source_id": "1",
            "username": "lethic",
            "national_id": "001090000041",
            "email": "c@example.vn",
            "phone": "0912345670",
            "address": "Số 1",
        },
        {"source_id": "2", "username": "phamd", "national_id": "001090000042"},
    ]
    first = do_import(app, write_jsonl(tmp_path / "a.jsonl", rows), "tinh-a")
    assert first["created"] == 2
    with app.app_context():
        store_users.by_username("lethic").email = "moi@example.vn"  # the person changed it here
        db.session.commit()
    rows[0].update(email="c2@example.vn", phone="0912345679", address="Số 1")
    again = do_import(app, write_jsonl(tmp_path / "b.jsonl", rows), "tinh-a")
    assert (again["created"], again["conflicts"], again["unchanged"]) == (0, 1, 1)
    assert count_users(app) == 2
    with app.app_context():
        user = store_users.by_username("lethic")
        # The email changed on both sides: the hub's is kept and reported; the phone changed
        # only in the source: taken.
        assert (user.email, user.phone) == ("moi@example.vn", "0912345679")
    (row,) = [c for c in conflicts(again) if c["outcome"] == "conflicts"]
    assert row["detail"] == "email"
    rows[0]["phone"] = "0912345671"
    third = do_import(app, write_jsonl(tmp_path / "c.jsonl", rows), "tinh-a")
    assert third["updated"] == 1
    with app.app_context():
        assert store_users.by_username("lethic").phone == "0912345671"


def test_malformed_rows_are_skipped_with_reasons_and_nothing_crashes(app, tmp_path):
    good = {"source_id": "ok", "username": "hople01", "national_id": "001090000051"}
    extra = [
        b"{" + b'"a":"' + b"x" * (2 * 1024 * 1024) + b'"}',  # a line of two megabytes
        b'{"source_id": "u", "username": "\xff\xfe\xfd"}',  # not UTF-8
        b'{"source_id": "d", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}",  # deep nesting
        b"not json at all",
        b"[1, 2, 3]",
        b'{"source_id": "n", "username": "x", "national_id": "999999999999"}',
        b'{"source_id": "m"}',
        b'{"source_id": "t", "username": "org01", "account_type": "organization"}',
        b'{"source_id": "e", "username": "bademail", "email": "not an email", "birthdate": 5}',
        b'{"source_id": ["x"], "username": "listid"}',
    ]
    path = write_jsonl(tmp_path / "bad.jsonl", [good], extra)
    summary = do_import(app, path, "tinh-a")
    assert summary["created"] == 2 and summary["skipped"] == 9, summary
    assert summary["reasons"]["skipped"] == {
        "line too long": 1,
        "not UTF-8": 1,
        "not JSON": 2,
        "not an object": 1,
        "national_id not a valid CCCD": 1,
        "no username": 1,
        "organisation without a tax code": 1,
        "no source_id": 1,
    }
    assert summary["notes"] == {"email": 1, "birthdate": 1}
    with app.app_context():
        user = store_users.by_username("bademail")
        assert user.email is None and user.birthdate is None


def test_csv_with_bad_bytes_and_wrong_columns(app, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(
        b"source_id,username,national_id\n"
        b"1,csvuser1,001090000061\n"
        b"2,\xc3\x28bad,001090000062\n"
        b"3,too,many,columns\n"
        b'4,"=1+2",\n' + b"5," + b"y" * (2 * 1024 * 1024) + b",\n"
        b"6,csvuser6,\n"
    )
    summary = do_import(app, path, "csv-src", "csv")
    assert summary["created"] == 3
    assert summary["reasons"]["skipped"] == {
        "not UTF-8": 1,
        "wrong number of columns": 1,
        "line too long": 1,
    }
    with app.app_context():
        assert store_users.by_username("=1+2") is not None  # stored as text, never evaluated


def test_dry_run_writes_nothing_and_reports_the_same(app, tmp_path):
    rows = [
        {"source_id": str(i), "username": f"dry{i:03d}", "national_id": f"0010900001{i:02d}"}
        for i in range(30)
    ]
    rows.append({"source_id": "dup", "username": "dry001", "national_id": "001090000101"})
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    dry = do_import(app, path, "tinh-a", dry_run=True)
    assert count_users(app) == 0
    real = do_import(app, path, "tinh-a")
    for key in ("rows", "created", "merged", "conflicts", "skipped", "reasons"):
        assert dry[key] == real[key], key
    assert real["created"] == 30 and real["merged"] == 1
    with app.app_context():
        events = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.event == "users_import"))
        )
        assert [e.detail["dry_run"] for e in events] == [True, False]
        assert events[1].detail["created"] == 30 and events[1].detail["source"] == "tinh-a"
        assert events[1].detail["operator"]  # the system account that ran it
        text = json.dumps([e.detail for e in events] + [e.username for e in events])
        assert "dry001" not in text and "001090000101" not in text


def test_an_alias_gives_a_guesser_no_extra_tries(hub, app, tmp_path):
    client_id, _ = hub.add_client(first_party=True)
    rows = [
        {
            "source_id": "1",
            "username": "chinh",
            "national_id": "001090000071",
            "password_hash": bcrypt_hash(PW),
            "aliases": ["chinh.old"],
        }
    ]
    do_import(app, write_jsonl(tmp_path / "a.jsonl", rows), "tinh-a")
    limit = app.config["IDP"].login.max_attempts_per_user
    location = hub.login_url(client_id)
    for i in range(limit):
        hub.login(location, "chinh" if i % 2 else "chinh.old", "wrong-guess-123")
    # Locked under both names, even with the right password.
    assert not signs_in(hub, client_id, "chinh.old", PW)
    assert not signs_in(hub, client_id, "chinh", PW)


def test_legacy_subject_is_sub_only_for_clients_that_opt_in(hub, app, tmp_path):
    from tests.oidc.test_id_token_userinfo import verify

    path = write_keycloak(tmp_path / "realm.json", [keycloak_user("kc-legacy-1", "legacy.sub", PW)])
    do_import(app, path, "keycloak-cu", "keycloak")
    old_id, old_secret = hub.add_client(first_party=True, legacy_subject_source="keycloak-cu")
    new_id, new_secret = hub.add_client(first_party=True)
    with app.app_context():
        hub_subject = store_users.by_username("legacy.sub").subject
    for client_id, secret, expected in (
        (old_id, old_secret, "kc-legacy-1"),
        (new_id, new_secret, hub_subject),
    ):
        hub.web.delete_cookie("idp_sso")
        tokens = hub.tokens(client_id, secret, username="legacy.sub", password=PW)
        assert verify(hub, tokens["id_token"]).claims["sub"] == expected
        info = hub.web.get(
            "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert info.get_json()["sub"] == expected
        intro = hub.web.post(
            "/introspect", data={"token": tokens["access_token"]}, auth=(client_id, secret)
        )
        assert intro.get_json()["sub"] == expected


def test_a_legacy_subject_held_by_another_person_is_not_released(app, tmp_path):
    rows = [
        {"source_id": "1", "username": "first01", "legacy_subject": "S-1"},
        {"source_id": "2", "username": "second01", "legacy_subject": "S-1"},
    ]
    summary = do_import(app, write_jsonl(tmp_path / "a.jsonl", rows), "tinh-a")
    assert "legacy subject held by another account" in {c["reason"] for c in conflicts(summary)}
    with app.app_context():
        values = list(db.session.scalars(select(ImportedAccount.legacy_subject)))
        assert values.count("S-1") == 1 and len(values) == 2


def test_export_round_trips_into_a_new_hub(hub, app, tmp_path, request):
    client_id, _ = hub.add_client(first_party=True)
    rows = [
        {
            "source_id": "1",
            "username": "export01",
            "national_id": "001090000081",
            "password_hash": bcrypt_hash(PW),
            "aliases": ["export.old"],
            "roles": ["staff"],
            "federated": [{"connector": "vneid", "subject": "vn-81"}],
        },
        {
            "source_id": "2",
            "username": "export02",
            "account_type": "organization",
            "tax_code": "0100109106",
            "business_name": "Công ty A",
        },
    ]
    do_import(app, write_jsonl(tmp_path / "a.jsonl", rows), "tinh-a")
    plain, secret = tmp_path / "plain.jsonl", tmp_path / "secret.jsonl"
    with app.app_context():
        assert export(plain, with_credentials=False) == 2
        assert export(secret, with_credentials=True) == 2
        with pytest.raises(FileExistsError):
            export(plain, with_credentials=False)
    assert "password_hash" not in plain.read_text()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in secret.read_text().splitlines()]
    assert lines[0]["aliases"] == ["export.old"] and lines[0]["roles"] == ["staff"]
    assert lines[1]["tax_code"] == "0100109106"

    from idp import create_app
    from idp.keys import ensure_keys
    from idp.store.migrate import upgrade
    from tests.conftest import Hub, make_config

    other = make_config(tmp_path / "other", "sqlite", request)
    upgrade(other.resolved_database_url)
    ensure_keys(other.resolved_keys_dir, other.keys_passphrase_env)
    app2 = create_app(other)
    app2.config["TESTING"] = True
    try:
        summary = do_import(app2, secret, "hub-backup")
        assert summary["created"] == 2
        hub2 = Hub(app2, app2.test_client())
        client2, _ = hub2.add_client(first_party=True)
        assert signs_in(hub2, client2, "export.old", PW)
        with app2.app_context():
            user = store_users.by_username("export01")
            again = export(tmp_path / "again.jsonl", with_credentials=False)
            assert again == 2 and user.roles == ["staff"]
    finally:
        app2.extensions["idp_backchannel"].stop()


def test_a_staff_account_takes_no_password_and_no_role_from_a_file(hub, app, tmp_path):
    hub.add_user(username="canbo01", password=None, national_id="001090000095", roles=["staff"])
    rows = [
        {
            "source_id": "1",
            "username": "canbo.cu",
            "national_id": "001090000095",
            "password_hash": bcrypt_hash(PW),
            "last_login_at": "2025-06-01",
            "roles": ["admin"],
        }
    ]
    summary = do_import(app, write_jsonl(tmp_path / "a.jsonl", rows), "tinh-a")
    assert summary["merged"] == 1
    with app.app_context():
        user = store_users.by_username("canbo.cu")  # the alias finds the same account
        assert (user.username, user.password_hash, user.roles) == ("canbo01", None, ["staff"])
    reasons = {c["reason"] for c in conflicts(summary)}
    assert {"values differ: the account's kept", "roles not given by a merge"} <= reasons


def test_a_broken_quote_in_a_csv_is_reported_where_it_began(app, tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(b'source_id,username\n1,quote01\n2,"open\n3,swallowed\n4,"x"y\n5,quote05\n')
    summary = do_import(app, path, "csv-src", "csv")
    assert (summary["created"], summary["skipped"]) == (2, 1)
    (row,) = conflicts(summary)
    assert (row["position"], row["reason"]) == ("3", "not valid CSV")
