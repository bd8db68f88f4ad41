"""Vietnamese by default, English on request (`ui_locales`, the language switch, a cookie)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, current_app, g, request
from flask_babel import Babel

SUPPORTED = ("vi", "en")
LANG_COOKIE = "idp_lang"


def _from_ui_locales(value: str | None) -> str | None:
    for tag in (value or "").split():
        lang = tag.split("-")[0].lower()
        if lang in SUPPORTED:
            return lang
    return None


def _from_accept_language() -> str | None:
    """The browser's first supported language by its q-values: `en-US` asks for English."""
    best, best_q = None, 0.0
    for tag, quality in request.accept_languages:
        lang = tag.split("-")[0].split("_")[0].lower()
        if lang in SUPPORTED and quality > best_q:
            best, best_q = lang, quality
    return best


def select_locale() -> str:
    """An explicit ?lang= wins, then the client's ui_locales, then the cookie (a language the
    person chose), then the browser's Accept-Language, then config."""
    lang = request.args.get("lang")
    if lang in SUPPORTED:
        return lang
    return (
        _from_ui_locales(g.get("ui_locales"))
        or _from_ui_locales(request.args.get("ui_locales"))
        or (
            request.cookies.get(LANG_COOKIE)
            if request.cookies.get(LANG_COOKIE) in SUPPORTED
            else None
        )
        or _from_accept_language()
        or current_app.config["IDP"].ui.default_locale
    )


def init_app(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(Path(__file__).parent / "translations")
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Asia/Ho_Chi_Minh"
    Babel(app, locale_selector=select_locale)

    @app.after_request
    def remember_language(response):  # noqa: ANN001, ANN202
        if not request.query_string:  # no ?lang= (an API call): skip parsing the query
            return response
        lang = request.args.get("lang")
        if lang in SUPPORTED and request.cookies.get(LANG_COOKIE) != lang:
            response.set_cookie(
                LANG_COOKIE,
                lang,
                max_age=365 * 24 * 3600,
                samesite="Lax",
                secure=app.config["IDP"].issuer_is_https,
                httponly=True,
            )
        return response

    @app.context_processor
    def language_context() -> dict:
        from flask_babel import get_locale

        def lang_url(lang: str) -> str:
            # Only the path is kept: query strings here may carry tokens (id_token_hint) or
            # return addresses, which a link must not repeat.
            return request.path + "?" + urlencode([("lang", lang)])

        return {
            "current_lang": str(get_locale()),
            "province": app.config["IDP"].ui,
            "lang_url": lang_url,
        }
