"""The mock national portal as its own process (module-wide), and a hub configured with it as
the `dvcqg` connector."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest
import requests

from idp.config import ConnectorConfig
from tests.conftest import ISSUER, make_config

CALLBACK = f"{ISSUER}/broker/dvcqg/callback"
SECRET = "mock-national-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_mock_national(port: int, portal: str = "dvcqg") -> subprocess.Popen:
    """The mock portal on this port, started the way an operator starts it; it answers."""
    env = {**os.environ, "IDP_MOCK_NATIONAL_SECRET": SECRET}
    callback = f"{ISSUER}/broker/{portal}/callback"
    process = subprocess.Popen(
        [
            shutil.which("idp"),
            "mock-national",
            "--port",
            str(port),
            "--redirect-uri",
            callback,
            "--portal",
            portal,
        ],  # fmt: skip
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(base + "/.well-known/openid-configuration", timeout=1)
            return process
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(process.stdout.read().decode()) from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def mock_national():
    """The mock portal as a separate process, shared by the session."""
    port = free_port()
    process = run_mock_national(port)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def mock_vneid():
    """A second mock portal process playing VNeID, with its own people."""
    port = free_port()
    process = run_mock_national(port, "vneid")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


def mock_connector(base: str, **changes) -> ConnectorConfig:
    """The national portal connector, pointed at the mock."""
    settings = dict(
        label_vi="Tài khoản cấp bởi Cổng DVC quốc gia",
        label_en="Account issued by the National Public Service Portal",
        discovery_url=base + "/.well-known/openid-configuration",
        client_id="hub-tinh",
        client_secret_env="IDP_MOCK_NATIONAL_SECRET",
        acr_values="LoA1",
        timeout=5.0,
    )
    return ConnectorConfig(**{**settings, **changes})


def vneid_connector(base: str) -> ConnectorConfig:
    return mock_connector(
        base,
        label_vi="Tài khoản định danh điện tử cấp bởi Bộ Công an (VNeID)",
        label_en="Electronic identity issued by the Ministry of Public Security (VNeID)",
        acr_values="LoA2",
        trusted_identity=True,
    )


@pytest.fixture
def config(tmp_path, backend, request, mock_national, monkeypatch):
    monkeypatch.setenv("IDP_MOCK_NATIONAL_SECRET", SECRET)
    connectors = {"dvcqg": mock_connector(mock_national)}
    return make_config(tmp_path, backend, request, connectors=connectors)
