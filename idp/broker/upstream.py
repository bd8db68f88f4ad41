"""One upstream OpenID Connect provider as a connector: build the authorization request (PKCE
S256, state, nonce), and turn the answer into one protocol-neutral `UpstreamIdentity` — code
exchanged, ID token verified (signature against the upstream JWKS, cached and refreshed once on
an unknown `kid`; `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`), userinfo read when configured
(its `sub` must match), claims mapped from the upstream's names to ours.

Every failure is an `UpstreamError` with a reason the sign-in page can explain; nothing here
raises anything else for what an upstream sends.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

import requests
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ..config import ConnectorConfig

log = logging.getLogger(__name__)

METADATA_TTL = 3600
JWKS_TTL = 3600
JWKS_REFRESH_MIN_INTERVAL = 30
CLOCK_SKEW = 120
# A logout token's window is already the tolerance: `exp` and a future `iat` get little more.
LOGOUT_TOKEN_LEEWAY = 30
MAX_ANSWER_BYTES = 256 * 1024
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class UpstreamError(Exception):
    """The upstream sign-in did not give a usable identity. `reason` is one of: cancelled,
    error_answer, unreachable, bad_answer, bad_token, bad_state."""

    def __init__(self, reason: str, detail: str = "") -> None:
        # The detail may quote the upstream's words: nothing that is not printable (line breaks,
        # U+2028, U+0085, other controls) reaches a log line, where it could forge an entry.
        detail = "".join(c if c.isprintable() else " " for c in detail)
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class UpstreamIdentity:
    """What an upstream said about the person, in the hub's words."""

    connector: str
    subject: str
    account_type: str  # citizen | organization
    claims: dict[str, str]  # name, birthdate (YYYY-MM-DD), gender, phone, email, address,
    #                         national_id, tax_code — only those the upstream gave
    level: str | None  # the hub's acr for the upstream's assurance level
    raw: dict = field(default_factory=dict)  # ID token and userinfo claims as received
    upstream_sub: str = ""
    upstream_sid: str | None = None
    id_token: str = ""
    login_kind: str | None = None  # how they signed in upstream (e.g. vneid), for statistics


@dataclass
class PendingRequest:
    """What the hub keeps between sending the browser upstream and its return."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str


_cache: dict[str, tuple[float, object]] = {}
_cache_lock = threading.Lock()


def _cached(key: str, ttl: float, load):  # noqa: ANN001, ANN202
    with _cache_lock:
        hit = _cache.get(key)
    if hit and time.monotonic() - hit[0] < ttl:
        return hit[1]
    value = load()
    with _cache_lock:
        _cache[key] = (time.monotonic(), value)
    return value


def forget_caches() -> None:
    with _cache_lock:
        _cache.clear()


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Connector:
    def __init__(self, name: str, config: ConnectorConfig) -> None:
        self.name = name
        self.config = config

    # Metadata -------------------------------------------------------------------------------

    def _get_json(self, url: str) -> dict:
        try:
            response = requests.get(url, timeout=self.config.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise UpstreamError("unreachable", f"{url}: {type(exc).__name__}") from exc
        if response.status_code != 200 or len(response.content) > MAX_ANSWER_BYTES:
            raise UpstreamError("bad_answer", f"{url}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise UpstreamError("bad_answer", f"{url}: not JSON") from exc
        if not isinstance(data, dict):
            raise UpstreamError("bad_answer", f"{url}: not a JSON object")
        return data

    def metadata(self) -> dict[str, str]:
        """Endpoints and issuer: discovery, with explicit settings taking precedence."""
        c = self.config
        found: dict = {}
        if c.discovery_url:
            found = _cached(
                f"meta:{c.discovery_url}", METADATA_TTL, lambda: self._get_json(c.discovery_url)
            )
        names = (
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
            "end_session_endpoint",
        )
        meta = {
            n: getattr(c, n) or (found.get(n) if isinstance(found.get(n), str) else "")
            for n in names
        }
        if not all(
            meta[n] for n in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        ):
            raise UpstreamError("bad_answer", "upstream metadata lacks required endpoints")
        return meta

    def known_authorization_endpoint(self) -> str:
        """The authorization endpoint if known without a network call (configured, or from
        discovery already cached), else "": for pages that must not wait on the upstream."""
        if self.config.authorization_endpoint:
            return self.config.authorization_endpoint
        with _cache_lock:
            hit = _cache.get(f"meta:{self.config.discovery_url}")
        found = hit[1] if hit else {}
        value = found.get("authorization_endpoint") if isinstance(found, dict) else None
        return value if isinstance(value, str) else ""

    def _keys(self, jwks_uri: str, refresh: bool = False) -> KeySet:
        key = f"jwks:{jwks_uri}"
        if refresh:
            with _cache_lock:
                hit = _cache.get(key)
            if hit is None or time.monotonic() - hit[0] >= JWKS_REFRESH_MIN_INTERVAL:
                with _cache_lock:
                    _cache.pop(key, None)
        try:
            return _cached(key, JWKS_TTL, lambda: KeySet.import_key_set(self._get_json(jwks_uri)))
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise UpstreamError("bad_answer", "upstream JWKS is not valid") from exc

    # The request ---------------------------------------------------------------------------

    def level_parameters(self, level: str | None, rank: Callable[[str | None], int]) -> dict:
        """What to send upstream to reach the hub level `level` (None: nothing in particular).

        The lowest of `request_levels` that reaches it is asked for with `acr_values`; since
        an upstream may answer a request from the session it already has, a request above the
        connector's default level also asks it to authenticate now (`prompt`, `max_age`)."""
        c = self.config
        params: dict[str, str] = {"acr_values": c.acr_values} if c.acr_values else {}
        if level is None:
            return params
        reaching = [hub for hub in c.request_levels if rank(hub) >= rank(level) >= 0]
        if not reaching:
            return params  # this upstream cannot be asked for it; the answer is checked anyway
        chosen = min(reaching, key=rank)
        default = c.levels.get(c.acr_values) if c.acr_values else None
        params["acr_values"] = c.request_levels[chosen]
        if rank(chosen) > rank(default):
            if c.step_up_prompt:
                params["prompt"] = c.step_up_prompt
            if c.step_up_max_age >= 0:
                params["max_age"] = str(c.step_up_max_age)
        return params

    def authorization_request(
        self, redirect_uri: str, level_params: dict | None = None
    ) -> tuple[str, PendingRequest]:
        """The URL to send the browser to, and what to keep until it comes back."""
        pending = PendingRequest(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),
            redirect_uri=redirect_uri,
        )
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.config.scope,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": _s256(pending.code_verifier),
            "code_challenge_method": "S256",
        }
        if level_params is None and self.config.acr_values:
            params["acr_values"] = self.config.acr_values
        params.update(level_params or {})
        endpoint = self.metadata()["authorization_endpoint"]
        separator = "&" if "?" in endpoint else "?"
        return endpoint + separator + urlencode(params), pending

    def end_session_url(self, upstream: dict, return_uri: str, state: str) -> str | None:
        """RP-initiated logout at the upstream, when it has an end-session endpoint."""
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except UpstreamError:
            return None
        if not endpoint:
            return None
        params = {
            "client_id": self.config.client_id,
            "post_logout_redirect_uri": return_uri,
            "state": state,
        }
        if upstream.get("id_token"):
            params["id_token_hint"] = upstream["id_token"]
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)

    # The answer ----------------------------------------------------------------------------

    def finish(self, args: dict[str, str], pending: PendingRequest) -> UpstreamIdentity:
        """Check the browser's return, exchange the code, verify, map."""
        if not secrets.compare_digest(str(args.get("state", "")), pending.state):
            raise UpstreamError("bad_state", "state does not match")
        error = args.get("error")
        if error:
            reason = "cancelled" if error == "access_denied" else "error_answer"
            raise UpstreamError(reason, f"{error}: {str(args.get('error_description', ''))[:200]}")
        code = args.get("code")
        if not code or len(code) > 2048:
            raise UpstreamError("bad_answer", "no code")
        meta = self.metadata()
        tokens = self._exchange(meta, code, pending)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise UpstreamError("bad_token", "no ID token")
        claims = self.verify_id_token(meta, id_token, pending.nonce)
        raw = dict(claims)
        if self.config.fetch_userinfo and meta.get("userinfo_endpoint"):
            info = self._userinfo(meta["userinfo_endpoint"], tokens.get("access_token"))
            # OIDC Core §5.3.2: without the ID token's `sub`, the answer is not used at all.
            if info.get("sub") != claims["sub"]:
                raise UpstreamError("bad_token", "userinfo sub is missing or differs")
            raw.update(info)
        return self.map_identity(raw, claims, id_token)

    def _exchange(self, meta: dict, code: str, pending: PendingRequest) -> dict:
        c = self.config
        secret = os.environ.get(c.client_secret_env, "") if c.client_secret_env else ""
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.code_verifier,
        }
        auth = None
        if c.token_auth_method == "client_secret_post":  # noqa: S105 - a method name
            data.update(client_id=c.client_id, client_secret=secret)
        else:
            auth = (c.client_id, secret)
        try:
            response = requests.post(
                meta["token_endpoint"],
                data=data,
                auth=auth,
                timeout=c.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise UpstreamError("unreachable", "token endpoint timed out") from exc
        except requests.RequestException as exc:
            raise UpstreamError("unreachable", f"token endpoint: {type(exc).__name__}") from exc
        try:
            body = response.json() if len(response.content) <= MAX_ANSWER_BYTES else None
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise UpstreamError(
                "error_answer", f"token endpoint: HTTP {response.status_code} {error or ''}"
            )
        return body

    def _decode(self, meta: dict, value: str) -> dict:
        """A JWT signed by the upstream: asymmetric algorithms only, keys from its JWKS
        (fetched again once when the `kid` is unknown: the upstream rotated its keys)."""
        try:
            header = jws.extract_compact(value.encode()).protected
        except (JoseError, ValueError, TypeError) as exc:
            raise UpstreamError("bad_token", "not a JWT") from exc
        if header.get("alg") in (None, "none") or str(header.get("alg", "")).startswith("HS"):
            raise UpstreamError("bad_token", f"alg {header.get('alg')} is not accepted")
        keys = self._keys(meta["jwks_uri"])
        kid = header.get("kid")
        if kid and not any(k.kid == kid for k in keys.keys):
            keys = self._keys(meta["jwks_uri"], refresh=True)
        try:
            return jwt.decode(value, keys, algorithms=["RS256", "PS256", "ES256"]).claims
        except (JoseError, ValueError, TypeError) as exc:
            raise UpstreamError("bad_token", f"signature: {type(exc).__name__}") from exc

    def _check_audience(self, claims: dict) -> None:
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.config.client_id not in audiences:
            raise UpstreamError("bad_token", "aud is not the hub")
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != self.config.client_id:
            raise UpstreamError("bad_token", "azp is not the hub")

    def verify_logout_token(self, value: str, max_age: int) -> dict:
        """Back-Channel Logout 1.0 §2.6: signature, iss, aud, iat (issued within `max_age`
        seconds, `exp` honoured when present), the logout event, sub or sid, and no nonce.
        Replays are the caller's to refuse (by `jti`, remembered longer than `max_age`)."""
        meta = self.metadata()
        claims = self._decode(meta, value)
        _validate(
            claims,
            meta["issuer"],
            leeway=LOGOUT_TOKEN_LEEWAY,
            iat={"essential": True},
            jti={"essential": True},
        )
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or iat < time.time() - max_age:
            raise UpstreamError("bad_token", "the logout token is too old")
        self._check_audience(claims)
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(LOGOUT_EVENT), dict):
            raise UpstreamError("bad_token", "not a logout token")
        if "nonce" in claims:
            raise UpstreamError("bad_token", "a logout token has no nonce")
        if not isinstance(claims.get("sub"), str) and not isinstance(claims.get("sid"), str):
            raise UpstreamError("bad_token", "neither sub nor sid")
        return claims

    def verify_id_token(self, meta: dict, id_token: str, nonce: str) -> dict:
        """OIDC Core §3.1.3.7: signature, iss, aud, azp, exp, iat, nonce."""
        claims = self._decode(meta, id_token)
        _validate(
            claims,
            meta["issuer"],
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        self._check_audience(claims)
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise UpstreamError("bad_token", "no sub")
        return claims

    def _userinfo(self, endpoint: str, access_token: object) -> dict:
        if not isinstance(access_token, str):
            raise UpstreamError("bad_answer", "no access token")
        try:
            response = requests.get(
                endpoint,
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=self.config.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise UpstreamError("unreachable", f"userinfo: {type(exc).__name__}") from exc
        try:
            info = response.json() if response.status_code == 200 else None
        except ValueError:
            info = None
        if not isinstance(info, dict) or len(response.content) > MAX_ANSWER_BYTES:
            raise UpstreamError("bad_answer", f"userinfo: HTTP {response.status_code}")
        return info

    # Mapping -------------------------------------------------------------------------------

    def _first(self, raw: dict, names: list[str]) -> str | None:
        for name in names:
            value = raw.get(name)
            if isinstance(value, list):
                value = value[0] if value else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str) and value.strip():
                return value.strip()[:500]
        return None

    def map_identity(self, raw: dict, id_claims: dict, id_token: str = "") -> UpstreamIdentity:
        c = self.config
        kind = self._first(raw, [c.account_type_claim]) if c.account_type_claim else None
        account_type = c.account_types.get(kind or "", "citizen")
        subject = self._first(raw, c.subject_claims.get(kind or "", ["sub"]))
        if not subject:
            raise UpstreamError("bad_answer", f"no subject claim for account kind {kind!r}")
        mapped: dict[str, str] = {}
        for ours, names in c.claims.items():
            if ours == "level":
                continue
            value = self._first(raw, names)
            if value:
                mapped[ours] = value
        for name, normal in (
            ("birthdate", _iso_date),
            ("phone", _national_phone),
            ("gender", lambda value: c.genders.get(value.lower())),
        ):
            if name in mapped:
                value = normal(mapped.pop(name))
                if value:
                    mapped[name] = value
        upstream_level = self._first(raw, c.claims.get("level", []))
        return UpstreamIdentity(
            connector=self.name,
            # The kind is part of the key: a CCCD and an organisation's TechID never collide.
            subject=f"{kind}:{subject}" if kind else subject,
            account_type=account_type,
            claims=mapped,
            level=c.levels.get(upstream_level or ""),
            raw=raw,
            upstream_sub=id_claims.get("sub", ""),
            upstream_sid=id_claims.get("sid") if isinstance(id_claims.get("sid"), str) else None,
            id_token=id_token,
            login_kind=_login_kind(raw.get(c.login_kind_claim) if c.login_kind_claim else None),
        )


def _login_kind(value: object) -> str | None:
    """A short code or nothing: the value ends up in audit records and statistics labels."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,32}", value):
        return value.lower()
    return None


def _validate(claims: dict, issuer: str, leeway: int = CLOCK_SKEW, **options: dict) -> None:
    """The registered claims of an upstream JWT: `iss` always, the rest as asked."""
    registry = jwt.JWTClaimsRegistry(
        leeway=leeway, iss={"essential": True, "value": issuer}, **options
    )
    try:
        registry.validate(claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise UpstreamError("bad_token", f"claims: {exc}") from exc


def _iso_date(value: str) -> str | None:
    """ISO 8601 (OIDC `birthdate`) from NgayThangNamSinh: yyyymmdd, yyyy-mm-dd, dd/mm/yyyy,
    or a year alone (a person whose day and month are not recorded); an impossible date is
    not carried."""
    value = value.strip()[:32]
    day_first = re.fullmatch(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})", value)
    if day_first:
        day, month, year = day_first.groups()
    else:
        digits = value.split("T")[0].replace("-", "").replace("/", "")
        if not (digits.isascii() and digits.isdigit()):
            return None
        if len(digits) == 4:
            return digits
        if len(digits) != 8:
            return None
        year, month, day = digits[:4], digits[4:6], digits[6:]
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


def _national_phone(value: str) -> str | None:
    """A Vietnamese mobile or landline number in the hub's stored form (0 and 9–10 digits),
    from 0…, 84… or +84… with spaces, dots or dashes; the claims give it out as E.164."""
    digits = re.sub(r"[\s.()-]", "", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    return digits if re.fullmatch(r"0[0-9]{9,10}", digits) else None


def connectors(config) -> dict[str, Connector]:  # noqa: ANN001
    """The configured connectors, in configuration order."""
    return {name: Connector(name, c) for name, c in config.connectors.items()}
