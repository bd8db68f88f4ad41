"""The hub as a relying party of the national portal: send the browser upstream from the
sign-in page, take it back at ISSUER/broker/NAME/callback (OIDC Core §3.1.2.5), and hand the
verified identity to first-login handling. Every upstream failure ends on the sign-in page with
a message, logged and audited; none is a 500."""

from __future__ import annotations

import logging
from dataclasses import asdict

from flask import Blueprint, abort, current_app, redirect, request, url_for

from ..errors import InteractionExpired
from ..login import assurance, flow, interaction
from ..security import sha256_hex
from ..store import audit, kv
from . import health
from .first_login import after_upstream
from .upstream import Connector, PendingRequest, UpstreamError

log = logging.getLogger(__name__)
bp = Blueprint("broker", __name__)


def connector(name: str) -> Connector:
    config = current_app.config["IDP"].connectors.get(name)
    if config is None:
        abort(404)
    return Connector(name, config)


def callback_uri(name: str) -> str:
    return f"{current_app.config['IDP'].issuer}/broker/{name}/callback"


def _failed(iid: str, client, name: str, exc: UpstreamError):  # noqa: ANN001, ANN202
    log.warning("national sign-in through %s failed: %s", name, exc)
    health.mark_failing(name, exc)
    audit.record(
        "national_login_failed",
        client_id=flow.client_id_of(client),
        connector=name,
        reason=exc.reason,
        detail=exc.detail[:300],
    )
    return redirect(url_for("login.login", iid=iid, reason=f"national_{exc.reason}", via=name))


def needed_level(params: dict, client) -> str | None:  # noqa: ANN001
    """The level this sign-in must reach upstream: one a local sign-in cannot give."""
    required = assurance.required_level(params, client, None) if client is not None else None
    return required if assurance.only_national_reaches(required) else None


@bp.route("/interaction/<iid>/broker/<name>")
def start(iid: str, name: str):  # noqa: ANN201
    ix, params, client = flow.load(iid, allow_hub=True)
    upstream = connector(name)
    try:
        health.ensure_reachable(upstream)
        required = needed_level(params, client)
        url, pending = upstream.authorization_request(
            callback_uri(name), upstream.level_parameters(required, assurance.rank)
        )
    except UpstreamError as exc:
        return _failed(iid, client, name, exc)
    ttl = current_app.config["IDP"].session.interaction_ttl
    # state, nonce and the PKCE verifier wait under the browser's binding: the answer signs
    # in only the browser that went upstream (no login CSRF through a forwarded callback).
    kv().put(
        f"broker:{sha256_hex(pending.state)}",
        {
            "iid": iid,
            "connector": name,
            "browser": ix["browser"],
            "required": required,
            **asdict(pending),
        },
        ttl,
    )
    return redirect(url)


@bp.route("/broker/<name>/callback")
def callback(name: str):  # noqa: ANN201
    state = request.args.get("state", "")
    key = f"broker:{sha256_hex(state)}"
    record = kv().get(key) if 0 < len(state) <= 256 else None
    if record is None or record.pop("connector") != name:
        raise InteractionExpired(status=400)
    # Checked before the state is spent: a forwarded callback neither signs this browser in
    # nor spoils the sign-in of the browser that started it.
    interaction.require_same_browser(record.pop("browser", None), "broker_callback")
    if kv().take(key) is None:
        raise InteractionExpired(status=400)  # the same answer, already used
    iid = record.pop("iid")
    required = record.pop("required", None)
    ix, params, client = flow.load(iid, allow_hub=True)
    args = {k: v[:4096] for k, v in request.args.items()}
    try:
        identity = connector(name).finish(args, PendingRequest(**record))
    except UpstreamError as exc:
        return _failed(iid, client, name, exc)
    if required and not assurance.satisfies(identity.level, required):
        # Asked for, not reached (the person's account there is at a lower level, or the
        # portal answered from a weaker session): nobody is signed in, and the page says why.
        audit.record(
            "national_level_not_reached",
            client_id=flow.client_id_of(client),
            connector=name,
            reached=identity.level,
            needed=required,
        )
        return redirect(
            url_for("login.login", iid=iid, reason="national_level_not_reached", via=name)
        )
    return after_upstream(iid, ix, client, identity)
