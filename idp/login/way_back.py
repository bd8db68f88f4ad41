"""The way back to the client system after registering, activating or resetting a password.

A person on a client's sign-in page follows "Register" or "Forgot your password?"; those links
carry the interaction id (`?ix=`). The page checks that the interaction belongs to this
browser (interaction.load) and then remembers, under this browser's binding digest, which
sign-in it came from. When the activation or reset link from the mail is opened, the page looks
for that record under the digest of the browser that opened it:

- the same browser finds it, and the interaction is still live and still its own: the page
  offers "Continue to <client>", which is that interaction's own sign-in page. The person signs
  in there and the stored authorization request goes on through `/authorize/resume` to the
  client's registered redirect URI — never to an address taken from a URL or a form;
- another browser finds nothing (its cookie has another digest): the page says the account is
  ready and to sign in again from the service. It learns nothing of the first browser's sign-in.

Nothing is signed in by these pages; the mail links stay as they were (they name no
interaction), so a link forwarded or opened elsewhere continues nobody's sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, url_for

from ..errors import InteractionExpired
from ..store import clients, kv
from . import interaction


@dataclass(frozen=True)
class WayBack:
    url: str  # the interaction's sign-in page on the hub
    client_name: str | None  # None: a sign-in to the hub's own pages


def _key(digest: str) -> str:
    return f"way-back:{digest}"


def remember(iid: str | None) -> WayBack | None:
    """On a page opened from a sign-in (`?ix=`): keep the way back for this browser. An id that
    is gone or belongs to another browser is ignored (the page works as if opened directly)."""
    if not iid or len(iid) > 64:
        return None
    try:
        ix = interaction.load(iid)
    except InteractionExpired:
        return None
    digest = interaction.browser_digest()
    if digest is None:
        return None
    ttl = current_app.config["IDP"].session.interaction_ttl
    kv().put(_key(digest), {"iid": iid}, ttl)
    return _way_back(iid, ix)


def find() -> WayBack | None:
    """This browser's way back to the sign-in it left, while that sign-in is still live."""
    digest = interaction.browser_digest()
    if digest is None:
        return None
    record = kv().get(_key(digest))
    iid = record.get("iid") if record else None
    ix = kv().get(f"ix:{iid}") if isinstance(iid, str) else None
    if ix is None or not interaction.same_browser(ix.get("browser")):
        return None
    return _way_back(iid, ix)


def _way_back(iid: str, ix: dict) -> WayBack | None:
    if ix.get("return_to"):
        return WayBack(url_for("login.login", iid=iid), None)
    client = clients.get((ix.get("params") or {}).get("client_id"))
    if client is None:
        return None
    return WayBack(url_for("login.login", iid=iid), client.name)
