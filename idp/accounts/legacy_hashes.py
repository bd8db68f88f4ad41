"""Password hashes of former portals: recognised, checked once at the owner's next sign-in,
then replaced by the hub's argon2id (see passwords.py).

Stored forms (the `users.password_hash` column holds them as they are written here):

- argon2 (`$argon2id$…`, `$argon2i$…`, `$argon2d$…`): PHC strings, as argon2-cffi writes them;
- bcrypt `$2a$`, `$2b$`, `$2y$` (the first 72 bytes of the password count, as they did);
- PBKDF2: Django's `pbkdf2_sha256$iterations$salt$base64` (and `pbkdf2_sha1$…`), and
  `$pbkdf2-sha256$iterations$salt-base64$hash-base64` (also -sha512, -sha1), the form a
  Keycloak credential is turned into;
- salted SHA-256: LDAP's `{SSHA256}base64(digest + salt)` with digest = SHA-256(password +
  salt), and `sha256$salt$hex` with hex = SHA-256(salt + password), the usual PHP form;
- unsalted MD5 and SHA-1 (32 or 40 hex digits, or LDAP `{MD5}`/`{SHA}`), stored as
  `$legacy-md5$hex` / `$legacy-sha1$hex`, only when the configuration allows them.

Anything else is not recognised: such an account is imported without a password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re

import bcrypt

# PBKDF2 costs outside these bounds are refused at import: below, not a real hash; above, one
# sign-in attempt would keep a worker busy for minutes (a crafted file's denial of service).
MIN_ITERATIONS = 1000
MAX_ITERATIONS = 2_000_000
MAX_STORED = 255  # the column's width

_PBKDF2_DIGESTS = {"sha1": "sha1", "sha256": "sha256", "sha512": "sha512"}
_BCRYPT_RE = re.compile(r"\$2[aby]\$(0[4-9]|1\d|2[0-9]|3[01])\$[./A-Za-z0-9]{53}")
_ARGON2_RE = re.compile(
    r"\$argon2(id|i|d)\$(v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+"
)
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
# argon2 costs a crafted file may not exceed (memory in KiB): one check must stay cheap.
_ARGON2_MAX_MEMORY = 1024 * 1024
_ARGON2_MAX_TIME = 20


class Unrecognised(ValueError):
    """The value is no password hash form the hub accepts; the reason is safe to print."""


def _b64(value: str) -> bytes:
    value = value.strip()
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unrecognised("not base64") from exc


def _b64s(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _iterations(value: str | int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError) as exc:
        raise Unrecognised("PBKDF2 iterations not a number") from exc
    if not MIN_ITERATIONS <= n <= MAX_ITERATIONS:
        raise Unrecognised("PBKDF2 iterations out of range")
    return n


def _argon2_params_ok(value: str) -> bool:
    params = dict(p.split("=", 1) for p in value.split("$")[3 if "$v=" in value else 2].split(","))
    return int(params["m"]) <= _ARGON2_MAX_MEMORY and int(params["t"]) <= _ARGON2_MAX_TIME


def is_unsalted(stored: str | None) -> bool:
    return bool(stored) and stored.startswith(("$legacy-md5$", "$legacy-sha1$"))


def is_argon2(stored: str | None) -> bool:
    return bool(stored) and stored.startswith("$argon2")


def scheme(stored: str) -> str:
    """A short name of the stored form, for the audit trail (never the hash itself)."""
    if stored.startswith("$argon2"):
        return stored.split("$")[1]
    if stored.startswith("$2"):
        return "bcrypt"
    if stored.startswith(("pbkdf2_", "$pbkdf2-")):
        return "pbkdf2"
    if stored.startswith(("{SSHA256}", "sha256$")):
        return "salted-sha256"
    if stored.startswith("$legacy-md5$"):
        return "md5"
    if stored.startswith("$legacy-sha1$"):
        return "sha1"
    return "unknown"


def normalize(value: str, allow_unsalted: bool) -> str:
    """The stored form of an imported hash, checked for shape and cost; raises Unrecognised."""
    if not isinstance(value, str) or not value or len(value) > MAX_STORED:
        raise Unrecognised("empty or too long")
    value = value.strip()
    if value.startswith("$argon2"):
        if not _ARGON2_RE.fullmatch(value):
            raise Unrecognised("malformed argon2 hash")
        if not _argon2_params_ok(value):
            raise Unrecognised("argon2 cost out of range")
        return value
    if value.startswith("$2"):
        if not _BCRYPT_RE.fullmatch(value):
            raise Unrecognised("malformed bcrypt hash")
        return value
    if value.startswith("pbkdf2_"):
        parts = value.split("$")
        algo = parts[0].removeprefix("pbkdf2_")
        if len(parts) != 4 or algo not in ("sha1", "sha256") or not parts[2]:
            raise Unrecognised("malformed Django PBKDF2 hash")
        _iterations(parts[1])
        if len(_b64(parts[3])) < 16:
            raise Unrecognised("PBKDF2 hash too short")
        return value
    if value.startswith("$pbkdf2-"):
        parts = value.split("$")
        if len(parts) != 5 or parts[1].removeprefix("pbkdf2-") not in _PBKDF2_DIGESTS:
            raise Unrecognised("malformed PBKDF2 hash")
        _iterations(parts[2])
        if not _b64(parts[3]) or len(_b64(parts[4])) < 16:
            raise Unrecognised("PBKDF2 salt or hash too short")
        return value
    if value.startswith("{SSHA256}"):
        if len(_b64(value[9:])) <= 32:
            raise Unrecognised("salted SHA-256 without a salt")
        return value
    if value.startswith("sha256$"):
        parts = value.split("$")
        if len(parts) != 3 or not parts[1] or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[2]):
            raise Unrecognised("malformed salted SHA-256 hash")
        return f"sha256${parts[1]}${parts[2].lower()}"
    unsalted = _unsalted(value)
    if unsalted is not None:
        if not allow_unsalted:
            raise Unrecognised("unsalted MD5/SHA-1 not allowed by configuration")
        return unsalted
    raise Unrecognised("unknown password hash form")


def _unsalted(value: str) -> str | None:
    if value.startswith("{MD5}") or value.startswith("{SHA}"):
        raw = _b64(value[5:])
        kind = "md5" if value.startswith("{MD5}") else "sha1"
        if len(raw) != (16 if kind == "md5" else 20):
            raise Unrecognised(f"malformed {kind.upper()} hash")
        return f"$legacy-{kind}${raw.hex()}"
    if _HEX_RE.fullmatch(value) and len(value) in (32, 40):
        return f"$legacy-{'md5' if len(value) == 32 else 'sha1'}${value.lower()}"
    return None


def from_keycloak(credential: dict) -> str:
    """The stored form of one Keycloak password credential (its `secretData` and
    `credentialData` are JSON texts); raises Unrecognised."""
    try:
        secret = json.loads(credential.get("secretData") or "{}")
        data = json.loads(credential.get("credentialData") or "{}")
    except (TypeError, ValueError, RecursionError) as exc:
        raise Unrecognised("credential data not JSON") from exc
    if not isinstance(secret, dict) or not isinstance(data, dict):
        raise Unrecognised("credential data not an object")
    algorithm = data.get("algorithm")
    value, salt = secret.get("value"), secret.get("salt")
    if not isinstance(value, str) or not isinstance(algorithm, str):
        raise Unrecognised("credential without a value or algorithm")
    extra = data.get("additionalParameters") or {}
    if algorithm in ("pbkdf2", "pbkdf2-sha1", "pbkdf2-sha256", "pbkdf2-sha512"):
        digest = "sha1" if algorithm in ("pbkdf2", "pbkdf2-sha1") else algorithm[7:]
        if not isinstance(salt, str):
            raise Unrecognised("PBKDF2 credential without a salt")
        stored = f"$pbkdf2-{digest}${_iterations(data.get('hashIterations'))}${salt}${value}"
        return normalize(stored, allow_unsalted=False)
    if algorithm == "argon2" and isinstance(salt, str) and isinstance(extra, dict):
        first = {k: (v[0] if isinstance(v, list) and v else v) for k, v in extra.items()}
        kind = first.get("type", "id")
        version = {"1.3": 19, "1.0": 16}.get(first.get("version", "1.3"))
        try:
            m, t, p = (
                int(first.get(k, d))
                for k, d in (("memory", 7168), ("iterations", 5), ("parallelism", 1))
            )
        except (TypeError, ValueError) as exc:
            raise Unrecognised("argon2 credential parameters not numbers") from exc
        if kind not in ("id", "i", "d") or version is None:
            raise Unrecognised("argon2 credential of an unknown type or version")
        b64 = base64.b64encode
        stored = (
            f"$argon2{kind}$v={version}$m={m},t={t},p={p}$"
            f"{b64(_b64(salt)).decode().rstrip('=')}${b64(_b64(value)).decode().rstrip('=')}"
        )
        return normalize(stored, allow_unsalted=False)
    if algorithm == "bcrypt":
        return normalize(value, allow_unsalted=False)
    raise Unrecognised("unknown Keycloak credential algorithm")


def verify(stored: str, password: str, allow_unsalted: bool) -> bool:
    """Check a password against a non-argon2 stored form, in constant time per form."""
    secret = password.encode()
    try:
        if stored.startswith("$2"):
            return bcrypt.checkpw(secret[:72], stored.encode())
        if stored.startswith("pbkdf2_"):
            algo, iterations, salt, expected = stored.split("$")
            want = _b64(expected)
            got = hashlib.pbkdf2_hmac(
                algo.removeprefix("pbkdf2_"),
                secret,
                salt.encode(),
                _iterations(iterations),
                len(want),
            )
            return hmac.compare_digest(got, want)
        if stored.startswith("$pbkdf2-"):
            _, algo, iterations, salt, expected = stored.split("$")
            want = _b64(expected)
            got = hashlib.pbkdf2_hmac(
                _PBKDF2_DIGESTS[algo.removeprefix("pbkdf2-")],
                secret,
                _b64(salt),
                _iterations(iterations),
                len(want),
            )
            return hmac.compare_digest(got, want)
        if stored.startswith("{SSHA256}"):
            raw = _b64(stored[9:])
            digest, salt = raw[:32], raw[32:]
            return hmac.compare_digest(hashlib.sha256(secret + salt).digest(), digest)
        if stored.startswith("sha256$"):
            _, salt, expected = stored.split("$")
            got = hashlib.sha256(salt.encode() + secret).hexdigest()
            return hmac.compare_digest(got, expected)
        if is_unsalted(stored) and allow_unsalted:
            _, kind, expected = stored.split("$")
            got = hashlib.new(kind.removeprefix("legacy-"), secret, usedforsecurity=False)
            return hmac.compare_digest(got.hexdigest(), expected)
    except (Unrecognised, ValueError, KeyError):
        return False
    return False
