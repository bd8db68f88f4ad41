"""CPU time one hub request costs in-process (the WSGI call alone: no server, no socket), with
an optional profile: the hub's own share of a request, under any server. CPU time moves less
with the machine's load than throughput does, but on a virtual machine whose cores are busy it
still grows (shared caches, stolen time): compare versions in the same minute.

    python bench/cpu.py [--scenario userinfo] [--requests 2000] [--profile cumulative|tottime]

Scenarios: healthz, discovery, userinfo, introspection, refresh (rotation + ID token), token
(code exchange + ID token), authorize (silent: a live SSO session's cookie, answered at once
with a code). SQLite in a temporary folder; tokens, codes and the session made beforehand
through the hub's own store code, as bench/run.py does.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import logging
import pstats
import secrets
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from werkzeug.test import EnvironBuilder  # noqa: E402

REDIRECT = "https://rp.example/cb"
SCENARIOS = ("healthz", "discovery", "userinfo", "introspection", "refresh", "token", "authorize")


def prepare(folder: Path, n: int):  # noqa: ANN201
    from idp import create_app
    from idp.clock import now
    from idp.config import load_config
    from idp.keys import ensure_keys
    from idp.oidc.grants import CodeRecord, _code_key
    from idp.store import clients, kv, tokens, users
    from idp.store.db import db
    from idp.store.migrate import upgrade

    path = folder / "bench.toml"
    path.write_text(f'issuer = "http://127.0.0.1:9"\ninstance_dir = "{folder}"\n')
    config = load_config(str(path), env={})
    upgrade(config.resolved_database_url)
    ensure_keys(config.resolved_keys_dir, config.keys_passphrase_env)
    app = create_app(config)
    with app.app_context():
        client, secret = clients.create(name="Bench", redirect_uris=[REDIRECT],
                                        auth_method="client_secret_basic",
                                        scope="openid profile email")  # fmt: skip
        client.first_party = True
        db.session.commit()
        user = users.create(username="benchuser", password=None, full_name="Bench")
        pairs, codes = [], []
        for _ in range(n):
            access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            tokens.save(access_token=access, refresh_token=refresh, client_id=client.client_id,
                        user_id=user.id, scope="openid profile email",
                        grant_id=secrets.token_urlsafe(16), access_ttl=3600, refresh_ttl=86400,
                        sid=None, auth_time=now(), acr="LoA1", amr=["pwd"],
                        claims_request=None)  # fmt: skip
            pairs.append((access, refresh))
            code = secrets.token_urlsafe(32)
            record = CodeRecord(client_id=client.client_id, user_id=user.id,
                                redirect_uri=REDIRECT, scope="openid profile",
                                grant_id=secrets.token_urlsafe(16), expires_at=now() + 600,
                                nonce=secrets.token_urlsafe(8), sid=None, auth_time=now(),
                                acr="LoA1", amr=["pwd"])  # fmt: skip
            kv().put(_code_key(code), asdict(record), 600)
            codes.append(code)
        from idp.login import sessions

        _, cookie_secret = sessions.start(user.id, ["pwd"], "LoA1")
        cookie = f"{config.cookie(config.session.cookie_name)}={cookie_secret}"
    basic = "Basic " + base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    return app, basic, pairs, codes, client.client_id, cookie


def environ(scenario: str, i: int, basic: str, pairs: list, codes: list, client_id: str,
            cookie: str) -> dict:  # fmt: skip
    build = {
        "authorize": lambda: EnvironBuilder(
            path="/authorize",
            query_string={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": REDIRECT,
                "scope": "openid profile",
                "nonce": secrets.token_urlsafe(12),
            },
            headers={"Cookie": cookie},
        ),  # fmt: skip
        "healthz": lambda: EnvironBuilder(path="/healthz"),
        "discovery": lambda: EnvironBuilder(path="/.well-known/openid-configuration"),
        "userinfo": lambda: EnvironBuilder(
            path="/userinfo", headers={"Authorization": f"Bearer {pairs[0][0]}"}
        ),
        "introspection": lambda: EnvironBuilder(
            path="/introspect",
            method="POST",
            headers={"Authorization": basic},
            data={"token": pairs[0][0]},
        ),  # fmt: skip
        "refresh": lambda: EnvironBuilder(
            path="/token",
            method="POST",
            headers={"Authorization": basic},
            data={"grant_type": "refresh_token", "refresh_token": pairs[i][1]},
        ),  # fmt: skip
        "token": lambda: EnvironBuilder(
            path="/token",
            method="POST",
            headers={"Authorization": basic},
            data={"grant_type": "authorization_code", "code": codes[i], "redirect_uri": REDIRECT},
        ),  # fmt: skip
    }[scenario]
    return build().get_environ()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, action="append")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", choices=["cumulative", "tottime"])
    args = parser.parse_args()
    warm = 50
    with tempfile.TemporaryDirectory(prefix="idp-cpu-") as tmp:
        app, basic, pairs, codes, client_id, cookie = prepare(Path(tmp), args.requests + warm)
        logging.disable(logging.CRITICAL)  # the access log is not what is measured here
        for scenario in args.scenario or SCENARIOS:
            envs = [environ(scenario, i, basic, pairs, codes, client_id, cookie)
                    for i in range(args.requests + warm)]  # fmt: skip

            def call(env: dict) -> str:
                status: list[str] = []
                b"".join(app.wsgi_app(dict(env), lambda s, h, e=None: status.append((s, h))))
                code, headers = status[0]
                location = dict(headers).get("Location", "")
                if code.startswith("302") and "code=" not in location:
                    return f"{code} to {location}"  # not the silent answer measured here
                return code

            for env in envs[:warm]:
                answer = call(env)
                assert answer.startswith(("200", "302")), (scenario, answer)
            profile = cProfile.Profile() if args.profile else None
            started = time.process_time()
            if profile:
                profile.enable()
            for env in envs[warm:]:
                call(env)
            if profile:
                profile.disable()
            per = (time.process_time() - started) / args.requests * 1000
            print(f"{scenario:14s} {per:6.3f} ms CPU per request  ({1000 / per:,.0f}/s per core)")
            if profile:
                out = io.StringIO()
                pstats.Stats(profile, stream=out).sort_stats(args.profile).print_stats(30)
                print(out.getvalue())


if __name__ == "__main__":
    main()
