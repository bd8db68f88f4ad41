"""The admin console under /admin, and the counter staff's account lookup under /staff/users.

Admins sign in through the hub itself; the console also needs a second factor in the current
session (an admin with a password-only session is sent to confirm with a code first). Every
form carries the CSRF token; every change goes through client_admin / user_admin, which audit
it with the admin's username (the audit record adds when and from which IP).
"""

from __future__ import annotations

import functools

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from ..login import sessions, step_up
from ..login.account import ActionForm
from ..oidc.claims import SUPPORTED_SCOPES
from ..store import clients as store_clients
from ..store import users as store_users
from . import audit_log, client_admin, statistics, user_admin

bp = Blueprint("admin", __name__)
PAGE = 50


def _signed_in_user():  # noqa: ANN202
    session = sessions.current()
    user = store_users.by_id(session.user_id) if session else None
    if session is None or user is None or not user.active:
        return None, None
    return session, user


def role_page(*roles: str, second_factor: bool):  # noqa: ANN201
    """Only for users with one of `roles`; with `second_factor`, only in a session that passed
    a vouched one (idp.login.step_up). POSTs must carry the CSRF token."""

    def decorate(view):  # noqa: ANN001, ANN202
        @functools.wraps(view)
        def wrapper(*args, **kwargs):  # noqa: ANN202
            session, user = _signed_in_user()
            if user is None:
                return redirect(url_for("login.hub_login", next=request.full_path.rstrip("?")))
            if not set(roles) & set(user.roles or []):
                abort(403)
            refused = step_up.console_gate(session, user) if second_factor else None
            if refused is not None:
                return refused
            if request.method == "POST" and not ActionForm().validate_on_submit():
                abort(400)
            g.admin_user = user
            return view(*args, **kwargs)

        return wrapper

    return decorate


admin_page = role_page("admin", second_factor=True)
# Staff open accounts too: the same vouched second factor as admins.
staff_page = role_page("staff", "admin", second_factor=True)


def by() -> str:
    return g.admin_user.username


def _offset() -> int:
    try:
        return max(0, min(int(request.args.get("page", "1")) - 1, 10**6)) * PAGE
    except ValueError:
        return 0


# Dashboard --------------------------------------------------------------------------------


@bp.get("/admin")
@admin_page
def dashboard():  # noqa: ANN201
    figures = statistics.figures()
    charts = {
        "totals": statistics.bar_chart(
            [
                (str(_l("online now")), figures.online_now),
                (str(_l("sign-ins today")), figures.sign_ins_today),
                (str(_l("sign-ins this week")), figures.sign_ins_week),
                (str(_l("sign-ins this month")), figures.sign_ins_month),
                (str(_l("sign-ins in total")), figures.sign_ins_total),
            ],
            _l("Sign-ins"),
        ),
        "by_method": statistics.bar_chart(
            [(_method_name(m), n) for m, n in figures.by_method],
            _l("Sign-ins by method, 30 days"),
        ),
        "by_client": statistics.bar_chart(
            [(_client_name(cid), n) for cid, n in figures.by_client],
            _l("Sign-ins by client system, 30 days"),
        ),
        "per_day": statistics.bar_chart(
            figures.sign_ins_per_day, _l("Sign-ins per day"), vertical=True
        ),
        "registrations": statistics.bar_chart(
            figures.registrations_per_day, _l("New accounts per day"), vertical=True
        ),
    }
    return render_template("admin/dashboard.html", figures=figures, charts=charts)


def _method_name(label: str) -> str:
    """local, or the connector's label for national:<connector>[/<kind>]."""
    if label == "local":
        return str(_l("Account of the hub (password)"))
    if label.startswith("national:"):
        name, _, kind = label[len("national:") :].partition("/")
        connector = current_app.config["IDP"].connectors.get(name)
        english = str(get_locale()) == "en"
        shown = (
            ((connector.label_en if english else "") or connector.label_vi or name)
            if connector
            else name
        )
        return f"{shown} ({kind})" if kind else shown
    return label


def _client_name(client_id: str) -> str:
    client = store_clients.find(client_id)
    return client.name if client else client_id


# Client systems ---------------------------------------------------------------------------


def _client_form_values(form) -> dict:  # noqa: ANN001
    """The console form as the fields client_admin.check takes."""

    def lines(name: str) -> list[str]:
        return [line.strip() for line in form.get(name, "").splitlines() if line.strip()]

    scopes = [s for s in form.getlist("scope") if s in SUPPORTED_SCOPES]
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    return {
        "name": form.get("name", ""),
        "description": form.get("description", ""),
        "redirect_uris": lines("redirect_uris"),
        "post_logout_redirect_uris": lines("post_logout_redirect_uris"),
        "backchannel_logout_uri": form.get("backchannel_logout_uri", "").strip() or None,
        "frontchannel_logout_uri": form.get("frontchannel_logout_uri", "").strip() or None,
        "token_endpoint_auth_method": form.get("token_endpoint_auth_method", ""),
        "jwks_uri": form.get("jwks_uri", "").strip() or None,
        "scope": " ".join(scopes),
        "first_party": form.get("first_party") == "on",
        "require_mfa": form.get("require_mfa") == "on",
        "min_acr": form.get("min_acr", "").strip() or None,
    }


def _client_form(client=None, values=None, errors=None, status=200):  # noqa: ANN001, ANN202
    values = values or (client_admin.to_json(client) if client else {"scope": "openid profile"})
    return render_template(
        "admin/client_form.html",
        client=client,
        values=values,
        errors=errors or {},
        scopes=SUPPORTED_SCOPES,
        auth_methods=client_admin.AUTH_METHODS,
        form=ActionForm(),
    ), status


@bp.get("/admin/clients")
@admin_page
def clients_list():  # noqa: ANN201
    query = request.args.get("q", "")[:200]
    rows, total = client_admin.search(query, PAGE, _offset())
    return render_template(
        "admin/clients.html", clients=rows, total=total, q=query, form=ActionForm()
    )


@bp.route("/admin/clients/new", methods=["GET", "POST"])
@admin_page
def client_new():  # noqa: ANN201
    if request.method == "GET":
        return _client_form()
    values = _client_form_values(request.form)
    checked = client_admin.check(values)
    if checked.errors:
        return _client_form(values=values, errors=checked.errors, status=400)
    client, secret = client_admin.create(checked.values, by())
    return render_template("admin/client_secret.html", client=client, secret=secret)


def _client_or_404(client_id: str):  # noqa: ANN202
    client = store_clients.find(client_id) if len(client_id) <= 64 else None
    if client is None:
        abort(404)
    return client


@bp.route("/admin/clients/<client_id>", methods=["GET", "POST"])
@admin_page
def client_edit(client_id: str):  # noqa: ANN201
    client = _client_or_404(client_id)
    if request.method == "GET":
        return _client_form(client)
    values = _client_form_values(request.form)
    checked = client_admin.check(values, existing=client)
    if checked.errors:
        return _client_form(client, values={**values, "client_id": client_id},
                            errors=checked.errors, status=400)  # fmt: skip
    _, secret = client_admin.update(client, checked.values, by())
    if secret:
        return render_template("admin/client_secret.html", client=client, secret=secret)
    flash(_l("Saved."))
    return redirect(url_for("admin.client_edit", client_id=client_id))


@bp.post("/admin/clients/<client_id>/<action>")
@admin_page
def client_action(client_id: str, action: str):  # noqa: ANN201
    client = _client_or_404(client_id)
    if action == "secret":
        try:
            secret = client_admin.rotate_secret(client, by())
        except ValueError:
            flash(_l("This client authenticates without a secret."))
            return redirect(url_for("admin.client_edit", client_id=client_id))
        return render_template("admin/client_secret.html", client=client, secret=secret)
    if action in ("disable", "enable"):
        client_admin.set_disabled(client, action == "disable", by())
        flash(_l("Disabled.") if action == "disable" else _l("Enabled."))
        return redirect(url_for("admin.client_edit", client_id=client_id))
    if action == "logo":
        upload = request.files.get("logo")
        problem = client_admin.set_logo(client, upload.read(64 * 1024) if upload else b"", by())
        flash(
            _l("The logo is saved.")
            if problem is None
            else _l("The logo must be a PNG image of at most 48 KiB, 16 to 1024 pixels a side."),
            "error" if problem else "message",
        )
        return redirect(url_for("admin.client_edit", client_id=client_id))
    if action == "remove-logo":
        client_admin.remove_logo(client, by())
        flash(_l("The logo is removed."))
        return redirect(url_for("admin.client_edit", client_id=client_id))
    if action == "delete":
        if request.form.get("confirm") != client.client_id:
            flash(_l("Type the client_id to confirm the deletion."))
            return redirect(url_for("admin.client_edit", client_id=client_id))
        client_admin.delete(client, by())
        flash(_l("Deleted."))
        return redirect(url_for("admin.clients_list"))
    abort(404)


# Accounts ---------------------------------------------------------------------------------


def _user_or_404(sub: str):  # noqa: ANN202
    user = user_admin.by_subject(sub)
    if user is None:
        abort(404)
    return user


def _users_page(staff_view: bool):  # noqa: ANN202
    """The account search, for admins and (without their actions) for counter staff."""
    query = request.args.get("q", "")[:200]
    rows, total = user_admin.search(query, PAGE, _offset()) if query else ([], 0)
    return render_template(
        "admin/users.html", users=rows, total=total, q=query, status=user_admin.status,
        staff_view=staff_view,
    )  # fmt: skip


def _user_page(sub: str, staff_view: bool):  # noqa: ANN202
    """One account; staff see no audit events and no admin actions."""
    user = _user_or_404(sub)
    return render_template(
        "admin/user.html",
        user=user,
        detail=user_admin.detail(user),
        events=[] if staff_view else user_admin.recent_events(user),
        form=ActionForm(),
        staff_view=staff_view,
    )


def _apply(operation, done, back: str):  # noqa: ANN001, ANN202
    """Run an account operation, say how it went, and go back to the account's page."""
    try:
        operation()
        flash(done)
    except user_admin.UserAdminError as exc:
        flash(str(exc), "error")
    return redirect(back)


@bp.get("/admin/users")
@admin_page
def users_list():  # noqa: ANN201
    return _users_page(staff_view=False)


@bp.get("/admin/users/<sub>")
@admin_page
def user_view(sub: str):  # noqa: ANN201
    return _user_page(sub, staff_view=False)


@bp.post("/admin/users/<sub>/<action>")
@admin_page
def user_action(sub: str, action: str):  # noqa: ANN201
    user = _user_or_404(sub)
    actions = {
        "lock": (user_admin.lock, _l("The account is locked and its sessions ended.")),
        "unlock": (user_admin.unlock, _l("The account is unlocked.")),
        "end-sessions": (user_admin.end_sessions, _l("Every session of the account ended.")),
        "resend-activation": (user_admin.resend_activation, _l("A new activation email is sent.")),
        "vouch-second-factor": (
            user_admin.vouch_second_factor,
            _l("The account's second factor is vouched for."),
        ),
        "unlock-second-factor": (
            user_admin.unlock_second_factor,
            _l("The account's second factor is unlocked."),
        ),
    }
    if action not in actions:
        abort(404)
    operation, done = actions[action]
    return _apply(lambda: operation(user, by()), done, url_for("admin.user_view", sub=sub))


@bp.post("/admin/users/<sub>/links/<int:link_id>/remove")
@admin_page
def user_remove_link(sub: str, link_id: int):  # noqa: ANN201
    user = _user_or_404(sub)
    return _apply(
        lambda: user_admin.remove_link(user, link_id, by()),
        _l("The link is removed."),
        url_for("admin.user_view", sub=sub),
    )


# Audit log --------------------------------------------------------------------------------


@bp.get("/admin/audit")
@admin_page
def audit():  # noqa: ANN201
    flt, errors = audit_log.AuditFilter.from_args(request.args)
    rows = audit_log.page(flt, PAGE, _offset()) if not errors else []
    return render_template(
        "admin/audit.html",
        rows=rows,
        args=request.args,
        errors=errors,
        events=audit_log.event_names(),
    ), (400 if errors else 200)


@bp.get("/admin/audit.csv")
@admin_page
def audit_csv():  # noqa: ANN201
    flt, errors = audit_log.AuditFilter.from_args(request.args)
    if errors:
        abort(400)
    response = Response(
        stream_with_context(audit_log.csv_rows(flt)), mimetype="text/csv; charset=utf-8"
    )
    response.headers["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


# Counter staff ----------------------------------------------------------------------------


@bp.get("/staff/users")
@staff_page
def staff_users():  # noqa: ANN201
    return _users_page(staff_view=True)


@bp.get("/staff/users/<sub>")
@staff_page
def staff_user(sub: str):  # noqa: ANN201
    return _user_page(sub, staff_view=True)


@bp.post("/staff/users/<sub>/resend-activation")
@staff_page
def staff_resend_activation(sub: str):  # noqa: ANN201
    user = _user_or_404(sub)
    return _apply(
        lambda: user_admin.resend_activation(user, by()),
        _l("A new activation email is sent."),
        url_for("admin.staff_user", sub=sub),
    )
