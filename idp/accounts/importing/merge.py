"""Putting checked records into the database, a batch at a time, without duplicates and
without silent overwrites.

For each record, in this order:
1. (source, source id) seen before: the same account is updated. A field changes only if the
   source changed it since the last run and nobody changed it here (three-way, against the
   digests kept in `imported_accounts.snapshot`); changed on both sides is a reported conflict
   and the hub's value stays.
2. The same person already here (CCCD, or an old CMND the hub knows with that person's CCCD;
   for an organisation its tax code): merged into that account. Empty fields are filled, a
   different value is reported and not taken; the oldest username stays the username and the
   others become aliases that still sign in; the password of the latest sign-in is kept.
3. Otherwise a new account; a username another person holds is renamed and reported.

Roles are given only to accounts this import creates (a backup of the hub restored) and never
by a merge or an update. Pending registrations (never activated) are not matched: their
owner proved nothing yet.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from ...store.db import db
from ...store.models import FederatedIdentity, ImportedAccount, User, UsernameAlias, new_subject
from ...store.users import normalize_username
from .records import PROFILE_FIELDS, Record, RowError, from_mapping
from .report import ConflictsFile, Summary

BATCH = 500
IDENTITY_FIELDS = ("national_id", "tax_code")
MERGED_FIELDS = (*PROFILE_FIELDS, *IDENTITY_FIELDS, "password_hash")


class ImportStopped(RuntimeError):
    """The run cannot go on (a dry run met a change it cannot undo alone); one line."""


def digest(value: object) -> str | None:
    if value in (None, ""):
        return None
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _privileged(user: User) -> bool:
    return bool({"staff", "admin"} & set(user.roles or []))


class _New:
    """A row this batch will insert (a plain object: building ORM instances for a million
    rows would cost more than the import itself). Attributes are the table's columns, plus
    `user` (the account, new or loaded) for rows that refer to one."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)

    def row(self, columns: tuple[str, ...]) -> dict:
        values = {c: getattr(self, c, None) for c in columns}
        if "user_id" in columns:
            values["user_id"] = self.user.id
        return values


USER_COLUMNS = (
    "subject",
    "username",
    "username_normalized",
    "password_hash",
    "account_type",
    "national_id",
    "tax_code",
    "roles",
    "active",
    "activated_at",
    "created_at",
    "updated_at",
    "last_login_at",
    *PROFILE_FIELDS,
)
LINK_COLUMNS = (
    "source",
    "source_id",
    "user_id",
    "legacy_subject",
    "former_national_id",
    "snapshot",
    "imported_at",
    "updated_at",
)
ALIAS_COLUMNS = ("username_normalized", "username", "user_id", "source", "created_at")


@dataclass
class _Batch:
    """What one batch knows: the rows of the database its records touch, kept up to date as
    the batch creates and merges, and what it did."""

    links: dict[str, ImportedAccount] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    by_cccd: dict[str, list[User]] = field(default_factory=dict)
    by_cmnd: dict[str, list[User]] = field(default_factory=dict)
    by_tax: dict[str, list[User]] = field(default_factory=dict)
    names: dict[str, User | None] = field(default_factory=dict)  # normalised -> holder
    legacy_subjects: dict[str, object] = field(default_factory=dict)
    federated: dict[tuple[str, str], object] = field(default_factory=dict)
    pending_links: list[tuple[User, str, str]] = field(default_factory=list)
    new_users: list[_New] = field(default_factory=list)
    new_links: list[_New] = field(default_factory=list)
    new_aliases: list[_New] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)
    rows: list[tuple] = field(default_factory=list)


class Importer:
    def __init__(
        self,
        source: str,
        *,
        allow_unsalted: bool,
        now: int,
        dry_run: bool,
        conflicts: ConflictsFile | None,
        batch_size: int = BATCH,
    ) -> None:
        self.source = source
        self.allow_unsalted = allow_unsalted
        self.now = now
        self.dry_run = dry_run
        self.conflicts = conflicts
        self.batch_size = batch_size
        self.summary = Summary()

    # The run ------------------------------------------------------------------------------

    def run(self, rows: Iterable[tuple[int, dict | RowError]]) -> Summary:
        items: list[tuple[int, Record | RowError, str]] = []
        for position, row in rows:
            items.append(self._check(position, row))
            if len(items) >= self.batch_size:
                self._apply(items)
                items = []
        if items:
            self._apply(items)
        if self.dry_run:
            db.session.rollback()
        return self.summary

    def _check(self, position: int, row: dict | RowError) -> tuple[int, Record | RowError, str]:
        source_id = row.get("source_id") if isinstance(row, dict) else None
        source_id = source_id if isinstance(source_id, str) else ""
        if isinstance(row, RowError):
            return position, row, source_id
        try:
            return (
                position,
                from_mapping(row, allow_unsalted=self.allow_unsalted, now=self.now),
                (source_id),
            )
        except RowError as exc:
            return position, exc, source_id

    def _apply(self, items: list[tuple[int, Record | RowError, str]]) -> None:
        try:
            batch = self._process(items)
            self._write(batch)
            if not self.dry_run:
                db.session.commit()
        except IntegrityError:
            # Someone else wrote a username, number or link meanwhile (a registration).
            db.session.rollback()
            if self.dry_run:
                raise ImportStopped(
                    "the database changed during the dry run (a unique value was taken); "
                    "run it again"
                ) from None
            if len(items) > 1:
                for item in items:
                    self._apply([item])
                return
            batch = _Batch()
            position, _, source_id = items[0]
            self._report(batch, position, source_id, "conflicts", "taken meanwhile", "")
        self.summary.merge(batch.summary)
        if self.conflicts is not None:
            self.conflicts.write(batch.rows)
        db.session.expunge_all()  # memory stays flat: nothing of this batch is kept

    def _write(self, batch: _Batch) -> None:
        """Changes to loaded rows through the ORM; new rows as multi-row INSERTs."""
        session = db.session
        session.flush()
        if batch.new_users:
            # Returned by unique name, not in order: asking for the order makes SQLAlchemy send
            # one row per statement (a round trip each on PostgreSQL).
            table = User.__table__
            ids = dict(
                session.execute(
                    table.insert().returning(table.c.username_normalized, table.c.id),
                    [u.row(USER_COLUMNS) for u in batch.new_users],
                ).all()
            )
            for user in batch.new_users:
                user.id = ids[user.username_normalized]
        if batch.new_links:
            session.execute(
                ImportedAccount.__table__.insert(), [r.row(LINK_COLUMNS) for r in batch.new_links]
            )
        if batch.new_aliases:
            session.execute(
                UsernameAlias.__table__.insert(), [a.row(ALIAS_COLUMNS) for a in batch.new_aliases]
            )
        if batch.pending_links:
            session.execute(
                FederatedIdentity.__table__.insert(),
                [
                    {
                        "connector": connector,
                        "subject": subject,
                        "user_id": user.id,
                        "first_login_at": self.now,
                        "last_login_at": self.now,
                    }
                    for user, connector, subject in batch.pending_links
                ],
            )

    def _report(
        self, batch: _Batch, position: int, source_id: str, outcome: str, reason: str, detail: str
    ) -> None:
        if outcome:
            batch.summary.add(outcome, reason)
        batch.rows.append((position, self.source, source_id, outcome or "note", reason, detail))

    # One batch ------------------------------------------------------------------------------

    def _process(self, items: list[tuple[int, Record | RowError, str]]) -> _Batch:
        records = [rec for _, rec, _ in items if isinstance(rec, Record)]
        batch = self._prefetch(records)
        for position, rec, source_id in items:
            batch.summary.rows += 1
            if isinstance(rec, RowError):
                self._report(batch, position, source_id, "skipped", str(rec), "")
                continue
            for note in rec.notes:
                batch.summary.notes[note.split(":")[0]] += 1
                self._report(batch, position, rec.source_id, "", "field left out", note)
            self._one(batch, position, rec)
        return batch

    def _prefetch(self, records: list[Record]) -> _Batch:
        batch = _Batch()
        session = db.session
        ids = {r.source_id for r in records}
        for link in session.scalars(
            select(ImportedAccount).where(
                ImportedAccount.source == self.source, ImportedAccount.source_id.in_(ids)
            )
        ):
            batch.links[link.source_id] = link
        matchable = or_(User.active.is_(True), User.activated_at.is_not(None))
        cccds = {r.national_id for r in records if r.national_id}
        for user in session.scalars(
            select(User).where(
                User.national_id.in_(cccds), User.account_type == "citizen", matchable
            )
        ):
            batch.by_cccd.setdefault(user.national_id, []).append(user)
        cmnds = {r.former_national_id for r in records if r.former_national_id}
        cmnd_ids: dict[str, set[int]] = {}
        if cmnds:
            for number, user_id in session.execute(
                select(ImportedAccount.former_national_id, ImportedAccount.user_id).where(
                    ImportedAccount.former_national_id.in_(cmnds)
                )
            ):
                cmnd_ids.setdefault(number, set()).add(user_id)
        taxes = {r.tax_code for r in records if r.tax_code}
        for user in session.scalars(
            select(User).where(
                User.tax_code.in_(taxes), User.account_type == "organization", matchable
            )
        ):
            batch.by_tax.setdefault(user.tax_code, []).append(user)
        wanted = {link.user_id for link in batch.links.values()}
        wanted |= {uid for found in cmnd_ids.values() for uid in found}
        for user in session.scalars(select(User).where(User.id.in_(wanted))):
            batch.users[user.id] = user
        for number, found in cmnd_ids.items():
            batch.by_cmnd[number] = [batch.users[uid] for uid in found if uid in batch.users]
        for users in (*batch.by_cccd.values(), *batch.by_tax.values()):
            for user in users:
                batch.users[user.id] = user
        names = {normalize_username(r.username) for r in records}
        names |= {normalize_username(a) for r in records for a in r.aliases}
        for user_id, name in session.execute(
            select(User.id, User.username_normalized).where(User.username_normalized.in_(names))
        ):
            batch.names[name] = batch.users.get(user_id) or user_id
        for user_id, name in session.execute(
            select(UsernameAlias.user_id, UsernameAlias.username_normalized).where(
                UsernameAlias.username_normalized.in_(names)
            )
        ):
            batch.names[name] = batch.users.get(user_id) or user_id
        subjects = {r.legacy_subject for r in records if r.legacy_subject}
        if subjects:
            for user_id, value in session.execute(
                select(ImportedAccount.user_id, ImportedAccount.legacy_subject).where(
                    ImportedAccount.source == self.source,
                    ImportedAccount.legacy_subject.in_(subjects),
                )
            ):
                batch.legacy_subjects[value] = batch.users.get(user_id) or user_id
            for user_id, value in session.execute(
                select(User.id, User.subject).where(User.subject.in_(subjects))
            ):
                batch.legacy_subjects.setdefault(value, batch.users.get(user_id) or user_id)
        pairs = {pair for r in records for pair in r.federated}
        if pairs:
            for row in session.execute(
                select(
                    FederatedIdentity.connector,
                    FederatedIdentity.subject,
                    FederatedIdentity.user_id,
                ).where(FederatedIdentity.subject.in_({s for _, s in pairs}))
            ):
                batch.federated[(row.connector, row.subject)] = (
                    batch.users.get(row.user_id) or row.user_id
                )
        return batch

    @staticmethod
    def _same(holder: object, user: User) -> bool:
        """Whether what the batch knows as holder (an account, or the id of one it did not
        load) is this account."""
        return holder is user or (isinstance(holder, int) and holder == user.id)

    def _one(self, batch: _Batch, position: int, rec: Record) -> None:
        link = batch.links.get(rec.source_id)
        if link is not None:
            if isinstance(link, _New):  # given earlier in this batch
                user = link.user
            else:
                user = batch.users.get(link.user_id) or db.session.get(User, link.user_id)
            self._update(batch, position, rec, user, link)
            return
        person, problem = self._find_person(batch, rec)
        if problem:
            self._report(batch, position, rec.source_id, "conflicts", problem, "")
        elif person is not None:
            self._merge(batch, position, rec, person)
        else:
            self._create(batch, position, rec)

    def _find_person(self, batch: _Batch, rec: Record) -> tuple[User | None, str | None]:
        if rec.account_type == "organization":
            found = batch.by_tax.get(rec.tax_code or "", [])
            if len(found) > 1:
                return None, "several accounts hold this tax code"
            return (found[0] if found else None), None
        by_cccd = batch.by_cccd.get(rec.national_id or "", [])
        if len(by_cccd) > 1:
            return None, "several accounts hold this identity number"
        found = batch.by_cmnd.get(rec.former_national_id or "", [])
        if len({id(u) for u in found}) > 1:
            return None, "several accounts hold this former CMND"
        by_cmnd = found[0] if found else None
        if by_cccd and by_cmnd is not None and by_cmnd is not by_cccd[0]:
            return None, "CCCD and former CMND belong to two different accounts"
        if (
            by_cmnd is not None
            and by_cmnd.national_id
            and rec.national_id
            and (by_cmnd.national_id != rec.national_id)
        ):
            return None, "former CMND belongs to an account with another CCCD"
        return (by_cccd[0] if by_cccd else by_cmnd), None

    # Outcomes -------------------------------------------------------------------------------

    def _new_link(self, batch: _Batch, rec: Record, user: User) -> _New:
        link = _New(
            source=self.source,
            source_id=rec.source_id,
            user=user,
            legacy_subject=None,
            former_national_id=rec.former_national_id,
            snapshot={},
            imported_at=self.now,
            updated_at=self.now,
        )
        batch.new_links.append(link)
        batch.links[rec.source_id] = link
        if rec.former_national_id:
            holders = batch.by_cmnd.setdefault(rec.former_national_id, [])
            if not any(u is user for u in holders):
                holders.append(user)
        return link

    def _take_legacy_subject(
        self, batch: _Batch, position: int, rec: Record, user: User, link: ImportedAccount
    ) -> None:
        if not rec.legacy_subject or link.legacy_subject == rec.legacy_subject:
            return
        holder = batch.legacy_subjects.get(rec.legacy_subject)
        if holder is not None and not self._same(holder, user):
            self._report(
                batch, position, rec.source_id, "", "legacy subject held by another account", ""
            )
            return
        link.legacy_subject = rec.legacy_subject
        batch.legacy_subjects[rec.legacy_subject] = user

    def _take_links(self, batch: _Batch, position: int, rec: Record, user: User) -> None:
        for pair in rec.federated:
            holder = batch.federated.get(pair)
            if holder is None:
                batch.federated[pair] = user
                batch.pending_links.append((user, *pair))
            elif not self._same(holder, user):
                self._report(
                    batch,
                    position,
                    rec.source_id,
                    "",
                    "federated link held by another account",
                    pair[0],
                )

    def _take_alias(self, batch: _Batch, position: int, rec: Record, user: User, name: str) -> None:
        key = normalize_username(name)
        holder = batch.names.get(key)
        if holder is not None:
            if not self._same(holder, user):
                self._report(
                    batch, position, rec.source_id, "", "alias held by another person", name
                )
            return
        batch.new_aliases.append(
            _New(
                username_normalized=key,
                username=name,
                user=user,
                source=self.source,
                created_at=self.now,
            )
        )
        batch.names[key] = user
        self._report(batch, position, rec.source_id, "", "alias added", name)

    def _free_name(self, batch: _Batch, base: str) -> str:
        """`base`, else `base.source`, `base.source2`…: the first no account holds."""
        suffix = self.source.replace("-", "_")[:20]
        for n in range(1, 1000):
            candidate = f"{base[: 62 - len(suffix) - len(str(n))]}.{suffix}{'' if n == 1 else n}"
            key = normalize_username(candidate)
            if key in batch.names:
                continue
            taken = db.session.scalar(
                select(User.id).where(User.username_normalized == key)
            ) or db.session.get(UsernameAlias, key)
            if not taken:
                return candidate
            batch.names[key] = None
        raise RowError("no free username")

    def _create(self, batch: _Batch, position: int, rec: Record) -> None:
        name, renamed = rec.username, False
        if normalize_username(name) in batch.names:
            name, renamed = self._free_name(batch, rec.username), True
        created = rec.created_at or self.now
        user = _New(
            subject=new_subject(),
            username=name,
            username_normalized=normalize_username(name),
            password_hash=rec.password_hash,
            account_type=rec.account_type,
            national_id=rec.national_id,
            tax_code=rec.tax_code,
            roles=list(rec.roles),
            active=rec.active,
            activated_at=created if rec.active else None,
            created_at=created,
            updated_at=self.now,
            last_login_at=rec.last_login_at,
        )
        if not rec.active:
            # Locked in the source: locked here too (not a pending registration).
            user.activated_at = created
        for key in PROFILE_FIELDS:
            setattr(user, key, rec.profile.get(key))
        user.email_verified = bool(rec.profile.get("email_verified"))
        user.phone_verified = bool(rec.profile.get("phone_verified"))
        batch.new_users.append(user)
        batch.names[user.username_normalized] = user
        if rec.national_id:
            batch.by_cccd.setdefault(rec.national_id, []).append(user)
        if rec.tax_code and rec.account_type == "organization":
            batch.by_tax.setdefault(rec.tax_code, []).append(user)
        link = self._new_link(batch, rec, user)
        link.snapshot = {k: digest(val) for k, val in rec.values().items()}
        self._take_legacy_subject(batch, position, rec, user, link)
        self._take_links(batch, position, rec, user)
        for alias in rec.aliases:
            self._take_alias(batch, position, rec, user, alias)
        if renamed:
            self._report(
                batch,
                position,
                rec.source_id,
                "created",
                "username taken: renamed",
                f"{rec.username} -> {name}",
            )
        else:
            batch.summary.add("created", "roles given" if rec.roles else None)
        if rec.roles:
            self._report(batch, position, rec.source_id, "", "roles given", " ".join(rec.roles))

    def _merge(self, batch: _Batch, position: int, rec: Record, user: User) -> None:
        link = self._new_link(batch, rec, user)
        kept: list[str] = []
        for key, value in rec.values().items():
            if value in (None, "") or key == "password_hash":
                continue
            current = getattr(user, key)
            if current in (None, ""):
                setattr(user, key, value)
            elif current != value:
                kept.append(key)
        if rec.password_hash and rec.password_hash != user.password_hash:
            newer = (rec.last_login_at or 0) > (user.last_login_at or 0)
            # A staff or admin account never takes a password from a file.
            if not _privileged(user) and (user.password_hash is None or newer):
                user.password_hash = rec.password_hash
                user.last_login_at = rec.last_login_at or user.last_login_at
                self._report(
                    batch,
                    position,
                    rec.source_id,
                    "",
                    "password of this source kept",
                    "its sign-in is the latest" if newer else "the account had none",
                )
            else:
                kept.append("password")
        if kept:
            self._report(
                batch,
                position,
                rec.source_id,
                "",
                "values differ: the account's kept",
                " ".join(kept),
            )
        # The oldest username stays the username; the others sign in as aliases.
        older = rec.created_at is not None and rec.created_at < (user.created_at or self.now)
        mine = normalize_username(rec.username)
        holder = batch.names.get(mine)
        if mine != user.username_normalized:
            if older and not _privileged(user) and (holder is None or self._same(holder, user)):
                previous = user.username
                if holder is not None:  # the older name is an alias of this account: promoted
                    batch.new_aliases = [
                        a for a in batch.new_aliases if a.username_normalized != mine
                    ]
                    alias = db.session.get(UsernameAlias, mine)
                    if alias is not None:
                        db.session.delete(alias)
                        db.session.flush()
                user.username, user.username_normalized = rec.username, mine
                batch.names[mine] = user
                batch.names.pop(normalize_username(previous), None)
                self._take_alias(batch, position, rec, user, previous)
                self._report(
                    batch,
                    position,
                    rec.source_id,
                    "",
                    "older username became the username",
                    f"{previous} -> {rec.username}",
                )
            else:
                self._take_alias(batch, position, rec, user, rec.username)
        for alias in rec.aliases:
            self._take_alias(batch, position, rec, user, alias)
        if rec.created_at is not None and rec.created_at < (user.created_at or self.now):
            user.created_at = rec.created_at
        link.snapshot = {k: digest(val) for k, val in rec.values().items()}
        self._take_legacy_subject(batch, position, rec, user, link)
        self._take_links(batch, position, rec, user)
        if rec.roles and set(rec.roles) - set(user.roles or []):
            self._report(batch, position, rec.source_id, "", "roles not given by a merge", "")
        reason = "same identity number" if rec.account_type == "citizen" else "same tax code"
        batch.summary.add("merged", reason)

    def _update(
        self, batch: _Batch, position: int, rec: Record, user: User, link: ImportedAccount
    ) -> None:
        before = dict(link.snapshot or {})
        changed, both = [], []
        for key, value in rec.values().items():
            new = digest(value)
            if new == before.get(key) or value in (None, ""):
                continue  # the source did not change it (or no longer says)
            current = getattr(user, key)
            if digest(current) not in (None, before.get(key)):
                both.append("password" if key == "password_hash" else key)
                continue
            if key in IDENTITY_FIELDS and self._identity_taken(batch, key, value, user):
                both.append(key)
                continue
            setattr(user, key, value)
            changed.append("password" if key == "password_hash" else key)
        link.snapshot = {k: digest(val) for k, val in rec.values().items()}
        link.updated_at = self.now
        if rec.former_national_id and not link.former_national_id:
            link.former_national_id = rec.former_national_id
        self._take_legacy_subject(batch, position, rec, user, link)
        self._take_links(batch, position, rec, user)
        if both:
            self._report(
                batch,
                position,
                rec.source_id,
                "conflicts",
                "changed here and in the source: the account's kept",
                " ".join(both),
            )
        elif changed:
            self._report(
                batch, position, rec.source_id, "updated", "fields changed", " ".join(changed)
            )
        else:
            batch.summary.add("unchanged", "same as the last run")

    def _identity_taken(self, batch: _Batch, key: str, value: str, user: User) -> bool:
        found = batch.by_cccd.get(value) if key == "national_id" else batch.by_tax.get(value)
        if found is None:
            column = User.national_id if key == "national_id" else User.tax_code
            found = list(db.session.scalars(select(User).where(column == value)))
        return any(other is not user for other in found)
