"""`idp dev`: the hub, the two mock state portals (the national portal and VNeID, each with
its own people; the same citizens in both) and the demo client system, on loopback.

One command for a fresh machine: it writes a development config into its own instance folder
(SQLite, no Redis, mail and SMS into outbox folders), creates the database and keys, seeds the
demo accounts, registers `clients/demo.toml` at the demo client's real address, starts the four
processes and prints where they are. Ctrl-C stops them all. Nothing here is for production: the
accounts have a published password.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
DEMO_CLIENT_FILE = REPO / "clients" / "demo.toml"
DEMO_CLIENT_APP = REPO / "clients" / "demo" / "app.py"
DEMO_FILE_ORIGIN = "http://127.0.0.1:9000"  # the origin written in clients/demo.toml
DEMO_PASSWORD = "Demo@2026"  # noqa: S105 - a published demo password, dev only


@dataclass(frozen=True)
class DemoAccount:
    username: str
    full_name: str
    email: str
    phone: str
    national_id: str
    what_for: str
    roles: tuple[str, ...] = ()


DEMO_ACCOUNTS = (
    DemoAccount(
        "congdan01",
        "Lê Thị Hoa",
        "hoa@example.vn",
        "0901234567",
        "001190000011",
        "local sign-in; 'Đăng nhập có mã OTP' sends an SMS code to the outbox",
    ),
    DemoAccount(
        "nguyenvanan",
        "Nguyễn Văn An",
        "an.local@example.vn",
        "0912345678",
        "001090000001",
        "same CCCD as the mock portal's Nguyễn Văn An: link it at his first national login",
    ),
    DemoAccount(
        "quantri01",
        "Phạm Quản Trị",
        "quantri@example.vn",
        "0909000001",
        "001080000099",
        "admin: /admin on the hub, confirmed with an SMS code from the outbox",
        roles=("admin",),
    ),
)


@dataclass(frozen=True)
class DevAddresses:
    host: str
    hub_port: int
    mock_port: int
    demo_port: int
    vneid_port: int = 8101

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.hub_port, self.mock_port, self.vneid_port, self.demo_port)

    def url(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    @property
    def hub(self) -> str:
        return self.url(self.hub_port)

    @property
    def mock(self) -> str:
        return self.url(self.mock_port)

    @property
    def demo(self) -> str:
        return self.url(self.demo_port)

    @property
    def vneid(self) -> str:
        return self.url(self.vneid_port)


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def write_config(instance: Path, where: DevAddresses) -> Path:
    """The development config: embedded defaults plus the two mock portals as connectors
    (the national portal's page offers the three national account kinds). Both vouch for
    identity numbers, so one citizen is one account whichever portal they come through."""
    text = f"""# Written by `idp dev` at each start; edits are overwritten. Development only.
issuer = "{where.hub}"
instance_dir = {_toml_string(str(instance))}

[server]
host = "{where.host}"
port = {where.hub_port}
log_format = "text"

[ui]
province_name = "Tỉnh Demo"
help_phone = "0200 3 888 888"
help_email = "motcua@demo.gov.vn"

[connectors.dvcqg]
label_vi = "Tài khoản cấp bởi Cổng DVC quốc gia"
label_en = "Account issued by the National Public Service Portal"
discovery_url = "{where.mock}/.well-known/openid-configuration"
client_id = "hub-tinh"
client_secret_env = "IDP_MOCK_NATIONAL_SECRET"
acr_values = "LoA1"
trusted_identity = true

[connectors.vneid]
label_vi = "Tài khoản định danh điện tử cấp bởi Bộ Công an (VNeID)"
label_en = "Electronic identity issued by the Ministry of Public Security (VNeID)"
discovery_url = "{where.vneid}/.well-known/openid-configuration"
client_id = "hub-tinh"
client_secret_env = "IDP_MOCK_NATIONAL_SECRET"
acr_values = "LoA2"
trusted_identity = true
"""
    path = instance / "dev-config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def prepare(instance: Path, where: DevAddresses, env: dict[str, str]) -> Path:
    """Database, keys, demo accounts and the demo client; returns the config path."""
    from . import create_app
    from .config import load_config
    from .keys import ensure_keys
    from .store import audit
    from .store import users as store_users
    from .store.client_files import load_file, sync_one
    from .store.migrate import upgrade

    instance.mkdir(parents=True, exist_ok=True)
    config_path = write_config(instance, where)
    config = load_config(str(config_path))
    upgrade(config.resolved_database_url)
    ensure_keys(config.resolved_keys_dir, config.keys_passphrase_env)
    os.environ.update(env)  # load_file reads the demo client's secret from the environment
    app = create_app(config)
    with app.app_context():
        for account in DEMO_ACCOUNTS:
            if store_users.by_username(account.username) is None:
                user = store_users.create(
                    username=account.username,
                    password=DEMO_PASSWORD,
                    full_name=account.full_name,
                    email=account.email,
                    phone=account.phone,
                    national_id=account.national_id,
                    phone_verified=True,
                    email_verified=True,
                    roles=list(account.roles),
                )
                audit.record("user_created", user=user, by="idp dev")
        data = load_file(DEMO_CLIENT_FILE)
        data.pop("dev_only", None)
        for key in ("redirect_uris", "post_logout_redirect_uris"):
            data[key] = [uri.replace(DEMO_FILE_ORIGIN, where.demo) for uri in data[key]]
        data["backchannel_logout_uri"] = data["backchannel_logout_uri"].replace(
            DEMO_FILE_ORIGIN, where.demo
        )
        sync_one(data)
    return config_path


def busy_ports(where: DevAddresses) -> list[int]:
    """The ports that something else already listens on (checked before starting anything)."""
    import socket

    busy = []
    family = socket.AF_INET6 if ":" in where.host else socket.AF_INET
    for port in where.ports:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((where.host, port))
            except OSError:
                busy.append(port)
    return busy


def _wait_ready(urls: list[str], processes: list[subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("a process stopped while starting; see its output above")
        try:
            if requests.get(pending[0], timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pending[0]} did not answer within {timeout:.0f} s")
        time.sleep(0.2)


def banner(where: DevAddresses, instance: Path) -> str:
    from .broker.mock_national import PORTALS

    lines = [
        "",
        "The provincial sign-in hub is running (development only):",
        f"  demo client system   {where.demo}/      <- start here: 'Đăng nhập'",
        f"  sign-in hub          {where.hub}/   (admin console: {where.hub}/admin)",
        f"  mock national portal {where.mock}/",
        f"  mock VNeID           {where.vneid}/",
        "",
        f"Local demo accounts (password {DEMO_PASSWORD}):",
    ]
    lines += [f"  {a.username:<13} {a.full_name:<15} {a.what_for}" for a in DEMO_ACCOUNTS]
    for name, where_at in (("dvcqg", "the mock national portal"), ("vneid", "the mock VNeID")):
        lines += ["", f"People at {where_at} (pick one on its page):"]
        lines += [
            f"  {p.name} ({'CCCD ' + p.national_id if p.national_id else 'MST ' + p.tax_code}"
            f", level {p.level})"
            for p in PORTALS[name].people
        ]
    lines += [
        "",
        "Try: Lê Văn Cường through VNeID (creates his account), then through the national "
        "portal with",
        "its own account kind: he proves it is him with VNeID, once.",
    ]
    lines += [
        "",
        f"Emails: {instance / 'outbox'}    SMS codes: {instance / 'sms-outbox'}",
        "Stop with Ctrl-C.",
        "",
    ]
    return "\n".join(lines)


def run(instance: Path, where: DevAddresses, ready_timeout: float = 60.0) -> int:
    """Prepare, start the three processes, and supervise them until a signal or a crash."""
    instance = instance.resolve()
    busy = busy_ports(where)
    if busy or len(set(where.ports)) < len(where.ports):
        taken = ", ".join(map(str, busy)) or "the same port twice"
        print(
            f"idp dev: {taken} in use; choose others with --port, --mock-port, --vneid-port, "
            "--demo-port",
            file=sys.stderr,
        )
        return 2
    env = {
        "IDP_MOCK_NATIONAL_SECRET": secrets.token_urlsafe(32),
        "IDP_DEMO_CLIENT_SECRET": secrets.token_urlsafe(32),
    }
    config_path = prepare(instance, where, env)
    child_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    child_env.pop("IDP_CONFIG", None)
    idp = [sys.executable, "-m", "idp", "--config", str(config_path)]
    commands = [
        idp + ["serve", "--host", where.host, "--port", str(where.hub_port)],
        idp + ["mock-national", "--host", where.host, "--port", str(where.mock_port)],
        idp
        + ["mock-national", "--host", where.host, "--port", str(where.vneid_port)]
        + ["--portal", "vneid"],
        [
            sys.executable,
            str(DEMO_CLIENT_APP),
            "--hub",
            where.hub,
            "--host",
            where.host,
            "--port",
            str(where.demo_port),
        ],
    ]
    processes = [subprocess.Popen(command, env=child_env) for command in commands]
    stopping = False

    def stop(signum, frame):  # noqa: ANN001, ANN202, ARG001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    try:
        _wait_ready(
            [
                where.hub + "/.well-known/openid-configuration",
                where.mock + "/.well-known/openid-configuration",
                where.vneid + "/.well-known/openid-configuration",
                where.demo + "/",
            ],
            processes,
            ready_timeout,
        )
        print(banner(where, instance), flush=True)
        while not stopping:
            if any(p.poll() is not None for p in processes):
                print("idp dev: a process stopped; stopping the others", file=sys.stderr)
                code = 1
                break
            time.sleep(0.3)
    except RuntimeError as exc:
        print(f"idp dev: {exc}", file=sys.stderr)
        code = 1
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
        for p in processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    return code
