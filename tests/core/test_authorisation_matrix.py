"""Who may do what: every API operation and every admin page of the URL map, against anonymous callers,
each staff role, and residents A and B. Nobody reads or changes what is not theirs.

A new endpoint must be classified here (the tests fail on an unknown one), so that its access rule is
a decision, not an accident.
"""

from __future__ import annotations

import re

import pytest

from tests.citizen.helpers import new_report, sign_in, upload_photo
from tests.core.admin_helpers import admin_login, csrf_token
from tests.rewards.helpers import accepted_report, make_campaign, reward_of
from tests.common.factories import StaffFactory
from tests.signboard_templates.conftest import application_body

ROLES = ("admin", "moderator", "reward_officer", "signboard_reviewer", "dispatcher", "handler", "verifier")
DESK = ("dispatcher", "handler", "verifier")  # each acts on the desk within its duty (tests/cases/test_desk.py)
PUBLIC, ANY_STAFF = "public", "any staff"
# Admin endpoint -> who may use it: PUBLIC, ANY_STAFF, or the role (or roles, any one) it needs (admins have every
# role).
ADMIN_ACCESS = {
    "admin.login": PUBLIC, "admin.static": PUBLIC, "citizen_admin.static": PUBLIC,
    "signboard_admin.static": PUBLIC, "citizen_admin.leaflet_files": PUBLIC,
    "admin.logout": ANY_STAFF, "admin.dashboard": ANY_STAFF,
    "admin.staff_list": "admin", "admin.staff_new": "admin", "admin.staff_edit": "admin", "admin.audit_list": "admin",
    "admin_jobs.static": PUBLIC, "admin_jobs.jobs": "admin", "admin_jobs.retry": "admin",
    "citizen_admin.queue": "moderator", "citizen_admin.report_page": "moderator", "citizen_admin.accept": "moderator",
    "citizen_admin.reject": "moderator", "citizen_admin.duplicate": "moderator",
    "citizen_admin.request_info": "moderator", "citizen_admin.reveal": "moderator",
    "citizen_admin.photo_publication": "moderator",
    "citizen_admin.report_view": ("moderator", *DESK, "reward_officer", "signboard_reviewer"),
    "citizen_admin.categories": "admin", "citizen_admin.rejection_templates": "admin",
    "citizen_admin.bulk_moderate": "moderator", "citizen_admin.export_queue": "moderator",
    "citizen_admin.claim": "moderator", "citizen_admin.release": "moderator", "citizen_admin.assign": "admin",
    "citizen_admin.blocked_residents": "admin", "citizen_admin.block_resident": "admin",
    "citizen_admin.unblock_resident": "admin",
    "signboard_admin.queue": "signboard_reviewer", "signboard_admin.detail": "signboard_reviewer",
    "signboard_admin.decide": "signboard_reviewer", "signboard_admin.verify": "signboard_reviewer",
    "signboard_admin.certificate_pdf": "signboard_reviewer",
    "cases_admin.static": PUBLIC, "cases_admin.deliveries": "dispatcher", "cases_admin.retry_deliveries": "dispatcher",
    "cases_admin.desk": DESK, "cases_admin.desk_case": DESK, "cases_admin.desk_act": DESK,
    **{f"cases_admin.{name}": "admin" for name in (
        "departments", "department_create", "departments_import", "department", "department_update",
        "department_rule_add", "department_rule_remove", "department_members", "time_limits", "save_time_limits",
        "save_calendar_day", "save_working_week")},
    # A handler reads its own departments' 督办 notices (tests/cases/test_supervision_notices.py).
    "cases_admin.supervisions": ("dispatcher", "handler"), "cases_admin.read_supervision": ("dispatcher", "handler"),
    "facilities_admin.static": PUBLIC, "facilities_admin.facility_list": "admin",
    "facilities_admin.facility_edit": "admin", "facilities_admin.facility_disable": "admin",
    "facilities_admin.kind_list": "admin", "facilities_admin.kind_update": "admin",
    "facilities_admin.import_list": "admin", **{f"facilities_admin.{name}": "admin" for name in (
        "import_upload", "import_detail", "import_progress", "import_rejections_csv")},
    "insight_admin.static": PUBLIC, "insight_admin.dashboard": ANY_STAFF, "insight_admin.monthly": ANY_STAFF,
    "rewards_admin.static": PUBLIC, **{f"rewards_admin.{name}": "reward_officer" for name in (
        "campaigns", "campaign_edit", "review", "approve", "release", "refuse", "reverse", "retry", "payouts",
        "cancel", "abandon", "resume", "resident_lookup", "resident", "exclude", "export")},
}
# Neither API nor admin: public by design (signed links check their own signature).
OTHER_PUBLIC = {"static", "core.home", "core.healthz", "core.readyz", "files.signed_file", "files.signed_upload",
                "swagger_ui_files", "api-docs.openapi_json", "api-docs.openapi_swagger_ui",
                "signboard_certificates.certificate"}
# Checks the caller's address or bearer token itself (tests/core/test_metrics.py).
OTHER_PUBLIC |= {"metrics"}
# Open311 GeoReport v2 server: reading is public by the standard; filing needs a client's api_key
# (tests/cases/test_open311_server.py).
OTHER_PUBLIC |= {f"open311.{name}" for name in ("discovery", "services_list", "service_definition", "create_request",
                                                "requests_list", "request_detail", "token_lookup")}
# API operations anyone may call (no bearer token).
PUBLIC_API = {
    ("post", "/api/v1/auth/wechat"), ("post", "/api/v1/auth/dev"), ("get", "/api/v1/categories"),
    ("get", "/api/v1/signboard-templates"), ("get", "/api/v1/signboard-templates/{template_id}"),
    ("get", "/api/v1/signboard-templates/{template_id}/preview.png"), ("get", "/api/v1/signboard-categories"),
    ("get", "/api/v1/signboard-categories/{code}/gallery.png"), ("get", "/api/v1/signboard-rules"),
    ("get", "/api/v1/rewards/campaigns/current"), ("get", "/api/v1/facility-kinds"),
    ("get", "/api/v1/facilities/nearest"), ("get", "/api/v1/facilities"), ("get", "/api/v1/facilities/{facility_id}"),
    ("get", "/api/v1/reports/public"),
}
# Called by other systems, each authenticated by its own signature (tested in their packages).
SIGNED_API = {("post", "/api/v1/wechatpay/notify"): None, ("post", "/api/v1/case-updates"): [{"caseSignature": []}]}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def world(app, client, run_jobs):
    """Resident A with a report, a reward, a media file and a signboard application; resident B with nothing."""
    a, b = sign_in(client, "oMatrixResidentA"), sign_in(client, "oMatrixResidentB")
    make_campaign(app)
    reward = reward_of(app, accepted_report(app, client, run_jobs, a))
    report = new_report(client, a)
    photo = upload_photo(client, a)
    application = client.post("/api/v1/signboard-applications", json=application_body(photo), headers=a).json
    with app.app_context():
        staff = {role: StaffFactory(username=f"matrix_{role}", roles=[role]).id for role in ROLES}
    return {"a": a, "b": b, "b_photo": upload_photo(client, b), "staff": staff,
            "owned": {"report_id": report["id"], "media_id": photo, "application_id": application["id"],
                      "reward_id": reward.id},
            "a_application": application}


def operations(client) -> list[tuple[str, str, dict]]:
    spec = client.get("/api/openapi.json").json
    return [(method, path, operation) for path, item in spec["paths"].items()
            for method, operation in item.items() if method in HTTP_METHODS]


def staff_client(app, username: str | None):
    browser = app.test_client()
    if username:
        admin_login(browser, username)
    return browser


# --- the API ---------------------------------------------------------------------------------

def test_every_api_operation_is_either_public_or_needs_a_resident_token(client, world):
    assert len(operations(client)) >= 20
    staff = staff_client(client.application, "matrix_admin")
    for method, path, operation in operations(client):
        if (method, path) in PUBLIC_API:
            assert not operation.get("security"), (method, path)
            continue
        if (method, path) in SIGNED_API:
            assert operation.get("security") == SIGNED_API[(method, path)], (method, path)
            continue
        url = path.format(**world["owned"])
        assert operation.get("security") == [{"bearerAuth": []}], f"{method} {path} is not classified"
        for headers, who in (({}, "anonymous"), ({"Authorization": "Bearer forged"}, "forged token"),
                             ({"Authorization": "Basic eDp5"}, "other scheme")):
            response = client.open(url, method=method.upper(), headers=headers, json={})
            assert response.status_code == 401, (method, path, who, response.status_code)
            assert response.json["error"]["code"] in {"missing_token", "invalid_token"}
        # A staff session cookie is no resident token.
        assert staff.open(url, method=method.upper(), json={}).status_code == 401, (method, path)


def test_resident_b_can_neither_read_nor_change_what_is_a_s(client, world):
    a, b = world["a"], world["b"]
    bodies = {("post", "/api/v1/reports/{report_id}/rating"): {"rating": 5, "comment": ""},
              ("post", "/api/v1/reports/{report_id}/reply"): {"text": "补充"},
              ("post", "/api/v1/reports/{report_id}/reopen"): {"reason": "未解决"},
              ("put", "/api/v1/signboard-applications/{application_id}"): application_body(world["b_photo"])}
    checked = 0
    for method, path, _ in operations(client):
        names = re.findall(r"{(\w+)}", path)
        if not names or (method, path) in PUBLIC_API or (method, path) in SIGNED_API:
            continue
        assert all(name in world["owned"] for name in names), f"{method} {path}: whose is {names}?"
        url = path.format(**world["owned"])
        before = client.get(url, headers=a).json if method != "get" else None
        response = client.open(url, method=method.upper(), headers={**b, "Idempotency-Key": "k"},
                               json=bodies.get((method, path), {}))
        assert response.status_code == 404, (method, path, response.status_code)
        if before is not None:
            assert client.get(url, headers=a).json == _without_links(before, client.get(url, headers=a).json)
        checked += 1
    assert checked >= 6


def _without_links(before: dict, after: dict) -> dict:
    """Signed links are fresh on every read; everything else must be as it was."""
    if isinstance(before, dict):
        return {key: after.get(key) if key in {"urls", "thumbnail_url", "preview_url"} else
                _without_links(value, after.get(key) if isinstance(after, dict) else None)
                for key, value in before.items()}
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [_without_links(x, y) for x, y in zip(before, after, strict=True)]
    return before


def test_b_cannot_use_a_s_media_in_a_report_or_application(client, world):
    from tests.citizen.helpers import report_body, submit

    theirs = world["owned"]["media_id"]
    response = submit(client, world["b"], report_body([theirs]))
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid_media"
    response = client.post("/api/v1/signboard-applications", json=application_body(theirs), headers=world["b"])
    assert response.status_code == 422


def test_lists_and_the_export_hold_only_one_s_own(client, world):
    b = world["b"]
    assert client.get("/api/v1/reports/mine", headers=b).json["items"] == []
    assert client.get("/api/v1/signboard-applications/mine", headers=b).json == []
    exported = client.get("/api/v1/me/export", headers=b).json
    assert exported["data"]["citizen"] == {"reports": [], "follows": []}
    assert exported["data"]["signboard_templates"] == []
    assert [item["id"] for item in exported["data"]["media"]] == [world["b_photo"]]


# --- the admin -------------------------------------------------------------------------------

def admin_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OTHER_PUBLIC or rule.rule.startswith("/api/v1/"):
            continue
        assert rule.endpoint in ADMIN_ACCESS, f"{rule.endpoint} ({rule.rule}) is not classified"
        yield rule


def _url(rule, world) -> str:
    # Ids of nothing in particular: what is checked is who may reach the page, not what it finds.
    values = {"staff_id": world["staff"]["admin"], "filename": "leaflet.js", "case_id": 1, "action": "dispatch",
              "facility_id": 1, "code": "0301", "campaign_id": 1, "payout_id": 1, "resident_id": 1,
              "import_id": 1, "job_id": "0123abcd", "department_id": 1, "rule_id": 1, "supervision_id": 1,
              **world["owned"]}
    path = rule.rule
    for argument in rule.arguments:
        path = re.sub(rf"<(?:\w+:)?{argument}>", str(values[argument]), path)
    return path


def _expected(access: str | tuple[str, ...], role: str | None) -> set[int]:
    if access == PUBLIC:
        return {200, 302, 400, 401, 404, 409, 422}
    if role is None:
        return {302}
    if access == ANY_STAFF or role == "admin" or role in (access if isinstance(access, tuple) else (access,)):
        return {200, 302, 400, 404, 409, 422}
    return {403}


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_admin_page_and_action_by_role(app, world, role):
    browser = staff_client(app, f"matrix_{role}" if role else None)
    for rule in admin_rules(app):
        access = ADMIN_ACCESS[rule.endpoint]
        url = _url(rule, world)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            if method == "POST" and (access == PUBLIC or (role and _expected(access, role) != {403})):
                continue  # allowed actions are tested with their effects in each package's tests
            # A valid token every time: what is tested is the role, not CSRF (an anonymous logout resets it).
            token = csrf_token(browser, "/admin/login" if role is None else "/admin/")
            response = browser.open(url, method=method, data={"csrf_token": token})
            response.close()
            assert response.status_code in _expected(access, role), (role, method, url, response.status_code)
            if role is None and access != PUBLIC:
                assert "/admin/login" in response.location


def test_a_resident_token_opens_no_admin_page(app, client, world):
    for rule in admin_rules(app):
        if ADMIN_ACCESS[rule.endpoint] != PUBLIC and "GET" in (rule.methods or set()):
            response = client.get(_url(rule, world), headers=world["a"])
            response.close()
            assert response.status_code == 302 and "/admin/login" in response.location, rule.rule


@pytest.mark.embedded_only  # on S3 the bucket checks its own presigned links
def test_signed_file_links_need_their_signature(client, world, run_jobs):
    run_jobs()
    report = client.get(f"/api/v1/reports/{world['owned']['report_id']}", headers=world["a"]).json
    url = report["media"][0]["urls"]["large"]
    with client.get(url) as response:
        assert response.status_code == 200
    bare = url.split("?")[0]
    assert client.get(bare).status_code == 404
    tampered = re.sub(r"signature=\w+", "signature=" + "0" * 64, url)
    assert client.get(tampered).status_code == 403
