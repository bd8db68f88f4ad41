"""Ceilings for the benchmarks: the same gunicorn settings serving (a) a bare Flask endpoint and
(b) a bare endpoint that only signs one JWT with the hub's own key, loaded once per process."""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Flask, jsonify
from joserfc import jwt

from idp.keys import KeyRing


def create() -> Flask:
    app = Flask(__name__)
    ring = KeyRing(Path(os.environ["BENCH_KEYS_DIR"]), "IDP_KEYS_PASSPHRASE", 3600)
    rs256 = ring.signing_key("RS256")
    es256 = ring.signing_key("ES256")

    @app.get("/bare")
    def bare():  # noqa: ANN202
        return jsonify({"ok": True})

    def sign(key) -> str:  # noqa: ANN001
        now = int(time.time())
        claims = {"iss": "http://127.0.0.1", "sub": "x", "aud": "y", "iat": now,
                  "exp": now + 3600}
        return jwt.encode({"alg": key.alg, "kid": key.kid}, claims, key.key, [key.alg])

    @app.post("/sign")
    @app.get("/sign")
    def sign_rs256():  # noqa: ANN202
        return jsonify({"id_token": sign(rs256)})

    @app.get("/sign-es256")
    def sign_es256():  # noqa: ANN202
        return jsonify({"id_token": sign(es256)})

    return app
