"""Benchmark of the provider core on loopback: discovery, JWKS and the token endpoint
(authorization_code exchange with ID-token signing), each beside a ceiling measured in the
same run with the same gunicorn settings. Bounded: every load runs for a fixed few seconds.

    python bench/core.py [--backend sqlite|pg] [--seconds 5] [--connections 8]

Needs `wrk` (Debian package) and, for --backend pg, the local PostgreSQL and Redis.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

HERE = Path(__file__).resolve().parent
REDIRECT = "http://127.0.0.1:9/cb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({url})")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"server did not start: {url}")


def wrk(url: str, seconds: int, connections: int, script: Path | None = None,
        env: dict | None = None) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})},
                         timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "requests": total, "p50_ms": pct("50"), "p99_ms": pct("99"),
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(1) if errors else ""}


def issue_codes(hub: str, client_id: str, count: int, threads: int = 4) -> list[str]:
    """Sign in once, then collect codes with prompt=none (the silent SSO round trip)."""
    browser = requests.Session()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
              "scope": "openid profile", "state": "s"}
    page = browser.get(f"{hub}/authorize?{urlencode(params)}", timeout=10)
    form = dict(re.findall(r'name="([^"]+)" type="hidden" value="([^"]*)"', page.text))
    form.update(username="benchuser", password="Bench-password-1")
    browser.post(page.url, data=form, allow_redirects=False, timeout=10)
    cookies = browser.cookies.get_dict()
    codes: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        s = requests.Session()
        s.cookies.update(cookies)
        for _ in range(n):
            r = s.get(f"{hub}/authorize", params={**params, "prompt": "none"},
                      allow_redirects=False, timeout=10)
            code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
            with lock:
                codes.append(code)

    per = count // threads
    pool = [threading.Thread(target=worker, args=(per,)) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "pg"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--codes", type=int, default=6000)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="idp-bench-"))
    port, ceiling_port = free_port(), free_port()
    hub = f"http://127.0.0.1:{port}"
    config = [f'issuer = "{hub}"', f'instance_dir = "{work / "instance"}"',
              f'keys_dir = "{work / "keys"}"']
    db_name = None
    if args.backend == "pg":
        import psycopg

        db_name = f"idp_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{db_name}"')
        config += [f'database_url = "postgresql://postgres@127.0.0.1:5432/{db_name}"',
                   'redis_url = "redis://127.0.0.1:6379/0"',
                   f'redis_key_prefix = "idpbench:{secrets.token_hex(4)}:"']
    config += ["[server]", "workers = 2", "threads = 1"]
    (work / "idp.toml").write_text("\n".join(config) + "\n")
    idp = ["idp", "--config", str(work / "idp.toml")]
    subprocess.run([*idp, "init"], check=True, capture_output=True)
    client = json.loads(subprocess.run(
        [*idp, "clients", "add", "--name", "Bench", "--redirect-uri", REDIRECT, "--first-party",
         "--json"], check=True, capture_output=True, text=True).stdout)
    subprocess.run([*idp, "users", "add", "--username", "benchuser", "--password",
                    "Bench-password-1"], check=True, capture_output=True)

    procs = []
    try:
        procs.append(subprocess.Popen([*idp, "serve", "--port", str(port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "2", "-k", "sync", "-b",
             f"127.0.0.1:{ceiling_port}", "bench.ceiling:create()"], cwd=HERE.parent,
            env={**os.environ, "BENCH_KEYS_DIR": str(work / "keys")},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_ready(hub + "/.well-known/openid-configuration", procs[0])
        ceiling = f"http://127.0.0.1:{ceiling_port}"
        wait_ready(ceiling + "/bare", procs[1])

        s, c = args.seconds, args.connections
        rows = [
            ("ceiling: bare Flask", wrk(ceiling + "/bare", s, c)),
            ("ceiling: sign one RS256 JWT", wrk(ceiling + "/sign", s, c)),
            ("ceiling: sign one ES256 JWT", wrk(ceiling + "/sign-es256", s, c)),
            ("GET /.well-known/openid-configuration", wrk(
                hub + "/.well-known/openid-configuration", s, c)),
            ("GET /jwks", wrk(hub + "/jwks", s, c)),
        ]
        started = time.monotonic()
        codes = issue_codes(hub, client["client_id"], args.codes)
        issuing = time.monotonic() - started
        codes_file = work / "codes.txt"
        codes_file.write_text("\n".join(codes) + "\n")
        auth = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
        token = wrk(hub + "/token", s, c, HERE / "token.lua", {
            "BENCH_CODES": str(codes_file), "BENCH_AUTH": auth.decode(),
            "BENCH_REDIRECT": REDIRECT})
        rows.append(("POST /token (code exchange + RS256 ID token)", token))
        rows.append((f"GET /authorize prompt=none (silent SSO), {len(codes)} codes",
                     {"rps": len(codes) / issuing, "requests": len(codes), "p50_ms": float("nan"),
                      "p99_ms": float("nan"), "non_2xx": 0, "socket_errors": ""}))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=15)
        if db_name:
            import psycopg

            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test",
                                 autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nbackend={args.backend}  gunicorn 2 sync workers  wrk -t1 -c{args.connections} "
          f"-d{args.seconds}s  cores={os.cpu_count()}")
    print(f"{'scenario':58} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  notes")
    for name, r in rows:
        note = f"{r['non_2xx']} non-2xx!" if r["non_2xx"] else ""
        if r["socket_errors"]:
            note += f" socket errors: {r['socket_errors']}"
        print(f"{name:58} {r['rps']:8.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f}  {note}")
    sign = rows[1][1]["rps"]
    print(f"\ntoken endpoint at {100 * token['rps'] / sign:.0f}% of the RS256 signing ceiling; "
          f"discovery at {100 * rows[3][1]['rps'] / rows[0][1]['rps']:.0f}% of bare Flask")
    if token["requests"] > len(codes):
        print(f"WARNING: ran out of codes ({len(codes)} for {token['requests']} requests); "
              "raise --codes or lower --seconds")


if __name__ == "__main__":
    main()
