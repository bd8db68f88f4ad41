"""Authentication levels (`acr`) and the second-factor policy.

The hub's levels are ordered lowest first: a password alone (`login.password_acr`), then a
password with a second factor (`login.mfa_acr`), then national levels above those. A request
needs a level when its client requires MFA, or when its `acr_values` name a level (any named
level the hub knows satisfies it, so the lowest known one is what is needed). A password
sign-in also continues with a second factor when the configuration asks every user, or when
the user has an authenticator app (then every sign-in uses it).
"""

from __future__ import annotations

from flask import current_app

from ..store.models import Client, User

SECOND_FACTOR_AMR = {"sms": "sms", "totp": "otp", "recovery": None}


def levels() -> list[str]:
    """Password, password + second factor, then the national levels the connectors map to (a
    VNeID level-2 identity outranks a local second factor)."""
    config = current_app.config["IDP"]
    ladder = [config.login.password_acr, config.login.mfa_acr]
    for connector in config.connectors.values():
        for level in sorted(set(connector.levels.values())):
            if level not in ladder:
                ladder.append(level)
    return ladder


def rank(acr: str | None) -> int:
    """Position of a level on the ladder; -1 for none or a value the hub does not issue."""
    ladder = levels()
    return ladder.index(acr) if acr in ladder else -1


def satisfies(acr: str | None, required: str | None) -> bool:
    return required is None or rank(acr) >= rank(required)


def requested(acr_values: str | None) -> str | None:
    """The level a request's `acr_values` asks for: the lowest one the hub knows, if any."""
    known = [value for value in (acr_values or "").split() if rank(value) >= 0]
    return min(known, key=rank) if known else None


def essential_acr(claims_param: str | None) -> str | None:
    """The level an essential `acr` in the `claims` parameter asks for (OIDC Core §5.5.1.1):
    like acr_values, the lowest named level the hub knows. Malformed input asks for nothing
    here; the authorization endpoint refuses it on its own."""
    from ..security import load_json

    try:
        data = load_json(claims_param) if claims_param else None
    except ValueError:
        return None
    id_token = data.get("id_token") if isinstance(data, dict) else None
    acr = id_token.get("acr") if isinstance(id_token, dict) else None
    if not isinstance(acr, dict) or acr.get("essential") is not True:
        return None
    values = acr.get("values") if isinstance(acr.get("values"), list) else [acr.get("value")]
    return requested(" ".join(v for v in values if isinstance(v, str)))


def required_level(params: dict, client: Client | None, user: User | None) -> str | None:
    """The lowest level this authorization may be answered with (None: anything goes)."""
    cfg = current_app.config["IDP"].login
    needed = [requested(params.get("acr_values")), essential_acr(params.get("claims"))]
    if client is not None and client.require_mfa:
        needed.append(cfg.mfa_acr)
    if client is not None and client.min_acr and rank(client.min_acr) >= 0:
        needed.append(client.min_acr)
    known = [level for level in needed if level]
    return max(known, key=rank) if known else None


def only_national_reaches(level: str | None) -> bool:
    """Whether a level is above what a local password and second factor can give."""
    return level is not None and rank(level) > rank(current_app.config["IDP"].login.mfa_acr)


def second_factor_at_login(user: User, required: str | None) -> bool:
    """Whether a sign-in with the right password must continue with a second factor, given
    the level the request needs (`required_level`)."""
    from ..broker import policy
    from . import totp

    cfg = current_app.config["IDP"].login
    if cfg.require_mfa or totp.enrolment(user) is not None or policy.needs_second_factor(user):
        return True
    return not satisfies(cfg.password_acr, required)


def amr_for(method: str, before: list[str]) -> list[str]:
    """`amr` after a second factor (RFC 8176): what was used before, the method, and `mfa`."""
    values = list(before)
    for value in (SECOND_FACTOR_AMR.get(method), "mfa"):
        if value and value not in values:
            values.append(value)
    return values
