"""Which user claims each scope releases, and the `claims` request parameter (OIDC Core §5.4-5.5).

The CMND/CCCD number is released under its own `national_id` scope, an organisation's tax code
under `tax_code`, each only to client systems registered with that scope.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749.util import scope_to_list

from ..accounts import divisions
from ..security import load_json
from ..store.legacy_subjects import subject_for
from ..store.models import Client, User

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "preferred_username", "birthdate", "gender", "updated_at", "account_type"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
    "national_id": ("national_id",),
    "tax_code": ("tax_code",),
}
SUPPORTED_SCOPES = tuple(SCOPE_CLAIMS)
CLAIM_SCOPE = {claim: scope for scope, claims in SCOPE_CLAIMS.items() for claim in claims}
SUPPORTED_CLAIMS = sorted(
    {"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash"}
    | set(CLAIM_SCOPE)
)

MAX_CLAIMS_PARAM = 4096


def _phone_e164(phone: str | None) -> str | None:
    """Stored numbers are Vietnamese national form (0…); OIDC asks for E.164 (+84…)."""
    if not phone:
        return None
    if phone.startswith("0"):
        return "+84" + phone[1:]
    return phone if phone.startswith("+") else "+" + phone


def _address(user: User) -> dict[str, str] | None:
    """The OIDC address object (Core §5.1.1): the address as written, and its parts when the
    account has them (a business's head office: street, ward, province)."""
    if not user.address:
        return None
    address = {"formatted": user.address, "country": "VN"}
    ward = divisions.ward(user.province_code, user.ward_code)
    province = divisions.province(user.province_code)
    if ward is not None and province is not None:
        if user.street:
            address["street_address"] = user.street
        address.update(locality=ward.name, region=province.label)
    return address


def _value(user: User, claim: str) -> Any:
    match claim:
        case "name":
            return user.full_name
        case "preferred_username":
            return user.username
        case "birthdate":
            return user.birthdate
        case "gender":
            return user.gender or user.sex
        case "updated_at":
            return user.updated_at
        case "account_type":
            return user.account_type
        case "email":
            return user.email
        case "email_verified":
            return bool(user.email_verified) if user.email else None
        case "phone_number":
            return _phone_e164(user.phone)
        case "phone_number_verified":
            return bool(user.phone_verified) if user.phone else None
        case "address":
            return _address(user)
        case "national_id":
            return user.national_id
        case "tax_code":
            return user.tax_code
    return None


def user_claims(
    user: User, scope: str, client: Client, requested: dict | None = None
) -> dict[str, Any]:
    """Claims for the granted scope, plus individually requested ones the client may see."""
    granted = set(scope_to_list(scope) or [])
    names: list[str] = []
    for s in SUPPORTED_SCOPES:
        if s in granted:
            names.extend(SCOPE_CLAIMS[s])
    for claim in requested or {}:
        owner = CLAIM_SCOPE.get(claim)
        if owner and client.allows_scope(owner) and claim not in names:
            names.append(claim)
    out: dict[str, Any] = {"sub": subject_for(user, client)}
    for claim in names:
        if claim == "sub":
            continue
        value = _value(user, claim)
        if value is not None:
            out[claim] = value
    return out


def parse_claims_parameter(raw: str | None) -> dict | None:
    """Validate the JSON `claims` request parameter; raises invalid_request when malformed."""
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_CLAIMS_PARAM:
        raise InvalidRequestError("The 'claims' parameter is too large.")
    try:
        data = load_json(raw)
    except ValueError:
        raise InvalidRequestError(
            "The 'claims' parameter is not valid JSON (or nests too deeply)."
        ) from None
    if not isinstance(data, dict) or set(data) - {"userinfo", "id_token"}:
        raise InvalidRequestError(
            "The 'claims' parameter must be an object with 'userinfo' and/or 'id_token' members."
        )
    out: dict[str, dict] = {}
    for member, claims in data.items():
        if claims is None:
            continue
        if not isinstance(claims, dict):
            raise InvalidRequestError(f"'claims.{member}' must be an object.")
        for spec in claims.values():
            if spec is not None and not isinstance(spec, dict):
                raise InvalidRequestError("Each requested claim must be null or an object.")
        out[member] = {name: spec for name, spec in claims.items() if isinstance(name, str)}
    return out
