"""Authorization endpoint (RFC 6749 §3.1, §4.1; OpenID Connect Core §3.1.2; RFC 9207).

The request runs through small named checks. Until the client and its redirect URI are known
to be genuine, every problem is shown to the user as a page and never redirected (RFC 6749
§4.1.2.1); after that, errors go back to the client with `state` and `iss`. When the user must
sign in or consent, the request is parked as an interaction and resumed afterwards.
"""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidRequestError,
    OAuth2Error,
    UnsupportedResponseTypeError,
)
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
)
from flask import current_app, g, redirect, request, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from werkzeug.datastructures import MultiDict

from ..clock import now
from ..errors import IdpError, InteractionExpired, InvalidClientPage, InvalidRedirectPage
from ..login import assurance, interaction, second_factor, sessions
from ..store import clients, consents, records
from ..store.legacy_subjects import subject_for
from ..store.models import Client, User
from .blueprint import bp
from .server import ParamsRequest

MAX_PARAMS = 40
MAX_VALUE_LENGTH = 4096


class RequestTooLarge(IdpError):
    pass


def read_params(values: MultiDict) -> tuple[dict[str, str], set[str]]:
    """Single-valued parameters and the names that were repeated (RFC 6749 §3.1)."""
    if len(values) > MAX_PARAMS:
        raise RequestTooLarge(status=400)
    params: dict[str, str] = {}
    repeated: set[str] = set()
    for name in values:
        items = values.getlist(name)
        if len(items) > 1:
            repeated.add(name)
        value = items[0]
        if len(name) > 64 or len(value) > MAX_VALUE_LENGTH:
            raise RequestTooLarge(status=400)
        params[name] = value
    return params, repeated


def check_client(params: dict[str, str], repeated: set[str]) -> tuple[Client, str]:
    """The client exists and is enabled, and the redirect URI matches exactly."""
    if "client_id" in repeated:
        raise InvalidClientPage()
    client = clients.get(params.get("client_id"))
    if client is None:
        raise InvalidClientPage()
    redirect_uri = params.get("redirect_uri")
    if (
        "redirect_uri" in repeated
        or not redirect_uri
        or not client.check_redirect_uri(redirect_uri)
    ):
        raise InvalidRedirectPage()
    return client, redirect_uri


def redirect_error(error: OAuth2Error, redirect_uri: str, state: str | None):  # noqa: ANN201
    """An error response to the client's registered redirect URI, with `iss` (RFC 9207)."""
    query = [("error", error.error)]
    if error.description:
        query.append(("error_description", error.description))
    if state:
        query.append(("state", state))
    query.append(("iss", current_app.config["IDP"].issuer))
    return redirect(add_params_to_uri(redirect_uri, query), 302)


def check_id_token_hint(hint: str, client: Client) -> dict:
    """The hint must be an ID token this hub issued to this client; expiry does not matter."""
    try:
        token = jwt.decode(
            hint,
            current_app.extensions["idp_keys"].verification_keyset(),
            algorithms=["RS256", "ES256"],
        )
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidRequestError("Invalid 'id_token_hint'.") from exc
    claims = token.claims
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else (aud or [])
    if claims.get("iss") != current_app.config["IDP"].issuer or client.client_id not in audiences:
        raise InvalidRequestError("The 'id_token_hint' was not issued to this client.")
    return claims


def needs_login(
    params: dict[str, str],
    session: sessions.SsoSession | None,
    user: User | None,
    client: Client,
    ix: dict | None,
) -> bool:
    """Whether the user must (re)authenticate before a code may be issued."""
    if session is None or user is None:
        return True
    just_signed_in = ix is not None and ix.get("login_sid") == session.sid
    if just_signed_in:
        return False
    prompts = set(params.get("prompt", "").split())
    if "login" in prompts:
        return True
    max_age = params.get("max_age")
    if max_age is not None and now() - session.auth_time > int(max_age):
        return True
    hint = params.get("id_token_hint")
    if hint and check_id_token_hint(hint, client).get("sub") != subject_for(user, client):
        return True
    return False


def needs_consent(
    params: dict[str, str], user: User, client: Client, scope: str, ix: dict | None
) -> bool:
    if client.first_party:
        return False
    if ix is not None and ix.get("consent_given"):
        return False
    if "consent" in params.get("prompt", "").split():
        return True
    return not consents.covers(user.id, client.client_id, scope)


def authorize_request(
    params: dict[str, str], repeated: set[str], iid: str | None = None, ix: dict | None = None
):  # noqa: ANN201
    client, redirect_uri = check_client(params, repeated)
    state = params.get("state")
    server = current_app.extensions["idp_oauth"]
    if repeated:
        return redirect_error(
            InvalidRequestError(
                "Parameters may not be repeated: " + ", ".join(sorted(repeated))[:200]
            ),
            redirect_uri,
            state,
        )

    response_type = params.get("response_type")
    if response_type != "code":
        error = (
            UnsupportedResponseTypeError("", "Only response_type=code is supported.")
            if response_type
            else InvalidRequestError("Missing 'response_type'.")
        )
        return redirect_error(error, redirect_uri, state)

    session = sessions.current()
    # A read-only record: the authorization only reads the account (the hot SSO path).
    user = records.user_by_id(session.user_id) if session else None
    if user is not None and not user.active:
        user, session = None, None

    oauth_request = ParamsRequest(current_app.config["IDP"].issuer + "/authorize", params)
    if ix is not None and ix.get("denied"):
        # The person declined on the sign-in pages (cancel, or no to consent).
        interaction.finish(iid)
        return redirect_error(AccessDeniedError(ix["denied"]), redirect_uri, state)
    try:
        grant = server.get_consent_grant(oauth_request, end_user=user)
        prompts = set(params.get("prompt", "").split())
        if needs_login(params, session, user, client, ix):
            if "none" in prompts:
                raise LoginRequiredError()
            iid = iid or interaction.create(params)
            return redirect(url_for("login.login", iid=iid))
        required = assurance.required_level(params, client, user)
        if not assurance.satisfies(session.acr, required):
            if "none" in prompts:
                raise InteractionRequiredError("A higher authentication level is needed.")
            if assurance.only_national_reaches(required):
                if ix is not None and ix.get("login_sid") == session.sid:
                    raise AccessDeniedError("The required assurance level was not reached.")
                iid = iid or interaction.create(params)
                return redirect(url_for("login.login", iid=iid, reason="national_level"))
            iid = iid or interaction.create(params)
            return second_factor.begin_step_up(iid, ix or interaction.load(iid), session)
        if needs_consent(params, user, client, oauth_request.scope, ix):
            if "none" in prompts:
                raise ConsentRequiredError()
            iid = iid or interaction.create(params)
            return redirect(url_for("login.consent", iid=iid))
    except OAuth2Error as error:
        return redirect_error(error, redirect_uri, state)

    g.idp_sso_session = session
    response = server.create_authorization_response(oauth_request, grant_user=user, grant=grant)
    if response.status_code == 302:
        sessions.touch(session, client.client_id)
    if iid:
        interaction.finish(iid)
    return response


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():  # noqa: ANN201
    params, repeated = read_params(request.values)
    return authorize_request(params, repeated)


@bp.route("/authorize/resume/<iid>")
def resume(iid: str):  # noqa: ANN201
    ix = interaction.load(iid)
    if "params" not in ix:  # a sign-in to the hub's own pages has no request to resume
        raise InteractionExpired(status=400)
    return authorize_request(ix["params"], set(), iid, ix)
