"""Small security primitives shared by every surface: digests, random values, headers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import unquote_to_bytes

from flask import Flask, Response, abort, request


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
        if request.mimetype == "application/x-www-form-urlencoded" and not _utf8_form(
            request.get_data(cache=True)
        ):
            from .errors import BadEncoding

            raise BadEncoding()
        sources = [request.args]
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sources.append(request.form)
        for source in sources:
            for key, value in source.items(multi=True):
                if "\x00" in key or "\x00" in value:
                    abort(400)


def init_security_headers(app: Flask) -> None:
    """Headers every answer carries: no framing, no sniffing, no referrer leaks, a strict CSP."""

    https = app.config["IDP"].issuer_is_https

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        # After sign-in the form posts and 302s to the client's redirect URI; browsers apply
        # form-action to that redirect, so the page sets a wider form-action when needed.
        extra = getattr(response, "csp_form_action", "")
        form_action = f" {extra}" if extra else ""
        frames = getattr(response, "csp_frame_src", "")
        frame_src = f" {frames}" if frames else ""
        headers.setdefault(
            "Content-Security-Policy", CSP.format(form_action=form_action, frame_src=frame_src)
        )
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        # same-origin: nothing leaks to other sites, and our own form posts keep the Referer that
        # the CSRF check demands over https.
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if response.mimetype == "text/html" or "Cache-Control" not in headers:
            headers.setdefault("Cache-Control", "no-store")
        return response
