"""An interaction: one authorization request waiting for the user to sign in or consent.

The protocol side stores the request's parameters here and sends the browser to the sign-in
pages; they record what the user did (`login_sid`, `consent_given`) and send the browser back
to `/authorize/resume/<id>`, where the same checks run again on the stored parameters.
"""

from __future__ import annotations

import secrets

from flask import current_app

from ..errors import InteractionExpired
from ..store import kv


def create(params: dict[str, str]) -> str:
    iid = secrets.token_urlsafe(24)
    kv().put(f"ix:{iid}", {"params": params}, current_app.config["IDP"].session.interaction_ttl)
    return iid


def create_for_hub(return_to: str) -> str:
    """An interaction for signing in to the hub's own pages; `return_to` is a local path."""
    iid = secrets.token_urlsafe(24)
    kv().put(
        f"ix:{iid}", {"return_to": return_to}, current_app.config["IDP"].session.interaction_ttl
    )
    return iid


def load(iid: str) -> dict:
    """The interaction, or a friendly 'start again' page when it is gone."""
    if not iid or len(iid) > 64:
        raise InteractionExpired(status=400)
    record = kv().get(f"ix:{iid}")
    if record is None:
        raise InteractionExpired(status=400)
    return record


def update(iid: str, record: dict, **changes) -> dict:
    record.update(changes)
    kv().put(f"ix:{iid}", record, current_app.config["IDP"].session.interaction_ttl)
    return record


def finish(iid: str) -> None:
    kv().delete(f"ix:{iid}")
