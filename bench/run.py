"""Benchmark the hub on loopback beside its ceilings, and beside node-oidc-provider, measured
in the same run.

    python bench/run.py [--backend sqlite|pg] [--requests 3000] [--seconds 10] [--clients 4]
                        [--repeat 1] [--peer] [--per-core] [--sign-in] [--py-spy DIR]
                        [--engine gunicorn|granian] [--workers N]

It starts `idp serve` (the default engine, gunicorn, or `--engine granian`; the default number
of workers, or `--workers`) on the
embedded defaults or on PostgreSQL + Redis, and `bench/ceiling.py` under the same server with
the same worker settings. Each
scenario is bounded by a count of requests and a time; it prints requests per second and p50 /
p99 latency, and the share of the relevant ceiling: the crypto ceiling (sign one RS256 JWT with
the hub's key) for the token exchange, the framework ceiling (a bare Flask endpoint) for the
others. Tokens and codes a scenario consumes are made beforehand through the hub's own store
code, so that only the measured endpoint is loaded.

With `--peer`, node-oidc-provider (bench/peer/, pinned in its package-lock.json; memory adapter,
RS256 ID tokens, opaque access tokens, refresh rotation, one confidential client with consent
granted on first use) runs beside the hub, and every scenario is loaded against both with the
same generator, in interleaved rounds (hub, node, hub, node…); the table gives each side's
median and hub/node. `--per-core` runs one hub worker and node's single process pinned to CPU 0
and the generator pinned to CPU 1.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import loadgen, pyspy  # noqa: E402
from idp.config import ServerConfig  # noqa: E402

PG_ADMIN = os.environ.get("IDP_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("IDP_TEST_REDIS", "redis://127.0.0.1:6379/0")
REDIRECT = "https://rp.example/cb"
PASSWORD = "Mật-khẩu-bench-1"  # noqa: S105 - a throwaway account in a temporary folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


class Bench:
    def __init__(
        self, backend: str, workdir: Path, workers: int = 2, pin: str = "", engine: str = ""
    ) -> None:
        self.backend = backend
        self.pin = ["taskset", "-c", pin] if pin else []
        self.workdir = workdir
        self.hub_port, self.ceiling_port = free_port(), free_port()
        self.issuer = f"http://127.0.0.1:{self.hub_port}"
        self.database = None
        lines = [
            f'issuer = "{self.issuer}"',
            f'instance_dir = "{workdir / "instance"}"',
        ]
        if backend == "pg":
            import psycopg

            name = f"idp_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.database = name
            lines += [
                f'database_url = "{PG_ADMIN.rsplit("/", 1)[0]}/{name}"',
                f'redis_url = "{REDIS_URL}"',
                f'redis_key_prefix = "idpbench:{name}:"',
            ]
        lines += ["[server]", f"workers = {workers}"]
        if engine:
            lines.append(f'engine = "{engine}"')
        lines += ["[tokens]", "code_ttl = 60"]
        self.config_path = workdir / "bench.toml"
        self.config_path.write_text("\n".join(lines) + "\n")
        self.processes: list[subprocess.Popen] = []

    # Servers -----------------------------------------------------------------------------

    def start(self) -> None:
        idp = [sys.executable, "-m", "idp", "--config", str(self.config_path)]
        subprocess.run([*idp, "init"], check=True, capture_output=True)
        from idp import create_app
        from idp.config import load_config

        self.config = load_config(str(self.config_path))
        self.app = create_app(self.config)
        with self.app.app_context():
            from idp.store import clients, users

            client, self.secret = clients.create(
                name="Bench", redirect_uris=[REDIRECT], auth_method="client_secret_basic",
                scope="openid profile email",
            )  # fmt: skip
            client.first_party = True
            from idp.store.db import db

            db.session.commit()
            self.client_id = client.client_id
            user = users.create(username="benchuser", password=PASSWORD, full_name="Bench")
            self.user_id = user.id
        hub_log = (self.workdir / "hub.log").open("w")
        self.processes.append(
            subprocess.Popen(
                [*self.pin, *idp, "serve", "--port", str(self.hub_port)],
                stdout=hub_log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        )
        wait_ready(f"{self.issuer}/healthz", self.processes[-1], self.workdir / "hub.log")
        ceiling_log = (self.workdir / "ceiling.log").open("w")
        env = {
            **os.environ,
            "BENCH_KEYS_DIR": str(self.config.resolved_keys_dir),
            "PYTHONPATH": str(REPO),
        }
        workers, port = str(self.config.server.workers), str(self.ceiling_port)
        if self.config.server.engine == "granian":
            server = [
                "granian",
                "--interface",
                "wsgi",
                "--workers",
                workers,
                "--host",
                "127.0.0.1",
                "--port",
                port,
                "--no-access-log",
                "--log-level",
                "warning",
            ]
        else:
            # The hub's own sync worker class (it closes without lingering when it may).
            worker_class = "idp.serve.gunicorn_engine.PromptCloseSyncWorker"
            server = ["gunicorn", "-w", workers, "-k", worker_class, "-b", f"127.0.0.1:{port}",
                      "--log-level", "warning"]  # fmt: skip
        self.processes.append(
            subprocess.Popen(
                [*self.pin, sys.executable, "-m", *server, "bench.ceiling:app"],
                stdout=ceiling_log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )  # fmt: skip
        )
        wait_ready(
            f"http://127.0.0.1:{self.ceiling_port}/hello",
            self.processes[-1],
            self.workdir / "ceiling.log",
        )

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=20)
        if self.database:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    # What the scenarios consume ------------------------------------------------------------

    def codes(self, n: int) -> list[str]:
        """Authorization codes stored exactly as the authorization endpoint stores them."""
        from idp.clock import now
        from idp.oidc.grants import CodeRecord, _code_key
        from idp.store import kv

        made = []
        with self.app.app_context():
            store = kv()
            for _ in range(n):
                code = secrets.token_urlsafe(32)
                record = CodeRecord(
                    client_id=self.client_id, user_id=self.user_id, redirect_uri=REDIRECT,
                    scope="openid profile", grant_id=secrets.token_urlsafe(16),
                    expires_at=now() + 60, nonce=secrets.token_urlsafe(8), sid=None,
                    auth_time=now(), acr="LoA1", amr=["pwd"],
                )  # fmt: skip
                store.put(_code_key(code), asdict(record), 65)
                made.append(code)
        return made

    def token_pairs(self, n: int) -> list[tuple[str, str]]:
        """Access and refresh tokens saved as the token endpoint saves them."""
        from idp.store import tokens

        made = []
        with self.app.app_context():
            for _ in range(n):
                access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
                tokens.save(
                    access_token=access, refresh_token=refresh, client_id=self.client_id,
                    user_id=self.user_id, scope="openid profile email",
                    grant_id=secrets.token_urlsafe(16), access_ttl=3600, refresh_ttl=86400,
                    sid=None, auth_time=int(time.time()), acr="LoA1", amr=["pwd"],
                    claims_request=None,
                )  # fmt: skip
                made.append((access, refresh))
        return made

    def sso_cookie(self) -> str:
        """Sign in once through the real pages; the SSO cookie is what silent SSO reuses."""
        web = requests.Session()
        query = urlencode({"response_type": "code", "client_id": self.client_id,
                           "redirect_uri": REDIRECT, "scope": "openid",
                           "nonce": secrets.token_urlsafe(12)})  # fmt: skip
        page = web.get(f"{self.issuer}/authorize?{query}", timeout=10)
        data = dict(re.findall(r'name="([^"]+)" type="hidden" value="([^"]*)"', page.text))
        data.update(username="benchuser", password=PASSWORD)
        action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
        done = web.post(urljoin(page.url, action), data=data, allow_redirects=False, timeout=10)
        resumed = web.get(self.issuer + done.headers["Location"], allow_redirects=False, timeout=10)
        assert "code=" in resumed.headers.get("Location", ""), resumed.headers
        cookie = self.config.session.cookie_name
        return f"{cookie}={web.cookies.get(cookie)}"

    def basic(self) -> str:
        raw = f"{self.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    name = "hub"
    paths = {
        "authorize": "/authorize",
        "token": "/token",
        "userinfo": "/userinfo",
        "introspect": "/introspect",
        "discovery": "/.well-known/openid-configuration",
        "jwks": "/jwks",
    }

    profile_dir: Path | None = None  # set: every scenario is sampled with py-spy (bench/pyspy)

    @property
    def port(self) -> int:
        return self.hub_port

    @property
    def server_pid(self) -> int:
        return self.processes[0].pid


class NodePeer:
    """node-oidc-provider 9 (bench/peer/provider.mjs) as the peer: the same scenarios, its own
    paths; codes and tokens minted through its own models."""

    name = "node-oidc-provider"
    paths = {
        "authorize": "/auth",
        "token": "/token",
        "userinfo": "/me",
        "introspect": "/token/introspection",
        "discovery": "/.well-known/openid-configuration",
        "jwks": "/jwks",
    }

    def __init__(self, workdir: Path, pin: str = "") -> None:
        self.workdir = workdir
        self.pin = ["taskset", "-c", pin] if pin else []
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id, self.secret = "bench-client", secrets.token_urlsafe(32)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        peer = REPO / "bench" / "peer"
        if not (peer / "node_modules" / "oidc-provider").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(peer)],
                           check=True, capture_output=True)  # fmt: skip
        log = self.workdir / "peer.log"
        self.process = subprocess.Popen(
            [*self.pin, "node", str(peer / "provider.mjs"), str(self.port), self.client_id,
             self.secret, REDIRECT],
            stdout=log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_ready(f"{self.issuer}/.well-known/openid-configuration", self.process, log)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def codes(self, n: int) -> list[str]:
        return requests.get(f"{self.issuer}/bench/codes", params={"n": n}, timeout=120).json()

    def token_pairs(self, n: int) -> list[tuple[str, str]]:
        answer = requests.get(f"{self.issuer}/bench/tokens", params={"n": n}, timeout=120)
        return [tuple(pair) for pair in answer.json()]

    def sso_cookie(self) -> str:
        """Sign in once through its development login page (any login); consent is granted on
        first use; the cookies are what silent SSO reuses."""
        web = requests.Session()
        query = urlencode({"response_type": "code", "client_id": self.client_id,
                           "redirect_uri": REDIRECT, "scope": "openid profile email",
                           "nonce": secrets.token_urlsafe(12)})  # fmt: skip
        page = web.get(f"{self.issuer}/auth?{query}", timeout=10)
        action = re.search(r'<form autocomplete="off" action="([^"]+)"', page.text).group(1)
        done = web.post(urljoin(page.url, action), data={"prompt": "login", "login": "bench",
                                                    "password": "x"}, timeout=10,
                        allow_redirects=False)  # fmt: skip
        while done.status_code in (302, 303) and done.headers["Location"].startswith(self.issuer):
            done = web.get(done.headers["Location"], allow_redirects=False, timeout=10)
        assert "code=" in done.headers.get("Location", ""), (done.status_code, done.text[:300])
        return "; ".join(f"{c.name}={c.value}" for c in web.cookies)

    def basic(self) -> str:
        raw = f"{self.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def form(data: dict[str, str]) -> bytes:
    return urlencode(data).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def protocol(target, n: int, seconds: float, clients: int) -> dict[str, loadgen.Result]:
    """The protocol scenarios against one provider (the hub or its peer), by its own paths."""
    req = loadgen.request_bytes
    paths = target.paths
    results: dict[str, loadgen.Result] = {}

    def measure(name, chains, ok=(200,)):  # noqa: ANN001, ANN202
        loadgen.run("warm-up", target.port, chains[: min(len(chains), 100)], ok=ok,
                    clients=clients)  # fmt: skip
        folder = getattr(target, "profile_dir", None)
        if folder is None:
            results[name] = loadgen.run(name, target.port, chains[100:] or chains, ok=ok,
                                        clients=clients, max_seconds=seconds)  # fmt: skip
            return results[name]
        raw = folder / (re.sub(r"[^a-z]+", "-", name.lower()).strip("-") + ".txt")
        with pyspy.Recording(target.server_pid, raw):
            results[name] = loadgen.run(name, target.port, chains[100:] or chains, ok=ok,
                                        clients=clients, max_seconds=seconds)  # fmt: skip
        print(f"py-spy, {name}: {pyspy.describe(raw)}", flush=True)
        return results[name]

    authorization = {**FORM, "Authorization": target.basic()}

    def token_post(fields: dict[str, str]) -> bytes:
        """A token request, authenticated as the benchmark's client."""
        return req("POST", paths["token"], authorization, form(fields))

    def exchange(code: str) -> bytes:
        return token_post(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        )

    discovery = [
        loadgen.fixed(req("GET", paths["discovery"] if i % 2 else paths["jwks"])) for i in range(n)
    ]
    measure("discovery + JWKS", discovery)
    codes = target.codes(n + 100)
    measure("token (code exchange + ID token)", [loadgen.fixed(exchange(c)) for c in codes])
    pairs = target.token_pairs(n + 100)
    refreshes = [
        loadgen.fixed(token_post({"grant_type": "refresh_token", "refresh_token": r}))
        for _, r in pairs
    ]
    measure("refresh (rotation + ID token)", refreshes)
    bearer = {"Authorization": f"Bearer {pairs[0][0]}"}
    measure("userinfo", [loadgen.fixed(req("GET", paths["userinfo"], bearer))] * n)
    access = pairs[0][0]
    measure("introspection",
            [loadgen.fixed(req("POST", paths["introspect"], authorization,
                               form({"token": access})))] * n)  # fmt: skip

    cookie = target.sso_cookie()

    def authorize(_previous: bytes | None) -> bytes:
        """Each round trip has its own nonce: the hub refuses a nonce it has seen."""
        query = urlencode({"response_type": "code", "client_id": target.client_id,
                           "redirect_uri": REDIRECT, "scope": "openid profile",
                           "nonce": secrets.token_urlsafe(12)})  # fmt: skip
        return req("GET", f"{paths['authorize']}?{query}", {"Cookie": cookie})

    def advance(answer: bytes | None) -> bytes | None:
        """The next hop of the round trip, read from the previous answer: the provider's own
        redirect (a resumed request), the client's code to exchange, the access token to use;
        the userinfo answer ends it."""
        head, _, body = (answer or b"").partition(b"\r\n\r\n")
        location = re.search(rb"\r\nlocation: ([^\r]+)", head, re.IGNORECASE)
        own = target.issuer.encode()
        if location and location.group(1).startswith((b"/", own)):
            path = location.group(1)[len(own) :] if location.group(1).startswith(own) else None
            return req("GET", (path or location.group(1)).decode(), {"Cookie": cookie})
        if location:
            code = parse_qs(urlsplit(location.group(1).decode()).query).get("code")
            if not code:
                return req("GET", "/missing-code")  # counted as an error
            return exchange(code[0])
        data = json.loads(body or b"{}")
        if "access_token" in data:
            return req("GET", paths["userinfo"],
                       {"Authorization": f"Bearer {data['access_token']}"})  # fmt: skip
        return None  # userinfo answered: the round trip is done

    chain = [authorize, advance, advance, advance, advance]
    measure("silent SSO round trip (authorize, token, userinfo)", [chain] * (n // 3 + 100),
            ok=(200, 302, 303))  # fmt: skip
    return results


def scenarios(bench: Bench, n: int, seconds: float, clients: int) -> list[tuple]:
    """(result, ceiling name) for every scenario, ceilings first."""
    req = loadgen.request_bytes
    results: dict[str, loadgen.Result] = {}

    def measure(name, port, chains, ok=(200,)):  # noqa: ANN001, ANN202
        loadgen.run("warm-up", port, chains[: min(len(chains), 100)], ok=ok, clients=clients)
        results[name] = loadgen.run(name, port, chains[100:] or chains, ok=ok, clients=clients,
                                    max_seconds=seconds)  # fmt: skip
        return results[name]

    cp, hp = bench.ceiling_port, bench.hub_port
    measure("framework ceiling (bare Flask)", cp, [loadgen.fixed(req("GET", "/hello"))] * n)
    measure("crypto ceiling (sign RS256 JWT)", cp, [loadgen.fixed(req("GET", "/sign"))] * n)
    # The hub's own per-request work (request id, metrics, access log, input guards, security
    # headers) with no store and no protocol: the most any hub endpoint can reach.
    measure("hub floor (/healthz)", hp, [loadgen.fixed(req("GET", "/healthz"))] * n)
    results.update(protocol(bench, n, seconds, clients))
    ceilings = {
        "token (code exchange + ID token)": "crypto ceiling (sign RS256 JWT)",
        "refresh (rotation + ID token)": "crypto ceiling (sign RS256 JWT)",
        "silent SSO round trip (authorize, token, userinfo)": "crypto ceiling (sign RS256 JWT)",
    }
    rows = []
    for name, result in results.items():
        ceiling = (
            None if "ceiling" in name else ceilings.get(name, "framework ceiling (bare Flask)")
        )
        rows.append((result, results[ceiling] if ceiling else None))
    return rows


def password_sign_in(bench: Bench) -> list:
    """One whole password sign-in in a new browser: authorize, the sign-in page, the form's
    POST (argon2id verify, the session, the browser binding), the resumed authorization, and
    the redirect to the client with a code. Cookies are carried from answer to answer."""
    req = loadgen.request_bytes
    cookies: dict[str, str] = {}
    posted = []

    def cookie_header() -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}

    def start(_previous: bytes | None) -> bytes:
        query = urlencode({"response_type": "code", "client_id": bench.client_id,
                           "redirect_uri": REDIRECT, "scope": "openid",
                           "nonce": secrets.token_urlsafe(12)})  # fmt: skip
        return req("GET", f"/authorize?{query}")

    def follow(answer: bytes | None) -> bytes | None:
        head, _, body = (answer or b"").partition(b"\r\n\r\n")
        for name, value in re.findall(rb"\r\nset-cookie: ([^=;\r]+)=([^;\r]*)", head, re.I):
            cookies[name.decode()] = value.decode()
        location = re.search(rb"\r\nlocation: ([^\r]+)", head, re.IGNORECASE)
        if location:
            target = location.group(1).decode()
            if target.startswith("/"):
                return req("GET", target, cookie_header())
            return None if "code=" in target else req("GET", "/missing-code")
        if posted:
            return req("GET", "/sign-in-refused")  # the form came back: counted as an error
        csrf = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body)
        action = re.search(rb'<form method="post" action="([^"]+)"', body)
        if not (csrf and action):
            return req("GET", "/no-sign-in-form")
        posted.append(True)
        fields = {"csrf_token": csrf.group(1).decode(), "username": "benchuser",
                  "password": PASSWORD}  # fmt: skip
        return req("POST", action.group(1).decode(), {**FORM, **cookie_header()}, form(fields))

    return [start, *[follow] * 6]


def compare(bench: Bench, peer: NodePeer, n: int, seconds: float, clients: int, rounds: int):
    """Interleaved rounds, hub then node, every scenario; per scenario the median of each."""
    runs: dict[str, dict[str, list[loadgen.Result]]] = {"hub": {}, "node": {}}
    loads = []
    for _ in range(max(1, rounds)):
        for side, target in (("hub", bench), ("node", peer)):
            for name, result in protocol(target, n, seconds, clients).items():
                runs[side].setdefault(name, []).append(result)
            loads.append(os.getloadavg()[0])
    return runs, loads


def comparison_table(
    runs: dict, loads: list[float], backend: str, per_core: bool, engine: str, workers: int
) -> str:
    def median(results: list[loadgen.Result]) -> loadgen.Result:
        return sorted(results, key=lambda r: r.rate)[len(results) // 2]

    where = (
        "per core: one hub worker and node's process pinned to CPU 0, the generator to CPU 1"
        if per_core
        else f"per machine: the hub's {workers} {engine} workers, node's one process, the "
        "generator on the same 2 cores"
    )
    rounds = len(next(iter(runs["hub"].values())))
    lines = [
        f"backend: {backend}; {where}; median of {rounds} interleaved rounds; load average "
        f"during the runs {min(loads):.2f}–{max(loads):.2f}",
        "",
        "| scenario | node-oidc-provider | hub | hub/node | hub p50 ms | node p50 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, results in runs["hub"].items():
        hub, node = median(results), median(runs["node"][name])
        errors = sum(r.errors for r in results + runs["node"][name])
        ratio = hub.rate / node.rate if node.rate else 0.0
        lines.append(
            f"| {name} | {node.rate:,.0f}/s | {hub.rate:,.0f}/s | {ratio:.2f}× "
            f"| {hub.p50:.2f} | {node.p50:.2f} | {errors} |"
        )
    for side in ("hub", "node"):
        for results in runs[side].values():
            for r in results:
                if r.first_error:
                    lines.append(f"\nfirst error ({side}) in {r.name}: {r.first_error[:200]!r}")
                    break
    return "\n".join(lines)


def medians(runs: list[list[tuple]]) -> list[tuple]:
    """Each row's run of median rate, its ceiling likewise: one noisy run moves nothing."""
    by_name: dict[str, list[loadgen.Result]] = {}
    for rows in runs:
        for result, _ in rows:
            by_name.setdefault(result.name, []).append(result)
    median = {
        name: sorted(results, key=lambda r: r.rate)[len(results) // 2]
        for name, results in by_name.items()
    }
    return [
        (median[result.name], median[ceiling.name] if ceiling else None)
        for result, ceiling in runs[0]
    ]


def table(rows: list[tuple], backend: str, engine: str, workers: int, repeat: int = 1) -> str:
    runs = f"; median of {repeat} runs" if repeat > 1 else ""
    lines = [
        f"backend: {backend}; hub and ceilings under {engine}, {workers} workers; "
        f"load from {os.cpu_count()} cores shared with the server{runs}",
        "",
        "| scenario | done/s | p50 ms | p99 ms | requests | errors | vs ceiling |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result, ceiling in rows:
        share = (
            f"{100 * result.rate / ceiling.rate:.0f} % of {ceiling.name.split(' (')[0]}"
            if ceiling
            else "—"
        )
        p99 = result.percentile(99)
        lines.append(
            f"| {result.name} | {result.rate:,.0f} | {result.p50:.2f} | {p99:.2f} "
            f"| {result.requests} | {result.errors} | {share} |"
        )
    errors = [r for r, _ in rows if r.first_error]
    for result in errors:
        lines.append(f"\nfirst error in {result.name}: {result.first_error[:200]!r}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "pg"], default="sqlite")
    parser.add_argument("--requests", type=int, default=3000, help="Per scenario (at most).")
    parser.add_argument("--seconds", type=float, default=10.0, help="Per scenario (at most).")
    parser.add_argument("--clients", type=int, default=4, help="Client processes.")
    parser.add_argument(
        "--repeat", type=int, default=1, help="Run every scenario this many times (median)."
    )
    parser.add_argument("--peer", action="store_true", help="Compare with node-oidc-provider.")
    parser.add_argument(
        "--engine",
        choices=["granian", "gunicorn"],
        help="The hub's HTTP server (and the ceilings'); default: the config's default.",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="The hub's worker processes; default: the config's default (1 with --per-core).",
    )
    parser.add_argument(
        "--sign-in",
        action="store_true",
        help="Only whole password sign-ins (each in a new browser), with --per-core if asked.",
    )
    parser.add_argument(
        "--per-core",
        action="store_true",
        help="One hub worker and node pinned to CPU 0, the generator to CPU 1 (with --peer).",
    )
    parser.add_argument(
        "--py-spy",
        metavar="DIR",
        type=Path,
        help="Only the hub's protocol scenarios, once, each sampled with py-spy: a summary per "
        "scenario on stdout and the raw stacks in DIR.",
    )
    args = parser.parse_args()
    pin = "0" if args.per_core else ""
    with tempfile.TemporaryDirectory(prefix="idp-bench-") as tmp:
        workers = args.workers or (1 if args.per_core else ServerConfig().workers)
        bench = Bench(args.backend, Path(tmp), workers=workers, pin=pin,
                      engine=args.engine or "")  # fmt: skip
        peer = NodePeer(Path(tmp), pin=pin) if args.peer else None
        try:
            bench.start()
            if args.sign_in:
                if args.per_core:
                    os.sched_setaffinity(0, {1})
                chains = [password_sign_in(bench) for _ in range(args.requests + 20)]
                loadgen.run("warm-up", bench.port, chains[:20], ok=(200, 302),
                            clients=args.clients)  # fmt: skip
                result = loadgen.run("password sign-in, whole flow", bench.port, chains[20:],
                                     ok=(200, 302), clients=args.clients,
                                     max_seconds=args.seconds)  # fmt: skip
                where = ("one worker on CPU 0" if args.per_core
                         else f"{workers} workers, 2 shared cores")  # fmt: skip
                print(f"{result.name} ({where}): {result.rate:.1f}/s, p50 {result.p50:.0f} ms, "
                      f"p99 {result.percentile(99):.0f} ms, {result.completed} done, "
                      f"{result.errors} errors; load {os.getloadavg()[0]:.2f}")  # fmt: skip
                if result.first_error:
                    print("first error:", result.first_error[:300])
                return
            if args.py_spy:
                args.py_spy.mkdir(parents=True, exist_ok=True)
                bench.profile_dir = args.py_spy.resolve()
                for name, result in protocol(bench, args.requests, args.seconds,
                                             args.clients).items():  # fmt: skip
                    print(f"{name}: {result.rate:,.0f}/s, {result.errors} errors")
                return
            if peer is None:
                runs = [
                    scenarios(bench, args.requests, args.seconds, args.clients)
                    for _ in range(max(1, args.repeat))
                ]
            else:
                peer.start()
                if args.per_core:
                    os.sched_setaffinity(0, {1})  # the generator's processes inherit it
                compared = compare(
                    bench, peer, args.requests, args.seconds, args.clients, args.repeat
                )
        finally:
            bench.stop()
            if peer is not None:
                peer.stop()
    engine = bench.config.server.engine
    if peer is None:
        print(table(medians(runs), args.backend, engine, workers, len(runs)))
    else:
        print(comparison_table(*compared, args.backend, args.per_core, engine, workers))


if __name__ == "__main__":
    main()
