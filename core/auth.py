"""Who is calling: residents by signed bearer token, staff by session cookie."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request, session
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from core import services
from core.config import current_config
from core.errors import Forbidden, Unauthorized, ValidationFailed
from core.models import StaffAccount

# Core's one role; each package declares its own with register_roles.
CORE_ROLES = {"admin": "系统管理员"}
_TOKEN_SALT = "resident-token-v1"
F = TypeVar("F", bound=Callable[..., Any])


def register_roles(app: Flask, roles: dict[str, str]) -> None:
    """Staff roles (name: label) a package's pages check; listed in the staff form in registration order."""
    known = app.extensions.setdefault("staff_roles", {})
    taken = sorted(set(known) & set(roles))
    if taken:
        raise ValueError(f"staff roles registered twice: {', '.join(taken)}")
    known.update(roles)


def staff_roles(app: Flask | None = None) -> dict[str, str]:
    """Every staff role of the app (the current one by default): name to label."""
    return (app or current_app).extensions.get("staff_roles", {})


def check_roles(roles: list[str]) -> list[str]:
    """The roles given to a staff account, each one the app knows: 422 otherwise."""
    unknown = sorted(set(roles) - set(staff_roles()))
    if unknown:
        raise ValidationFailed("角色无效。", code="invalid_roles", details={"fields": {"roles": unknown}})
    return roles


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_TOKEN_SALT)


def issue_resident_token(resident_id: int) -> IssuedToken:
    settings = current_config()
    token = _serializer().dumps({"sub": resident_id})
    expires_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(
        seconds=settings.resident_token_ttl_seconds)
    return IssuedToken(token=token, expires_at=expires_at)


def resident_id_from_token(token: str) -> int:
    settings = current_config()
    try:
        payload = _serializer().loads(token, max_age=settings.resident_token_ttl_seconds)
    except SignatureExpired:
        raise Unauthorized("登录已过期，请重新登录。", code="token_expired") from None
    except BadSignature:
        raise Unauthorized("登录凭证无效，请重新登录。", code="invalid_token") from None
    return int(payload["sub"])


def current_resident_id() -> int:
    """The resident making this API request; 401 without a valid bearer token."""
    if "resident_id" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("需要登录。", code="missing_token")
        resident_id = resident_id_from_token(token.strip())
        gate = current_app.extensions.get("resident_gate")
        if gate is not None:
            gate(resident_id)
        g.resident_id = resident_id
    return g.resident_id


def resident_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current_resident_id()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# --- staff -------------------------------------------------------------------------------

def log_in_staff(staff: StaffAccount) -> None:
    session.clear()
    session["staff_session"] = services.start_staff_session(staff, current_app.permanent_session_lifetime)
    session.permanent = True


def log_out_staff() -> None:
    token = session.get("staff_session")
    if token is not None:
        services.end_staff_session(token)
    session.clear()


def current_staff() -> StaffAccount | None:
    if "staff" not in g:
        staff = None
        token = session.get("staff_session")
        if token is not None:
            staff = services.staff_of_session(token) if isinstance(token, str) else None
            if staff is None:
                session.clear()
        g.staff = staff
    return g.staff


def require_staff_role(*roles: str) -> StaffAccount:
    staff = current_staff()
    if staff is None:
        raise Unauthorized("请先登录。", code="login_required")
    if roles and not staff.has_role(*roles):
        raise Forbidden("您的角色无权访问此页面。")
    return staff
