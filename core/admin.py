"""The staff admin shell: sign-in, the layout other packages plug pages into, staff and audit pages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import (Blueprint, Flask, abort, current_app, flash, g, redirect, render_template, request,
                   url_for)
from werkzeug.wrappers import Response

from core import services, staff_words
from core.auth import (check_roles, current_staff, log_in_staff, log_out_staff, require_staff_role,
                       staff_roles)
from core.config import current_config
from core.crypto import mask, mask_ip
from core.db import commit_early, db
from core.errors import AppError, RateLimited, Unauthorized
from core.forms import NewStaffForm, SignInForm, StaffChangesForm, load_form
from core.geo import wgs84_to_gcj02
from core.models import StaffAccount
from core.pagination import paginate
from core.ratelimit import attempt_succeeded, begin_attempts

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOGIN_MESSAGES = {
    "bad_credentials": "用户名或密码错误。",
    "inactive": "该账户已停用，请联系系统管理员。",
}


@dataclasses.dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    roles: tuple[str, ...]


# Core's pages around the packages': the home page first, staff and audit right after the data dashboard (10).
HOME_NAV = (NavItem("admin.dashboard", "工作台", ()),)
STAFF_NAV = (
    NavItem("admin.staff_list", "人员管理", ("admin",)),
    NavItem("admin.audit_list", "操作日志", ("admin",)),
)
HOME_NAV_WEIGHT, STAFF_NAV_WEIGHT = 0, 20


def register_nav(app: Flask, items: tuple[NavItem, ...], *, weight: int) -> None:
    """Add a package's pages to the admin navigation: lighter weights come first, equal ones in registration
    order."""
    app.extensions.setdefault("admin_nav", []).append((weight, items))


def admin_nav(app: Flask) -> list[NavItem]:
    return [item for _, items in sorted(app.extensions.get("admin_nav", []), key=operator.itemgetter(0))
            for item in items]


def register_readers(app: Flask, subject: str, roles: tuple[str, ...]) -> None:
    """Roles that may read ``subject`` (``"report"``…) on the read-only page of the package that owns it, besides
    the role that acts on it: each role reads what it decides on (a dispatcher the report behind a case, a reward
    officer the photos behind a reward), and every link to it leads to a page the viewer can open."""
    app.extensions.setdefault("admin_readers", {}).setdefault(subject, set()).update(roles)


@dataclasses.dataclass(frozen=True)
class Todo:
    """A count of work waiting for a role, shown on the home page (工作台) as a link to the queue it counts."""

    key: str
    label: str
    roles: tuple[str, ...]
    count: Callable[[StaffAccount], int]
    endpoint: str
    url_args: dict[str, Any]


def register_todo(app: Flask, key: str, label: str, roles: tuple[str, ...],
                  count_fn: Callable[[StaffAccount], int], endpoint: str, **url_args: Any) -> None:
    """A to-do count for staff holding one of ``roles``: ``count_fn(staff)``, the work waiting for the staff member
    viewing the home page (cheap: it runs on every visit), linking to ``url_for(endpoint, **url_args)``, the queue
    filtered to what it counts. Shown in registration order; each package registers its own (core knows none)."""
    todos = app.extensions.setdefault("admin_todos", {})
    if key in todos:
        raise ValueError(f"to-do registered twice: {key}")
    todos[key] = Todo(key, label, roles, count_fn, endpoint, url_args)


def todos_for(staff: StaffAccount) -> list[dict[str, Any]]:
    """The to-dos of the staff member's roles with their counts and links."""
    return [{"key": todo.key, "label": todo.label, "count": todo.count(staff),
             "url": url_for(todo.endpoint, **todo.url_args)}
            for todo in current_app.extensions.get("admin_todos", {}).values()
            if not todo.roles or staff.has_role(*todo.roles)]


def readers(subject: str) -> tuple[str, ...]:
    """The roles registered as readers of ``subject`` (none: only the package's own role reads it)."""
    return tuple(sorted(current_app.extensions.get("admin_readers", {}).get(subject, ())))


def perform(action: Callable[[], Any], success: str) -> bool:
    """Run a staff action and flash ``success`` (the request commits it), or roll back and flash why it was refused:
    the page redirects either way, and a redirect's request commits."""
    try:
        action()
    except AppError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return False
    flash(success, "success")
    return True


def actor() -> services.Actor:
    staff = require_staff_role()
    return services.Actor.of(staff, g.get("request_id"), request.remote_addr)


def admin_blueprint(name: str, import_name: str, url_prefix: str = "/admin") -> Blueprint:
    """A blueprint of admin pages: CSRF-checked, never cached, sign-in on 401."""
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix, template_folder="templates",
                          static_folder="static", static_url_path=f"/static/{name}")

    @blueprint.before_request
    def _protect_forms() -> None:
        if request.method not in {"GET", "HEAD", "OPTIONS"}:
            current_app.extensions["csrf"].protect()

    @blueprint.after_request
    def _no_caching(response: Response) -> Response:
        # Framing is refused app-wide (core.security).
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @blueprint.errorhandler(Unauthorized)
    def _to_login(exc: Unauthorized) -> Response:
        return redirect(url_for("admin.login", next=request.full_path if request.method == "GET" else None))

    return blueprint


bp = admin_blueprint("admin", __name__)


@bp.app_template_filter("local_time")
def local_time(value: dt.datetime | None) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if value else ""


@bp.app_template_filter("both_datums")
def both_datums(point: tuple[float, float]) -> str:
    """A stored (WGS-84) point as staff read it: with its GCJ-02 twin, which Chinese maps (AMap, Tencent) take."""
    lat, lng = point
    gcj_lat, gcj_lng = wgs84_to_gcj02(lat, lng)
    return f"WGS-84 {lat:.6f}, {lng:.6f}（GCJ-02 {gcj_lat:.6f}, {gcj_lng:.6f}）"


@bp.app_template_filter("actor")
def actor_filter(name: str | None) -> str:
    return staff_words.actor_name(name)


@bp.app_template_filter("audit_action")
def audit_action(action: str) -> str:
    return staff_words.action_name(action)


@bp.app_template_filter("audit_object")
def audit_object(object_type: str) -> str:
    return staff_words.object_name(object_type)


@bp.app_template_global()
def audit_changes(entry: Any) -> list[staff_words.Change]:
    return staff_words.audit_changes(entry.object_type, entry.before, entry.after)


@bp.app_template_filter("masked")
def masked(value: str | None) -> str:
    return mask(value)


@bp.app_template_filter("masked_ip")
def masked_ip(value: str | None) -> str:
    return mask_ip(value)


@bp.app_context_processor
def _layout_context() -> dict[str, Any]:
    if not request.path.startswith("/admin"):
        return {}
    staff = current_staff()
    nav = [item for item in admin_nav(current_app)
           if staff is not None and (not item.roles or staff.has_role(*item.roles))]
    return {"current_staff": staff, "nav_items": nav, "role_names": staff_roles()}


def _safe_next(target: str | None) -> str:
    # A line break (or any control character) cannot go into the Location header: werkzeug refuses it.
    if target and target.startswith("/admin") and target.isprintable() and not urlsplit(target).netloc:
        return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    if request.method == "GET":
        if current_staff() is not None:
            return redirect(url_for("admin.dashboard"))
        return render_template("admin/login.html")
    settings = current_config()
    form = load_form(SignInForm(), request.form)
    username = form["username"]
    address = request.remote_addr or ""
    account_policy, address_policy = settings.staff_sign_in_policies
    # Failures slow down the next tries of this username from this address, and of any username from it (password
    # spraying); unknown usernames are counted alike, so the answers tell nobody which accounts exist.
    throttled = [(policy, who) for policy, who in ((account_policy, f"{username.strip().lower()}\n{address}"),
                                                   (address_policy, address)) if policy.allowed > 0]
    limiter = current_app.extensions["rate_limiter"]
    try:
        attempts = begin_attempts(limiter, throttled)
    except RateLimited as limited:
        return render_template("admin/login.html", error=limited.message, username=username), 429, limited.headers
    try:
        staff = services.authenticate_staff(username, form["password"],
                                            ip_address=request.remote_addr, request_id=g.get("request_id"))
    except services.LoginRefused as refused:
        commit_early("a refused sign-in is audited, though the request answers 401 and would roll back")
        return render_template("admin/login.html", error=LOGIN_MESSAGES[refused.reason], username=username), 401
    attempt_succeeded(limiter, attempts)
    log_in_staff(staff)
    flash(f"欢迎，{staff.display_name}。", "success")
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> Response:
    log_out_staff()
    flash("您已退出登录。", "info")
    return redirect(url_for("admin.login"))


@bp.get("/")
def dashboard() -> str:
    staff = require_staff_role()
    recent = []
    if staff.has_role("admin"):
        recent = list(db.session.scalars(services.audit_query(services.AuditFilter()).limit(10)))
    return render_template("admin/dashboard.html", recent_audit=recent, todos=todos_for(staff))


@bp.get("/staff")
def staff_list() -> str:
    require_staff_role("admin")
    search = request.args.get("q", "").strip()
    query = sa.select(StaffAccount).order_by(StaffAccount.username)
    if search:
        query = query.where(sa.or_(StaffAccount.username.contains(search, autoescape=True),
                                   StaffAccount.display_name.contains(search, autoescape=True)))
    page = paginate(query, request.args.get("page", 1, type=int))
    return render_template("admin/staff_list.html", page=page, search=search)


@bp.route("/staff/new", methods=["GET", "POST"])
def staff_new() -> Response | str:
    require_staff_role("admin")
    if request.method == "POST":
        try:
            form = load_form(NewStaffForm(), request.form)
            staff = services.create_staff(actor(), username=form["username"], display_name=form["display_name"],
                                          password=form["password"], roles=check_roles(form["roles"]))
        except AppError as exc:
            db.session.rollback()
            return (render_template("admin/staff_form.html", staff=None, error=exc.message, form=request.form),
                    exc.status)
        flash(f"已创建账户 {staff.username}。", "success")
        return redirect(url_for("admin.staff_list", q=staff.username))  # the new account, wherever it sorts
    return render_template("admin/staff_form.html", staff=None, form={})


@bp.route("/staff/<int:staff_id>", methods=["GET", "POST"])
def staff_edit(staff_id: int) -> Response | str:
    require_staff_role("admin")
    staff = db.session.get(StaffAccount, staff_id) or abort(404)
    if request.method == "POST":
        try:
            form = load_form(StaffChangesForm(), request.form)
            services.update_staff(actor(), staff, display_name=form["display_name"], roles=check_roles(form["roles"]),
                                  is_active=form["is_active"], new_password=form["new_password"])
        except AppError as exc:
            db.session.rollback()
            return (render_template("admin/staff_form.html", staff=staff, error=exc.message, form=request.form),
                    exc.status)
        flash(f"已保存账户 {staff.username}。", "success")
        return redirect(url_for("admin.staff_list"))
    return render_template("admin/staff_form.html", staff=staff, form={})


def parse_day(value: str | None, *, end: bool = False) -> dt.datetime | None:
    """A date typed in the admin (Asia/Shanghai) as the UTC instant it starts (or, with end, ends)."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
        if end:
            day += dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(), SHANGHAI).astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):
        # Not a date, or one at the end of the calendar (Shanghai's midnight of 0001-01-01 is before UTC's year 1,
        # 9999-12-31 has no day after), where a bound leaves nothing out.
        return None


@bp.get("/audit")
def audit_list() -> str:
    require_staff_role("admin")
    args = request.args
    filters = services.AuditFilter(
        actor_name=args.get("actor") or None, action=args.get("action") or None,
        object_type=args.get("object_type") or None, object_id=args.get("object_id") or None,
        since=parse_day(args.get("since")), until=parse_day(args.get("until"), end=True))
    page = paginate(services.audit_query(filters), args.get("page", 1, type=int), per_page=50)
    return render_template("admin/audit_list.html", page=page, filters=args,
                           actions=staff_words.audit_actions(), objects=staff_words.audit_objects())
