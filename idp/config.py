"""Typed, frozen configuration loaded from TOML: the only place where defaults live.

Every option carries its documentation in field metadata; ``config.example.toml`` is generated
from these classes (``idp config-example``) and a test checks that the committed file matches.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A comma-separated list of networks ("10.0.0.0/24, ::1/128") as address networks."""
    return [ipaddress.ip_network(n.strip(), strict=False) for n in value.split(",") if n.strip()]


class ConfigError(ValueError):
    """The configuration file or an environment override is not valid."""


def option(default: Any, doc: str) -> Any:
    """A config field with its documentation, shown in config.example.toml."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class ServerConfig:
    """How `idp serve` runs the hub: the HTTP server (engine), its workers and their limits."""

    host: str = option("127.0.0.1", "Address `idp serve` listens on (overridden by --host).")
    port: int = option(8000, "Port `idp serve` listens on (overridden by --port).")
    engine: str = option(
        "gunicorn",
        "HTTP server: gunicorn (sync workers: a worker takes a connection only when free, a "
        "reload under load loses none, a stuck worker is restarted) or granian (a Rust server "
        "calling the WSGI app: within a tenth of gunicorn per core, ahead on discovery, the "
        "same per machine; but a reload under load closes a few connections not yet read and "
        "nothing bounds a stuck request; README: The HTTP server). Both: SIGHUP starts new "
        "workers with new code and configuration, then retires the old ones once their "
        "requests are answered; SIGTERM stops gracefully.",
    )
    workers: int = option(
        2, "Worker processes, each with its own app (either engine); about one per core."
    )
    threads: int = option(
        1,
        "Threads per worker running requests. gunicorn: 1 keeps the sync worker class, more "
        "uses gthread. granian: its blocking_threads (its Rust runtime reads and writes the "
        "connections, so one thread does not leave clients waiting on a slow socket).",
    )
    timeout: int = option(
        30,
        "Seconds a worker gets to finish its requests when it is stopped, reloaded or "
        "recycled, before it is killed (both engines). gunicorn also restarts a worker silent "
        "for this long; granian has no such watchdog, a stuck request keeps its thread. Every "
        "dependency's time-out below is shorter, so a request that meets a stalled one "
        "answers 503 well before this.",
    )
    max_worker_lifetime: int = option(
        0,
        "Seconds after which a worker is replaced by a fresh one, gracefully (bounds slow "
        "leaks); 0: never, else at least 60. granian: its workers_lifetime, workers replaced "
        "one at a time; gunicorn: the worker stops taking requests after this plus up to 10 % "
        "random jitter (so workers do not all go at once) and the master starts another.",
    )
    readiness_timeout: float = option(
        1.5,
        "Seconds /readyz waits for its checks (run side by side) before answering 503 with "
        "the ones that did not answer; under a balancer's usual 2 s probe time-out.",
    )
    trusted_proxies: int = option(
        0, "Number of reverse proxies in front of the hub whose X-Forwarded-* headers to trust."
    )
    trusted_proxy_networks: str = option(
        "",
        "Comma-separated networks the reverse proxies connect from (e.g. the nginx hosts' "
        "addresses). X-Forwarded-* headers are honoured only on connections from them, so a "
        "request reaching the hub directly cannot choose its client IP (rate limits, audit) or "
        "scheme. Empty: from any address (then make sure only the proxies can reach the hub).",
    )
    log_format: str = option(
        "json",
        "json: one JSON object per log line, with the request id and an access line per "
        "request (for log collectors); text: plain lines (development).",
    )
    metrics_allow: str = option(
        "127.0.0.1/32, ::1/128",
        "Comma-separated networks allowed to read /metrics (the Prometheus server's address).",
    )


@dataclass(frozen=True)
class TokenConfig:
    """Lifetimes of everything the hub issues, in seconds."""

    code_ttl: int = option(60, "Authorization code lifetime (at most 60 s; codes are single-use).")
    access_token_ttl: int = option(3600, "Access token lifetime.")
    refresh_token_ttl: int = option(30 * 24 * 3600, "Refresh token lifetime (rotated on use).")
    refresh_retry_window: int = option(
        30,
        "Seconds after a rotation during which the same client presenting the used refresh "
        "token again gets the pair that rotation made (its answer may have been lost), as long "
        "as that pair is unused. Outside it, or once the new pair was used, reuse revokes the "
        "grant. 0: every reuse revokes.",
    )
    id_token_ttl: int = option(3600, "ID token lifetime.")
    id_token_alg: str = option(
        "RS256", "Default ID token signing algorithm: RS256 or ES256 (a client may choose)."
    )


@dataclass(frozen=True)
class SessionConfig:
    """The single sign-on session kept by the hub."""

    cookie_name: str = option(
        "idp_sso", "Name of the SSO session cookie (prefixed `__Host-` when the issuer is https)."
    )
    idle_timeout: int = option(2 * 3600, "Seconds of inactivity after which the SSO session ends.")
    absolute_timeout: int = option(
        12 * 3600, "Seconds after sign-in after which the SSO session ends regardless of activity."
    )
    interaction_ttl: int = option(
        30 * 60, "Seconds a user has to finish signing in once a client has sent them."
    )


@dataclass(frozen=True)
class LoginConfig:
    """The local username/password sign-in."""

    max_attempts_per_ip: int = option(
        30, "Failed sign-ins allowed from one IP address within `attempt_window` seconds."
    )
    max_attempts_per_user: int = option(
        10, "Failed sign-ins allowed for one username within `attempt_window` seconds."
    )
    attempt_window: int = option(15 * 60, "Window in seconds for the failed sign-in limits.")
    lockout_seconds: int = option(
        15 * 60, "How long an account or IP stays locked once it reached its limit."
    )
    password_acr: str = option(
        "LoA1", "The `acr` value reached by a local password sign-in (the lowest level)."
    )
    mfa_acr: str = option(
        "LoA1-MFA",
        "The `acr` value reached by a password and a second factor (SMS code, authenticator app "
        "or recovery code). A client asks for it with `acr_values` or `require_mfa`.",
    )
    require_mfa: bool = option(
        False,
        "Ask every user for a second factor after the password. Users with an authenticator "
        "app are always asked; so are users of a client that requires it.",
    )
    step_up_max_age: int = option(
        600,
        "Seconds after a session passed the account's existing second factor during which it "
        "may make security changes (authenticator app, recovery codes, email, phone, password, "
        "national links); later it is asked for a code again.",
    )


@dataclass(frozen=True)
class BrokerConfig:
    """Sign-in through the national portal: what happens at a person's first national login."""

    auto_link: bool = option(
        False,
        "Link a first national login to the one active local account with the same identity "
        "number without asking for its password, when the upstream asserts auto_link_level. "
        "Never by email.",
    )
    auto_link_level: str = option(
        "LoA2",
        "The hub acr an upstream identity must reach for automatic linking (auto_link, and "
        "trusted_identity connectors: both the login and the account's link).",
    )
    national_only_citizen_from: str = option(
        "",
        "Date (YYYY-MM-DD, Vietnam time) from which citizens no longer sign in with a local "
        "password, only through a connector (Decree 69/2024/NĐ-CP, Art. 40: portal-issued "
        'accounts of individuals ended 30 June 2024, so "2024-07-01"). Empty: never. Staff and '
        "admins keep local sign-in, with a second factor.",
    )
    national_only_organization_from: str = option(
        "",
        'The same for businesses and organisations (Decree 69/2024/NĐ-CP: "2025-07-01").',
    )
    logout_token_max_age: int = option(
        300,
        "Seconds after its `iat` that an upstream's back-channel logout token is accepted "
        "(its `exp` is honoured too when present); its `jti` is remembered at least as long, "
        "so no token can be replayed.",
    )
    upstream_probe_timeout: float = option(
        2.0,
        "Seconds to wait for a connector's discovery document (else its JWKS) when checking "
        "that the upstream answers, before a browser is sent there and at `idp serve` start.",
    )
    upstream_check_interval: int = option(
        5,
        "Seconds a successful check of an upstream is trusted before the next browser sent "
        "there triggers another (shared by every worker through the short-lived store).",
    )
    upstream_retry_after: int = option(
        30,
        "Seconds a connector whose upstream failed (discovery, JWKS or token endpoint did not "
        "answer) is shown as unavailable on the sign-in page before it is tried again.",
    )


@dataclass(frozen=True)
class UiConfig:
    """What the user sees."""

    default_locale: str = option("vi", "Language when the request does not ask for one: vi or en.")
    province_name: str = option("Tỉnh", "Name of the province shown on every page.")
    logo_file: str = option(
        "",
        "The province's emblem or logo (an .svg or .png file, at most 512 KiB) shown in the "
        "header; empty shows the hub's neutral emblem. Served by the hub, never from elsewhere.",
    )
    brand_color: str = option(
        "#a50e0e",
        "Colour of the header and buttons (#rrggbb). White text must reach WCAG AA contrast "
        "(4.5:1) on it; a lighter colour is refused at start.",
    )
    help_phone: str = option(
        "", "Hotline for help with signing in (e.g. the one-stop centre's); empty: not shown."
    )
    help_email: str = option("", "Email address for help with signing in; empty: not shown.")
    help_hours: str = option("", 'When the hotline answers, e.g. "7:30–17:00, thứ Hai–thứ Sáu".')


@dataclass(frozen=True)
class MailConfig:
    """Outgoing email (activation and password-reset links). With no smtp_host, every message
    is written to a dev outbox folder instead and the log says where."""

    smtp_host: str = option("", "SMTP server; empty writes mail to outbox_dir instead.")
    smtp_port: int = option(587, "SMTP port: 587 for STARTTLS, 465 for SSL, 25 for none.")
    security: str = option("starttls", "Transport security: starttls, ssl or none.")
    username: str = option("", "SMTP user name; empty sends without authentication.")
    password_env: str = option(
        "IDP_SMTP_PASSWORD", "Environment variable that holds the SMTP password."
    )
    sender: str = option(
        "Cổng Dịch vụ công <no-reply@localhost>", "From address of every message the hub sends."
    )
    timeout: float = option(10.0, "Seconds to wait for the SMTP server.")
    outbox_dir: str = option("", "Dev outbox folder; empty means instance_dir/outbox.")


@dataclass(frozen=True)
class SmsConfig:
    """Text messages (one-time codes). `outbox` writes each message to a folder and the log
    (development); `http` posts it to an SMS brandname gateway."""

    gateway: str = option("outbox", "outbox or http.")
    outbox_dir: str = option("", "Dev outbox folder; empty means instance_dir/sms-outbox.")
    http_url: str = option("", "The gateway's send URL (http gateway).")
    http_format: str = option("json", "Body of the gateway request: json or form.")
    api_key_env: str = option("IDP_SMS_API_KEY", "Environment variable with the gateway API key.")
    api_key_field: str = option("api_key", "Body field that carries the API key.")
    phone_field: str = option("phone", "Body field for the recipient's number.")
    phone_format: str = option("84", "How the number is sent: 84 (84912345678) or 0 (0912…).")
    message_field: str = option("message", "Body field for the text.")
    brandname_field: str = option("brandname", "Body field for the sender name; empty: none.")
    brandname: str = option("", "Registered sender (brandname) of the province.")
    success_field: str = option(
        "",
        "JSON field of the gateway's answer that says it accepted the message; empty means "
        "any 2xx answer is success.",
    )
    success_value: str = option("", "The value of success_field that means accepted.")
    timeout: float = option(5.0, "Seconds to wait for the gateway per attempt.")
    retries: int = option(2, "Further attempts after a failed one (network errors, 5xx).")


@dataclass(frozen=True)
class OtpConfig:
    """One-time codes: sent by SMS, or read from an authenticator app (wrong tries count the
    same way)."""

    code_ttl: int = option(300, "Seconds a code stays valid.")
    max_tries: int = option(
        5,
        "Wrong entries allowed per SMS code before it is void, and per sign-in for "
        "authenticator-app and recovery codes before the sign-in starts again.",
    )
    resend_cooldown: int = option(60, "Seconds before another code may be sent to a number.")
    max_per_hour: int = option(5, "Codes sent to one number within an hour at most.")
    max_per_ip_hour: int = option(
        20, "Codes sent at the request of one IP address within an hour at most."
    )
    max_failures_per_day: int = option(
        20,
        "Wrong second-factor codes (SMS, app or recovery) per account within 24 hours; then the "
        "account's second factor is locked until the owner unlocks it from the emailed link or "
        "at the counter (the short lockouts do not reset this count).",
    )


@dataclass(frozen=True)
class AccountsConfig:
    """Local accounts: registration, activation, password reset."""

    registration_open: bool = option(True, "Whether citizens and businesses may register here.")
    activation_ttl: int = option(48 * 3600, "Seconds an activation link stays valid.")
    reset_ttl: int = option(3600, "Seconds a password-reset link stays valid.")
    notice_link_ttl: int = option(
        7 * 24 * 3600,
        "Seconds the link in a security notice (end every session and report it) and in a "
        "second-factor unlock mail stays valid.",
    )
    mail_requests_per_address_day: int = option(
        5,
        "Password-reset and activation mails asked for one username or email address within "
        "24 hours; further requests get the same answer and send nothing.",
    )
    registrations_per_national_id_day: int = option(
        3, "Registrations with one identity number (or tax code) within 24 hours."
    )
    registrations_per_email_day: int = option(
        3, "Registrations with one email address within 24 hours."
    )
    requests_per_ip_hour: int = option(
        20,
        "Registrations, password-reset and activation requests from one IP address within an hour.",
    )


@dataclass(frozen=True)
class PasswordsConfig:
    """How passwords are stored, and which stored forms of imported accounts are accepted."""

    argon2_memory_kib: int = option(
        19456,
        "argon2id memory cost in KiB. OWASP's floor is 19456 (19 MiB) with time_cost 2, or "
        "47104 (46 MiB) with time_cost 1; bench/README.md has this machine's verify times. "
        "A stored hash made with other parameters (or a legacy form) is rehashed at the "
        "person's next successful sign-in.",
    )
    argon2_time_cost: int = option(2, "argon2id iterations (time cost).")
    argon2_parallelism: int = option(1, "argon2id lanes (parallelism).")
    accept_unsalted_legacy: bool = option(
        False,
        "Accept unsalted MD5 and SHA-1 password hashes of old portals on import and at sign-in. "
        "They are cracked quickly once leaked: the person must choose a new password right "
        "after the first sign-in. Off: such accounts are imported without a password.",
    )


@dataclass(frozen=True)
class LogoutConfig:
    """Single logout: back-channel notifications to client systems (OIDC Back-Channel Logout)."""

    backchannel_timeout: float = option(
        5.0,
        "Seconds to wait for one client to answer a logout token before giving up on that attempt.",
    )
    backchannel_max_attempts: int = option(
        4, "Attempts per client and session before the delivery is recorded as failed."
    )
    backchannel_retry_delay: float = option(
        2.0, "Seconds before the first retry; each further retry waits twice as long."
    )
    logout_token_ttl: int = option(120, "Lifetime of a logout token in seconds.")
    frontchannel_redirect_delay: int = option(
        2,
        "Seconds the logged-out page waits, while front-channel logout frames load, before "
        "returning to the client.",
    )


def _national_claims() -> dict[str, list[str]]:
    """Our claim → the national portal's (and VNeID's) claim names, tried in order."""
    return {
        "name": ["HoVaTen", "TenDoanhNghiep"],
        "birthdate": ["NgayThangNamSinh"],
        "gender": ["GioiTinh"],
        "phone": ["SoDienThoai"],
        "email": ["ThuDienTu"],
        "address": ["NoiOHienNay", "DiaChi", "ThuongTru"],
        "national_id": ["SoDinhDanh", "SoCMND"],
        "tax_code": ["MaSoThue", "MaSoDoanhNghiep"],
        "level": ["IAL", "loAs", "acr"],
    }


@dataclass(frozen=True)
class ConnectorConfig:
    """One upstream OpenID Connect provider (the national portal, VNeID), under
    [connectors.NAME]; its callback is ISSUER/broker/NAME/callback."""

    label_vi: str = option("", "Button label in Vietnamese.")
    label_en: str = option("", "Button label in English.")
    icon: str = option("national.svg", "Icon file under idp/static/icons/.")
    discovery_url: str = option(
        "", "The upstream's /.well-known/openid-configuration; or give the endpoints below."
    )
    issuer: str = option("", "Expected `iss` (from discovery when empty).")
    authorization_endpoint: str = option("", "Explicit endpoint (overrides discovery).")
    token_endpoint: str = option("", "Explicit endpoint (overrides discovery).")
    userinfo_endpoint: str = option("", "Explicit endpoint (overrides discovery).")
    jwks_uri: str = option("", "Explicit endpoint (overrides discovery).")
    end_session_endpoint: str = option("", "Explicit endpoint (overrides discovery).")
    client_id: str = option("", "The hub's client id at the upstream.")
    client_secret_env: str = option("", "Environment variable with the hub's client secret.")
    token_auth_method: str = option(
        "client_secret_basic", "client_secret_basic or client_secret_post."
    )
    scope: str = option("openid", "Scopes asked of the upstream.")
    acr_values: str = option(
        "",
        "acr_values sent upstream when the sign-in needs no particular level (the national "
        "portal expects LoA1).",
    )
    request_levels: dict = field(
        default_factory=lambda: {"LoA1": "LoA1", "LoA2": "LoA2"},
        metadata={
            "doc": "The hub's `acr` → the acr_values sent upstream to ask for it. When a client "
            "needs a level above what a local sign-in gives (its min_acr, or its acr_values), "
            "the hub asks for the lowest listed level that reaches it."
        },
    )
    step_up_prompt: str = option(
        "login",
        "`prompt` sent with a request for a level above acr_values, so an upstream session "
        'at a lower level is not silently reused ("login"; empty: not sent).',
    )
    step_up_max_age: int = option(
        0,
        "`max_age` sent with a request for a level above acr_values (0: authenticate now; "
        "negative: not sent).",
    )
    trusted_identity: bool = option(
        False,
        "This upstream verifies the state identity number (CCCD) or tax code it asserts. A "
        "first login here at [broker] auto_link_level (LoA2) or above, whose number matches "
        "an account linked through another trusted connector at that level too, links to it "
        "(audited, the owner told); otherwise the person proves it by signing in through "
        "the connector used before. Never by name, email or phone.",
    )
    fetch_userinfo: bool = option(True, "Read the userinfo endpoint after the token exchange.")
    timeout: float = option(
        5.0,
        "Seconds to wait for each of the upstream's back-end answers (a sign-in makes up to "
        "four: discovery, token, JWKS, userinfo; together under server.timeout).",
    )
    account_type_claim: str = option("LoaiTaiKhoan", "Claim that says the kind of account.")
    login_kind_claim: str = option(
        "LoaiXacThuc",
        "Claim that says how the person signed in upstream (dvcqg, vneid, vnpost); the admin "
        "statistics count sign-ins by it. Empty: not read.",
    )
    account_types: dict = field(
        default_factory=lambda: {"1": "citizen", "2": "organization", "3": "organization"},
        metadata={"doc": "Value of account_type_claim → citizen or organization."},
    )
    subject_claims: dict = field(
        default_factory=lambda: {
            "1": ["SoDinhDanh", "SoCMND"],
            "2": ["MaSoThue", "MaSoDoanhNghiep"],
            "3": ["TechID"],
        },
        metadata={
            "doc": "Per value of account_type_claim, the claims whose first present value is "
            "the stable key of the federated identity; `sub` when the kind is not listed."
        },
    )
    claims: dict = field(
        default_factory=_national_claims,
        metadata={"doc": "Our claim → upstream claim names tried in order."},
    )
    levels: dict = field(
        default_factory=lambda: {"1": "LoA1", "2": "LoA2", "LoA1": "LoA1", "LoA2": "LoA2"},
        metadata={"doc": "Upstream assurance value → the hub's `acr`."},
    )
    genders: dict = field(
        default_factory=lambda: {
            "1": "male",
            "2": "female",
            "3": "other",
            "nam": "male",
            "nữ": "female",
            "nu": "female",
            "khác": "other",
            "male": "male",
            "female": "female",
            "m": "male",
            "f": "female",
        },
        metadata={
            "doc": "Upstream gender value (GioiTinh; compared in lower case) → the OIDC "
            "`gender` claim. A value not listed is not carried."
        },
    )


CONNECTORS_EXAMPLE = """
# [connectors.NAME] — upstream OpenID Connect providers offered as buttons on the sign-in page.
# The hub's redirect URI to register upstream is ISSUER/broker/NAME/callback. Every key of
# ConnectorConfig in idp/config.py may be set; the claim mapping defaults to the national
# portal's Vietnamese claim names (HoVaTen, SoDinhDanh, SoCMND, NgayThangNamSinh, GioiTinh,
# ThuDienTu, SoDienThoai, DiaChi, ThuongTru, NoiOHienNay, LoaiTaiKhoan, MaSoThue,
# MaSoDoanhNghiep, TenDoanhNghiep, TechID, loAs / IAL).
#
# [connectors.dvcqg]
# label_vi = "Tài khoản cấp bởi Cổng DVC quốc gia"
# label_en = "Account issued by the National Public Service Portal"
# authorization_endpoint = "https://xacthuc.dichvucong.gov.vn/oauth2/authorize"
# token_endpoint = "https://xacthuc.dichvucong.gov.vn/oauth2/token"
# userinfo_endpoint = "https://xacthuc.dichvucong.gov.vn/oauth2/userinfo"
# jwks_uri = "https://xacthuc.dichvucong.gov.vn/oauth2/jwks"   # ask the portal for it
# issuer = "https://xacthuc.dichvucong.gov.vn"                 # ask the portal for it
# end_session_endpoint = "https://xacthuc.dichvucong.gov.vn/oauth2/logout"
# client_id = "ask-the-national-portal"
# client_secret_env = "IDP_DVCQG_CLIENT_SECRET"
# scope = "openid"
# acr_values = "LoA1"                          # asked for when no particular level is needed
# request_levels = { LoA1 = "LoA1", LoA2 = "LoA2" }   # the hub's level → acr_values sent
# step_up_prompt = "login"                      # sent with a request above acr_values
# step_up_max_age = 0                           # likewise; negative: not sent
# trusted_identity = true                       # it verifies the CCCD / tax code it asserts
#
# [connectors.vneid]
# label_vi = "Tài khoản định danh điện tử cấp bởi Bộ Công an (VNeID)"
# label_en = "Electronic identity issued by the Ministry of Public Security (VNeID)"
# discovery_url = "https://sso.dancuquocgia.gov.vn/auth/.well-known/openid-configuration"
# client_id = "ask-the-ministry"
# client_secret_env = "IDP_VNEID_CLIENT_SECRET"
# acr_values = "LoA2"
# trusted_identity = true
#
# National-only sign-in (Decree 69/2024/NĐ-CP, Art. 40), set in [broker] above:
# national_only_citizen_from = "2024-07-01"
# national_only_organization_from = "2025-07-01"
#
# Development: `idp mock-national` serves a mock portal on http://127.0.0.1:8100:
# [connectors.dvcqg]
# label_vi = "Tài khoản cấp bởi Cổng DVC quốc gia"
# label_en = "Account issued by the National Public Service Portal"
# discovery_url = "http://127.0.0.1:8100/.well-known/openid-configuration"
# client_id = "hub-tinh"
# client_secret_env = "IDP_MOCK_NATIONAL_SECRET"
"""


@dataclass(frozen=True)
class RegistrationConfig:
    """Dynamic client registration (RFC 7591) and management (RFC 7592) at /oauth/register.
    Off by default; registering needs the initial access token."""

    enabled: bool = option(False, "Open /oauth/register to systems holding the initial token.")
    initial_access_token_env: str = option(
        "IDP_REGISTRATION_TOKEN",
        "Environment variable holding the initial access token (at least 32 characters) that "
        "a system sends as a bearer token to register.",
    )
    allow_private_uris: bool = option(
        False,
        "Accept URIs that point at loopback or private addresses. Keep false: otherwise a "
        "registered back-channel or JWKS URI makes the hub reach into the internal network.",
    )
    max_scope: str = option(
        "openid profile email phone address",
        "The scopes a dynamically registered system may ask for (national_id is not included).",
    )


@dataclass(frozen=True)
class DatabaseConfig:
    """Connection pool for PostgreSQL (ignored for SQLite)."""

    pool_size: int = option(5, "Connections kept open per worker process.")
    max_overflow: int = option(5, "Extra connections a worker may open under load.")
    pool_timeout: int = option(5, "Seconds to wait for a free pooled connection before a 503.")
    connect_timeout: int = option(
        3, "Seconds to wait for a new PostgreSQL connection before a 503 (at least 2)."
    )
    statement_timeout: float = option(
        5.0,
        "Seconds a statement may run on the PostgreSQL server (its statement_timeout, which "
        "also ends lock waits). The hub stops waiting for any answer one second later, closes "
        "that connection and answers 503: a stalled server or network costs a request at most "
        "that long.",
    )
    pool_recycle: int = option(1800, "Seconds after which a connection is replaced.")
    ping_after_idle: float = option(
        5.0,
        "Test a pooled connection with a ping before use only when it sat unused this many "
        "seconds (0 pings every time). Busy connections skip the round trip; one that died "
        "while idle (a database restart) is replaced before a request sees it.",
    )


@dataclass(frozen=True)
class Config:
    """The whole hub configuration."""

    issuer: str = option(
        "http://127.0.0.1:8000",
        "Issuer identifier: the public https URL of the hub (env IDP_ISSUER). "
        "Cookies are Secure whenever it is https.",
    )
    instance_dir: str = option(
        "instance",
        "Folder for embedded-default state: the SQLite database and, unless keys_dir is set, "
        "the keys. Relative paths are taken from the working directory.",
    )
    database_url: str = option(
        "",
        "SQLAlchemy database URL (env IDP_DATABASE_URL); empty means SQLite in instance_dir. "
        "Production: postgresql://user@host/db.",
    )
    redis_url: str = option(
        "",
        "Redis URL for short-lived state (env IDP_REDIS_URL); empty keeps it in the SQL "
        "database so several workers still agree.",
    )
    redis_key_prefix: str = option("idp:", "Prefix of every Redis key the hub writes.")
    redis_socket_timeout: float = option(
        2.0, "Seconds to wait for each Redis answer before the request answers 503."
    )
    redis_connect_timeout: float = option(2.0, "Seconds to wait for a new Redis connection.")
    keys_dir: str = option(
        "", "Folder of signing keys (env IDP_KEYS_DIR); empty means instance_dir/keys."
    )
    keys_passphrase_env: str = option(
        "IDP_KEYS_PASSPHRASE",
        "Environment variable holding a passphrase that encrypts private keys at rest; "
        "keys are unencrypted when it is unset.",
    )
    secret_key_env: str = option(
        "IDP_SECRET_KEY",
        "Environment variable with the secret that signs form (CSRF) cookies; when unset a "
        "random one is kept in keys_dir/session-secret, shared by every worker.",
    )
    clients_dir: str = option(
        "clients", "Folder of client system TOML files loaded by `idp clients sync`."
    )
    server: ServerConfig = field(default_factory=ServerConfig, metadata={"doc": ""})
    tokens: TokenConfig = field(default_factory=TokenConfig, metadata={"doc": ""})
    session: SessionConfig = field(default_factory=SessionConfig, metadata={"doc": ""})
    login: LoginConfig = field(default_factory=LoginConfig, metadata={"doc": ""})
    broker: BrokerConfig = field(default_factory=BrokerConfig, metadata={"doc": ""})
    ui: UiConfig = field(default_factory=UiConfig, metadata={"doc": ""})
    logout: LogoutConfig = field(default_factory=LogoutConfig, metadata={"doc": ""})
    mail: MailConfig = field(default_factory=MailConfig, metadata={"doc": ""})
    accounts: AccountsConfig = field(default_factory=AccountsConfig, metadata={"doc": ""})
    passwords: PasswordsConfig = field(default_factory=PasswordsConfig, metadata={"doc": ""})
    sms: SmsConfig = field(default_factory=SmsConfig, metadata={"doc": ""})
    otp: OtpConfig = field(default_factory=OtpConfig, metadata={"doc": ""})
    database: DatabaseConfig = field(default_factory=DatabaseConfig, metadata={"doc": ""})
    registration: RegistrationConfig = field(
        default_factory=RegistrationConfig, metadata={"doc": ""}
    )
    connectors: dict = field(
        default_factory=dict,
        metadata={"doc": "Upstream providers by name: see [connectors.NAME] at the end."},
    )

    # Derived values -------------------------------------------------------------------------

    @property
    def issuer_is_https(self) -> bool:
        return self.issuer.startswith("https://")

    def cookie(self, name: str) -> str:
        """A cookie's name: `__Host-` over https (Secure, this host only, Path=/), so no
        subdomain or plain-http page can plant or overwrite it."""
        return ("__Host-" if self.issuer_is_https else "") + name

    @property
    def resolved_database_url(self) -> str:
        """The URL with the embedded default filled in and the psycopg 3 driver chosen."""
        url = self.database_url or f"sqlite:///{Path(self.instance_dir).resolve() / 'idp.sqlite3'}"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def resolved_outbox_dir(self) -> Path:
        return Path(self.mail.outbox_dir or Path(self.instance_dir) / "outbox").resolve()

    @property
    def resolved_sms_outbox_dir(self) -> Path:
        return Path(self.sms.outbox_dir or Path(self.instance_dir) / "sms-outbox").resolve()

    @property
    def resolved_keys_dir(self) -> Path:
        return Path(self.keys_dir or Path(self.instance_dir) / "keys").resolve()

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


ENV_OVERRIDES = {
    "IDP_ISSUER": "issuer",
    "IDP_DATABASE_URL": "database_url",
    "IDP_REDIS_URL": "redis_url",
    "IDP_KEYS_DIR": "keys_dir",
}


def _with_default_tables(connector: ConnectorConfig) -> ConnectorConfig:
    """A connector's mapping tables add to the defaults instead of replacing them, so one
    changed claim name does not drop the rest."""
    defaults = ConnectorConfig()
    merged = {
        f.name: {**getattr(defaults, f.name), **getattr(connector, f.name)}
        for f in dataclasses.fields(ConnectorConfig)
        if isinstance(getattr(defaults, f.name), dict)
    }
    return dataclasses.replace(connector, **merged)


def _coerce(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"unknown option {where}{key}")
        expected = hints[key]
        if dataclasses.is_dataclass(expected):
            if not isinstance(value, dict):
                raise ConfigError(f"[{where}{key}] must be a table")
            kwargs[key] = _coerce(expected, value, f"{where}{key}.")
            continue
        if cls is Config and key == "connectors":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise ConfigError("[connectors.NAME] must be tables")
            kwargs[key] = {
                name: _with_default_tables(_coerce(ConnectorConfig, table, f"connectors.{name}."))
                for name, table in value.items()
            }
            continue
        if isinstance(expected, types.GenericAlias):
            expected = typing.get_origin(expected)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is int and isinstance(value, bool) or not isinstance(value, expected):
            raise ConfigError(
                f"option {where}{key} must be {expected.__name__}, not {type(value).__name__}"
            )
        kwargs[key] = value
    return cls(**kwargs)


def load_config(
    path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> Config:
    """Load the TOML file (if any), then apply the IDP_* environment overrides."""
    env = dict(os.environ if env is None else env)
    path = path or env.get("IDP_CONFIG") or None
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    for var, key in ENV_OVERRIDES.items():
        if env.get(var):
            data[key] = env[var]
    config = _coerce(Config, data, "")
    validate(config)
    return config


def validate(config: Config) -> None:
    """Reject settings that would make the hub unsafe or broken."""
    if (
        not config.issuer.startswith(("https://", "http://"))
        or "#" in config.issuer
        or "?" in config.issuer
        or config.issuer.endswith("/")
    ):
        raise ConfigError("issuer must be an http(s) URL without query, fragment or trailing /")
    if not 1 <= config.tokens.code_ttl <= 60:
        raise ConfigError("tokens.code_ttl must be between 1 and 60 seconds")
    pw = config.passwords
    if not (
        8 * pw.argon2_parallelism <= pw.argon2_memory_kib <= 4 * 1024 * 1024
        and 1 <= pw.argon2_time_cost <= 20
        and 1 <= pw.argon2_parallelism <= 16
    ):
        raise ConfigError(
            "passwords: argon2_memory_kib 8*parallelism..4194304, argon2_time_cost 1..20, "
            "argon2_parallelism 1..16"
        )
    if config.tokens.id_token_alg not in ("RS256", "ES256"):
        raise ConfigError("tokens.id_token_alg must be RS256 or ES256")
    if config.ui.default_locale not in ("vi", "en"):
        raise ConfigError("ui.default_locale must be vi or en")
    validate_ui(config.ui)
    if config.logout.backchannel_max_attempts < 1 or config.logout.backchannel_timeout <= 0:
        raise ConfigError(
            "logout.backchannel_max_attempts and backchannel_timeout must be positive"
        )
    if (
        config.sms.gateway not in ("outbox", "http")
        or config.sms.http_format not in ("json", "form")
        or config.sms.phone_format not in ("84", "0")
    ):
        raise ConfigError(
            "sms.gateway must be outbox or http, sms.http_format json or form, "
            "sms.phone_format 84 or 0"
        )
    if config.sms.gateway == "http" and not config.sms.http_url.startswith(("https://", "http://")):
        raise ConfigError("sms.http_url must be set for the http gateway")
    if config.login.password_acr == config.login.mfa_acr:
        raise ConfigError("login.password_acr and login.mfa_acr must differ")
    if config.otp.max_tries < 1 or config.otp.code_ttl < 30 or config.otp.resend_cooldown < 0:
        raise ConfigError("otp.max_tries must be at least 1 and otp.code_ttl at least 30 s")
    if config.otp.max_failures_per_day < config.otp.max_tries or config.login.step_up_max_age < 0:
        raise ConfigError(
            "otp.max_failures_per_day must be at least otp.max_tries, and "
            "login.step_up_max_age not negative"
        )
    limits = config.accounts
    if (
        min(
            limits.mail_requests_per_address_day,
            limits.registrations_per_national_id_day,
            limits.registrations_per_email_day,
            limits.requests_per_ip_hour,
            limits.notice_link_ttl,
        )
        < 1
    ):
        raise ConfigError("the [accounts] limits and notice_link_ttl must be at least 1")
    if config.mail.security not in ("starttls", "ssl", "none"):
        raise ConfigError("mail.security must be starttls, ssl or none")
    if config.server.engine not in ("granian", "gunicorn"):
        raise ConfigError("server.engine must be granian or gunicorn")
    if config.server.max_worker_lifetime != 0 and config.server.max_worker_lifetime < 60:
        raise ConfigError("server.max_worker_lifetime must be 0 (never) or at least 60 s")
    if config.server.log_format not in ("json", "text"):
        raise ConfigError("server.log_format must be json or text")
    for name in ("metrics_allow", "trusted_proxy_networks"):
        try:
            networks(getattr(config.server, name))
        except ValueError as exc:
            raise ConfigError(f"server.{name}: {exc}") from exc
    if not 0 < config.server.readiness_timeout <= 10:
        raise ConfigError("server.readiness_timeout must be between 0 and 10 seconds")
    if config.database.connect_timeout < 2 or config.database.statement_timeout <= 0:
        raise ConfigError(
            "database.connect_timeout must be at least 2 s and statement_timeout positive"
        )
    if config.redis_socket_timeout <= 0 or config.redis_connect_timeout <= 0:
        raise ConfigError("redis_socket_timeout and redis_connect_timeout must be positive")
    if config.server.workers < 1 or config.server.threads < 1:
        raise ConfigError("server.workers and server.threads must be at least 1")
    for name, connector in config.connectors.items():
        validate_connector(name, connector)
    for option_name in ("national_only_citizen_from", "national_only_organization_from"):
        value = getattr(config.broker, option_name)
        if value and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ConfigError(f"broker.{option_name} must be a date YYYY-MM-DD")
        if value and not config.connectors:
            raise ConfigError(f"broker.{option_name} needs at least one [connectors.NAME]")


def time_budget_warnings(config: Config) -> list[str]:
    """Dependency time-outs that could add up past server.timeout, so that a worker is killed
    (gunicorn's watchdog, or a reload's grace under either engine) instead of answering 503
    (named at `idp serve` start; an existing file still loads)."""
    limit = config.server.timeout
    db = config.database
    waits = {
        "database (pool_timeout + connect_timeout + statement_timeout + 1)": db.pool_timeout
        + db.connect_timeout
        + db.statement_timeout
        + 1,
        "sms (timeout × (retries + 1))": config.sms.timeout * (config.sms.retries + 1),
        "mail.timeout": config.mail.timeout,
    }
    for name, c in config.connectors.items():
        waits[f"connectors.{name} (4 × timeout: discovery, token, JWKS, userinfo)"] = 4 * c.timeout
    return [
        f"{what} may wait {seconds:g} s, not under server.timeout ({limit} s)"
        for what, seconds in waits.items()
        if seconds >= limit
    ]


def contrast_with_white(color: str) -> float:
    """WCAG 2.1 contrast ratio of white on a #rrggbb colour."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def validate_ui(ui: UiConfig) -> None:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", ui.brand_color):
        raise ConfigError("ui.brand_color must be #rrggbb")
    if contrast_with_white(ui.brand_color) < 4.5:
        raise ConfigError(
            f"ui.brand_color {ui.brand_color}: white text on it is below WCAG AA contrast (4.5:1)"
        )
    if ui.logo_file:
        logo = Path(ui.logo_file)
        if logo.suffix.lower() not in (".svg", ".png") or not logo.is_file():
            raise ConfigError(f"ui.logo_file {ui.logo_file}: not an .svg or .png file")
        if logo.stat().st_size > 512 * 1024:
            raise ConfigError(f"ui.logo_file {ui.logo_file}: larger than 512 KiB")
    if ui.help_email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", ui.help_email):
        raise ConfigError("ui.help_email is not an email address")
    if ui.help_phone and not re.fullmatch(r"[0-9 .()+-]{3,30}", ui.help_phone):
        raise ConfigError("ui.help_phone: digits, spaces, dots, dashes, + and () only")


CONNECTOR_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def _string_lists(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, list) and all(isinstance(i, str) for i in v) for v in value.values()
    )


def validate_connector(name: str, c: ConnectorConfig) -> None:
    where = f"connectors.{name}"
    if not CONNECTOR_NAME.match(name):
        raise ConfigError(f"{where}: a name of lowercase letters, digits, - and _")
    if not c.client_id or not c.label_vi:
        raise ConfigError(f"{where}: client_id and label_vi are required")
    explicit = (c.issuer, c.authorization_endpoint, c.token_endpoint, c.jwks_uri)
    if not c.discovery_url and not all(explicit):
        raise ConfigError(
            f"{where}: give discovery_url, or issuer, authorization_endpoint, token_endpoint "
            "and jwks_uri"
        )
    urls = (c.discovery_url, c.userinfo_endpoint, c.end_session_endpoint) + explicit
    for url in filter(None, urls):
        host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        loopback = host in ("127.0.0.1", "localhost", "[::1]")
        if not (url.startswith("https://") or (url.startswith("http://") and loopback)):
            raise ConfigError(f"{where}: {url} must be https (http only on loopback)")
    if not re.fullmatch(r"[a-z0-9_-]{1,64}\.(svg|png)", c.icon):
        raise ConfigError(f"{where}: icon is a file name under idp/static/icons/ (.svg or .png)")
    if c.token_auth_method not in ("client_secret_basic", "client_secret_post"):
        raise ConfigError(f"{where}: token_auth_method is client_secret_basic or _post")
    if not _string_lists(c.claims) or not _string_lists(c.subject_claims):
        raise ConfigError(f"{where}: claims and subject_claims map names to lists of names")
    for table in (c.account_types, c.levels):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
            raise ConfigError(f"{where}: account_types and levels map strings to strings")
    if set(c.account_types.values()) - {"citizen", "organization"}:
        raise ConfigError(f"{where}: account_types values are citizen or organization")


def example_toml() -> str:
    """Render config.example.toml from the dataclasses, so documentation never drifts."""
    lines = [
        "# Configuration of the provincial sign-in hub. Every option is shown with its default.",
        "# Load it with `idp --config FILE ...` or IDP_CONFIG=FILE. Environment variables",
        "# IDP_ISSUER, IDP_DATABASE_URL, IDP_REDIS_URL and IDP_KEYS_DIR override the file.",
        "# Generated by `idp config-example`; a test keeps it in step with idp/config.py.",
        "",
    ]

    def render(cls: type, section: str) -> None:
        nested = []
        if section:
            lines.append(f"[{section}]")
            for doc_line in _wrap(" ".join(cls.__doc__.split())):
                lines.append(f"# {doc_line}")
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            if dataclasses.is_dataclass(default):
                nested.append((f, default))
                continue
            if isinstance(default, dict):
                continue  # tables of tables are documented by hand (CONNECTORS_EXAMPLE)
            for doc_line in _wrap(f.metadata["doc"]):
                lines.append(f"# {doc_line}")
            lines.append(f"{f.name} = {_toml_value(default)}")
            lines.append("")
        for f, default in nested:
            render(type(default), f.name)

    render(Config, "")
    return "\n".join(lines).rstrip() + "\n" + CONNECTORS_EXAMPLE


def _wrap(text: str, width: int = 96) -> list[str]:
    words, out, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        out.append(line)
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    raise TypeError(value)
