"""The provincial sign-in hub: an OpenID Connect provider. `create_app` only wires parts."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFProtect

from .config import Config, load_config, networks
from .files import private_dir
from .security import TrustedProxyFix

ROOT = Path(__file__).resolve().parent.parent
csrf = CSRFProtect()


def _secret_key(config: Config) -> str:
    """The form-signing secret: from the environment, or a file every worker shares."""
    from_env = os.environ.get(config.secret_key_env)
    if from_env:
        return from_env
    keys_dir = config.resolved_keys_dir
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = keys_dir / "session-secret"
    if not path.exists():
        # Written whole, then linked into place: workers starting together either make it or
        # read one that is complete, never an empty file that another is still writing.
        draft = keys_dir / f".session-secret.{secrets.token_hex(8)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process was first: use its secret
        finally:
            draft.unlink()
    secret = path.read_text().strip()
    if not secret:
        raise RuntimeError(f"{path} is empty: remove it and start again")
    return secret


class HubFlask(Flask):
    """Flask, with each view and hook's sync-or-async check made once, not on every request:
    Flask asks `inspect.iscoroutinefunction` of all nine hooks per request, a measurable part
    of the cheapest endpoints. The hub has no async views; one would still be wrapped."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._synced: dict = {}

    def ensure_sync(self, func):  # noqa: ANN001, ANN201
        synced = self._synced.get(func)
        if synced is None:
            synced = self._synced[func] = super().ensure_sync(func)
        return synced


def check_forms_for_csrf(app: Flask) -> None:
    """Flask-WTF's check on every request, asking the method first: it looked up the view's
    exemption before, on every GET too, which then passes anyway. POST, PUT, PATCH and DELETE
    (`WTF_CSRF_METHODS`) to views not exempted must carry the form's token."""

    @app.before_request
    def csrf_protect() -> None:
        config = app.config
        if config["WTF_CSRF_ENABLED"] and request.method in config["WTF_CSRF_METHODS"]:
            csrf.protect(apply_exemptions=True)


def create_app(config: Config | None = None, clock=None) -> Flask:  # noqa: ANN001
    """Build the hub for one configuration; `clock` replaces time.time in tests."""
    from . import admin, background, branding, display, i18n, observability, oidc
    from .accounts.owner import bp as owner_bp
    from .accounts.views import bp as accounts_bp
    from .broker import logout as broker_logout
    from .broker.account_links import bp as account_links_bp
    from .broker.first_login import bp as first_login_bp
    from .broker.logout import bp as broker_logout_bp
    from .broker.views import bp as broker_bp
    from .errors import init_error_handlers
    from .keys import KeyRing
    from .login import interaction
    from .login.account import bp as account_bp
    from .login.authenticators import bp as authenticators_bp
    from .login.new_password import bp as new_password_bp
    from .login.second_factor import bp as mfa_bp
    from .login.views import bp as login_bp
    from .security import FormSessionInterface, init_input_guards, init_security_headers
    from .store import RedisStore, SqlStore, db
    from .store.db import bound_waits, engine_options, ping_idle_connections

    config = config or load_config()
    app = HubFlask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(Path(__file__).parent / "static"),
    )
    if not config.issuer_is_https:
        # Authlib refuses plain http unless told; the issuer says whether this is development.
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    if config.server.trusted_proxies:
        app.wsgi_app = TrustedProxyFix(
            app.wsgi_app,
            config.server.trusted_proxies,
            networks(config.server.trusted_proxy_networks),
        )
    app.config.update(
        IDP=config,
        SECRET_KEY=_secret_key(config),
        SQLALCHEMY_DATABASE_URI=config.resolved_database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(config),
        SESSION_COOKIE_NAME=config.cookie("idp_form"),
        SESSION_COOKIE_SECURE=config.issuer_is_https,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=config.session.interaction_ttl,
        WTF_CSRF_SSL_STRICT=config.issuer_is_https,
        WTF_CSRF_CHECK_DEFAULT=False,  # check_forms_for_csrf runs the check instead
        MAX_CONTENT_LENGTH=64 * 1024,
        MAX_FORM_MEMORY_SIZE=64 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.session_interface = FormSessionInterface()
    if clock is not None:
        app.extensions["idp_clock"] = clock
    private_dir(Path(config.instance_dir))

    db.init_app(app)
    with app.app_context():
        ping_idle_connections(db.engine, config.database.ping_after_idle)
        bound_waits(db.engine, config.database.statement_timeout + 1)
        app.extensions["idp_kv"] = (
            RedisStore(
                config.redis_url,
                config.redis_key_prefix,
                socket_timeout=config.redis_socket_timeout,
                connect_timeout=config.redis_connect_timeout,
            )
            if config.redis_url
            else SqlStore(db.engine)
        )
    app.extensions["idp_keys"] = KeyRing(
        config.resolved_keys_dir,
        config.keys_passphrase_env,
        publish_window=config.tokens.id_token_ttl + 300,
    )

    app.extensions["idp_background"] = background.Queue(app)
    observability.init_app(app)
    init_input_guards(app)
    i18n.init_app(app)
    display.init_app(app)
    csrf.init_app(app)
    check_forms_for_csrf(app)
    oidc.init_app(app)
    interaction.init_app(app)
    csrf.exempt(oidc.bp)
    app.register_blueprint(login_bp)
    app.register_blueprint(mfa_bp)
    app.register_blueprint(new_password_bp)
    app.register_blueprint(authenticators_bp)
    app.register_blueprint(broker_bp)
    app.register_blueprint(first_login_bp)
    app.register_blueprint(account_links_bp)
    app.register_blueprint(broker_logout_bp)
    broker_logout.init_app(app)
    csrf.exempt(broker_logout_bp)  # the upstream's server posts logout tokens, not a browser
    app.register_blueprint(account_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(owner_bp)
    branding.init_app(app)
    admin.init_app(app)
    init_error_handlers(app)
    init_security_headers(app)

    @app.route("/")
    def home():  # noqa: ANN202
        return render_template("home.html")

    return app
