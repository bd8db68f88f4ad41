"""How a connector is named to the person: its own label in the page's language, so a message
about a failed VNeID sign-in says VNeID, not "the national portal"."""

from __future__ import annotations

from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l


def label(name: str | None) -> str:
    """The connector's label in the page's language; a generic name for an unknown one."""
    config = current_app.config["IDP"].connectors.get(name or "")
    if config is None:
        return str(_l("the national portal"))
    english = str(get_locale()) == "en"
    return (config.label_en if english and config.label_en else config.label_vi) or name
