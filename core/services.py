"""Staff accounts and the audit trail. No Flask here: callers pass who and where."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.db import db, utcnow
from core.errors import Conflict, ValidationFailed
from core.models import AuditEntry, StaffAccount, StaffSession

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
# Verifying against this keeps the timing of "no such user" equal to "wrong password".
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who did something, and from where, for the audit log."""

    staff_id: int | None
    name: str
    request_id: str | None = None
    ip_address: str | None = None

    @classmethod
    def of(cls, staff: StaffAccount, request_id: str | None = None, ip_address: str | None = None) -> Actor:
        return cls(staff.id, staff.username, request_id, ip_address)


SYSTEM_ACTOR = Actor(staff_id=None, name="system")


class LoginRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def record_audit(actor: Actor, action: str, object_type: str, object_id: Any = None,
                 before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> AuditEntry:
    entry = AuditEntry(actor_id=actor.staff_id, actor_name=actor.name, action=action, object_type=object_type,
                       object_id=None if object_id is None else str(object_id), before=before, after=after,
                       request_id=actor.request_id, ip_address=actor.ip_address)
    db.session.add(entry)
    return entry


def change_audited(actor: Actor, action: str, object_type: str, target: Any, **changes: Any) -> None:
    """Set attributes on ``target`` and audit their values before and after."""
    before = {field: getattr(target, field) for field in changes}
    for field, value in changes.items():
        setattr(target, field, value)
    record_audit(actor, action, object_type, target.id, before=before, after=changes)


def reveal_sensitive(actor: Actor, object_type: str, object_id: Any, field: str, value: str) -> str:
    """A sensitive value shown in the clear to a staff member whose role needs it: audited, never silent.
    Everyone else sees ``core.crypto.mask(value)`` (the ``masked`` template filter). The caller commits."""
    record_audit(actor, "sensitive.reveal", object_type, object_id, after={"field": field})
    return value


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符。", code="weak_password",
                               details={"fields": {"password": [f"at least {MIN_PASSWORD_LENGTH} characters"]}})


_NAME_LABELS = {"username": "用户名", "display_name": "姓名"}


def _staff_name(field: str, value: str) -> str:
    """A username or display name without surrounding spaces, within its column: PostgreSQL refuses a longer one
    (a 500 in the admin, a traceback from `flask create-staff`), SQLite would store it beyond the column."""
    value = value.strip()
    limit = StaffAccount.__table__.c[field].type.length
    if len(value) > limit:
        raise ValidationFailed(f"{_NAME_LABELS[field]}最多 {limit} 个字符。",
                               details={"fields": {field: [f"at most {limit} characters"]}})
    return value


def _check_roles(roles: list[str]) -> list[str]:
    # Which roles exist is the app's to say (core.auth.check_roles, where staff type them in).
    if not roles:
        raise ValidationFailed("角色无效。", code="invalid_roles", details={"fields": {"roles": ["required"]}})
    return sorted(set(roles))


def create_staff(actor: Actor, *, username: str, display_name: str, password: str, roles: list[str]) -> StaffAccount:
    username = _staff_name("username", username)
    if not username:
        raise ValidationFailed("用户名不能为空。", details={"fields": {"username": ["required"]}})
    _check_password(password)
    roles = _check_roles(roles)
    if db.session.scalar(sa.select(StaffAccount.id).where(StaffAccount.username == username)) is not None:
        raise Conflict("用户名已存在。", code="username_taken")
    staff = StaffAccount(username=username, display_name=_staff_name("display_name", display_name) or username,
                         password_hash=_hasher.hash(password), roles=roles)
    db.session.add(staff)
    db.session.flush()
    record_audit(actor, "staff.create", "staff_account", staff.id, after=staff.audit_view())
    return staff


def update_staff(actor: Actor, staff: StaffAccount, *, display_name: str, roles: list[str], is_active: bool,
                 new_password: str | None = None) -> StaffAccount:
    before = staff.audit_view()
    roles = _check_roles(roles)
    if actor.staff_id == staff.id and (not is_active or "admin" not in roles) and "admin" in staff.roles:
        raise Conflict("不能停用自己或移除自己的管理员角色。", code="cannot_demote_self")
    staff.display_name = _staff_name("display_name", display_name) or staff.username
    staff.roles = roles
    if staff.is_active and not is_active:
        _end_every_session(staff)
    staff.is_active = is_active
    if new_password:
        _check_password(new_password)
        staff.password_hash = _hasher.hash(new_password)
        _end_every_session(staff)
    after = staff.audit_view()
    if new_password:
        after["password_changed"] = True
    record_audit(actor, "staff.update", "staff_account", staff.id, before=before, after=after)
    return staff


def staff_with_role(role: str) -> list[StaffAccount]:
    """The active staff who hold ``role`` (administrators hold every role), by display name: whom work of that role
    may be given to."""
    staff = db.session.scalars(sa.select(StaffAccount).where(StaffAccount.is_active.is_(True))
                               .order_by(StaffAccount.display_name, StaffAccount.id))
    return [member for member in staff if member.has_role(role)]


def authenticate_staff(username: str, password: str, *, ip_address: str | None = None,
                       request_id: str | None = None, now: dt.datetime | None = None) -> StaffAccount:
    """The staff account for these credentials, or LoginRefused. How often one may try is the caller's throttle's
    to say (core.ratelimit.begin_attempts): an account is never locked, so nobody can lock a colleague out."""
    staff = db.session.scalar(sa.select(StaffAccount).where(StaffAccount.username == username.strip()))
    if staff is None:
        _verify(_DUMMY_HASH, password)
        raise LoginRefused("bad_credentials")
    actor = Actor(staff.id, staff.username, request_id, ip_address)
    if not _verify(staff.password_hash, password):
        record_audit(actor, "staff.login_failed", "staff_account", staff.id)
        raise LoginRefused("bad_credentials")
    if not staff.is_active:
        raise LoginRefused("inactive")
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    staff.last_login_at = now or utcnow()
    record_audit(actor, "staff.login", "staff_account", staff.id)
    return staff


def start_staff_session(staff: StaffAccount, lifetime: dt.timedelta, *, now: dt.datetime | None = None) -> str:
    """A new session for ``staff``: the token for its cookie (only a hash of it is stored)."""
    now = now or utcnow()
    db.session.execute(sa.delete(StaffSession).where(StaffSession.staff_id == staff.id,
                                                      StaffSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    db.session.add(StaffSession(token_hash=_token_hash(token), staff_id=staff.id, started_at=now,
                                expires_at=now + lifetime))
    return token


def staff_of_session(token: str, *, now: dt.datetime | None = None) -> StaffAccount | None:
    """The active staff member whose unexpired session this token opens, else None."""
    return db.session.scalar(
        sa.select(StaffAccount).join(StaffSession, StaffSession.staff_id == StaffAccount.id)
        .where(StaffSession.token_hash == _token_hash(token), StaffSession.expires_at > (now or utcnow()),
               StaffAccount.is_active.is_(True)))


def end_staff_session(token: str) -> None:
    db.session.execute(sa.delete(StaffSession).where(StaffSession.token_hash == _token_hash(token)))


def _end_every_session(staff: StaffAccount) -> None:
    db.session.execute(sa.delete(StaffSession).where(StaffSession.staff_id == staff.id))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclasses.dataclass(frozen=True)
class AuditFilter:
    actor_name: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def audit_query(filters: AuditFilter) -> sa.Select[tuple[AuditEntry]]:
    query = sa.select(AuditEntry)
    if filters.actor_name:
        query = query.where(AuditEntry.actor_name == filters.actor_name)
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.object_type:
        query = query.where(AuditEntry.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditEntry.object_id == filters.object_id)
    if filters.since:
        query = query.where(AuditEntry.occurred_at >= filters.since)
    if filters.until:
        query = query.where(AuditEntry.occurred_at < filters.until)
    return query.order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
