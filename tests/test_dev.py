"""`idp dev` prepares a demo hub on its own; `clients sync` never registers the demo client."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from idp import create_app
from idp.accounts.passwords import verify_password
from idp.config import load_config
from idp.dev import DEMO_ACCOUNTS, DEMO_CLIENT_FILE, DEMO_PASSWORD, DevAddresses, prepare
from idp.security import sha256_hex
from idp.store import clients as store_clients
from idp.store import users as store_users
from idp.store.client_files import sync_directory


def test_prepare_seeds_accounts_and_registers_the_demo_client_at_its_address(tmp_path):
    where = DevAddresses("127.0.0.1", 18000, 18100, 19123, 18101)
    instance = tmp_path / "instance-dev"
    env = {"IDP_MOCK_NATIONAL_SECRET": "m" * 43, "IDP_DEMO_CLIENT_SECRET": "d" * 43}
    config_path = prepare(instance, where, env)
    env2 = {"IDP_MOCK_NATIONAL_SECRET": "m" * 43, "IDP_DEMO_CLIENT_SECRET": "e" * 43}
    assert prepare(instance, where, env2) == config_path  # a second start reuses everything
    config = load_config(str(config_path), env={})
    assert config.issuer == "http://127.0.0.1:18000" and config.instance_dir == str(instance)
    assert config.connectors["dvcqg"].discovery_url.startswith("http://127.0.0.1:18100/")
    # The seeds' sign-in page: the national portal and VNeID, both vouching for CCCD numbers.
    assert config.connectors["vneid"].discovery_url.startswith("http://127.0.0.1:18101/")
    assert all(c.trusted_identity for c in config.connectors.values())
    with create_app(config).app_context():
        for account in DEMO_ACCOUNTS:
            user = store_users.by_username(account.username)
            assert user.active and user.phone_verified and user.national_id
            assert verify_password(user.password_hash, DEMO_PASSWORD)
        client = store_clients.find("demo-mot-cua")
        assert client.redirect_uris == ["http://127.0.0.1:19123/callback"]
        assert client.backchannel_logout_uri == "http://127.0.0.1:19123/backchannel-logout"
        assert client.client_secret_hash == sha256_hex("e" * 43)  # the newest start's secret


def test_clients_sync_skips_the_dev_only_demo_file(app, tmp_path, monkeypatch):
    monkeypatch.delenv("IDP_DEMO_CLIENT_SECRET", raising=False)  # not needed to skip it
    folder = tmp_path / "clients"
    folder.mkdir()
    (folder / "demo.toml").write_text(DEMO_CLIENT_FILE.read_text(encoding="utf-8"))
    with app.app_context():
        results = sync_directory(folder)
        assert results == [(str(folder / "demo.toml"), "demo-mot-cua", "skipped (dev_only)")]
        assert store_clients.find("demo-mot-cua") is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config", "x.toml", "dev"], "writes its own config"),
        (["dev", "--host", "0.0.0.0"], "loopback only"),  # noqa: S104
    ],
)
def test_dev_refuses_a_config_file_and_public_addresses(tmp_path, args, message):
    result = subprocess.run(
        ["idp", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
    )
    assert result.returncode != 0 and message in result.stderr


def test_dev_says_which_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            ["idp", "dev", "--port", str(port), "--instance-dir", str(tmp_path / "i")],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
        )
    assert result.returncode == 2 and f"{port} in use" in result.stderr
    assert not (tmp_path / "i").exists()  # nothing prepared, nothing started


def test_dev_runs_the_demo_and_stops_quietly_on_ctrl_c(tmp_path):
    """The README's demo: every part answers (the mock portal at its root too), and Ctrl-C
    stops all of it without a traceback."""
    import signal
    import time

    import requests

    from tests.flows.live import free_port

    hub, mock, vneid, demo = free_port(), free_port(), free_port(), free_port()
    process = subprocess.Popen(
        ["idp", "dev", "--port", str(hub), "--mock-port", str(mock), "--demo-port", str(demo),
         "--vneid-port", str(vneid), "--instance-dir", str(tmp_path / "instance-dev")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip

    def answers(port: int, path: str = "/") -> requests.Response:
        deadline = time.monotonic() + 60
        while True:
            try:
                return requests.get(f"http://127.0.0.1:{port}{path}", timeout=10)
            except requests.RequestException:  # not listening yet, or a worker still booting
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.2)

    try:
        assert answers(demo).status_code == 200
        root = answers(mock)
        assert root.status_code == 200 and "Trần Thị Bình" in root.text
        # The second portal is a process of its own, with its own people.
        other = answers(vneid)
        assert other.status_code == 200 and "VNeID" in other.text
        assert "Phạm Thị Dung" in other.text and "Trần Thị Bình" not in other.text
        page = answers(hub, "/account")  # the sign-in page of the hub's own account pages
        assert "Cổng DVC quốc gia" in page.text and "VNeID" in page.text
        assert answers(hub, "/healthz").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert "Traceback" not in output and "Logging error" not in output, output
