"""Durable records: users, client systems, tokens, consents, audit events, short-lived entries.

Secrets never stand in the database in the clear: client secrets and tokens are SHA-256
digests (they are random 256-bit values, so a fast hash is enough), passwords are argon2.
"""

from __future__ import annotations

import hmac
import time
import uuid

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from ..security import sha256_hex
from .db import db


def _now() -> int:
    return int(time.time())


def new_subject() -> str:
    """A public subject identifier that reveals nothing (not the database id, not the username)."""
    return str(uuid.uuid4())


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        # One active citizen account per identity number, one active organisation per tax code;
        # pending (not yet activated) registrations do not block the real owner.
        Index(
            "uq_users_active_national_id",
            "national_id",
            unique=True,
            postgresql_where=text("active AND account_type = 'citizen'"),
            sqlite_where=text("active AND account_type = 'citizen'"),
        ),
        Index(
            "uq_users_active_tax_code",
            "tax_code",
            unique=True,
            postgresql_where=text("active AND account_type = 'organization'"),
            sqlite_where=text("active AND account_type = 'organization'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), unique=True, default=new_subject)
    username: Mapped[str] = mapped_column(String(64))
    username_normalized: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    phone_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # False when the number was proved by a session that had passed no other second factor
    # (a password alone): then it does not open the admin or staff console.
    phone_vouched: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Set when too many wrong second-factor codes came within a day: no code is taken until
    # the owner unlocks it from the emailed link or at the counter.
    second_factor_locked_at: Mapped[int | None] = mapped_column(BigInteger)
    national_id: Mapped[str | None] = mapped_column(String(12), index=True)
    birthdate: Mapped[str | None] = mapped_column(String(10))
    gender: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(500))
    sex: Mapped[str | None] = mapped_column(String(8))
    account_type: Mapped[str] = mapped_column(String(16), default="citizen")
    business_name: Mapped[str | None] = mapped_column(String(200))
    tax_code: Mapped[str | None] = mapped_column(String(14), index=True)
    province_code: Mapped[str | None] = mapped_column(String(2))
    ward_code: Mapped[str | None] = mapped_column(String(5))
    street: Mapped[str | None] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    roles: Mapped[list] = mapped_column(JSON, default=list)
    # Which fields a national portal vouched for, and when: {field: {"source": connector,
    # "at": epoch seconds}}. A field the person edits later leaves this map.
    verified_fields: Mapped[dict | None] = mapped_column(JSON)
    # False until the emailed link is opened (activated_at stays None), or when staff lock it.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    activated_at: Mapped[int | None] = mapped_column(BigInteger)
    locked_until: Mapped[int | None] = mapped_column(BigInteger)
    # Set when the password was signed in with from an unsalted legacy hash: the next step
    # of that sign-in is choosing a new one.
    password_change_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    last_login_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger, default=_now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=_now, onupdate=_now)

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class ImportedAccount(db.Model):
    """Where an account came from: one row per (source, source id), so re-running an import
    updates instead of duplicating, and a person from two former portals is one account with
    two rows. `snapshot` keeps a digest of each field as the source last gave it: a later
    run changes only what the person has not changed here since (a three-way merge)."""

    __tablename__ = "imported_accounts"
    __table_args__ = (
        db.UniqueConstraint("source", "source_id", name="uq_imported_accounts_source_id"),
        # Released as `sub` to the clients that opt in: one person per value within a source.
        db.UniqueConstraint("source", "legacy_subject", name="uq_imported_accounts_legacy_sub"),
        Index("ix_imported_accounts_former_national_id", "former_national_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    legacy_subject: Mapped[str | None] = mapped_column(String(255))
    # An old 9-digit CMND the source gave with the person's CCCD: later rows with only the
    # CMND find the same person through it.
    former_national_id: Mapped[str | None] = mapped_column(String(12))
    snapshot: Mapped[dict | None] = mapped_column(JSON)
    imported_at: Mapped[int] = mapped_column(BigInteger, default=_now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=_now)

    user: Mapped[User] = relationship()


class UsernameAlias(db.Model):
    """Another username of a merged account (from another former portal): it still signs in,
    as the account, and no new account may take it."""

    __tablename__ = "username_aliases"

    username_normalized: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=_now)

    user: Mapped[User] = relationship()


class Client(db.Model, ClientMixin):
    """A registered departmental system (OAuth 2.0 client / OpenID Connect relying party)."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))
    frontchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    jwks_uri: Mapped[str | None] = mapped_column(String(2000))
    jwks: Mapped[dict | None] = mapped_column(JSON)
    scope: Mapped[str] = mapped_column(String(500))
    grant_types: Mapped[list] = mapped_column(
        JSON, default=lambda: ["authorization_code", "refresh_token"]
    )
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    # Every sign-in to this client needs a second factor (the hub's MFA level).
    require_mfa: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The lowest acr this client accepts (e.g. LoA2: a national level-2 identity).
    min_acr: Mapped[str | None] = mapped_column(String(32))
    id_token_signed_response_alg: Mapped[str | None] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Opt-in: release the subject a former portal (an import source of this name) gave its
    # users as `sub`, so this system's user mappings survive the move to the hub.
    legacy_subject_source: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), default="cli")
    # SHA-256 of the RFC 7592 registration access token of a dynamically registered client.
    registration_token_hash: Mapped[str | None] = mapped_column(String(64))
    # The system's logo (PNG) shown on the sign-in page; deferred, so client lookups on the
    # token path never load it. logo_version (upload time) names the image for caching.
    logo_png: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    logo_version: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger, default=_now)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=_now, onupdate=_now)

    # Authlib's ClientMixin ------------------------------------------------------------------

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name

    @property
    def client_metadata(self) -> dict:
        return {
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris or []),
            "id_token_signed_response_alg": self.id_token_signed_response_alg,
        }

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OpenID Connect requires redirect_uri in every request; no default is ever assumed.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(scope_to_list(self.scope))
        return list_to_scope([s for s in scope_to_list(scope) if s in allowed])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.client_secret_hash or not isinstance(client_secret, str):
            return False
        return hmac.compare_digest(self.client_secret_hash, sha256_hex(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.grant_types or [])

    def allows_scope(self, scope: str) -> bool:
        return scope in scope_to_list(self.scope)


class TokenChecks(TokenMixin):
    """What Authlib and the endpoints ask of a token, over its columns: shared by the ORM
    `Token` and the read-only `records.TokenRecord` the hot paths load, so both answer alike."""

    # Authlib's TokenMixin; `now` is read from the app clock by the caller when it matters.
    def check_client(self, client: Client) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.access_expires_at - self.issued_at

    def is_expired(self) -> bool:
        from ..clock import now

        return self.access_expires_at <= now()

    def is_revoked(self) -> bool:
        return self.access_revoked

    def get_user(self) -> User | None:
        return self.user

    @property
    def holder_active(self) -> bool:
        """Whether whoever the token speaks for may still use it: its user, or for a
        client-credentials token, its (enabled) client."""
        if self.user_id is None:
            return self.get_client() is not None
        return self.user is not None and self.user.active

    def get_client(self) -> Client:
        from . import clients

        return clients.get(self.client_id)

    def is_refresh_expired(self) -> bool:
        from ..clock import now

        return self.refresh_expires_at is None or self.refresh_expires_at <= now()


class Token(db.Model, TokenChecks):
    """One access token and, optionally, its refresh token; `grant_id` ties a family together."""

    __tablename__ = "tokens"
    __table_args__ = (Index("ix_tokens_grant_id", "grant_id"), Index("ix_tokens_sid", "sid"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    # None for a client-credentials token: the client acts for itself (the admin API).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(500), default="")
    grant_id: Mapped[str] = mapped_column(String(64))
    sid: Mapped[str | None] = mapped_column(String(64))
    auth_time: Mapped[int | None] = mapped_column(BigInteger)
    acr: Mapped[str | None] = mapped_column(String(64))
    amr: Mapped[list | None] = mapped_column(JSON)
    claims_request: Mapped[dict | None] = mapped_column(JSON)
    issued_at: Mapped[int] = mapped_column(BigInteger, default=_now)
    access_expires_at: Mapped[int] = mapped_column(BigInteger)
    refresh_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    access_revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    refresh_revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why the refresh token stopped working: "rotated" (reuse then means theft) or "revoked".
    refresh_revoked_reason: Mapped[str | None] = mapped_column(String(16))
    # When rotation used the refresh token up, and the pair it made, sealed with the used
    # token itself: a client whose answer was lost retries and gets that pair back.
    rotated_at: Mapped[int | None] = mapped_column(BigInteger)
    successor: Mapped[str | None] = deferred(mapped_column(Text))

    user: Mapped[User | None] = relationship(lazy="joined")
    # Set by lookups: which of the two values the caller presented ("access_token"/"refresh_token").
    presented_as = None


class Consent(db.Model):
    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(500))
    granted_at: Mapped[int] = mapped_column(BigInteger, default=_now)

    __table_args__ = (db.UniqueConstraint("user_id", "client_id", name="uq_consents_user_client"),)


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"), Index("ix_audit_events_event", "event"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, default=_now)
    event: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)


class KvEntry(db.Model):
    """Short-lived state when no Redis is configured (see store/kv.py)."""

    __tablename__ = "kv_entries"
    __table_args__ = (Index("ix_kv_entries_expires_at", "expires_at"),)

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    counter: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float)


class KvSetMember(db.Model):
    """Members of short-lived sets (e.g. a user's sessions) when no Redis is configured."""

    __tablename__ = "kv_set_members"
    __table_args__ = (Index("ix_kv_set_members_expires_at", "expires_at"),)

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    member: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float)


class LogoutDelivery(db.Model):
    """One back-channel logout notification owed to one client for one session: an outbox row
    that any worker may claim, so a dead client or a recycled worker loses nothing."""

    __tablename__ = "logout_deliveries"
    __table_args__ = (Index("ix_logout_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(String(2000))
    sid: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    claimed_until: Mapped[float | None] = mapped_column(Float)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    finished_at: Mapped[float | None] = mapped_column(Float)


class TotpEnrolment(db.Model):
    """An authenticator app bound to an account. The secret is encrypted with a key derived
    from the hub's secret; `last_step` makes every code usable once."""

    __tablename__ = "totp_enrolments"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_encrypted: Mapped[str] = mapped_column(String(500))
    confirmed_at: Mapped[int] = mapped_column(BigInteger)
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    # True when enrolled by a session that had just passed another second factor, or set up at
    # the counter; only such an app (and its recovery codes) opens the admin console.
    vouched: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class RecoveryCode(db.Model):
    """One-time recovery codes, kept only as keyed hashes."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class FederatedIdentity(db.Model):
    """A national subject allowed to sign in as a local account. One subject of one connector
    links to at most one account (the unique constraint); an account may have several links."""

    __tablename__ = "federated_identities"
    __table_args__ = (
        db.UniqueConstraint("connector", "subject", name="uq_federated_identities_subject"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connector: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The upstream's claims as last seen (its own names), and the hub acr of its level.
    claims: Mapped[dict | None] = mapped_column(JSON)
    level: Mapped[str | None] = mapped_column(String(32))
    first_login_at: Mapped[int] = mapped_column(BigInteger, default=_now)
    last_login_at: Mapped[int] = mapped_column(BigInteger, default=_now)
