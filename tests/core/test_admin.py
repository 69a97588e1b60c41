"""Staff accounts, roles, sign-in throttling, CSRF and the append-only audit log."""

from __future__ import annotations


import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from core import services as core_services
from core.db import db
from core.models import AuditEntry, StaffAccount
from tests.core.admin_helpers import admin_login, admin_post, csrf_token
from tests.common.factories import StaffFactory


def staff_id(app, **fields) -> int:
    # Made in a context of its own: requests must not share the test's app context (and its `g`).
    with app.app_context():
        return StaffFactory(**fields).id


@pytest.fixture
def admin(app):
    return staff_id(app, username="chief", roles=["admin"])


@pytest.fixture
def moderator(app):
    return staff_id(app, username="mod", roles=["moderator"])


def audit_actions(object_id: int) -> list[str]:
    query = sa.select(AuditEntry.action).where(AuditEntry.object_id == str(object_id)).order_by(AuditEntry.id)
    return list(db.session.scalars(query))


def test_admin_redirects_to_a_chinese_login_page(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.location
    page = client.get(response.location).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "工作人员登录" in page


def test_login_sets_an_httponly_samesite_session_cookie(client, moderator):
    response = admin_login(client, "mod")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "工作台" in client.get("/admin/").get_data(as_text=True)


def test_a_form_without_the_csrf_token_is_refused(client, moderator):
    response = client.post("/admin/login", data={"username": "mod", "password": "x"})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_a_token_from_another_session_is_refused(app, client, moderator):
    foreign_token = csrf_token(app.test_client(), "/admin/login")
    client.get("/admin/login")
    response = client.post("/admin/login", data={"username": "mod", "password": "x", "csrf_token": foreign_token})
    assert response.status_code == 400


def test_repeated_failures_make_the_next_tries_from_that_address_wait(app, client, moderator,
                                                                    frozen_rate_limit_clock):
    limit = app.config["APP_SETTINGS"].staff_max_failed_logins
    for _ in range(limit):
        assert admin_login(client, "mod", "wrong-password").status_code == 401
    refused = admin_login(client, "mod")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "尝试次数过多" in refused.get_data(as_text=True)
    with app.app_context():
        assert audit_actions(moderator)[-limit:] == ["staff.login_failed"] * limit


def test_a_moderator_is_refused_staff_management_with_a_chinese_403(client, moderator):
    admin_login(client, "mod")
    response = client.get("/admin/staff")
    assert response.status_code == 403 and "无权访问" in response.get_data(as_text=True)
    assert client.get("/admin/audit").status_code == 403


def test_an_admin_creates_staff_and_the_audit_log_records_it(app, client, admin):
    admin_login(client, "chief")
    response = admin_post(client, "/admin/staff/new", {"username": "reviewer1", "display_name": "审核员一",
                                                       "password": "long-enough-pass", "roles": ["signboard_reviewer"]})
    assert response.status_code == 302
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffAccount).where(StaffAccount.username == "reviewer1"))
        assert staff.roles == ["signboard_reviewer"]
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "staff.create"))
        assert entry.actor_name == "chief" and entry.after["username"] == "reviewer1"
        assert "password" not in str(entry.after)


def test_the_staff_list_finds_an_account_by_name_past_the_first_page(app, client, admin):
    with app.app_context():
        for number in range(25):
            StaffFactory(username=f"aaa_filler_{number:02d}", display_name=f"填充人员{number}")
        StaffFactory(username="zz_found", display_name="网格员_100%")
    admin_login(client, "chief")
    assert "zz_found" not in client.get("/admin/staff").get_data(as_text=True)  # it sorts past the first page
    found = client.get("/admin/staff", query_string={"q": "网格员_100%"}).get_data(as_text=True)
    assert "zz_found" in found and "aaa_filler" not in found
    wildcard = client.get("/admin/staff", query_string={"q": "网格员%100"}).get_data(as_text=True)
    assert "zz_found" not in wildcard  # % and _ are what they are, not patterns


def test_creating_staff_with_a_weak_password_or_duplicate_name_explains_why(client, admin):
    admin_login(client, "chief")
    weak = admin_post(client, "/admin/staff/new", {"username": "x1", "password": "short", "roles": ["moderator"]})
    assert weak.status_code == 422 and "密码至少需要" in weak.get_data(as_text=True)
    taken = admin_post(client, "/admin/staff/new", {"username": "chief", "password": "long-enough-pass",
                                                    "roles": ["moderator"]})
    assert taken.status_code == 409 and "用户名已存在" in taken.get_data(as_text=True)


@pytest.mark.parametrize("encoding", ["application/x-www-form-urlencoded", "multipart/form-data"])
def test_text_no_database_can_store_in_an_admin_form_is_refused_in_chinese_whatever_the_encoding(app, client, admin,
                                                                                                encoding):
    """A NUL character was refused in URL-encoded forms only: in a multipart form it reached the database (a 500 on
    PostgreSQL, stored on SQLite). Lone surrogates do not survive werkzeug's decoding of either encoding."""
    admin_login(client, "chief")
    response = client.post("/admin/staff/new", content_type=encoding, data={
        "username": "nul-staff", "display_name": "审核员\x00一", "password": "long-enough-pass", "roles": ["moderator"],
        "csrf_token": csrf_token(client, "/admin/staff/new")})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "请求中含有不允许的字符" in page
    with app.app_context():
        assert db.session.scalar(sa.select(StaffAccount).where(StaffAccount.username == "nul-staff")) is None
        assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "staff.create")) is None


def test_a_database_error_in_an_admin_view_still_shows_the_chinese_error_page(client, admin, monkeypatch):
    """The error page reads the signed-in staff member for its menu: through the session whose flush had just
    failed it raised again (PendingRollbackError), and the Chinese page never rendered."""
    admin_login(client, "chief")

    def failing_flush(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        db.session.add(StaffAccount(username="half-made", display_name="半成品", password_hash=None, roles=[]))
        db.session.flush()

    monkeypatch.setattr(core_services, "create_staff", failing_flush)
    response = admin_post(client, "/admin/staff/new", {"username": "x2", "password": "long-enough-pass"})
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and "服务器内部错误" in page and "人员管理" in page


def test_deactivating_staff_ends_their_session_and_is_audited(app, admin, moderator):
    moderator_client, admin_client = app.test_client(), app.test_client()
    admin_login(moderator_client, "mod")
    assert moderator_client.get("/admin/").status_code == 200
    admin_login(admin_client, "chief")
    admin_post(admin_client, f"/admin/staff/{moderator}", {"display_name": "mod", "roles": ["moderator"]})
    assert moderator_client.get("/admin/").status_code == 302
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "staff.update"))
        assert entry.before["is_active"] is True and entry.after["is_active"] is False


def test_an_admin_cannot_demote_themselves(client, admin):
    admin_login(client, "chief")
    response = admin_post(client, f"/admin/staff/{admin}", {"display_name": "chief", "roles": ["moderator"],
                                                               "is_active": "on"})
    assert response.status_code == 409


def test_the_audit_page_filters_by_action_and_actor(app, client, admin, moderator):
    admin_login(app.test_client(), "mod")
    admin_login(client, "chief")
    page = client.get("/admin/audit?action=staff.login&actor=mod").get_data(as_text=True)
    assert "<td>登录</td>" in page and "<td>mod</td>" in page and "<td>chief</td>" not in page


def test_a_page_number_past_the_last_shows_the_last_page_not_a_500(client, admin):
    admin_login(client, "chief")
    for path in ("/admin/audit", "/admin/staff"):
        response = client.get(f"{path}?page={10**20}")
        assert response.status_code == 200 and "chief" in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["since=0001-01-01", "until=9999-12-31", "since=0001-01-01&until=9999-12-31"])
def test_dates_at_the_ends_of_the_calendar_filter_nothing_out_not_a_500(client, admin, query):
    """Asia/Shanghai midnight of 0001-01-01 is before UTC's year 1, and the day after 9999-12-31 is none:
    both were an OverflowError. Such a bound leaves nothing out."""
    admin_login(client, "chief")
    response = client.get(f"/admin/audit?action=staff.login&{query}")
    assert response.status_code == 200 and "<td>chief</td>" in response.get_data(as_text=True)


def test_audit_entries_cannot_be_changed_or_deleted(app_ctx):
    from core import services

    entry = services.record_audit(services.SYSTEM_ACTOR, "test.append_only", "thing", 1)
    db.session.commit()
    with pytest.raises(DBAPIError):
        with db.session.begin_nested():
            db.session.execute(sa.update(AuditEntry).where(AuditEntry.id == entry.id).values(action="forged"))
    with pytest.raises(DBAPIError):
        with db.session.begin_nested():
            db.session.execute(sa.delete(AuditEntry).where(AuditEntry.id == entry.id))
    assert db.session.get(AuditEntry, entry.id).action == "test.append_only"


def test_logout_needs_the_csrf_token_and_ends_the_session(client, moderator):
    admin_login(client, "mod")
    assert client.post("/admin/logout").status_code == 400
    admin_post(client, "/admin/logout", {}, form_page="/admin/")
    assert client.get("/admin/").status_code == 302


def test_the_login_redirect_never_leaves_the_admin(client, moderator):
    client.get("/admin/login")
    response = client.post("/admin/login?next=https://evil.example/", data={
        "username": "mod", "password": "correct-horse-battery", "csrf_token": csrf_token(client, "/admin/login")})
    assert response.location == "/admin/"


@pytest.mark.parametrize("next_page", ["/admin/audit\r\nSet-Cookie: forged=1", "/admin/\nX-Injected: 1",
                                       "/admin/%0d%0aX-Injected:%201"])
def test_a_login_redirect_with_a_line_break_goes_to_the_dashboard_not_a_500(client, moderator, next_page):
    """Werkzeug refuses a header value with a line break (ValueError): a crafted link was a 500 at sign-in."""
    response = client.post("/admin/login", query_string={"next": next_page}, data={
        "username": "mod", "password": "correct-horse-battery", "csrf_token": csrf_token(client, "/admin/login")})
    assert response.status_code == 302
    assert "\n" not in response.location and "\r" not in response.location and "X-Injected" not in response.headers


def test_create_staff_command(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-staff", "--username", "cli_admin", "--role", "admin"],
                           input="a-long-enough-password\na-long-enough-password\n")
    assert result.exit_code == 0, result.output
    assert "created staff account cli_admin" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(StaffAccount.roles).where(StaffAccount.username == "cli_admin")) == ["admin"]


@pytest.mark.parametrize("too_long", ["username", "display_name"])
def test_create_staff_command_refuses_a_name_longer_than_its_column(app, too_long):
    """PostgreSQL refused it with a traceback (StringDataRightTruncation); SQLite stored it beyond the column."""
    names = {"username": "long_name_admin", "display_name": "管理员", too_long: "名" * 65}
    result = app.test_cli_runner().invoke(
        args=["create-staff", "--username", names["username"], "--display-name", names["display_name"],
              "--role", "admin"],
        input="a-long-enough-password\na-long-enough-password\n")
    assert result.exit_code == 1 and "最多 64 个字符" in result.output
    assert isinstance(result.exception, SystemExit)
    with app.app_context():
        assert db.session.scalar(sa.select(StaffAccount.id).where(StaffAccount.username == names["username"])) is None


def test_create_staff_command_refuses_a_weak_password(app):
    result = app.test_cli_runner().invoke(args=["create-staff", "--username", "weak", "--role", "admin"],
                                          input="short\nshort\n")
    assert result.exit_code != 0 and "密码至少需要" in result.output
