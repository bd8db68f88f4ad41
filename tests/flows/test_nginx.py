"""The https path end to end: Debian's nginx with a throw-away certificate, running
deploy/nginx/idp.conf, in front of two `idp serve` instances (one SQLite file) with an https
issuer. A whole sign-in goes through it: Secure and `__Host-` cookies, https everywhere in
discovery and redirects, HSTS; the client IP the hub records is the one nginx saw, whatever
X-Forwarded-For the client sends, and a request reaching a hub directly cannot forge it."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.flows.live import Browser, LiveHub, free_port

ROOT = Path(__file__).resolve().parents[2]
PROXY_ADDRESS = "127.0.0.3"  # nginx connects to the hubs from here; the tests from 127.0.0.1
PASSWORD = "Mật-khẩu-an-toàn-1"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )


def certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def site_config(port: int, cert: Path, key: Path, hubs: list[int]) -> str:
    """deploy/nginx/idp.conf with this machine's names, ports and certificate."""
    site = re.sub(r"#[^\n]*", "", (ROOT / "deploy" / "nginx" / "idp.conf").read_text())
    site = site.replace("server 10.0.1.11:8000", f"server 127.0.0.1:{hubs[0]}")
    site = site.replace("server 10.0.1.12:8000", f"server 127.0.0.1:{hubs[1]}")
    site = site.replace("hub.example.gov.vn", "127.0.0.1")
    site = site.replace("/etc/ssl/idp/fullchain.pem", str(cert))
    site = site.replace("/etc/ssl/idp/privkey.pem", str(key))
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    site = re.sub(r"\n\s*listen \[::\]:443[^\n]*", "", site)
    site = re.sub(r"\n\s*listen (\[::\]:)?80;", "", site)
    site = site.replace("return 301", f"listen 127.0.0.1:{free_port()};\n    return 301")
    site = site.replace(
        "proxy_pass http://idp_hub;",
        f"proxy_pass http://idp_hub;\n        proxy_bind {PROXY_ADDRESS};",
    )
    # Port 443 left anywhere; a free port such as 44357 is not one.
    assert "10.0.1." not in site and not re.search(r"[:\s]443\b", site)
    return site


class Nginx:
    def __init__(self, folder: Path, site: str) -> None:
        self.folder = folder
        (folder / "site.conf").write_text(site)
        user = "user root;\n" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {folder}/nginx.pid;\n"
            f"error_log {folder}/error.log warn;\nevents {{ worker_connections 256; }}\n"
            "http {\n"
            f"  access_log {folder}/access.log;\n"
            f"  client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;\n"
            f"  fastcgi_temp_path {folder}/fcgi; uwsgi_temp_path {folder}/uwsgi;\n"
            f"  scgi_temp_path {folder}/scgi;\n"
            f"  include {folder}/site.conf;\n}}\n"
        )
        self.binary = nginx_binary()
        self.process = subprocess.Popen(
            [self.binary, "-p", str(folder), "-c", str(folder / "nginx.conf"),
             "-g", "daemon off;"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    if nginx_binary() is None:
        if os.environ.get("IDP_REQUIRE_SERVICES") == "1":
            pytest.fail("nginx is not installed (apt-get install nginx-light)", pytrace=False)
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    root = tmp_path_factory.mktemp("nginx")
    port = free_port()
    issuer = f"https://127.0.0.1:{port}"
    shared = f'database_url = "sqlite:///{root / "shared.db"}"\nkeys_dir = "{root / "keys"}"\n'
    hubs = []
    for name in ("a", "b"):
        (root / name).mkdir()
        hub = LiveHub(root / name)
        text = hub.config_path.read_text()
        text = re.sub(r'issuer = "[^"]*"', f'issuer = "{issuer}"', text)
        text = re.sub(r'keys_dir = "[^"]*"\n', "", text)
        text = text.replace("[server]", shared + "[server]")
        text += f'trusted_proxies = 1\ntrusted_proxy_networks = "{PROXY_ADDRESS}/32"\n'
        hub.config_path.write_text(text)
        hubs.append(hub)
    hubs[0].start()
    hubs[1].start()
    cert, key = certificate(root)
    nginx = Nginx(root, site_config(port, cert, key, [h.port for h in hubs]))
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(issuer + "/healthz", verify=str(cert), timeout=2)
            break
        except requests.RequestException:
            if nginx.process.poll() is not None or time.monotonic() > deadline:
                output = nginx.process.stdout.read().decode() if nginx.process.stdout else ""
                for hub in hubs:
                    hub.stop()
                raise RuntimeError("nginx did not start: " + output) from None
            time.sleep(0.1)
    edge = SimpleNamespace(url=issuer, cert=str(cert), hubs=hubs, database=root / "shared.db")
    yield edge
    nginx.stop()
    for hub in hubs:
        hub.stop()


def audit_ips(edge, username: str) -> list[str]:
    with sqlite3.connect(edge.database) as db:
        rows = db.execute(
            "SELECT ip FROM audit_events WHERE event = 'login_failure' AND username = ? "
            "ORDER BY id",
            (username,),
        ).fetchall()
    return [r[0] for r in rows]


def test_a_whole_sign_in_through_nginx_is_https_with_secure_cookies(edge):
    hub = edge.hubs[0]
    redirect_uri = "http://127.0.0.1:9/callback"
    client = hub.cli_json("clients", "add", "--name", "Một cửa", "--redirect-uri",
                          redirect_uri, "--first-party")  # fmt: skip
    hub.cli("users", "add", "--username", "congdan01", "--password", PASSWORD)

    discovery = requests.get(
        edge.url + "/.well-known/openid-configuration", verify=edge.cert, timeout=5
    )
    assert discovery.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    endpoints = [v for k, v in discovery.json().items() if k.endswith("_endpoint")]
    assert endpoints and all(v.startswith(edge.url + "/") for v in endpoints), endpoints
    assert discovery.json()["jwks_uri"].startswith(edge.url)

    browser = Browser(SimpleNamespace(url=edge.url))
    browser.session.verify = edge.cert
    browser.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    cookies: list[str] = []
    browser.session.hooks["response"].append(
        lambda r, *a, **k: cookies.extend(r.raw.headers.getlist("Set-Cookie"))
    )
    query = (
        f"response_type=code&client_id={client['client_id']}&scope=openid&state=s1"
        f"&redirect_uri={redirect_uri}"
    )
    page = browser.open(f"{edge.url}/authorize?{query}")
    assert page.url.startswith(edge.url + "/interaction/")  # every hop stayed on https
    browser.session.headers["Referer"] = page.url  # as a browser does (strict CSRF on https)
    back = browser.submit(page, {"username": "congdan01", "password": PASSWORD})
    assert back.final_location.startswith(redirect_uri)
    assert parse_qs(urlsplit(back.final_location).query)["iss"] == [edge.url]
    named = {c.split("=", 1)[0]: c for c in cookies}
    assert set(named) == {"__Host-idp_browser", "__Host-idp_form", "__Host-idp_sso"}, named
    for cookie in named.values():
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
        assert "Path=/" in cookie and "Domain" not in cookie, cookie


def test_the_client_ip_is_the_one_nginx_saw_and_cannot_be_forged(edge):
    forged = {"X-Forwarded-For": "203.0.113.66"}
    browser = Browser(SimpleNamespace(url=edge.url))
    browser.session.verify = edge.cert
    browser.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    start = browser.session.get(edge.url + "/login?next=/account", allow_redirects=False)
    login = browser.open(edge.url + start.headers["Location"])
    browser.session.headers.update({**forged, "Referer": login.url})
    browser.submit(login, {"username": "khongco01", "password": "sai-mat-khau"})
    assert audit_ips(edge, "khongco01") == ["127.0.0.1"]
    # Straight at a hub, skipping nginx, the forged header is ignored: the hub still sees
    # 127.0.0.1, which server.metrics_allow lets read /metrics (203.0.113.66 would get 404).
    hub = edge.hubs[1]
    direct = requests.get(hub.url + "/metrics", headers=forged, timeout=5)
    assert direct.status_code == 200 and "idp_http_requests_total" in direct.text
