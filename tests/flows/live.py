"""A real hub process started from the command line, as operators start it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urljoin

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveHub:
    def __init__(self, workdir: Path, extra_config: str = "", env: dict | None = None) -> None:
        self.env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.config_path = workdir / "idp.toml"
        self.config_path.write_text(
            f'issuer = "{self.url}"\ninstance_dir = "{workdir / "instance"}"\n'
            f'keys_dir = "{workdir / "keys"}"\n{extra_config}\n[server]\nworkers = 2\n'
        )
        self.process: subprocess.Popen | None = None
        self.log = workdir / "serve.log"

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            ["idp", "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def cli_json(self, *args: str) -> dict:
        return json.loads(self.cli(*args, "--json"))

    def start(self) -> None:
        self.cli("init")
        log = self.log.open("w")
        self.process = subprocess.Popen(
            [
                "idp",
                "--config",
                str(self.config_path),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("idp serve exited:\n" + self.log.read_text())
            try:
                if (
                    requests.get(
                        self.url + "/.well-known/openid-configuration", timeout=3
                    ).status_code
                    == 200
                ):
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("idp serve did not start:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process:
            # Its own session: nothing it started (a worker) outlives the test, stopped or not.
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def metadata(self) -> dict:
        return requests.get(self.url + "/.well-known/openid-configuration", timeout=5).json()


def wait_for(found, timeout: float = 10.0, what: str = "nothing came"):  # noqa: ANN001, ANN201
    """What `found()` returns once it is truthy, asked every 0.1 s until `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(what)


class Browser:
    """What a person's browser does: follow the hub's redirects, fill and submit its forms."""

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub
        self.session = requests.Session()

    def open(self, url: str) -> requests.Response:
        return self._follow(self.session.get(url, allow_redirects=False, timeout=10))

    def _follow(self, response: requests.Response) -> requests.Response:
        while response.status_code in (301, 302, 303):
            location = urljoin(response.url, response.headers["Location"])
            if not location.startswith(self.hub.url):
                response.final_location = location
                return response
            response = self.session.get(location, allow_redirects=False, timeout=10)
        response.final_location = None
        return response

    def submit(self, page: requests.Response, fields: dict[str, str]) -> requests.Response:
        action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
        data = dict(re.findall(r'name="([^"]+)" type="hidden" value="([^"]*)"', page.text))
        data.update(fields)
        return self._follow(
            self.session.post(
                urljoin(page.url, action), data=data, allow_redirects=False, timeout=10
            )
        )

    def sign_in(self, url: str, username: str, password: str) -> str:
        """From an authorization URL to the redirect back to the client; returns it."""
        page = self.open(url)
        if page.final_location:
            return page.final_location
        if "/login" in page.url:
            page = self.submit(page, {"username": username, "password": password})
            if page.final_location:
                return page.final_location
        if "/consent" in page.url:
            page = self.submit(page, {"decision": "allow"})
            if page.final_location:
                return page.final_location
        raise AssertionError(f"sign-in stopped at {page.url}: {page.status_code}")
