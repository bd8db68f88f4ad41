"""Registering and looking after client systems, shared by the console and the REST API.

Every change is audited with who made it (`by`: an admin's username or `api:<client_id>`) and,
through the audit record, when and from which IP. Validation gives one message per field so
the console can show it beside the field and the API can return it as JSON.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import delete as sql_delete
from sqlalchemy import or_, select

from ..login import assurance
from ..oidc.claims import SUPPORTED_SCOPES
from ..security import new_secret, sha256_hex
from ..store import audit, clients
from ..store.client_files import check_uri
from ..store.db import db
from ..store.models import Client, Consent, Token

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
SERVICE_SCOPES = ("admin",)  # only ever granted to client-credentials clients
STRING_LIMITS = {"name": 200, "description": 2000, "min_acr": 32}
URI_LISTS = ("redirect_uris", "post_logout_redirect_uris")
URI_FIELDS = ("backchannel_logout_uri", "frontchannel_logout_uri", "jwks_uri")
FLAGS = ("first_party", "require_mfa")
EDITABLE = (
    "name",
    "description",
    *URI_LISTS,
    *URI_FIELDS,
    "token_endpoint_auth_method",
    "grant_types",
    "scope",
    *FLAGS,
    "min_acr",
)
MAX_URIS = 20


@dataclass
class Checked:
    """Clean values for the fields given, and one message per field that was wrong."""

    values: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def check(data: dict, *, existing: Client | None = None) -> Checked:
    """Validate the given fields (all of them for a new client, any subset for an update)."""
    out = Checked()
    unknown = set(data) - set(EDITABLE)
    for name in sorted(unknown):
        out.errors[name] = "unknown field"
    for name, limit in STRING_LIMITS.items():
        if name in data:
            value = data[name]
            if value is None and name != "name":
                out.values[name] = None
            elif not isinstance(value, str) or len(value) > limit or "\x00" in value:
                out.errors[name] = f"text of at most {limit} characters"
            elif name == "name" and not value.strip():
                out.errors[name] = "required"
            else:
                out.values[name] = value.strip() or None
    for name in URI_LISTS:
        if name in data:
            value = data[name]
            if not isinstance(value, list) or len(value) > MAX_URIS:
                out.errors[name] = f"a list of at most {MAX_URIS} URLs"
                continue
            problems = [f"{uri}: {check_uri(uri)}" for uri in value if check_uri(uri)]
            if problems:
                out.errors[name] = "; ".join(str(p) for p in problems)
            else:
                out.values[name] = list(dict.fromkeys(value))
    for name in URI_FIELDS:
        if name in data:
            value = data[name]
            if value in (None, ""):
                out.values[name] = None
            elif not isinstance(value, str) or check_uri(value):
                out.errors[name] = check_uri(value) if isinstance(value, str) else "a URL"
            else:
                out.values[name] = value
    for name in FLAGS:
        if name in data:
            if isinstance(data[name], bool):
                out.values[name] = data[name]
            else:
                out.errors[name] = "true or false"
    if "token_endpoint_auth_method" in data:
        if data["token_endpoint_auth_method"] in AUTH_METHODS:
            out.values["token_endpoint_auth_method"] = data["token_endpoint_auth_method"]
        else:
            out.errors["token_endpoint_auth_method"] = "one of " + ", ".join(AUTH_METHODS)
    if "grant_types" in data:
        value = data["grant_types"]
        if (
            not isinstance(value, list)
            or not value
            or any(g not in GRANT_TYPES for g in value if isinstance(g, str))
            or not all(isinstance(g, str) for g in value)
        ):
            out.errors["grant_types"] = "a non-empty list of " + ", ".join(GRANT_TYPES)
        else:
            out.values["grant_types"] = list(dict.fromkeys(value))
    if "scope" in data:
        value = data["scope"]
        known = set(SUPPORTED_SCOPES) | set(SERVICE_SCOPES)
        if not isinstance(value, str) or len(value) > 500:
            out.errors["scope"] = "space-separated scopes"
        elif any(s not in known for s in value.split()):
            out.errors["scope"] = "known scopes only: " + " ".join(sorted(known))
        else:
            out.values["scope"] = " ".join(dict.fromkeys(value.split()))
    if out.values.get("min_acr") and assurance.rank(out.values["min_acr"]) < 0:
        # An unknown level would be read as "no requirement": refused, never weakened.
        out.errors["min_acr"] = "one of the hub's levels: " + " ".join(assurance.levels())
    if not out.errors:
        _check_whole(out, existing)
    return out


def _check_whole(out: Checked, existing: Client | None) -> None:
    """Rules across fields, on the client as it would be after the change."""

    def final(name: str, default=None):  # noqa: ANN001, ANN202
        if name in out.values:
            return out.values[name]
        return getattr(existing, name) if existing is not None else default

    if existing is None and not final("name"):
        out.errors["name"] = "required"
    grant_types = final("grant_types", ["authorization_code", "refresh_token"])
    method = final("token_endpoint_auth_method", "client_secret_basic")
    scope = (final("scope", clients.DEFAULT_SCOPE) or "").split()
    service = "client_credentials" in grant_types
    user_facing = "authorization_code" in grant_types
    if user_facing and not final("redirect_uris", []):
        out.errors["redirect_uris"] = "at least one redirect URI"
    if service and method == "none":
        out.errors["token_endpoint_auth_method"] = "client credentials need a confidential client"  # noqa: S105
    if user_facing and set(scope) & set(SERVICE_SCOPES):
        out.errors["scope"] = "the admin scope is only for client-credentials clients"
    if method == "private_key_jwt" and not final("jwks_uri"):
        if existing is None or not existing.jwks:
            out.errors["jwks_uri"] = "private_key_jwt needs the client's jwks_uri"


def to_json(client: Client, secret: str | None = None) -> dict:
    data = {
        "client_id": client.client_id,
        "name": client.name,
        "description": client.description,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "frontchannel_logout_uri": client.frontchannel_logout_uri,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types or []),
        "jwks_uri": client.jwks_uri,
        "scope": client.scope,
        "first_party": bool(client.first_party),
        "require_mfa": bool(client.require_mfa),
        "min_acr": client.min_acr,
        "disabled": bool(client.disabled),
        "source": client.source,
        "created_at": client.created_at,
        "updated_at": client.updated_at,
    }
    if secret:
        data["client_secret"] = secret
    return data


def search(query: str = "", limit: int = 50, offset: int = 0) -> tuple[list[Client], int]:
    """Clients whose id, name or description contains the query; newest first."""
    statement = select(Client)
    if query:
        like = f"%{query.lower()}%"
        statement = statement.where(
            or_(
                db.func.lower(Client.client_id).like(like),
                db.func.lower(Client.name).like(like),
                db.func.lower(db.func.coalesce(Client.description, "")).like(like),
            )
        )
    total = db.session.scalar(select(db.func.count()).select_from(statement.subquery()))
    rows = db.session.scalars(
        statement.order_by(Client.created_at.desc(), Client.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


def create(values: dict, by: str) -> tuple[Client, str | None]:
    """Register a checked client; returns it and its secret (shown once) when it has one."""
    client, secret = clients.create(
        name=values["name"],
        redirect_uris=values.get("redirect_uris", []),
        auth_method=values.get("token_endpoint_auth_method", "client_secret_basic"),
        source="admin",
    )
    for name, value in values.items():
        setattr(client, name, value)
    audit.record("client_created", client_id=client.client_id, by=by, commit=False)
    db.session.commit()
    clients.forget(client.client_id)
    return client, secret


def update(client: Client, values: dict, by: str) -> tuple[list[str], str | None]:
    """Apply checked values; returns the names of the fields that changed, and a new secret
    (shown once) when the client moved to a secret-based authentication method."""
    changed = [name for name, value in values.items() if getattr(client, name) != value]
    for name in changed:
        setattr(client, name, values[name])
    secret = None
    if client.token_endpoint_auth_method in ("none", "private_key_jwt"):
        client.client_secret_hash = None
    elif not client.client_secret_hash:
        secret = new_secret()
        client.client_secret_hash = sha256_hex(secret)
    if changed:
        audit.record(
            "client_updated", client_id=client.client_id, by=by, fields=changed, commit=False
        )
    db.session.commit()
    clients.forget(client.client_id)
    return changed, secret


def rotate_secret(client: Client, by: str) -> str:
    if client.token_endpoint_auth_method not in ("client_secret_basic", "client_secret_post"):
        raise ValueError("this client authenticates without a secret")
    secret = clients.rotate_secret(client)
    audit.record("client_secret_rotated", client_id=client.client_id, by=by)
    return secret


def set_disabled(client: Client, disabled: bool, by: str) -> None:
    clients.set_disabled(client, disabled)
    audit.record(
        "client_disabled" if disabled else "client_enabled", client_id=client.client_id, by=by
    )


def delete(client: Client, by: str) -> None:
    """Remove the client, its consents and its tokens (which stop working at once)."""
    client_id = client.client_id
    db.session.execute(sql_delete(Token).where(Token.client_id == client_id))
    db.session.execute(sql_delete(Consent).where(Consent.client_id == client_id))
    db.session.delete(client)
    audit.record("client_deleted", client_id=client_id, by=by, commit=False)
    db.session.commit()
    clients.forget(client_id)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_LOGO_BYTES = 48 * 1024


def set_logo(client: Client, data: bytes, by: str) -> str | None:
    """Store a PNG logo; returns why it was refused, or None. PNG only: an SVG would be a
    script-capable document on the hub's own origin."""
    if not data.startswith(PNG_MAGIC) or len(data) < 33 or data[12:16] != b"IHDR":
        return "PNG only"
    if len(data) > MAX_LOGO_BYTES:
        return f"at most {MAX_LOGO_BYTES // 1024} KiB"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not (16 <= width <= 1024 and 16 <= height <= 1024):
        return "between 16 and 1024 pixels wide and high"
    client.logo_png = data
    client.logo_version = int(time.time() * 1000)
    audit.record("client_logo_set", client_id=client.client_id, by=by, commit=False)
    db.session.commit()
    clients.forget(client.client_id)
    return None


def remove_logo(client: Client, by: str) -> None:
    client.logo_png = None
    client.logo_version = None
    audit.record("client_logo_removed", client_id=client.client_id, by=by, commit=False)
    db.session.commit()
    clients.forget(client.client_id)
