"""Signing keys: create, rotate, load once per process, publish as JWKS.

Each key is two files in the keys folder: ``<kid>.pem`` (PKCS#8 private key, mode 0600,
encrypted when a passphrase is set) and ``<kid>.json`` (algorithm, creation and retirement
times). Rotation retires the current key of an algorithm and adds a new one that signs from
then on; a retired key stays in the JWKS until everything it signed has expired.

Parsing a PEM costs tens of milliseconds, so workers parse each key once and only look at the
folder again (one ``stat``) when it changed, at most once a second.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, KeySet, RSAKey

SUPPORTED_ALGS = ("RS256", "ES256")


class SigningKeyError(RuntimeError):
    """No usable signing key, or a key file that cannot be read."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    created_at: int
    retired_at: int | None
    key: RSAKey | ECKey

    def public_jwk(self) -> dict:
        return self.key.as_dict(private=False)


def _passphrase(env_name: str) -> bytes | None:
    value = os.environ.get(env_name)
    return value.encode() if value else None


def generate_key(keys_dir: Path, alg: str, passphrase: bytes | None, now: int | None = None) -> str:
    """Write a new private key and its metadata; returns the kid."""
    if alg not in SUPPORTED_ALGS:
        raise SigningKeyError(f"unsupported algorithm {alg}")
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = int(time.time()) if now is None else now
    kid = f"{alg.lower()}-{time.strftime('%Y%m%d', time.gmtime(now))}-{secrets.token_hex(4)}"
    private = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    _write_private(keys_dir / f"{kid}.pem", pem)
    _write_private(
        keys_dir / f"{kid}.json",
        json.dumps({"kid": kid, "alg": alg, "created_at": now, "retired_at": None}).encode(),
    )
    return kid


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_metadata(keys_dir: Path) -> list[dict]:
    if not keys_dir.is_dir():
        return []
    out = []
    for meta_path in sorted(keys_dir.glob("*.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise SigningKeyError(f"cannot read key metadata {meta_path}: {exc}") from exc
        out.append(meta)
    return out


def ensure_keys(keys_dir: Path, passphrase_env: str) -> list[str]:
    """Create one key per supported algorithm where none is active; returns the new kids."""
    active = {m["alg"] for m in read_metadata(keys_dir) if not m.get("retired_at")}
    return [
        generate_key(keys_dir, alg, _passphrase(passphrase_env))
        for alg in SUPPORTED_ALGS
        if alg not in active
    ]


def rotate(
    keys_dir: Path, passphrase_env: str, algs: tuple[str, ...] = SUPPORTED_ALGS
) -> list[str]:
    """Retire the active key of each algorithm and add a new one that signs from now on."""
    now = int(time.time())
    new = [generate_key(keys_dir, alg, _passphrase(passphrase_env), now) for alg in algs]
    for meta in read_metadata(keys_dir):
        if meta["alg"] in algs and not meta.get("retired_at") and meta["kid"] not in new:
            meta["retired_at"] = now
            _write_private(keys_dir / f"{meta['kid']}.json", json.dumps(meta).encode())
    return new


def prune(keys_dir: Path, max_token_lifetime: int, now: int | None = None) -> list[str]:
    """Delete key files whose retirement is older than anything they could have signed."""
    now = int(time.time()) if now is None else now
    removed = []
    for meta in read_metadata(keys_dir):
        retired = meta.get("retired_at")
        if retired and retired + max_token_lifetime < now:
            for suffix in (".pem", ".json"):
                (keys_dir / f"{meta['kid']}{suffix}").unlink(missing_ok=True)
            removed.append(meta["kid"])
    return removed


class KeyRing:
    """The keys of one process: parsed once, reloaded only when the folder changes."""

    RECHECK_SECONDS = 1.0

    def __init__(self, keys_dir: Path, passphrase_env: str, publish_window: int) -> None:
        self.keys_dir = keys_dir
        self.passphrase_env = passphrase_env
        # A retired public key stays published this long after retirement.
        self.publish_window = publish_window
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._mtime: float | None = None
        self._checked = 0.0
        self._jwks_cache: tuple[float, dict] | None = None

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.RECHECK_SECONDS and self._keys:
            return
        with self._lock:
            self._checked = now
            try:
                mtime = self.keys_dir.stat().st_mtime_ns
            except FileNotFoundError as exc:
                raise SigningKeyError(
                    f"keys folder {self.keys_dir} does not exist; run `idp init`"
                ) from exc
            if mtime == self._mtime and self._keys:
                return
            loaded: dict[str, SigningKey] = {}
            passphrase = _passphrase(self.passphrase_env)
            for meta in read_metadata(self.keys_dir):
                kid = meta["kid"]
                cached = self._keys.get(kid)
                if cached is not None:
                    loaded[kid] = SigningKey(
                        kid, meta["alg"], meta["created_at"], meta.get("retired_at"), cached.key
                    )
                    continue
                pem_path = self.keys_dir / f"{kid}.pem"
                try:
                    private = serialization.load_pem_private_key(pem_path.read_bytes(), passphrase)
                except (OSError, ValueError, TypeError) as exc:
                    raise SigningKeyError(f"cannot load signing key {pem_path}: {exc}") from exc
                key_cls = RSAKey if meta["alg"] == "RS256" else ECKey
                loaded[kid] = SigningKey(
                    kid,
                    meta["alg"],
                    meta["created_at"],
                    meta.get("retired_at"),
                    key_cls.import_key(private, {"kid": kid, "alg": meta["alg"], "use": "sig"}),
                )
            self._keys = loaded
            self._mtime = mtime
            self._jwks_cache = None

    def signing_key(self, alg: str) -> SigningKey:
        """The newest active key for the algorithm."""
        self._refresh()
        active = [k for k in self._keys.values() if k.alg == alg and not k.retired_at]
        if not active:
            raise SigningKeyError(f"no active {alg} signing key in {self.keys_dir}; run `idp init`")
        return max(active, key=lambda k: (k.created_at, k.kid))

    def published(self, now: int | None = None) -> list[SigningKey]:
        self._refresh()
        now = int(time.time()) if now is None else now
        return sorted(
            (
                k
                for k in self._keys.values()
                if not k.retired_at or k.retired_at + self.publish_window >= now
            ),
            key=lambda k: (k.retired_at is not None, -k.created_at, k.kid),
        )

    def jwks(self) -> dict:
        """The public JWKS document, rebuilt when keys change or a retired key ages out."""
        self._refresh()
        now = time.time()
        if self._jwks_cache and now - self._jwks_cache[0] < 60:
            return self._jwks_cache[1]
        doc = {"keys": [k.public_jwk() for k in self.published(int(now))]}
        self._jwks_cache = (now, doc)
        return doc

    def verification_keyset(self) -> KeySet:
        """Every published key, for checking tokens the hub signed (e.g. id_token_hint)."""
        return KeySet([k.key for k in self.published()])

    def all_keys(self) -> list[SigningKey]:
        self._refresh()
        return list(self._keys.values())
