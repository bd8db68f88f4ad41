"""Admin REST API, /admin/api/v1: client systems and accounts, for the province's automation.

Authenticated with the hub's own access tokens (RFC 6750): a client registered for the
client_credentials grant with the `admin` scope gets one at /token. A user's token never opens
it, whatever its scope. Described by the OpenAPI 3.1 document at /admin/api/openapi.json.
"""

from __future__ import annotations

import functools

from authlib.integrations.flask_oauth2 import ResourceProtector, current_token
from authlib.oauth2.rfc6750 import BearerTokenValidator, InsufficientScopeError
from flask import Blueprint, Response, jsonify, request

from ..store import clients as store_clients
from ..store import tokens
from . import client_admin, user_admin
from .openapi import document

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")
ADMIN_SCOPE = "admin"
MAX_PAGE = 200


class ServiceTokenValidator(BearerTokenValidator):
    """Live client-credentials tokens of enabled clients only."""

    def authenticate_token(self, token_string: str):  # noqa: ANN201
        return tokens.by_access_token(token_string)

    def validate_token(self, token, scopes, request):  # noqa: ANN001, ANN201
        super().validate_token(token, scopes, request)
        if token.user_id is not None or token.get_client() is None:
            raise InsufficientScopeError()


protector = ResourceProtector()
protector.register_token_validator(ServiceTokenValidator())


def actor() -> str:
    return f"api:{current_token.client_id}"


def problem(status: int, error: str, description: str, fields: dict | None = None) -> Response:
    body = {"error": error, "error_description": description}
    if fields:
        body["fields"] = fields
    response = jsonify(body)
    response.status_code = status
    return response


def admin_only(view):  # noqa: ANN001, ANN201
    @functools.wraps(view)
    @protector(ADMIN_SCOPE)
    def wrapper(*args, **kwargs):  # noqa: ANN202
        return view(*args, **kwargs)

    return wrapper


def json_object() -> dict | Response:
    """The request body as a JSON object, or the error to answer."""
    if request.mimetype != "application/json":
        return problem(415, "invalid_request", "Send application/json.")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return problem(400, "invalid_request", "The body must be a JSON object.")
    return data


def paging() -> tuple[str, int, int] | Response:
    query = request.args.get("q", "")
    try:
        limit = int(request.args.get("limit", "50"))
        offset = int(request.args.get("offset", "0"))
    except ValueError:
        return problem(400, "invalid_request", "limit and offset are integers.")
    if not 1 <= limit <= MAX_PAGE or offset < 0 or offset > 10**9 or len(query) > 200:
        return problem(400, "invalid_request", f"1 <= limit <= {MAX_PAGE}, offset >= 0.")
    return query, limit, offset


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())


# Client systems ---------------------------------------------------------------------------


def _client_or_404(client_id: str):  # noqa: ANN202
    client = store_clients.find(client_id) if len(client_id) <= 64 else None
    if client is None:
        return None, problem(404, "not_found", "No client system with this client_id.")
    return client, None


@bp.get("/v1/clients")
@admin_only
def list_clients() -> Response:
    page = paging()
    if isinstance(page, Response):
        return page
    rows, total = client_admin.search(*page)
    return jsonify(items=[client_admin.to_json(c) for c in rows], total=total)


@bp.post("/v1/clients")
@admin_only
def create_client() -> Response:
    data = json_object()
    if isinstance(data, Response):
        return data
    checked = client_admin.check(data)
    if checked.errors:
        return problem(400, "invalid_client_metadata", "Some fields are wrong.", checked.errors)
    client, secret = client_admin.create(checked.values, actor())
    response = jsonify(client_admin.to_json(client, secret))
    response.status_code = 201
    response.headers["Location"] = f"/admin/api/v1/clients/{client.client_id}"
    return response


@bp.get("/v1/clients/<client_id>")
@admin_only
def get_client(client_id: str) -> Response:
    client, error = _client_or_404(client_id)
    return error or jsonify(client_admin.to_json(client))


@bp.patch("/v1/clients/<client_id>")
@admin_only
def update_client(client_id: str) -> Response:
    client, error = _client_or_404(client_id)
    if error:
        return error
    data = json_object()
    if isinstance(data, Response):
        return data
    checked = client_admin.check(data, existing=client)
    if checked.errors:
        return problem(400, "invalid_client_metadata", "Some fields are wrong.", checked.errors)
    _, secret = client_admin.update(client, checked.values, actor())
    return jsonify(client_admin.to_json(client, secret))


@bp.delete("/v1/clients/<client_id>")
@admin_only
def delete_client(client_id: str) -> Response:
    client, error = _client_or_404(client_id)
    if error:
        return error
    client_admin.delete(client, actor())
    return Response(status=204)


@bp.post("/v1/clients/<client_id>/secret")
@admin_only
def rotate_client_secret(client_id: str) -> Response:
    client, error = _client_or_404(client_id)
    if error:
        return error
    try:
        secret = client_admin.rotate_secret(client, actor())
    except ValueError as exc:
        return problem(409, "conflict", str(exc))
    return jsonify(client_id=client.client_id, client_secret=secret)


@bp.post("/v1/clients/<client_id>/<any(disable, enable):action>")
@admin_only
def disable_or_enable_client(client_id: str, action: str) -> Response:
    client, error = _client_or_404(client_id)
    if error:
        return error
    client_admin.set_disabled(client, action == "disable", actor())
    return jsonify(client_admin.to_json(client))


# Accounts ---------------------------------------------------------------------------------


def _user_or_404(sub: str):  # noqa: ANN202
    user = user_admin.by_subject(sub)
    if user is None:
        return None, problem(404, "not_found", "No account with this sub.")
    return user, None


@bp.get("/v1/users")
@admin_only
def list_users() -> Response:
    page = paging()
    if isinstance(page, Response):
        return page
    rows, total = user_admin.search(*page)
    return jsonify(items=[user_admin.summary(u) for u in rows], total=total)


@bp.get("/v1/users/<sub>")
@admin_only
def get_user(sub: str) -> Response:
    user, error = _user_or_404(sub)
    return error or jsonify(user_admin.detail(user))


USER_ACTIONS = {
    "lock": user_admin.lock,
    "unlock": user_admin.unlock,
    "end-sessions": user_admin.end_sessions,
    "resend-activation": user_admin.resend_activation,
}


USER_ACTION_NAMES = ", ".join(f"'{name}'" for name in USER_ACTIONS)


@bp.post(f"/v1/users/<sub>/<any({USER_ACTION_NAMES}):action>")
@admin_only
def user_action(sub: str, action: str) -> Response:
    user, error = _user_or_404(sub)
    if error:
        return error
    try:
        USER_ACTIONS[action](user, actor())
    except user_admin.UserAdminError as exc:
        return problem(409, "conflict", str(exc))
    return jsonify(user_admin.detail(user))


@bp.delete("/v1/users/<sub>/links/<int:link_id>")
@admin_only
def remove_user_link(sub: str, link_id: int) -> Response:
    user, error = _user_or_404(sub)
    if error:
        return error
    try:
        user_admin.remove_link(user, link_id, actor())
    except user_admin.UserAdminError as exc:
        return problem(404, "not_found", str(exc))
    return Response(status=204)
