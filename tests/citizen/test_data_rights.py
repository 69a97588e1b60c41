"""Residents' data rights: the export of everything held, erasure that keeps cases anonymised, retention."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from citizen import services as citizen_services
from citizen.models import Report, Resident
from citizen.settings import CitizenSettings
from core import services as core_services
from core.db import db
from core.storage import ObjectNotFound, current_storage
from media.models import Media
from signboard_templates import services as signboard_services
from signboard_templates.models import SignboardApplication
from tests.citizen.helpers import ACCEPTED, new_report, sign_in, upload_photo
from tests.signboard_templates.conftest import application_body

OPENID = "oDataRightsResident000000001"
PHONE_TEXT = "井盖丢失，有事请打 138 1234 5678 联系我"


@pytest.fixture
def holdings(app, client):
    """A resident with an accepted report (a case), a pending one, and an approved and a draft application."""
    auth = sign_in(client, OPENID)
    case = new_report(client, auth, description=PHONE_TEXT)
    pending = new_report(client, auth)
    approved = client.post("/api/v1/signboard-applications", headers=auth,
                           json=application_body(upload_photo(client, auth))).json
    draft = client.post("/api/v1/signboard-applications", headers=auth,
                        json=application_body(upload_photo(client, auth), shop_name="第二家店")).json
    with app.app_context():
        actor = core_services.SYSTEM_ACTOR
        citizen_services.accept_report(actor, case["id"], expected_version=db.session.get(Report, case["id"]).version)
        signboard_services.decide(actor, approved["id"], "approve", "", issuer="青岛市城市管理局", valid_days=730)
        db.session.commit()
        keys = [key for media in db.session.scalars(sa.select(Media)).all() for key in
                (media.original_key, media.large_key, media.thumb_key) if key]
    return {"auth": auth, "case": case["id"], "pending": pending["id"], "approved": approved["id"],
            "draft": draft["id"], "keys": keys}


def test_the_export_holds_everything_with_working_links(client, holdings):
    response = client.get("/api/v1/me/export", headers=holdings["auth"])
    assert response.status_code == 200
    document = response.json
    assert document["resident"]["openid"] == OPENID
    reports = {report["id"]: report for report in document["data"]["citizen"]["reports"]}
    assert set(reports) == {holdings["case"], holdings["pending"]}
    assert reports[holdings["case"]]["description"] == PHONE_TEXT
    # The built-in case desk may have taken the accepted report already (jobs run inline when embedded).
    assert [step["to_status"] for step in reports[holdings["case"]]["timeline"]][:2] == ["pending_review", "accepted"]
    assert {item["id"] for item in document["data"]["signboard_templates"]} == {holdings["approved"],
                                                                                  holdings["draft"]}
    media = document["data"]["media"]
    assert len(media) == 4 and all("original_key" not in item for item in media)
    original = media[0]["urls"]["original"]
    assert original.startswith("http")
    fetched = client.get(original.replace("http://localhost", "")) if "localhost" in original else None
    assert fetched is None or (fetched.status_code == 200 and len(fetched.data) == media[0]["size"])


def test_exports_are_rate_limited(client, holdings, override_settings):
    override_settings(rate_limit_export=(1, 3600))
    assert client.get("/api/v1/me/export", headers=holdings["auth"]).status_code == 200
    refused = client.get("/api/v1/me/export", headers=holdings["auth"])
    assert refused.status_code == 429 and refused.headers["Retry-After"]


def test_deleting_the_account_keeps_cases_anonymised_and_nothing_else(app, client, holdings):
    assert client.delete("/api/v1/me", headers=holdings["auth"]).status_code == 204
    assert client.get("/api/v1/me", headers=holdings["auth"]).status_code == 401
    with app.app_context():
        case = db.session.get(Report, holdings["case"])
        assert case.status in ACCEPTED and case.media == [] and case.submitted_ip is None
        assert "138" not in case.description and "井盖丢失" in case.description
        assert case.events[-1].actor_kind == "system"
        resident = db.session.get(Resident, case.resident_id)
        assert resident.openid != OPENID and resident.unionid is None
        assert db.session.get(Report, holdings["pending"]) is None
        assert db.session.scalars(sa.select(Media)).all() == []
        for key in holdings["keys"]:
            with pytest.raises(ObjectNotFound):
                current_storage().get(key)
        assert db.session.get(SignboardApplication, holdings["draft"]) is None
        approved = db.session.get(SignboardApplication, holdings["approved"])
        assert approved.status == "approved" and signboard_services.facade_photo_urls(approved) == {}
    # Signing in again is a new account with nothing in it.
    again = sign_in(client, OPENID)
    assert client.get("/api/v1/me/export", headers=again).json["data"] == {
        "citizen": {"reports": [], "follows": []}, "media": [], "signboard_templates": [], "rewards": [],
        "cases": {"subscriptions": [], "notifications": []}}


def test_deleting_the_account_takes_a_report_marked_duplicate_of_another_that_goes_too(app, client):
    auth = sign_in(client, "oDuplicateOfMyOwn0000000001")
    first, second = new_report(client, auth)["id"], new_report(client, auth)["id"]
    with app.app_context():
        actor = core_services.SYSTEM_ACTOR
        citizen_services.mark_duplicate(actor, second, expected_version=db.session.get(Report, second).version,
                                        duplicate_of_id=first)
        citizen_services.reject_report(actor, first, expected_version=db.session.get(Report, first).version,
                                       reason="不属于受理范围")
    assert client.delete("/api/v1/me", headers=auth).status_code == 204
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Report.id.in_([first, second]))) == 0


def test_the_admin_pages_of_anonymised_records_still_open(app, client, holdings):
    from tests.core.admin_helpers import admin_login
    from tests.common.factories import StaffFactory

    client.delete("/api/v1/me", headers=holdings["auth"])
    with app.app_context():
        StaffFactory(username="rights_admin", roles=["admin"])
    staff = app.test_client()
    admin_login(staff, "rights_admin")
    assert staff.get(f"/admin/reports/{holdings['case']}").status_code == 200
    assert staff.get(f"/admin/signboards/{holdings['approved']}").status_code == 200


def test_blocked_residents_tokens_stop_working_at_once(app, client):
    auth = sign_in(client, "oSoonBlocked")
    with app.app_context():
        db.session.scalar(sa.select(Resident).where(Resident.find_by("openid", "oSoonBlocked"))).is_blocked = True
        db.session.commit()
    response = client.get("/api/v1/reports/mine", headers=auth)
    assert response.status_code == 403 and response.json["error"]["code"] == "resident_blocked"


def test_retention_clears_addresses_media_and_inactive_residents(app, client, holdings, override_settings):
    with app.app_context():
        actor = core_services.SYSTEM_ACTOR
        pending = db.session.get(Report, holdings["pending"])
        citizen_services.reject_report(actor, pending.id, expected_version=pending.version, reason="不属于受理范围")
        db.session.commit()
    override_settings(retention_report_ip_days=0, retention_finished_report_media_days=0,
                      retention_inactive_resident_days=10_000)
    result = app.test_cli_runner().invoke(args=["privacy", "enforce-retention"])
    assert result.exit_code == 0, result.output
    assert "forgot 0 inactive residents" in result.output and "deleted 1 media" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)
                                 .where(Report.submitted_ip.is_not(None))) == 0
        assert db.session.get(Report, holdings["pending"]).media == []
        assert len(db.session.get(Report, holdings["case"]).media) == 1

        outcome = citizen_services.enforce_retention(app.config["APP_SETTINGS"].area(CitizenSettings),
                                                     now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=10_001))
        db.session.commit()
    assert outcome.residents_forgotten >= 1
    assert client.get("/api/v1/me", headers=holdings["auth"]).status_code == 401
