"""Stored password forms of former portals: each signs its owner in once through the real
sign-in page and is then argon2id with the configured parameters; wrong passwords fail;
unsalted forms only behind the switch, and then a new password is chosen at once."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time

import bcrypt
import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from idp.accounts import legacy_hashes
from idp.accounts.legacy_hashes import Unrecognised
from idp.accounts.passwords import check_password, hash_password
from idp.config import PasswordsConfig
from idp.store import db
from idp.store import users as store_users
from tests.conftest import hidden_inputs, make_config

PASSWORD = "Mật-khẩu-cũ-123"


def pbkdf2_django(password: str, salt: str = "s4ltS4lt", n: int = 260000) -> str:
    dk = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), n)
    return f"pbkdf2_sha256${n}${salt}${base64.b64encode(dk).decode()}"


def keycloak_credential(password: str, algorithm: str = "pbkdf2-sha256", n: int = 27500) -> dict:
    digest = {"pbkdf2": "sha1", "pbkdf2-sha256": "sha256", "pbkdf2-sha512": "sha512"}[algorithm]
    salt = os.urandom(16)
    size = 64 if digest != "sha256" else 32
    dk = hashlib.pbkdf2_hmac(digest, password.encode(), salt, n, size)
    return {
        "type": "password",
        "secretData": json.dumps(
            {"value": base64.b64encode(dk).decode(), "salt": base64.b64encode(salt).decode()}
        ),
        "credentialData": json.dumps(
            {"hashIterations": n, "algorithm": algorithm, "additionalParameters": {}}
        ),
    }


def ssha256(password: str) -> str:
    salt = os.urandom(8)
    return (
        "{SSHA256}"
        + base64.b64encode(hashlib.sha256(password.encode() + salt).digest() + salt).decode()
    )


def legacy_forms(password: str) -> dict[str, str]:
    """One stored value per accepted salted form, as a former portal would hand it over."""
    b = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    return {
        "bcrypt-2b": b,
        "bcrypt-2a": "$2a$" + b[4:],
        "bcrypt-2y": "$2y$" + b[4:],
        "django-pbkdf2": pbkdf2_django(password),
        "keycloak-pbkdf2-sha256": legacy_hashes.from_keycloak(keycloak_credential(password)),
        "keycloak-pbkdf2-sha512": legacy_hashes.from_keycloak(
            keycloak_credential(password, "pbkdf2-sha512")
        ),
        "keycloak-pbkdf2-sha1": legacy_hashes.from_keycloak(
            keycloak_credential(password, "pbkdf2")
        ),
        "ssha256": ssha256(password),
        "sha256-salt": "sha256$abc123$" + hashlib.sha256(b"abc123" + password.encode()).hexdigest(),
        "argon2i-old": PasswordHasher(
            time_cost=1, memory_cost=8192, parallelism=2, type=Type.I
        ).hash(password),
        "argon2id-other-cost": PasswordHasher(time_cost=1, memory_cost=8192).hash(password),
    }


def test_every_salted_form_checks_right_and_wrong_passwords():
    for name, value in legacy_forms(PASSWORD).items():
        stored = legacy_hashes.normalize(value, allow_unsalted=False)
        right = check_password(stored, PASSWORD)
        assert right.ok and right.rehash and not right.must_change, name
        assert not check_password(stored, PASSWORD + "x").ok, name
        assert not check_password(stored, "").ok, name


def test_unsalted_forms_only_behind_the_switch():
    md5 = hashlib.md5(PASSWORD.encode()).hexdigest()  # noqa: S324 - the legacy form itself
    sha1 = hashlib.sha1(PASSWORD.encode()).hexdigest()  # noqa: S324
    for value in (md5, sha1.upper(), "{MD5}" + base64.b64encode(bytes.fromhex(md5)).decode()):
        with pytest.raises(Unrecognised):
            legacy_hashes.normalize(value, allow_unsalted=False)
        stored = legacy_hashes.normalize(value, allow_unsalted=True)
        assert stored.startswith("$legacy-")
        # Outside a configured app the switch is off: even a stored one no longer signs in.
        assert not check_password(stored, PASSWORD).ok


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x" * 300,
        "plaintext-password",
        "$2b$04$tooShort",
        "$2b$99$" + "a" * 53,
        "pbkdf2_sha256$1$salt$" + base64.b64encode(b"0" * 32).decode(),  # 1 iteration
        "pbkdf2_sha256$99999999999$salt$" + base64.b64encode(b"0" * 32).decode(),
        "pbkdf2_md5$1000$salt$abcd",
        "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "{SSHA256}" + base64.b64encode(b"short").decode(),
        "{SSHA256}!!!not-base64",
        "sha256$$" + "0" * 64,
        "$pbkdf2-sha256$27500$$",
    ],
)
def test_hostile_or_unknown_forms_are_refused(value):
    with pytest.raises(Unrecognised):
        legacy_hashes.normalize(value, allow_unsalted=True)


def test_keycloak_credentials_of_unknown_algorithms_are_refused():
    bad = keycloak_credential(PASSWORD)
    bad["credentialData"] = json.dumps({"algorithm": "scrypt", "hashIterations": 1})
    for credential in (
        bad,
        {"secretData": "not json"},
        {"secretData": "[]", "credentialData": "1"},
    ):
        with pytest.raises(Unrecognised):
            legacy_hashes.from_keycloak(credential)


def test_keycloak_argon2_credential_becomes_a_phc_string():
    raw = PasswordHasher(time_cost=3, memory_cost=7168, parallelism=1).hash(PASSWORD)
    params = extract_parameters(raw)
    salt_b64, hash_b64 = raw.split("$")[4:6]

    def std(v: str) -> str:
        return base64.b64encode(base64.b64decode(v + "=" * (-len(v) % 4))).decode()

    credential = {
        "secretData": json.dumps({"value": std(hash_b64), "salt": std(salt_b64)}),
        "credentialData": json.dumps(
            {
                "algorithm": "argon2",
                "additionalParameters": {
                    "type": ["id"],
                    "version": ["1.3"],
                    "memory": [str(params.memory_cost)],
                    "iterations": [str(params.time_cost)],
                    "parallelism": ["1"],
                },
            }
        ),
    }
    stored = legacy_hashes.from_keycloak(credential)
    assert check_password(stored, PASSWORD).ok
    assert not check_password(stored, "wrong-password").ok


def test_configured_parameters_make_the_hash_and_others_are_rehashed(tmp_path, request):
    config = make_config(
        tmp_path,
        "sqlite",
        request,
        passwords=PasswordsConfig(argon2_memory_kib=47104, argon2_time_cost=1),
    )
    from idp import create_app

    app = create_app(config)
    with app.app_context():
        stored = hash_password(PASSWORD)
        p = extract_parameters(stored)
        assert (p.memory_cost, p.time_cost, p.parallelism, p.type.name) == (47104, 1, 1, "ID")
        assert check_password(stored, PASSWORD).rehash is False
    # The OWASP floor (the default) reads the same hash as one to rehash.
    assert check_password(stored, PASSWORD).rehash is True
    app.extensions["idp_backchannel"].stop()


def _sign_in_page(hub, client_id: str, username: str, password: str):
    return hub.login(hub.login_url(client_id), username, password)


def _set_hash(app, username: str, stored: str) -> None:
    with app.app_context():
        user = store_users.by_username(username)
        user.password_hash = stored
        db.session.commit()


def _stored(app, username: str) -> str:
    with app.app_context():
        db.session.expire_all()
        return store_users.by_username(username).password_hash


def test_each_legacy_form_signs_in_once_then_is_argon2id(hub, app):
    client_id, _ = hub.add_client(first_party=True)
    forms = legacy_forms(PASSWORD)
    for i, (name, value) in enumerate(forms.items()):
        username = f"legacy{i:02d}"
        hub.add_user(username=username, password=None)
        before = legacy_hashes.normalize(value, allow_unsalted=False)
        _set_hash(app, username, before)
        wrong = _sign_in_page(hub, client_id, username, PASSWORD + "!")
        assert wrong.status_code == 400, name
        assert _stored(app, username) == before, name
        response = _sign_in_page(hub, client_id, username, PASSWORD)
        assert response.status_code == 302, (name, response.get_data(as_text=True)[:300])
        stored = _stored(app, username)
        p = extract_parameters(stored)
        assert stored.startswith("$argon2id$") and (p.memory_cost, p.time_cost) == (19456, 2)
        hub.web.delete_cookie("idp_sso")
    with app.app_context():
        from idp.store.models import AuditEvent

        events = db.session.query(AuditEvent).filter_by(event="password_rehashed").all()
        assert len(events) == len(forms)
        assert PASSWORD not in json.dumps([e.detail for e in events])


def test_unknown_user_takes_the_same_argon2_time(hub, app):
    """The dummy hash, made with the configured parameters, keeps "no such user" as slow as a
    wrong password of a real one (medians: the machine is shared)."""
    client_id, _ = hub.add_client(first_party=True)
    hub.add_user(username="citizen01", password=PASSWORD)
    location = hub.login_url(client_id)
    medians = {}
    for name in ("citizen01", "nobody-here"):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            assert hub.login(location, name, "wrong-password-1").status_code == 400
            times.append(time.perf_counter() - start)
        medians[name] = sorted(times)[2]
    assert 0.4 < medians["nobody-here"] / medians["citizen01"] < 2.5


@pytest.fixture
def unsalted_app(tmp_path, request, clock):
    from idp import create_app
    from idp.keys import ensure_keys
    from idp.store.migrate import upgrade

    config = make_config(
        tmp_path, "sqlite", request, passwords=PasswordsConfig(accept_unsalted_legacy=True)
    )
    upgrade(config.resolved_database_url)
    ensure_keys(config.resolved_keys_dir, config.keys_passphrase_env)
    app = create_app(config, clock=clock)
    app.config["TESTING"] = True
    yield app
    app.extensions["idp_backchannel"].stop()


def test_unsalted_md5_signs_in_then_a_new_password_is_required(unsalted_app):
    from tests.conftest import Hub

    hub = Hub(unsalted_app, unsalted_app.test_client())
    client_id, _ = hub.add_client(first_party=True)
    hub.add_user(username="phpuser01", password=None)
    md5 = hashlib.md5(PASSWORD.encode()).hexdigest()  # noqa: S324 - the legacy form itself
    _set_hash(unsalted_app, "phpuser01", legacy_hashes.normalize(md5, allow_unsalted=True))
    response = _sign_in_page(hub, client_id, "phpuser01", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"].endswith("/new-password")
    assert _stored(unsalted_app, "phpuser01").startswith("$argon2id$")  # MD5 gone at once
    page = hub.web.get(response.headers["Location"])
    form = hidden_inputs(page.get_data(as_text=True))
    # The old password again is refused; the two fields must agree.
    again = hub.web.post(
        response.headers["Location"],
        data={**form, "password": PASSWORD, "password_confirm": PASSWORD},
    )
    assert again.status_code == 400
    with unsalted_app.app_context():
        assert store_users.by_username("phpuser01").password_change_required
    # Without a session no client got a code yet.
    done = hub.web.post(
        response.headers["Location"],
        data={**form, "password": "Hoàn-toàn-mới-456", "password_confirm": "Hoàn-toàn-mới-456"},
    )
    assert done.status_code == 302
    done = hub.follow(done)
    assert "code=" in done.headers["Location"]
    with unsalted_app.app_context():
        user = store_users.by_username("phpuser01")
        assert not user.password_change_required
        assert check_password(user.password_hash, "Hoàn-toàn-mới-456").ok
        assert not check_password(user.password_hash, PASSWORD).ok


def test_an_unsalted_password_is_replaced_only_after_the_accounts_second_factor(unsalted_app):
    """A leaked old password alone changes nothing: with a proved phone, the SMS code comes
    first, and the page to choose a new password only after it."""
    from tests.conftest import Hub, last_sms_code

    hub = Hub(unsalted_app, unsalted_app.test_client())
    client_id, _ = hub.add_client(first_party=True)
    hub.add_user(username="phpuser02", password=None, phone="0912345678", phone_verified=True)
    md5 = hashlib.md5(PASSWORD.encode()).hexdigest()  # noqa: S324 - the legacy form itself
    _set_hash(unsalted_app, "phpuser02", legacy_hashes.normalize(md5, allow_unsalted=True))
    response = _sign_in_page(hub, client_id, "phpuser02", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"].endswith("/otp")
    iid = response.headers["Location"].split("/interaction/")[1].split("/")[0]
    # Straight to the new-password page without the code: nothing is waiting there.
    assert hub.web.get(f"/interaction/{iid}/new-password").status_code == 400
    from tests.test_second_factor import post_code, post_send

    post_send(hub, response.headers["Location"])
    verified = post_code(hub, response.headers["Location"], last_sms_code(unsalted_app))
    assert verified.status_code == 302, verified.get_data(as_text=True)[:500]
    assert verified.headers["Location"].endswith("/new-password")
    with unsalted_app.app_context():
        assert store_users.by_username("phpuser02").password_change_required
