"""The OpenAPI 3.1 document of the admin REST API, served at /admin/api/openapi.json.

Written by hand next to the code it describes; the tests run schemathesis against it, so an
answer the document does not describe fails the build.
"""

from __future__ import annotations

from flask import current_app

from .client_admin import AUTH_METHODS, GRANT_TYPES, MAX_URIS


def _nullable(kind: str, **extra) -> dict:
    return {"type": [kind, "null"], **extra}


def _error_response(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(ref: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


AUTH_ERRORS = {
    "401": _error_response("No valid access token."),
    "403": _error_response("The token lacks the admin scope or is not a client token."),
}
URI = {"type": "string", "maxLength": 2000}
CLIENT_FIELDS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": _nullable("string", maxLength=2000),
    "redirect_uris": {"type": "array", "items": URI, "maxItems": MAX_URIS},
    "post_logout_redirect_uris": {"type": "array", "items": URI, "maxItems": MAX_URIS},
    "backchannel_logout_uri": _nullable("string", maxLength=2000),
    "frontchannel_logout_uri": _nullable("string", maxLength=2000),
    "token_endpoint_auth_method": {"type": "string", "enum": list(AUTH_METHODS)},
    "grant_types": {
        "type": "array",
        "items": {"type": "string", "enum": list(GRANT_TYPES)},
        "minItems": 1,
    },
    "jwks_uri": _nullable("string", maxLength=2000),
    "scope": {"type": "string", "maxLength": 500},
    "first_party": {"type": "boolean"},
    "require_mfa": {"type": "boolean"},
    "min_acr": _nullable("string", maxLength=32),
}
SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "error_description": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "ClientInput": {
        "type": "object",
        "description": "Fields of a client system; on create, name is required and "
        "redirect_uris too for the authorization_code grant.",
        "additionalProperties": False,
        "properties": CLIENT_FIELDS,
    },
    "Client": {
        "type": "object",
        "required": ["client_id", "name", "redirect_uris", "token_endpoint_auth_method"],
        "properties": {
            "client_id": {"type": "string"},
            **CLIENT_FIELDS,
            "disabled": {"type": "boolean"},
            "source": {"type": "string"},
            "created_at": {"type": "integer"},
            "updated_at": {"type": "integer"},
            "client_secret": {
                "type": "string",
                "description": "Only when a secret was made; shown once.",
            },
        },
    },
    "ClientList": {
        "type": "object",
        "required": ["items", "total"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Client"}},
            "total": {"type": "integer", "minimum": 0},
        },
    },
    "ClientSecret": {
        "type": "object",
        "required": ["client_id", "client_secret"],
        "properties": {"client_id": {"type": "string"}, "client_secret": {"type": "string"}},
    },
    "User": {
        "type": "object",
        "required": ["sub", "username", "account_type", "roles", "status"],
        "properties": {
            "sub": {"type": "string"},
            "username": {"type": "string"},
            "full_name": _nullable("string"),
            "account_type": {"type": "string", "enum": ["citizen", "organization"]},
            "business_name": _nullable("string"),
            "email": _nullable("string"),
            "phone": _nullable("string"),
            "national_id": _nullable("string"),
            "tax_code": _nullable("string"),
            "roles": {"type": "array", "items": {"type": "string"}},
            "status": {"type": "string", "enum": ["active", "pending", "locked"]},
            "created_at": {"type": "integer"},
        },
    },
    "UserDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/User"},
            {
                "type": "object",
                "required": ["links", "sessions"],
                "properties": {
                    "email_verified": {"type": "boolean"},
                    "phone_verified": {"type": "boolean"},
                    "address": _nullable("string"),
                    "birthdate": _nullable("string"),
                    "activated_at": _nullable("integer"),
                    "links": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "connector", "subject"],
                            "properties": {
                                "id": {"type": "integer"},
                                "connector": {"type": "string"},
                                "subject": {"type": "string"},
                                "level": _nullable("string"),
                                "first_login_at": {"type": "integer"},
                                "last_login_at": {"type": "integer"},
                            },
                        },
                    },
                    "sessions": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["sid"],
                            "properties": {
                                "sid": {"type": "string"},
                                "created_at": {"type": "integer"},
                                "last_seen": {"type": "integer"},
                                "ip": {"type": "string"},
                                "user_agent": {"type": "string"},
                                "clients": {"type": "array", "items": {"type": "string"}},
                                "acr": {"type": "string"},
                            },
                        },
                    },
                },
            },
        ]
    },
    "UserList": {
        "type": "object",
        "required": ["items", "total"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/User"}},
            "total": {"type": "integer", "minimum": 0},
        },
    },
}
PAGING = [
    {
        "name": "q",
        "in": "query",
        "schema": {"type": "string", "maxLength": 200},
        "description": "Text to search for.",
    },
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
]
CLIENT_ID = {
    "name": "client_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}
SUB = {
    "name": "sub",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}
BAD_BODY = {
    "400": _error_response("The body or a field is wrong (fields says which)."),
    "413": _error_response("The body is larger than 64 KiB."),
    "415": _error_response("The body is not application/json."),
}
NOT_FOUND = {"404": _error_response("No such client system or account.")}
CONFLICT = {"409": _error_response("Not possible in the current state.")}
BAD_PAGING = {"400": _error_response("Bad paging parameters.")}


def _op(summary: str, responses: dict, **extra) -> dict:
    return {"summary": summary, "responses": {**responses, **AUTH_ERRORS}, **extra}


def _client_body() -> dict:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClientInput"}}},
    }


def document() -> dict:
    issuer = current_app.config["IDP"].issuer
    user_action = {"200": _json("UserDetail", "The account after the change."), **NOT_FOUND}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Provincial sign-in hub: admin API",
            "version": "1",
            "description": "Client systems and accounts. Get a token with the "
            "client_credentials grant (scope admin) at the hub's token endpoint.",
        },
        "servers": [{"url": issuer + "/admin/api/v1"}],
        "security": [{"clientCredentials": ["admin"]}],
        "paths": {
            "/clients": {
                "get": _op(
                    "List or search client systems",
                    {"200": _json("ClientList", "A page of client systems."), **BAD_PAGING},
                    operationId="listClients",
                    parameters=PAGING,
                ),
                "post": _op(
                    "Register a client system",
                    {"201": _json("Client", "Registered; client_secret shown once."), **BAD_BODY},
                    operationId="createClient",
                    requestBody=_client_body(),
                ),
            },
            "/clients/{client_id}": {
                "parameters": [CLIENT_ID],
                "get": _op(
                    "A client system",
                    {"200": _json("Client", "The client system."), **NOT_FOUND},
                    operationId="getClient",
                ),
                "patch": _op(
                    "Change a client system",
                    {
                        "200": _json("Client", "The client after the change."),
                        **NOT_FOUND,
                        **BAD_BODY,
                    },
                    operationId="updateClient",
                    requestBody=_client_body(),
                ),
                "delete": _op(
                    "Delete a client system with its tokens and consents",
                    {"204": {"description": "Deleted."}, **NOT_FOUND},
                    operationId="deleteClient",
                ),
            },
            "/clients/{client_id}/secret": {
                "parameters": [CLIENT_ID],
                "post": _op(
                    "Make a new secret (the old one stops working)",
                    {
                        "200": _json("ClientSecret", "The new secret, shown once."),
                        **NOT_FOUND,
                        **CONFLICT,
                    },
                    operationId="rotateClientSecret",
                ),
            },
            "/clients/{client_id}/disable": {
                "parameters": [CLIENT_ID],
                "post": _op(
                    "Disable a client system",
                    {"200": _json("Client", "Disabled."), **NOT_FOUND},
                    operationId="disableClient",
                ),
            },
            "/clients/{client_id}/enable": {
                "parameters": [CLIENT_ID],
                "post": _op(
                    "Enable a client system",
                    {"200": _json("Client", "Enabled."), **NOT_FOUND},
                    operationId="enableClient",
                ),
            },
            "/users": {
                "get": _op(
                    "Search accounts by username, name, phone, email, identity number, tax code",
                    {"200": _json("UserList", "A page of accounts."), **BAD_PAGING},
                    operationId="listUsers",
                    parameters=PAGING,
                ),
            },
            "/users/{sub}": {
                "parameters": [SUB],
                "get": _op(
                    "An account with its links and sessions",
                    {"200": _json("UserDetail", "The account."), **NOT_FOUND},
                    operationId="getUser",
                ),
            },
            "/users/{sub}/lock": {
                "parameters": [SUB],
                "post": _op(
                    "Lock an account (ends its sessions, revokes its tokens)",
                    {**user_action, **CONFLICT},
                    operationId="lockUser",
                ),
            },
            "/users/{sub}/unlock": {
                "parameters": [SUB],
                "post": _op(
                    "Unlock an account", {**user_action, **CONFLICT}, operationId="unlockUser"
                ),
            },
            "/users/{sub}/end-sessions": {
                "parameters": [SUB],
                "post": _op(
                    "End every session of an account",
                    user_action,
                    operationId="endUserSessions",
                ),
            },
            "/users/{sub}/resend-activation": {
                "parameters": [SUB],
                "post": _op(
                    "Send a new activation email to a pending account",
                    {**user_action, **CONFLICT},
                    operationId="resendActivation",
                ),
            },
            "/users/{sub}/links/{link_id}": {
                "parameters": [
                    SUB,
                    {
                        "name": "link_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
                    },
                ],
                "delete": _op(
                    "Remove a national-account link",
                    {"204": {"description": "Removed."}, **NOT_FOUND},
                    operationId="removeUserLink",
                ),
            },
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "clientCredentials": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": issuer + "/token",
                            "scopes": {"admin": "Manage client systems and accounts."},
                        }
                    },
                }
            },
        },
    }
