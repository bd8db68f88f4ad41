"""Small security primitives shared by every surface: digests, random values, headers."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, Response, abort, jsonify, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException


def sha256_hex(value: str) -> str:
    """Digest for secrets that are random 256-bit values (client secrets, tokens, codes)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    """A random 256-bit value, URL-safe."""
    return secrets.token_urlsafe(32)


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-src 'self'{frame_src}; "
    "form-action 'self'{form_action}; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


class FormSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session (it carries the forms' CSRF secret), with its serializer
    built once (one interface per app), and none at all for a request without the cookie: the
    token, userinfo and introspection calls of client systems never send one."""

    _serializer = None

    def get_signing_serializer(self, app: Flask):  # noqa: ANN201
        if self._serializer is None:
            self._serializer = super().get_signing_serializer(app)
        return self._serializer

    def open_session(self, app: Flask, request):  # noqa: ANN001, ANN201
        if "HTTP_COOKIE" not in request.environ or not request.cookies.get(
            self.get_cookie_name(app)
        ):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session, response) -> None:  # noqa: ANN001
        """Nothing to do for a session nobody read or wrote that holds nothing (every API
        call): Flask's own method would only gather the cookie's settings to find that out."""
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)


# Deeper JSON than this is refused before parsing: nothing the hub reads nests past a few
# levels, and Python's parser answers a few thousand levels with a RecursionError (a 500).
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth_ok(raw: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests at most `limit` arrays and objects (strings skipped)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    depth = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', data)):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > limit:
            return False
    return True


def load_json(raw: str | bytes) -> Any:
    """json.loads with the depth bound; raises ValueError for deep or malformed JSON."""
    if not json_depth_ok(raw):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(raw)


def _utf8_form(body: bytes) -> bool:
    """Whether every name and value of a urlencoded body is UTF-8 once percent-decoded
    (Werkzeug keeps bad bytes as literal "%FF", which would pass for text)."""
    try:
        for pair in body.split(b"&"):
            unquote_to_bytes(pair.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def init_input_guards(app: Flask) -> None:
    """Refuse input no endpoint can use, before anything else (CSRF included) reads it."""

    @app.before_request
    def refuse_nul_bytes() -> None:
        """No parameter of the hub may contain NUL; PostgreSQL text cannot store it either."""
        if "\x00" in request.path:
            abort(404)
        mimetype = request.mimetype
        raw = [request.query_string]
        if mimetype == "application/x-www-form-urlencoded":
            try:
                body = request.get_data(cache=True)
            except HTTPException:
                raise  # too large: 413
            except Exception:  # noqa: BLE001 - the server's parser: a malformed chunked body
                abort(400)
            if not _utf8_form(body):
                from .errors import BadEncoding

                raise BadEncoding()
            raw.append(body)
        # Percent-decoding makes a NUL only of "%00" or a NUL byte: no need to parse to look.
        if any(b"\x00" in part or b"%00" in part for part in raw):
            abort(400)
        if mimetype == "multipart/form-data":
            for key, value in request.form.items(multi=True):
                if "\x00" in key or "\x00" in value:
                    abort(400)

    @app.before_request
    def refuse_deep_json():  # noqa: ANN202
        """Every JSON body (admin API, client registration) within MAX_JSON_DEPTH."""
        if request.is_json and not json_depth_ok(request.get_data(cache=True)):
            response = jsonify(
                error="invalid_request",
                error_description=f"JSON nested deeper than {MAX_JSON_DEPTH} levels.",
            )
            response.status_code = 400
            return response
        return None


def init_security_headers(app: Flask) -> None:
    """Headers every answer carries: no framing, no sniffing, no referrer leaks, a strict CSP."""

    https = app.config["IDP"].issuer_is_https

    fixed = [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        # same-origin: nothing leaks to other sites, and our own form posts keep the Referer that
        # the CSRF check demands over https.
        ("Referrer-Policy", "same-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if https:
        fixed.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    plain_csp = CSP.format(form_action="", frame_src="")

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        # One pass over what the view set: Headers.setdefault scans the list once per name.
        present = {name.lower() for name in headers.keys()}
        if "content-security-policy" not in present:
            # After sign-in the form posts and 302s to the client's redirect URI; browsers apply
            # form-action to that redirect, so the page sets a wider form-action when needed.
            extra = getattr(response, "csp_form_action", "")
            frames = getattr(response, "csp_frame_src", "")
            csp = (
                CSP.format(
                    form_action=f" {extra}" if extra else "",
                    frame_src=f" {frames}" if frames else "",
                )
                if extra or frames
                else plain_csp
            )
            headers.add("Content-Security-Policy", csp)
        for name, value in fixed:
            if name.lower() not in present:
                headers.add(name, value)
        if "cache-control" not in present:
            headers.add("Cache-Control", "no-store")
        return response


class TrustedProxyFix:
    """Werkzeug's ProxyFix, applied only to connections from the configured proxy networks:
    anyone else's X-Forwarded-* headers are ignored, so a request that reaches the hub
    directly cannot pick the client IP that rate limits and the audit log see, nor the scheme."""

    def __init__(self, wsgi_app, hops: int, trusted: list) -> None:  # noqa: ANN001
        from werkzeug.middleware.proxy_fix import ProxyFix

        self.direct = wsgi_app
        self.proxied = ProxyFix(wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
        self.trusted = trusted

    def __call__(self, environ, start_response):  # noqa: ANN001, ANN204
        if self.trusted and not self._from_proxy(environ.get("REMOTE_ADDR", "")):
            return self.direct(environ, start_response)
        return self.proxied(environ, start_response)

    def _from_proxy(self, remote: str) -> bool:
        import ipaddress

        try:
            address = ipaddress.ip_address(remote)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)
