"""`idp backup` / `idp restore`: a hub restored from its archive into an empty instance lets
existing people sign in, honours existing refresh tokens and still verifies ID tokens issued
before; the keys travel encrypted; a restore never mixes into a hub that has data. On SQLite
and on PostgreSQL (pg_dump / pg_restore)."""

from __future__ import annotations

import stat
import tarfile
from dataclasses import replace

import pytest
from click.testing import CliRunner

from idp import create_app
from idp.backup import BackupError, backup, restore
from idp.cli import main
from idp.keys import ensure_keys
from idp.store import clients as store_clients
from idp.store import db
from idp.store.migrate import upgrade
from tests.conftest import Hub, fresh_pg_database, make_config
from tests.oidc.test_id_token_userinfo import verify

PASSPHRASE = "a-long-backup-passphrase"


@pytest.fixture
def passphrase(monkeypatch):
    monkeypatch.setenv("IDP_KEYS_PASSPHRASE", PASSPHRASE)


def empty_instance(tmp_path, backend, request, name):
    """A configuration for a second, empty hub with the same issuer."""
    if backend == "pg":
        url = request.getfixturevalue("_second_pg_database")
        return make_config(tmp_path / name, backend, request, database_url=url)
    return make_config(tmp_path / name, backend, request)


@pytest.fixture
def _second_pg_database():
    with fresh_pg_database("idp_restore", migrate=False) as url:
        yield url


def test_a_restored_hub_signs_in_refreshes_and_verifies_old_id_tokens(
    passphrase, app, hub, config, backend, request, tmp_path
):
    client_id, secret = hub.add_client(first_party=True)
    hub.add_user()
    issued = hub.tokens(client_id, secret, scope="openid profile")
    clients_dir = tmp_path / "clients"
    clients_dir.mkdir()
    (clients_dir / "mot-cua.toml").write_text('name = "Một cửa"\n')
    archive = tmp_path / "backups" / "hub.tar.gz"
    manifest = backup(replace(config, clients_dir=str(clients_dir)), archive)
    assert manifest["database"] == ("sqlite" if backend == "sqlite" else "postgresql")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        keys = tar.extractfile("keys.tar.enc").read()
    assert "keys.tar.enc" in names and "clients/mot-cua.toml" in names
    assert b"PRIVATE KEY" not in keys and b"session-secret" not in keys  # encrypted
    with app.app_context():
        pem = next(config.resolved_keys_dir.glob("*.pem")).read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem  # and the keys themselves stay encrypted at rest

    target = replace(
        empty_instance(tmp_path, backend, request, "restored"),
        clients_dir=str(tmp_path / "restored-clients"),
    )
    done = restore(target, archive)
    assert done["key_files"] >= 5 and done["clients"] == ["mot-cua.toml"]
    store_clients.forget()
    restored = create_app(target)
    restored.config["TESTING"] = True
    again = Hub(restored, restored.test_client())
    try:
        refreshed = again.token(
            {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
            auth=(client_id, secret),
        )
        assert refreshed.status_code == 200, refreshed.get_json()
        assert verify(again, issued["id_token"]).claims["aud"] == client_id
        code = again.code_for(client_id, scope="openid")  # the password signs in
        assert code
    finally:
        restored.extensions["idp_backchannel"].stop()
        with restored.app_context():
            db.session.remove()
            db.engine.dispose()
        store_clients.forget()


def test_a_restore_refuses_a_hub_with_data_and_a_wrong_passphrase(
    passphrase, app, config, backend, request, tmp_path, monkeypatch
):
    archive = tmp_path / "hub.tar.gz"
    backup(config, archive)
    with pytest.raises(BackupError, match="already holds signing keys"):
        restore(config, archive)
    target = empty_instance(tmp_path, backend, request, "other")
    monkeypatch.setenv("IDP_KEYS_PASSPHRASE", "not-the-right-passphrase")
    with pytest.raises(BackupError, match="passphrase does not open"):
        restore(target, archive)
    assert not target.resolved_keys_dir.exists() or not any(target.resolved_keys_dir.iterdir())


def test_the_commands_say_what_is_wrong_in_one_line(tmp_path, monkeypatch):
    config_path = tmp_path / "idp.toml"
    config_path.write_text(
        f'issuer = "http://127.0.0.1:8000"\ninstance_dir = "{tmp_path / "instance"}"\n'
    )
    upgrade(f"sqlite:///{tmp_path / 'instance' / 'idp.sqlite3'}")
    ensure_keys(tmp_path / "instance" / "keys", "IDP_KEYS_PASSPHRASE")
    monkeypatch.delenv("IDP_KEYS_PASSPHRASE", raising=False)
    runner = CliRunner()
    refused = runner.invoke(main, ["--config", str(config_path), "backup", str(tmp_path / "b")])
    assert refused.exit_code == 2 and "IDP_KEYS_PASSPHRASE" in refused.output
    assert "Traceback" not in refused.output
    monkeypatch.setenv("IDP_KEYS_PASSPHRASE", PASSPHRASE)
    written = runner.invoke(main, ["--config", str(config_path), "backup", str(tmp_path / "b")])
    assert written.exit_code == 0 and "backup written" in written.output
    into_itself = runner.invoke(
        main, ["--config", str(config_path), "restore", str(tmp_path / "b")]
    )
    assert into_itself.exit_code == 2 and "empty" in into_itself.output
    (tmp_path / "junk").write_bytes(b"not an archive")
    junk = runner.invoke(main, ["--config", str(config_path), "restore", str(tmp_path / "junk")])
    assert junk.exit_code == 2 and "not a hub backup" in junk.output
