"""Residents: sign-in through WeChat, and whether a resident may still act."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from citizen.models import Resident
from core.db import db, get_or_not_found, utcnow
from core.errors import Forbidden, Unauthorized
from core.logs import identifier_digest
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
    if resident.is_blocked:
        raise Forbidden("该账号已被停用。", code="resident_blocked")
    if identity.unionid and resident.unionid != identity.unionid:
        resident.unionid = identity.unionid
    resident.last_login_at = utcnow()
    db.session.flush()
    return resident


def get_resident(resident_id: int) -> Resident:
    return get_or_not_found(Resident, resident_id, "用户不存在。")


def _find_by_openid(openid: str) -> Resident | None:
    return db.session.scalar(sa.select(Resident).where(Resident.find_by("openid", openid)))


def is_forgotten(resident: Resident) -> bool:
    return resident.forgotten_at is not None


def check_resident_may_act(resident_id: int) -> None:
    """For core.auth: a token stops working once its resident is blocked or forgotten."""
    resident = db.session.get(Resident, resident_id)
    if resident is None or is_forgotten(resident):
        raise Unauthorized("登录凭证无效，请重新登录。", code="invalid_token")
    if resident.is_blocked:
        raise Forbidden("该账号已被停用。", code="resident_blocked")
