"""A demo departmental system ("Hệ thống Một cửa điện tử") that signs in through the hub.

It is what a department's developers would write: Authlib's Flask client for the authorization
code flow with PKCE (S256) and a nonce, the ID token checked against the hub's JWKS, userinfo
read with the access token, RP-initiated logout, and a back-channel logout endpoint (OpenID
Connect Back-Channel Logout 1.0) that ends the local session when the hub says so.

Sessions live server-side (a dict, one process) so that a back-channel logout, which arrives
without the browser's cookie, can end them. Run it through `idp dev`, or by hand:

    IDP_DEMO_CLIENT_SECRET=... python clients/demo/app.py --hub http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from authlib.common.urls import add_params_to_uri
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, redirect, render_template, request, session, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_LOGOUT_TOKEN_AGE = 300  # seconds; older logout tokens are refused (replay window)


@dataclass
class DemoSettings:
    hub: str  # the hub's issuer
    client_id: str
    client_secret: str
    public_url: str  # where this app is reached, e.g. http://127.0.0.1:9000
    scope: str = "openid profile email phone address national_id"
    mfa_acr: str = "LoA1-MFA"
    national_acr: str = "LoA2"  # a verified national identity (VNeID level 2)


@dataclass
class LocalSession:
    """What the demo keeps of one signed-in browser."""

    sub: str
    sid: str | None
    id_token: str
    id_claims: dict
    userinfo: dict
    signed_in_at: float = field(default_factory=time.time)
    ended_by_hub: bool = False


class SessionTable:
    """Server-side sessions by a random key held in the browser's cookie."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[str, LocalSession] = {}
        self.seen_jti: dict[str, float] = {}

    def add(self, record: LocalSession) -> str:
        key = secrets.token_urlsafe(24)
        with self.lock:
            self.sessions[key] = record
        return key

    def get(self, key: str | None) -> LocalSession | None:
        with self.lock:
            return self.sessions.get(key or "")

    def remove(self, key: str | None) -> None:
        with self.lock:
            self.sessions.pop(key or "", None)

    def end_from_hub(self, sub: str | None, sid: str | None) -> int:
        """Back-channel logout: end the sessions of that hub session (sid), or of the user."""
        ended = 0
        with self.lock:
            for record in self.sessions.values():
                if record.ended_by_hub:
                    continue
                if (sid and record.sid == sid) or (not sid and sub and record.sub == sub):
                    record.ended_by_hub = True
                    ended += 1
        return ended

    def first_use(self, jti: str, now: float) -> bool:
        with self.lock:
            for old, at in list(self.seen_jti.items()):
                if at < now - MAX_LOGOUT_TOKEN_AGE:
                    del self.seen_jti[old]
            if jti in self.seen_jti:
                return False
            self.seen_jti[jti] = now
            return True


class HubKeys:
    """The hub's JWKS, fetched once and again when a token names an unknown key."""

    def __init__(self, jwks_uri: str) -> None:
        self.jwks_uri = jwks_uri
        self.keys: KeySet | None = None

    def fetch(self) -> KeySet:
        response = requests.get(self.jwks_uri, timeout=5)
        response.raise_for_status()
        self.keys = KeySet.import_key_set(response.json())
        return self.keys

    def for_token(self, token: str) -> KeySet:
        from joserfc.jws import extract_compact

        kid = extract_compact(token.encode()).headers().get("kid")
        keys = self.keys or self.fetch()
        if kid and all(key.kid != kid for key in keys.keys):
            keys = self.fetch()
        return keys


def verify_logout_token(token: str, settings: DemoSettings, keys: HubKeys) -> dict:
    """Back-Channel Logout 1.0 §2.6: signature, iss, aud, iat, events, sid or sub, no nonce."""
    decoded = jwt.decode(token, keys.for_token(token), algorithms=["RS256", "ES256"])
    if decoded.header.get("typ") not in (None, "logout+jwt"):
        raise ValueError("wrong typ")
    claims = decoded.claims
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    now = time.time()
    if claims.get("iss") != settings.hub or settings.client_id not in audiences:
        raise ValueError("wrong iss or aud")
    if not isinstance(claims.get("iat"), int) or claims["iat"] < now - MAX_LOGOUT_TOKEN_AGE:
        raise ValueError("missing or old iat")
    if isinstance(claims.get("exp"), int) and claims["exp"] < now:
        raise ValueError("expired")
    if BACKCHANNEL_EVENT not in (claims.get("events") or {}):
        raise ValueError("not a logout token")
    if "nonce" in claims or not (claims.get("sid") or claims.get("sub")):
        raise ValueError("nonce present, or neither sid nor sub")
    if not claims.get("jti"):
        raise ValueError("no jti")
    return claims


def create_app(settings: DemoSettings) -> Flask:
    here = Path(__file__).parent
    app = Flask(
        __name__, template_folder=str(here / "templates"), static_folder=str(here / "static")
    )
    app.secret_key = secrets.token_bytes(32)
    app.config.update(SESSION_COOKIE_NAME="demo_session", SESSION_COOKIE_SAMESITE="Lax")
    table = SessionTable()
    app.extensions["demo_sessions"] = table
    oauth = OAuth(app)
    hub = oauth.register(
        "hub",
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        server_metadata_url=settings.hub + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.scope, "code_challenge_method": "S256"},
    )
    keys: dict[str, HubKeys] = {}

    def hub_keys() -> HubKeys:
        if "hub" not in keys:
            keys["hub"] = HubKeys(hub.load_server_metadata()["jwks_uri"])
        return keys["hub"]

    @app.after_request
    def headers(response):  # noqa: ANN001, ANN202
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            f"form-action 'self' {settings.hub}",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def csrf_token() -> str:
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(16)
        return session["csrf"]

    def check_csrf() -> None:
        given = request.form.get("csrf", "")
        if not given or not secrets.compare_digest(given, session.get("csrf", "")):
            abort(400, "CSRF token missing or wrong")

    @app.get("/")
    def home():  # noqa: ANN202
        record = table.get(session.get("sid"))
        notice = session.pop("notice", None)
        if record is not None and record.ended_by_hub:
            table.remove(session.pop("sid", None))
            record, notice = None, "ended_by_hub"
        return render_template(
            "home.html",
            record=record,
            notice=notice,
            error=request.args.get("error"),
            csrf=csrf_token(),
            hub=settings.hub,
        )

    @app.post("/login")
    def login():  # noqa: ANN202
        check_csrf()
        extra = {}
        if request.form.get("mfa"):
            extra["acr_values"] = settings.mfa_acr
        elif request.form.get("level2"):
            extra["acr_values"] = settings.national_acr
        return hub.authorize_redirect(settings.public_url + "/callback", **extra)

    @app.get("/callback")
    def callback():  # noqa: ANN202
        if request.args.get("error"):
            return redirect(url_for("home", error=request.args["error"]))
        if request.args.get("iss") not in (None, settings.hub):  # RFC 9207 mix-up defence
            return redirect(url_for("home", error="wrong_issuer"))
        try:
            token = hub.authorize_access_token()
            userinfo = dict(hub.userinfo(token=token))
        except (OAuthError, JoseError, ValueError, requests.RequestException) as exc:
            app.logger.warning("sign-in failed: %s", exc)
            return redirect(url_for("home", error="sign_in_failed"))
        claims = dict(token["userinfo"])  # the verified ID token claims
        if userinfo.get("sub") != claims.get("sub"):
            return redirect(url_for("home", error="sign_in_failed"))
        table.remove(session.get("sid"))
        session["sid"] = table.add(
            LocalSession(
                sub=claims["sub"],
                sid=claims.get("sid"),
                id_token=token["id_token"],
                id_claims=claims,
                userinfo=userinfo,
            )
        )
        return redirect(url_for("home"))

    @app.post("/logout")
    def logout():  # noqa: ANN202
        """RP-initiated logout: end the local session, then the hub's."""
        check_csrf()
        record = table.get(session.get("sid"))
        table.remove(session.pop("sid", None))
        session["notice"] = "logged_out"
        if record is None:
            return redirect(url_for("home"))
        end_session = hub.load_server_metadata()["end_session_endpoint"]
        return redirect(
            add_params_to_uri(
                end_session,
                [
                    ("id_token_hint", record.id_token),
                    ("post_logout_redirect_uri", settings.public_url + "/"),
                    ("client_id", settings.client_id),
                ],
            )
        )

    @app.post("/backchannel-logout")
    def backchannel_logout():  # noqa: ANN202
        token = request.form.get("logout_token", "")
        try:
            claims = verify_logout_token(token, settings, hub_keys())
        except (JoseError, ValueError, KeyError, requests.RequestException) as exc:
            app.logger.warning("logout token refused: %s", exc)
            return {"error": "invalid_request"}, 400
        if not table.first_use(claims["jti"], time.time()):
            return {"error": "invalid_request", "error_description": "replayed"}, 400
        ended = table.end_from_hub(claims.get("sub"), claims.get("sid"))
        app.logger.info("back-channel logout: %d session(s) ended", ended)
        return "", 200

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", default="http://127.0.0.1:8000", help="The hub's issuer URL.")
    parser.add_argument("--client-id", default="demo-mot-cua")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument(
        "--client-secret-env",
        default="IDP_DEMO_CLIENT_SECRET",
        help="Environment variable holding the client secret.",
    )
    args = parser.parse_args()
    secret = os.environ.get(args.client_secret_env)
    if not secret:
        parser.error(f"set {args.client_secret_env} to the demo client's secret")
    settings = DemoSettings(
        hub=args.hub.rstrip("/"),
        client_id=args.client_id,
        client_secret=secret,
        public_url=f"http://{args.host}:{args.port}",
    )
    from werkzeug.serving import run_simple

    print(f"demo client system: {settings.public_url}  (client_id {args.client_id})", flush=True)
    run_simple(args.host, args.port, create_app(settings), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
