"""Residents: sign-in through WeChat, whether a resident may still act, and blocking one (spam, abuse)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from citizen.models import Resident
from core.db import db, get_or_not_found, utcnow
from core.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from core.logs import identifier_digest
from core.services import Actor, change_audited, record_audit
from core.wechat import WeChatIdentity

log = logging.getLogger(__name__)
FORGOTTEN_OPENID_PREFIX = "forgotten:"


def sign_in_resident(identity: WeChatIdentity) -> Resident:
    """The resident behind this WeChat identity, created on first sign-in."""
    resident = _find_by_openid(identity.openid)
    if resident is None:
        try:
            with db.session.begin_nested():
                resident = Resident(openid=identity.openid, unionid=identity.unionid)
                db.session.add(resident)
        except IntegrityError:
            # A concurrent first sign-in of the same resident created the row first.
            resident = _find_by_openid(identity.openid)
            assert resident is not None
        else:
            log.info("resident registered", extra={"resident": identifier_digest(identity.openid)})
    _refuse_if_blocked(resident)
    if identity.unionid and resident.unionid != identity.unionid:
        resident.unionid = identity.unionid
    resident.last_login_at = utcnow()
    db.session.flush()
    return resident


def get_resident(resident_id: int) -> Resident:
    return get_or_not_found(Resident, resident_id, "用户不存在。")


def openids_of(resident_ids: Iterable[int]) -> dict[int, str]:
    """The openids of these residents, by id (for an administrator's export: the caller checks the role)."""
    rows = db.session.execute(sa.select(Resident.id, Resident.openid).where(Resident.id.in_(set(resident_ids))))
    return {resident_id: openid for resident_id, openid in rows}


def _find_by_openid(openid: str) -> Resident | None:
    return db.session.scalar(sa.select(Resident).where(Resident.find_by("openid", openid)))


def is_forgotten(resident: Resident) -> bool:
    return resident.forgotten_at is not None


def check_resident_may_act(resident_id: int) -> None:
    """For core.auth: a token stops working once its resident is blocked or forgotten."""
    resident = db.session.get(Resident, resident_id)
    if resident is None or is_forgotten(resident):
        raise Unauthorized("登录凭证无效，请重新登录。", code="invalid_token")
    _refuse_if_blocked(resident)


def _refuse_if_blocked(resident: Resident) -> None:
    if resident.is_blocked:
        raise Forbidden("您的账号已被停用，暂时不能使用本服务。如有异议，请联系城市管理部门。", code="resident_blocked")


# --- blocking (spam, abuse) ----------------------------------------------------------------------

BLOCK_REASON_MAX = 200


def block_resident(actor: Actor, resident_id: int, *, reason: str) -> Resident:
    """Block the resident: their token and sign-in are refused at once (``check_resident_may_act``), with why."""
    reason = reason.strip()
    if not reason or len(reason) > BLOCK_REASON_MAX:
        raise ValidationFailed(f"请填写停用原因（不超过 {BLOCK_REASON_MAX} 字）。", code="reason_required",
                               details={"fields": {"reason": [f"1–{BLOCK_REASON_MAX} characters"]}})
    resident = get_resident(resident_id)
    if is_forgotten(resident):
        raise Conflict("该用户已注销，无需停用。", code="resident_forgotten")
    if resident.is_blocked:
        raise Conflict("该用户已被停用。", code="already_blocked")
    change_audited(actor, "resident.block", "resident", resident, is_blocked=True, blocked_reason=reason)
    resident.blocked_at = utcnow()
    return resident


def unblock_resident(actor: Actor, resident_id: int, *, reason: str) -> Resident:
    """Let the resident in again; the reason for lifting the block goes to the audit log."""
    reason = reason.strip()
    if not reason or len(reason) > BLOCK_REASON_MAX:
        raise ValidationFailed(f"请填写恢复原因（不超过 {BLOCK_REASON_MAX} 字）。", code="reason_required",
                               details={"fields": {"reason": [f"1–{BLOCK_REASON_MAX} characters"]}})
    resident = get_resident(resident_id)
    if not resident.is_blocked:
        raise Conflict("该用户未被停用。", code="not_blocked")
    record_audit(actor, "resident.unblock", "resident", resident.id,
                 before={"is_blocked": True, "blocked_reason": resident.blocked_reason},
                 after={"is_blocked": False, "reason": reason})
    resident.is_blocked, resident.blocked_reason, resident.blocked_at = False, None, None
    return resident


def blocked_residents() -> sa.Select[tuple[Resident]]:
    """The residents blocked now, the latest first (a query, for the admin's pages)."""
    return (sa.select(Resident).where(Resident.is_blocked.is_(True))
            .order_by(Resident.blocked_at.desc().nulls_last(), Resident.id.desc()))
