"""The `idp` command. Its forms are a contract: operators' scripts call them."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from .config import Config, ConfigError, example_toml, load_config


class Context:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None
        self._app = None

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
        return self._config

    def app(self):  # noqa: ANN201
        if self._app is None:
            from . import create_app

            self._app = create_app(self.config)
        return self._app


pass_ctx = click.make_pass_decorator(Context)
PORT = click.IntRange(1, 65535)

# Exit statuses: 2 for bad input or a conflict (as click's own usage errors), 1 when a service
# the command needs does not answer.
BAD_INPUT = 2
UNAVAILABLE = 1


def _say(command: str, message: str) -> None:
    """One line on stderr: the command, then what went wrong (no traceback)."""
    text = " ".join(str(message).split())  # a line, whatever the message held
    click.echo(f"{command}: {text}", err=True)


class Command(click.Group):
    """The `idp` group: every bad input and every conflict, in any subcommand, ends as one line
    on stderr and exit status 2, never a traceback; an unreachable database or Redis as one
    line and status 1. Bugs still show their traceback."""

    def main(self, args=None, prog_name=None, **extra):  # noqa: ANN001, ANN201
        from redis.exceptions import RedisError
        from sqlalchemy.exc import IntegrityError, OperationalError

        extra.pop("standalone_mode", None)
        name = prog_name or "idp"
        try:
            code = super().main(args, prog_name=name, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else name
            _say(where, f"{exc.format_message()} (see {where} --help)")
            sys.exit(BAD_INPUT)
        except click.ClickException as exc:
            _say(name, exc.format_message())
            sys.exit(BAD_INPUT if exc.exit_code == 1 else exc.exit_code)
        except click.Abort:
            _say(name, "aborted")
            sys.exit(130)
        except IntegrityError:
            # The constraint's own text may quote personal data (PostgreSQL names the value).
            _say(
                name,
                "conflict with existing data (a value that must be unique is taken); "
                "nothing was changed",
            )
            sys.exit(BAD_INPUT)
        except OperationalError as exc:
            _say(name, f"the database did not answer: {type(exc.orig).__name__}")
            sys.exit(UNAVAILABLE)
        except ConfigError as exc:
            _say(name, str(exc))
            sys.exit(BAD_INPUT)
        except UnicodeDecodeError as exc:
            _say(name, f"a file is not UTF-8 text: {exc.reason}")
            sys.exit(BAD_INPUT)
        except RedisError as exc:
            _say(name, f"Redis did not answer: {type(exc).__name__}")
            sys.exit(UNAVAILABLE)
        except OSError as exc:
            _say(name, f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
            sys.exit(BAD_INPUT)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=Command)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="TOML configuration file (default: $IDP_CONFIG, else embedded defaults).",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """The provincial sign-in hub (OpenID Connect provider)."""
    ctx.obj = Context(config_path)


@main.command()
@pass_ctx
def init(ctx: Context) -> None:
    """Create or upgrade the database and create signing keys if there are none."""
    from .files import private_dir, tighten
    from .keys import ensure_keys
    from .store.migrate import upgrade

    config = ctx.config
    private_dir(Path(config.instance_dir))
    upgrade(config.resolved_database_url)
    tighten(config)
    click.echo("database: up to date")
    created = ensure_keys(config.resolved_keys_dir, config.keys_passphrase_env)
    for kid in created:
        click.echo(f"signing key created: {kid}")
    if not created:
        click.echo(f"signing keys: present in {config.resolved_keys_dir}")


@main.command()
@click.option("--host", default=None, help="Listen address (default from config).")
@click.option("--port", default=None, type=PORT, help="Listen port (default from config).")
@pass_ctx
def serve(ctx: Context, host: str | None, port: int | None) -> None:
    """Serve the hub with granian or gunicorn ([server] engine, workers, threads)."""
    from .files import too_open
    from .serve import run

    config = ctx.config
    for path, mode in too_open(config):
        click.echo(
            f"WARNING: {path} is readable by other users (mode {mode:o}); personal data must "
            f"be private: chmod {'700' if path.is_dir() else '600'} {path}",
            err=True,
        )
    if not config.issuer_is_https:
        click.echo(
            "WARNING: issuer is not https; cookies are not Secure. Development only.", err=True
        )
    from .broker.health import start_problems
    from .config import time_budget_warnings

    for warning in time_budget_warnings(config):
        click.echo(f"WARNING: {warning}", err=True)

    for name, problem in start_problems(config).items():
        # Named now, not at the first citizen's sign-in; the rest of the hub still serves.
        click.echo(f"WARNING: connector {name} is unavailable: {problem}", err=True)
    run(config, ctx.config_path, host or config.server.host, port or config.server.port)


@main.command("mock-national")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, type=PORT, show_default=True)
@click.option("--client-id", default="hub-tinh", show_default=True, help="The hub's client id.")
@click.option(
    "--client-secret-env",
    default="IDP_MOCK_NATIONAL_SECRET",
    show_default=True,
    help="Environment variable with the hub's client secret (default value: mock-secret).",
)
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    help="Accepted redirect URI (repeatable; default: the hub's broker callbacks).",
)
@click.option(
    "--post-logout-redirect-uri",
    "post_logout_uris",
    multiple=True,
    help="Accepted post-logout URI (repeatable; default: the hub's broker logged-out pages).",
)
@click.option(
    "--backchannel-logout-uri",
    default=None,
    help="Where logouts are announced (default: the hub's back-channel URI of --portal).",
)
@click.option(
    "--portal",
    type=click.Choice(["dvcqg", "vneid"]),
    default="dvcqg",
    show_default=True,
    help="Which portal to play, with its own people: the national portal or VNeID.",
)
@pass_ctx
def mock_national(
    ctx: Context,
    host: str,
    port: int,
    client_id: str,
    client_secret_env: str,
    redirect_uris: tuple[str, ...],
    post_logout_uris: tuple[str, ...],
    backchannel_logout_uri: str | None,
    portal: str,
) -> None:
    """Run a mock national portal (upstream OpenID Connect provider) for development."""
    import os

    from .broker.mock_national import MockNational, run

    issuer = ctx.config.issuer
    uris = list(redirect_uris) or [
        f"{issuer}/broker/{name}/callback" for name in ("dvcqg", "vneid")
    ]
    logged_out = list(post_logout_uris) or [
        f"{issuer}/broker/{name}/logged-out" for name in ("dvcqg", "vneid")
    ]
    backchannel = backchannel_logout_uri or f"{issuer}/broker/{portal}/backchannel-logout"
    secret = os.environ.get(client_secret_env) or "mock-secret"
    click.echo("WARNING: mock national portal, for development and tests only.", err=True)
    state = MockNational(
        f"http://{host}:{port}", client_id, secret, uris, logged_out, backchannel, portal
    )
    run(host, port, state)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to use.")
@click.option("--port", default=8000, type=PORT, show_default=True, help="The hub's port.")
@click.option("--mock-port", default=8100, type=PORT, show_default=True)
@click.option(
    "--vneid-port", default=8101, type=PORT, show_default=True, help="The mock VNeID's port."
)
@click.option("--demo-port", default=9000, type=PORT, show_default=True)
@click.option(
    "--instance-dir",
    default="instance-dev",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the demo's database, keys, config and outboxes.",
)
@click.pass_context
def dev(
    ctx: click.Context,
    host: str,
    port: int,
    mock_port: int,
    vneid_port: int,
    demo_port: int,
    instance_dir: str,
) -> None:
    """Run the hub, the mock national portal, the mock VNeID and the demo client together
    (development)."""
    from . import dev as dev_mode

    if ctx.obj.config_path:
        raise click.UsageError("idp dev writes its own config; use `idp serve` with --config")
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise click.UsageError("idp dev listens on loopback only (demo passwords are public)")
    where = dev_mode.DevAddresses(host, port, mock_port, demo_port, vneid_port)
    click.echo("WARNING: development mode; demo accounts with a published password.", err=True)
    sys.exit(dev_mode.run(Path(instance_dir), where))


@main.command()
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@pass_ctx
def backup(ctx: Context, archive: Path) -> None:
    """Write the database, the keys (encrypted with the key passphrase) and the client files
    into one archive (mode 0600)."""
    from .backup import BackupError
    from .backup import backup as write_backup

    try:
        manifest = write_backup(ctx.config, archive)
    except BackupError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(
        f"backup written: {archive} ({manifest['database']} database, keys, "
        f"{len(manifest['clients'])} client file(s))"
    )


@main.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def restore(ctx: Context, archive: Path) -> None:
    """Restore a backup into this (empty) instance: database, keys, client files."""
    from .backup import BackupError
    from .backup import restore as read_backup

    try:
        done = read_backup(ctx.config, archive)
    except BackupError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(
        f"restored: {done['database']} database, {done['key_files']} key file(s), "
        f"client files {', '.join(done['clients']) or 'none new'}"
    )
    if done["issuer"] != ctx.config.issuer:
        click.echo(
            f"warning: the backup's issuer was {done['issuer']}; this configuration says "
            f"{ctx.config.issuer}. Tokens already issued name the old one.",
            err=True,
        )


@main.command("config-example")
def config_example() -> None:
    """Print config.example.toml, generated from the typed configuration."""
    click.echo(example_toml(), nl=False)


# Clients ----------------------------------------------------------------------------------


@main.group()
def clients() -> None:
    """Register and manage client systems (relying parties)."""


def _validate_uris(uris: list[str], what: str) -> None:
    from .store.client_files import check_uri

    for uri in uris:
        problem = check_uri(uri)
        if problem:
            raise click.BadParameter(f"{uri}: {problem}", param_hint=what)


@clients.command("add")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True)
@click.option("--backchannel-logout-uri")
@click.option("--frontchannel-logout-uri")
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE required).")
@click.option(
    "--auth-method",
    type=click.Choice(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]),
)
@click.option("--jwks-uri", help="Where the client publishes its keys (private_key_jwt).")
@click.option(
    "--jwks-file",
    type=click.Path(exists=True, dir_okay=False),
    help="The client's public JWKS as a file (private_key_jwt without jwks_uri).",
)
@click.option("--scope", default="openid profile email phone address", show_default=True)
@click.option("--first-party", is_flag=True, help="Skip the consent page for this client.")
@click.option(
    "--require-mfa", is_flag=True, help="Every sign-in to this client needs a second factor."
)
@click.option(
    "--min-acr", help="Lowest acr this client accepts, e.g. LoA2 (a national level-2 identity)."
)
@click.option(
    "--legacy-subject-source",
    help="Release, as sub, the subject the former portal of this import source gave each "
    "person (so this system's user mappings survive).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def clients_add(
    ctx: Context,
    name: str,
    redirect_uris: tuple[str, ...],
    post_logout_uris: tuple[str, ...],
    backchannel_logout_uri: str | None,
    frontchannel_logout_uri: str | None,
    public: bool,
    auth_method: str | None,
    jwks_uri: str | None,
    jwks_file: str | None,
    scope: str,
    first_party: bool,
    require_mfa: bool,
    min_acr: str | None,
    legacy_subject_source: str | None,
    as_json: bool,
) -> None:
    """Register a client system; prints its client_id and (confidential clients) secret."""
    from .admin.client_admin import to_json
    from .store import clients as store_clients

    method = auth_method or ("none" if public else "client_secret_basic")
    if public and method != "none":
        raise click.BadParameter(
            "a public client authenticates with 'none'", param_hint="--auth-method"
        )
    jwks = json.loads(Path(jwks_file).read_text()) if jwks_file else None
    if method == "private_key_jwt" and not (jwks_uri or jwks):
        raise click.BadParameter("private_key_jwt needs --jwks-uri or --jwks-file")
    if not name.strip() or len(name) > 200 or not name.isprintable():
        raise click.BadParameter("1 to 200 printable characters", param_hint="'--name'")
    _validate_uris(list(redirect_uris), "--redirect-uri")
    if legacy_subject_source is not None and not re.fullmatch(
        r"[a-z0-9][a-z0-9_-]{0,63}", legacy_subject_source
    ):
        raise click.BadParameter("an import source name", param_hint="--legacy-subject-source")
    _validate_uris(list(post_logout_uris), "--post-logout-redirect-uri")
    if backchannel_logout_uri:
        _validate_uris([backchannel_logout_uri], "--backchannel-logout-uri")
    if frontchannel_logout_uri:
        _validate_uris([frontchannel_logout_uri], "--frontchannel-logout-uri")
    with ctx.app().app_context():
        from .login import assurance

        if min_acr is not None and assurance.rank(min_acr) < 0:
            # An unknown level would be read as "no requirement": refused, never weakened.
            raise click.BadParameter(
                "not one of the hub's levels: " + " ".join(assurance.levels()),
                param_hint="'--min-acr'",
            )
        client, secret = store_clients.create(
            name=name,
            redirect_uris=list(redirect_uris),
            auth_method=method,
            post_logout_redirect_uris=list(post_logout_uris),
            backchannel_logout_uri=backchannel_logout_uri,
            frontchannel_logout_uri=frontchannel_logout_uri,
            jwks_uri=jwks_uri,
            jwks=jwks,
            scope=" ".join(scope.split()),
            first_party=first_party,
            require_mfa=require_mfa,
            min_acr=min_acr,
            legacy_subject_source=legacy_subject_source,
        )
        data = to_json(client, secret)
    if as_json:
        click.echo(json.dumps(data))
    else:
        click.echo(f"client_id: {data['client_id']}")
        if secret:
            click.echo(f"client_secret: {secret}   (shown once; store it now)")


@clients.command("add-service")
@click.option("--name", required=True)
@click.option("--scope", default="admin", show_default=True, help="Scopes it may ask for.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def clients_add_service(ctx: Context, name: str, scope: str, as_json: bool) -> None:
    """Register an automation client (client_credentials grant, e.g. for the admin API)."""
    from .admin import client_admin

    with ctx.app().app_context():
        checked = client_admin.check(
            {
                "name": name,
                "grant_types": ["client_credentials"],
                "redirect_uris": [],
                "scope": scope,
            }
        )
        if checked.errors:
            raise click.ClickException(json.dumps(checked.errors, ensure_ascii=False))
        client, secret = client_admin.create(checked.values, by="cli")
        data = client_admin.to_json(client, secret)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(f"client_id: {data['client_id']}")
        click.echo(f"client_secret: {secret}   (shown once; store it now)")


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def clients_list(ctx: Context, as_json: bool) -> None:
    """List registered client systems."""
    from .admin.client_admin import to_json
    from .store import clients as store_clients

    with ctx.app().app_context():
        rows = [to_json(c) for c in store_clients.all_clients()]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        state = "disabled" if row["disabled"] else "enabled"
        click.echo(
            f"{row['client_id']}\t{state}\t{row['token_endpoint_auth_method']}\t{row['name']}"
        )


def _find_client(client_id: str):  # noqa: ANN202
    from .store import clients as store_clients

    client = store_clients.find(client_id)
    if client is None:
        raise click.ClickException(f"no client {client_id}")
    return client


@clients.command("show")
@click.argument("client_id")
@pass_ctx
def clients_show(ctx: Context, client_id: str) -> None:
    """Show one client system as JSON."""
    from .admin.client_admin import to_json

    with ctx.app().app_context():
        click.echo(json.dumps(to_json(_find_client(client_id)), indent=2))


@clients.command("disable")
@click.argument("client_id")
@pass_ctx
def clients_disable(ctx: Context, client_id: str) -> None:
    """Disable a client system: it can no longer start sign-ins or use tokens."""
    from .store import audit
    from .store import clients as store_clients

    with ctx.app().app_context():
        store_clients.set_disabled(_find_client(client_id), True)
        audit.record("client_disabled", username="cli", client_id=client_id)
    click.echo(f"disabled {client_id}")


@clients.command("enable")
@click.argument("client_id")
@pass_ctx
def clients_enable(ctx: Context, client_id: str) -> None:
    """Enable a disabled client system again."""
    from .store import audit
    from .store import clients as store_clients

    with ctx.app().app_context():
        store_clients.set_disabled(_find_client(client_id), False)
        audit.record("client_enabled", username="cli", client_id=client_id)
    click.echo(f"enabled {client_id}")


@clients.command("rotate-secret")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def clients_rotate_secret(ctx: Context, client_id: str, as_json: bool) -> None:
    """Give a confidential client a new secret (the old one stops working at once)."""
    from .store import audit
    from .store import clients as store_clients

    with ctx.app().app_context():
        client = _find_client(client_id)
        if client.token_endpoint_auth_method not in ("client_secret_basic", "client_secret_post"):
            raise click.ClickException("this client does not authenticate with a secret")
        secret = store_clients.rotate_secret(client)
        audit.record("client_secret_rotated", username="cli", client_id=client_id)
    if as_json:
        click.echo(json.dumps({"client_id": client_id, "client_secret": secret}))
    else:
        click.echo(f"client_secret: {secret}   (shown once; store it now)")


@clients.command("sync")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Folder of client TOML files (default: clients_dir from config).",
)
@pass_ctx
def clients_sync(ctx: Context, directory: str | None) -> None:
    """Create or update every client system described in clients/*.toml."""
    from .store.client_files import ClientFileError, sync_directory

    folder = Path(directory or ctx.config.clients_dir)
    if directory and not folder.is_dir():
        raise click.BadParameter(f"{folder} is not a folder", param_hint="'--dir'")
    with ctx.app().app_context():
        try:
            results = sync_directory(folder)
        except ClientFileError as exc:
            raise click.ClickException(str(exc)) from exc
    for path, client_id, action in results:
        click.echo(f"{action}\t{client_id}\t{path}")
    if not results:
        click.echo(f"no client files in {folder}")


# Users ------------------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Manage local accounts."""


@users.command("add")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--full-name")
@click.option("--email")
@click.option("--phone")
@click.option("--national-id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def users_add(
    ctx: Context,
    username: str,
    password: str,
    full_name: str | None,
    email: str | None,
    phone: str | None,
    national_id: str | None,
    as_json: bool,
) -> None:
    """Create an active local citizen account."""
    from .accounts.validation import ValidationError, validate_new_user
    from .store import audit
    from .store import users as store_users

    with ctx.app().app_context():
        try:
            fields = validate_new_user(
                username=username,
                password=password,
                full_name=full_name,
                email=email,
                phone=phone,
                national_id=national_id,
            )
        except ValidationError as exc:
            raise click.ClickException(str(exc)) from exc
        user = store_users.create(**fields)
        audit.record("user_created", user=user, by="cli")
        data = {"id": user.id, "sub": user.subject, "username": user.username}
    if as_json:
        click.echo(json.dumps(data))
    else:
        click.echo(f"created user {data['username']} (sub {data['sub']})")


@users.command("grant-role")
@click.argument("username")
@click.argument("role", type=click.Choice(["staff", "admin"]))
@pass_ctx
def users_grant_role(ctx: Context, username: str, role: str) -> None:
    """Give a user the staff (one-stop counter) or admin role."""
    _set_role(ctx, username, role, grant=True)


@users.command("revoke-role")
@click.argument("username")
@click.argument("role", type=click.Choice(["staff", "admin"]))
@pass_ctx
def users_revoke_role(ctx: Context, username: str, role: str) -> None:
    """Take the staff or admin role away from a user."""
    _set_role(ctx, username, role, grant=False)


def _user(username: str):  # noqa: ANN202
    """The account named on the command line (inside an app context), or one clear error."""
    from .store import users as store_users

    user = store_users.by_username(username)
    if user is None:
        raise click.ClickException(f"no user {username}")
    return user


def _set_role(ctx: Context, username: str, role: str, grant: bool) -> None:
    from .store import audit, db

    with ctx.app().app_context():
        user = _user(username)
        roles = set(user.roles or [])
        roles = roles | {role} if grant else roles - {role}
        user.roles = sorted(roles)
        db.session.commit()
        audit.record("role_granted" if grant else "role_revoked", user=user, role=role, by="cli")
        click.echo(f"{username}: roles {', '.join(user.roles) or '(none)'}")


@users.command("unlock-second-factor")
@click.argument("username")
@pass_ctx
def users_unlock_second_factor(ctx: Context, username: str) -> None:
    """At the counter: unlock a second factor locked by a day of wrong codes (audited)."""
    from .login import factor_lock

    with ctx.app().app_context():
        user = _user(username)
        was = factor_lock.unlock(user, by="cli")
        click.echo(f"{username}: second factor {'unlocked' if was else 'was not locked'}")


@users.command("vouch-second-factor")
@click.argument("username")
@pass_ctx
def users_vouch_second_factor(ctx: Context, username: str) -> None:
    """At the counter, the person in front of you with their papers: their proved phone and
    authenticator app may open the admin or staff console (audited)."""
    from .login import step_up

    with ctx.app().app_context():
        user = _user(username)
        vouched = step_up.vouch(user, by="cli")
        click.echo(f"{username}: vouched for {', '.join(vouched) or 'nothing (no factor)'}")


@users.command("logout")
@click.argument("username")
@click.option(
    "--wait",
    default=30.0,
    show_default=True,
    help="Seconds to spend delivering back-channel logouts before leaving the rest "
    "to the running servers.",
)
@pass_ctx
def users_logout(ctx: Context, username: str, wait: float) -> None:
    """End every session of a user: tokens revoked, every client told (back-channel)."""
    from .login.logout import end_all_for_user
    from .oidc.backchannel import deliver_now

    with ctx.app().app_context():
        user = _user(username)
        ended = end_all_for_user(user.id, "admin", by="cli")
        ctx.app().extensions["idp_backchannel"].stop()
        deliver_now(wait)
    click.echo(f"ended {ended} session(s) of {username}")


@users.command("unlinked")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@pass_ctx
def users_unlinked(ctx: Context, as_json: bool) -> None:
    """List active citizen and organisation accounts not yet linked to a national account."""
    from .store import federation

    with ctx.app().app_context():
        rows = federation.unlinked_accounts()
        for user in rows:
            data = {
                "username": user.username,
                "account_type": user.account_type,
                "full_name": user.full_name,
                "national_id": user.national_id,
                "tax_code": user.tax_code,
                "has_password": user.password_hash is not None,
            }
            if as_json:
                click.echo(json.dumps(data, ensure_ascii=False))
            else:
                number = user.national_id or user.tax_code or "-"
                click.echo(
                    f"{user.username}\t{user.account_type}\t{number}\t{user.full_name or ''}"
                )
    if not as_json:
        click.echo(f"{len(rows)} account(s) not linked", err=True)


class InputError(click.ClickException):
    """Bad input to a command: one line on stderr, exit status 2."""

    exit_code = 2


@users.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", required=True, help="Name of the former portal (e.g. dvc-tinh-cu).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "keycloak"]),
    help="File format (default: from the file name: .csv, .json = keycloak, else jsonl).",
)
@click.option("--dry-run", is_flag=True, help="Write nothing; report what would happen.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_ctx
def users_import(
    ctx: Context, file: Path, source: str, fmt: str | None, dry_run: bool, as_json: bool
) -> None:
    """Import accounts of a former portal, with their passwords, without duplicates; a
    re-run updates. Writes a conflicts file (CSV) for the operator to work through."""
    from sqlalchemy.exc import SQLAlchemyError

    from .accounts import importing

    if not file.is_file():
        raise InputError(f"no such file: {file}")
    fmt = fmt or importing.guess_format(file)
    show_bar = not as_json and sys.stderr.isatty()
    with ctx.app().app_context():
        bar = click.progressbar(
            length=file.stat().st_size, label="importing", file=sys.stderr, show_percent=True
        )
        try:
            with bar if show_bar else _NoBar() as progress:
                result = importing.run(
                    file,
                    source,
                    fmt,
                    dry_run=dry_run,
                    conflicts_dir=Path.cwd(),
                    tick=progress.update if show_bar else None,
                )
        except (importing.FileError, importing.ImportStopped) as exc:
            raise InputError(str(exc)) from None
        except SQLAlchemyError as exc:
            raise InputError(
                f"database error ({type(exc).__name__}); batches already written stay, "
                "run the import again to finish"
            ) from None
    data = result.as_dict(source, fmt, dry_run)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"{'dry run: ' if dry_run else ''}{data['rows']} row(s) from {source} ({fmt})")
    for outcome in ("created", "updated", "merged", "unchanged", "conflicts", "skipped"):
        reasons = data["reasons"].get(outcome, {})
        detail = "; ".join(f"{reason}: {n}" for reason, n in reasons.items())
        click.echo(f"  {outcome:<10}{data[outcome]:>9}{'  (' + detail + ')' if detail else ''}")
    if data["notes"]:
        left_out = ", ".join(f"{k}: {n}" for k, n in data["notes"].items())
        click.echo(f"  fields left out: {left_out}")
    if data["conflicts_file"]:
        click.echo(f"conflicts file: {data['conflicts_file']}")
    click.echo(f"{data['seconds']} s")


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@users.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--with-credentials", is_flag=True, help="Include password hashes (keep the file safe)."
)
@pass_ctx
def users_export(ctx: Context, file: Path, with_credentials: bool) -> None:
    """Write every account as JSONL (the import format), to a new file (mode 0600)."""
    from .accounts.importing.export import export

    if file.exists():
        raise InputError(f"{file} exists; choose a new file name")
    with ctx.app().app_context():
        try:
            count = export(file, with_credentials=with_credentials)
        except OSError as exc:
            raise InputError(f"cannot write {file}: {exc.strerror}") from None
    click.echo(f"exported {count} account(s) to {file}")


# Keys -------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Signing keys."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def keys_list(ctx: Context, as_json: bool) -> None:
    """List signing keys: which sign now, which are retired but still published."""
    from .keys import read_metadata

    config = ctx.config
    window = config.tokens.id_token_ttl + 300
    import time

    now = int(time.time())
    rows = []
    for meta in read_metadata(config.resolved_keys_dir):
        retired = meta.get("retired_at")
        state = "active" if not retired else ("published" if retired + window >= now else "expired")
        rows.append({**meta, "state": state})
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        click.echo(f"{row['kid']}\t{row['alg']}\t{row['state']}")


@keys.command("rotate")
@click.option(
    "--alg",
    type=click.Choice(["RS256", "ES256"]),
    multiple=True,
    help="Rotate only these algorithms (default: all).",
)
@pass_ctx
def keys_rotate(ctx: Context, alg: tuple[str, ...]) -> None:
    """Add new signing keys that sign from now on; retired keys stay published until every
    token they signed has expired, then `keys rotate` removes them."""
    from .keys import SUPPORTED_ALGS, prune, rotate

    config = ctx.config
    new = rotate(config.resolved_keys_dir, config.keys_passphrase_env, tuple(alg) or SUPPORTED_ALGS)
    removed = prune(config.resolved_keys_dir, config.tokens.id_token_ttl + 300)
    for kid in new:
        click.echo(f"new signing key: {kid}")
    for kid in removed:
        click.echo(f"removed expired key: {kid}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
