"""Client systems described as files: one `clients/*.toml` per departmental system.

Secrets are never in these files in the clear: a file gives `client_secret_sha256` (the hex
digest) or `client_secret_env` (the name of an environment variable holding the secret).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from flask import has_app_context

from ..security import sha256_hex
from . import clients
from .db import db

ALLOWED_KEYS = {
    "client_id",
    "name",
    "description",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "frontchannel_logout_uri",
    "token_endpoint_auth_method",
    "jwks_uri",
    "jwks",
    "scope",
    "first_party",
    "require_mfa",
    "min_acr",
    "legacy_subject_source",
    "client_secret_sha256",
    "client_secret_env",
    "id_token_signed_response_alg",
    "disabled",
    "dev_only",
}
# What a file sets, by Client column: everything it may say but the id and the secret's source.
FILE_COLUMNS = tuple(
    sorted(
        (ALLOWED_KEYS - {"client_id", "client_secret_sha256", "client_secret_env", "dev_only"})
        | {"client_secret_hash"}
    )
)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class ClientFileError(ValueError):
    pass


def check_uri(uri: str) -> str | None:
    """Why a registered URI is unacceptable, or None: https except loopback, no fragment,
    no wildcard, an absolute URL."""
    if not isinstance(uri, str) or len(uri) > 2000:
        return "not a URL or too long"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an absolute http(s) URL"
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return "must use https (plain http is allowed for loopback only)"
    if parts.fragment or "#" in uri:
        return "must not contain a fragment"
    if "*" in uri:
        return "must not contain wildcards"
    if any(ord(c) < 33 for c in uri):
        return "must not contain spaces or control characters"
    return None


def load_file(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ClientFileError(f"{path}: {exc}") from exc
    unknown = set(data) - ALLOWED_KEYS
    if unknown:
        raise ClientFileError(f"{path}: unknown keys {sorted(unknown)}")
    for required in ("client_id", "name", "redirect_uris"):
        if required not in data:
            raise ClientFileError(f"{path}: missing '{required}'")
    if not isinstance(data["redirect_uris"], list) or not data["redirect_uris"]:
        raise ClientFileError(f"{path}: redirect_uris must be a non-empty list")
    uris = list(data["redirect_uris"]) + list(data.get("post_logout_redirect_uris", []))
    uris += [
        data[k]
        for k in ("backchannel_logout_uri", "frontchannel_logout_uri", "jwks_uri")
        if data.get(k)
    ]
    for uri in uris:
        problem = check_uri(uri)
        if problem:
            raise ClientFileError(f"{path}: {uri}: {problem}")
    for flag in ("first_party", "require_mfa", "disabled", "dev_only"):
        if flag in data and not isinstance(data[flag], bool):
            raise ClientFileError(f"{path}: {flag} must be true or false")
    if "min_acr" in data and not (isinstance(data["min_acr"], str) and len(data["min_acr"]) <= 32):
        raise ClientFileError(f"{path}: min_acr must be an acr value such as LoA2")
    if data.get("min_acr") and has_app_context():
        from ..login import assurance

        if assurance.rank(data["min_acr"]) < 0:  # unknown: read as "no requirement"
            raise ClientFileError(
                f"{path}: min_acr must be one of the hub's levels: {' '.join(assurance.levels())}"
            )
    source = data.get("legacy_subject_source")
    if source is not None and not (
        isinstance(source, str) and re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", source)
    ):
        raise ClientFileError(f"{path}: legacy_subject_source must name an import source")
    method = data.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in clients.AUTH_METHODS:
        raise ClientFileError(f"{path}: unknown token_endpoint_auth_method {method}")
    data["token_endpoint_auth_method"] = method
    secret_hash = data.pop("client_secret_sha256", None)
    secret_env = data.pop("client_secret_env", None)
    if method in ("client_secret_basic", "client_secret_post"):
        if secret_env:
            secret = os.environ.get(secret_env)
            if not secret:
                raise ClientFileError(f"{path}: environment variable {secret_env} is not set")
            secret_hash = sha256_hex(secret)
        if not secret_hash or len(secret_hash) != 64:
            raise ClientFileError(
                f"{path}: give client_secret_sha256 (64 hex digits) or client_secret_env"
            )
        data["client_secret_hash"] = secret_hash.lower()
    if method == "private_key_jwt" and not (data.get("jwks_uri") or data.get("jwks")):
        raise ClientFileError(f"{path}: private_key_jwt needs jwks_uri or jwks")
    return data


def sync_directory(folder: Path) -> list[tuple[str, str, str]]:
    """Create or update a client per file; returns (file, client_id, created|updated|skipped).

    A file marked `dev_only` (the demo client) is skipped: only `idp dev` registers it."""
    results = []
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    loaded = []
    for path in files:  # validate all before writing any
        dev_only = _dev_only(path)
        if dev_only:
            results.append((str(path), dev_only, "skipped (dev_only)"))
        else:
            loaded.append((path, load_file(path)))
    for path, data in loaded:
        results.append((str(path), *sync_one(data)))
    return results


def _dev_only(path: Path) -> str | None:
    """The client_id of a file marked `dev_only = true`, else None (read before validation: a
    dev-only file's secret variable is only set by `idp dev`)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # load_file reports it
    if data.get("dev_only") is True:
        return str(data.get("client_id", path.stem))
    return None


def sync_one(data: dict) -> tuple[str, str]:
    """Create or update one client from a loaded file; returns (client_id, created|updated)."""
    client = clients.find(data["client_id"])
    action = "updated"
    if client is None:
        client, _ = clients.create(
            name=data["name"],
            redirect_uris=data["redirect_uris"],
            auth_method=data["token_endpoint_auth_method"],
            client_id=data["client_id"],
            client_secret_hash=data.get("client_secret_hash"),
            source="file",
        )
        action = "created"
    for key in FILE_COLUMNS:
        if key in data:
            setattr(client, key, data[key])
    client.source = "file"
    db.session.commit()
    clients.forget(client.client_id)
    return data["client_id"], action
