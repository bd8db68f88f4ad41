"""Chaos run (not a test): load the hub while its dependencies fail, then check the damage.

    python bench/chaos.py [--seconds 60] [--requests 20000] [--clients 6] [--workers 3]

It starts `idp serve` on loopback with PostgreSQL (a new database on 127.0.0.1:5432, reached
through a TCP relay this script owns) and a redis-server of its own, both on loopback, and runs
`--clients` simulated departmental systems. Each signs a citizen in through the real pages
(authorize, the sign-in form, the code exchange), then calls userinfo and refreshes its tokens
over and over, as a real client would: after a 503, a time-out or a refused connection it tries
again later with the same refresh token. Meanwhile, on a fixed schedule, it stops and starts its
Redis, stalls PostgreSQL (the relay holds every byte: a hung server) and cuts it (every
connection dropped). Bounded by `--seconds` and `--requests`.

It prints requests by kind and answer (with the slowest of each), the time from the end of each
fault to the first success after it, and a consistency check of the database: grants revoked
without cause (a client lost its grant although it never reused a token), grants with more than
one live refresh token (doubled), grants left with no live refresh token (half-written), and
theft events in the audit log.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.run import PASSWORD, PG_ADMIN, REDIRECT, wait_ready  # noqa: E402
from tests.faults import OwnRedis, Relay, free_port  # noqa: E402

CLIENT_TIMEOUT = 10.0  # what a departmental system waits before it gives up on an answer


class Stack:
    """The hub under test with its own Redis and its relay to a fresh PostgreSQL database."""

    def __init__(self, workdir: Path, workers: int) -> None:
        import psycopg

        self.workdir = workdir
        self.redis = OwnRedis(workdir)
        self.relay = Relay(5432)
        self.database = f"idp_chaos_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.direct_url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{self.database}"
        relayed = self.direct_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.relay.port}")
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "chaos.toml"
        self.config_path.write_text(
            f'issuer = "{self.issuer}"\ninstance_dir = "{workdir / "instance"}"\n'
            f'database_url = "{relayed}"\nredis_url = "{self.redis.url}"\n'
            f"[server]\nworkers = {workers}\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        idp = [sys.executable, "-m", "idp", "--config", str(self.config_path)]
        subprocess.run([*idp, "init"], check=True, capture_output=True, cwd=REPO)
        from idp import create_app
        from idp.config import load_config
        from idp.store import clients, users
        from idp.store.db import db

        app = create_app(load_config(str(self.config_path)))
        with app.app_context():
            client, secret = clients.create(
                name="Chaos", redirect_uris=[REDIRECT], auth_method="client_secret_basic",
                scope="openid profile email",
            )  # fmt: skip
            client.first_party = True  # no consent page: the load is sign-in and tokens
            db.session.commit()
            self.client_id, self.secret = client.client_id, secret
            users.create(username="chaosuser", password=PASSWORD, full_name="Chaos")
            db.session.remove()
            db.engine.dispose()
        log = (self.workdir / "hub.log").open("w")
        self.process = subprocess.Popen(
            [*idp, "serve", "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT,
            cwd=REPO,
        )  # fmt: skip
        wait_ready(f"{self.issuer}/readyz", self.process, self.workdir / "hub.log")

    def stop(self) -> None:
        import psycopg

        if self.process:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.relay.resume()
        self.relay.cut()
        self.redis.stop()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


class Tally:
    """Every answer by kind and status, with when it came."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.slowest: dict[tuple[str, str], float] = {}
        self.successes: list[float] = []  # monotonic times of 2xx/3xx answers
        self.total = 0

    def add(self, kind: str, status: str, took: float) -> None:
        with self.lock:
            self.counts[kind, status] += 1
            self.slowest[kind, status] = max(self.slowest.get((kind, status), 0.0), took)
            self.total += 1
            if status in ("200", "302"):
                self.successes.append(time.monotonic())


class Department:
    """One client system: signs a citizen in, then uses and refreshes its tokens."""

    def __init__(self, stack: Stack, tally: Tally) -> None:
        self.stack, self.tally = stack, tally
        self.tokens: dict | None = None
        self.grants_lost = 0  # refreshes refused although this client never reused a token
        self.auth = (
            "Basic " + base64.b64encode(f"{stack.client_id}:{stack.secret}".encode()).decode()
        )

    def _call(
        self, kind: str, method: str, url: str, session: requests.Session | None = None, **kwargs
    ) -> requests.Response | None:
        kwargs.setdefault("allow_redirects", False)
        started = time.monotonic()
        try:
            answer = (session or requests).request(method, url, timeout=CLIENT_TIMEOUT, **kwargs)
        except requests.Timeout:
            self.tally.add(kind, "client time-out", time.monotonic() - started)
            return None
        except requests.ConnectionError:
            self.tally.add(kind, "refused", time.monotonic() - started)
            return None
        self.tally.add(kind, str(answer.status_code), time.monotonic() - started)
        return answer

    def sign_in(self) -> None:
        issuer, web = self.stack.issuer, requests.Session()
        query = urlencode({"response_type": "code", "client_id": self.stack.client_id,
                           "redirect_uri": REDIRECT, "scope": "openid profile",
                           "nonce": secrets.token_urlsafe(8)})  # fmt: skip
        page = self._call(
            "sign-in", "GET", f"{issuer}/authorize?{query}", session=web, allow_redirects=True
        )
        if page is None or page.status_code != 200:
            return
        data = dict(re.findall(r'name="([^"]+)" type="hidden" value="([^"]*)"', page.text))
        data.update(username="chaosuser", password=PASSWORD)
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        done = self._call("sign-in", "POST", issuer + action.group(1), data=data, session=web)
        if done is None or done.status_code != 302:
            return
        back = self._call("sign-in", "GET", issuer + done.headers["Location"], session=web)
        location = back.headers.get("Location", "") if back is not None else ""
        code = parse_qs(urlsplit(location).query).get("code")
        if not code:
            return
        answer = self._call(
            "token", "POST", f"{issuer}/token", headers={"Authorization": self.auth},
            data={"grant_type": "authorization_code", "code": code[0], "redirect_uri": REDIRECT},
        )  # fmt: skip
        if answer is not None and answer.status_code == 200:
            self.tokens = answer.json()

    def refresh(self) -> None:
        answer = self._call(
            "refresh", "POST", f"{self.stack.issuer}/token", headers={"Authorization": self.auth},
            data={"grant_type": "refresh_token", "refresh_token": self.tokens["refresh_token"]},
        )  # fmt: skip
        if answer is None or answer.status_code >= 500:
            return  # the answer is lost: try again later with the same refresh token
        if answer.status_code == 200:
            self.tokens = answer.json()
        else:
            self.grants_lost += 1
            self.tokens = None

    def userinfo(self) -> None:
        headers = {"Authorization": f"Bearer {self.tokens['access_token']}"}
        self._call("userinfo", "GET", f"{self.stack.issuer}/userinfo", headers=headers)

    def run(self, deadline: float, budget: int) -> None:
        while time.monotonic() < deadline and self.tally.total < budget:
            if self.tokens is None or random.random() < 0.03:
                self.sign_in()  # a citizen arrives (a new grant; the old one stays valid)
            elif random.random() < 0.5:
                self.refresh()
            else:
                self.userinfo()
            time.sleep(0.01)


def schedule(seconds: float) -> list[tuple[float, float, str]]:
    """(start, end, fault), as fractions of the run turned into seconds."""
    return [
        (0.13 * seconds, 0.27 * seconds, "Redis stopped"),
        # Longer than a client waits (CLIENT_TIMEOUT) in a 60 s run: answers are lost.
        (0.37 * seconds, 0.57 * seconds, "PostgreSQL stalled"),
        (0.70 * seconds, 0.80 * seconds, "PostgreSQL cut"),
    ]


def inflict(stack: Stack, faults: list, started: float, stop: threading.Event) -> list:
    done = []
    for begin, end, name in faults:
        if stop.wait(max(0.0, started + begin - time.monotonic())):
            break
        {"Redis stopped": stack.redis.stop, "PostgreSQL stalled": stack.relay.stall,
         "PostgreSQL cut": stack.relay.cut}[name]()  # fmt: skip
        stop.wait(max(0.0, started + end - time.monotonic()))
        {"Redis stopped": stack.redis.start, "PostgreSQL stalled": stack.relay.resume,
         "PostgreSQL cut": stack.relay.start}[name]()  # fmt: skip
        done.append((name, end - begin, time.monotonic()))
    return done


def consistency(stack: Stack, departments: list[Department]) -> dict[str, int]:
    import psycopg

    with psycopg.connect(stack.direct_url) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        found = {
            "grants": one("SELECT count(DISTINCT grant_id) FROM tokens"),
            "grants revoked (reuse or replay)": one(
                "SELECT count(DISTINCT grant_id) FROM tokens "
                "WHERE refresh_revoked_reason IN ('refresh_reuse', 'code_replay')"
            ),
            "grants with >1 live refresh token (doubled)": one(
                "SELECT count(*) FROM (SELECT grant_id FROM tokens WHERE NOT refresh_revoked "
                "GROUP BY grant_id HAVING count(*) > 1) AS doubled"
            ),
            "grants with no live refresh token (lost)": one(
                "SELECT count(*) FROM (SELECT grant_id FROM tokens GROUP BY grant_id "
                "HAVING bool_and(refresh_revoked)) AS lost"
            ),
            "theft events in the audit log": one(
                "SELECT count(*) FROM audit_events WHERE event IN ('refresh_reuse', 'code_replay')"
            ),
            "retries answered with the lost pair": one(
                "SELECT count(*) FROM audit_events WHERE event = 'refresh_retry'"
            ),
            "users (1 expected)": one("SELECT count(*) FROM users"),
        }
    found["clients that lost their grant without reuse"] = sum(
        d.grants_lost > 0 for d in departments
    )
    # Afterwards every client's last refresh token must still work.
    final = [d for d in departments if d.tokens]
    for d in final:
        d.refresh()
    found["final refresh refused"] = sum(d.tokens is None for d in final)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the folder with hub.log")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="idp-chaos-")
    stack = Stack(Path(folder), args.workers)
    try:
        stack.start()
        tally = Tally()
        departments = [Department(stack, tally) for _ in range(args.clients)]
        started = time.monotonic()
        deadline = started + args.seconds
        threads = [
            threading.Thread(target=d.run, args=(deadline, args.requests), daemon=True)
            for d in departments
        ]
        for t in threads:
            t.start()
        stop = threading.Event()
        faults = inflict(stack, schedule(args.seconds), started, stop)
        for t in threads:
            t.join(timeout=args.seconds + 2 * CLIENT_TIMEOUT)
        stop.set()
        report(tally, faults, consistency(stack, departments), time.monotonic() - started)
        print(f"\nSlowest 503 as the hub timed it (no queueing for a worker): {slowest_503(stack)}")
    finally:
        stack.stop()
        if args.keep:
            print(f"\nThe hub's log: {folder}/hub.log")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def slowest_503(stack: Stack) -> str:
    """From the hub's JSON access lines: how long its slowest 503 took inside the hub."""
    durations = []
    for line in (stack.workdir / "hub.log").read_text().splitlines():
        if line.startswith("{") and '"status": 503' in line:
            durations.append(json.loads(line).get("duration_ms", 0))
    return f"{max(durations) / 1000:.1f} s" if durations else "none"


def report(tally: Tally, faults: list, found: dict, took: float) -> None:
    kinds = ["sign-in", "token", "refresh", "userinfo"]
    statuses = sorted({status for _, status in tally.counts})
    print(f"\n{tally.total} requests in {took:.0f} s\n")
    print("| answer | " + " | ".join(kinds) + " |")
    print("| --- | " + " | ".join("---:" for _ in kinds) + " |")
    for status in statuses:
        cells = [
            f"{tally.counts[kind, status]:,} (≤ {tally.slowest[kind, status]:.1f} s)"
            if tally.counts[kind, status]
            else "0"
            for kind in kinds
        ]
        print(f"| {status} | " + " | ".join(cells) + " |")
    print("\n| fault | lasted | first success after it ended |")
    print("| --- | ---: | ---: |")
    for name, lasted, ended in faults:
        after = [t for t in tally.successes if t >= ended]
        recovery = f"{min(after) - ended:.2f} s" if after else "none"
        print(f"| {name} | {lasted:.1f} s | {recovery} |")
    print("\n| consistency check | count |")
    print("| --- | ---: |")
    for name, value in found.items():
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
