"""The ceilings the hub is measured against, served by gunicorn with the hub's worker settings:
`/hello`, a bare Flask endpoint (the framework ceiling), and `/sign`, a bare endpoint that only
signs an ID-token-sized JWT with the hub's own RS256 key, loaded once per process (the crypto
ceiling). BENCH_KEYS_DIR names the hub's keys folder."""

from __future__ import annotations

import os
import secrets
import time

from flask import Flask, jsonify
from joserfc import jwt

from idp.keys import KeyRing

app = Flask(__name__)
keys = KeyRing(
    __import__("pathlib").Path(os.environ["BENCH_KEYS_DIR"]), "IDP_KEYS_PASSPHRASE", 3600
)


@app.get("/hello")
def hello():  # noqa: ANN201
    return jsonify(hello="world")


@app.get("/sign")
def sign():  # noqa: ANN201
    key = keys.signing_key("RS256")
    now = int(time.time())
    claims = {
        "iss": "http://127.0.0.1:8000",
        "sub": secrets.token_hex(16),
        "aud": "bench-client",
        "iat": now,
        "exp": now + 3600,
        "nonce": secrets.token_urlsafe(8),
        "name": "Nguyễn Văn An",
    }
    token = jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key.key, ["RS256"])
    return jsonify(id_token=token)
