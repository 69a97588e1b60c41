"""The whole way round on a loopback Open311 case system: submit, accept, deliver, hear back, tell the resident."""

from __future__ import annotations

import datetime as dt

from cases import services
from core.db import db, utcnow
from tests.cases.conftest import accept, current_case_settings, delivery_of, signed_update
from tests.citizen.helpers import new_report
from tests.common.media_files import photo_bytes


def test_resident_to_case_system_and_back(app, client, resident, run_jobs, use_case_system, case_system, case_server,
                                          fake_wechat):
    use_case_system("open311")
    fake_wechat.wechat.subscribe_messages.clear()
    for _ in range(4):
        client.post("/api/v1/notifications/subscriptions", headers=resident,
                    json={"results": {"TMPL_STATUS": "accept"}})
    report_id = new_report(client, resident, description="端到端：路边暴露垃圾。")["id"]
    run_jobs()
    accept(app, report_id)
    run_jobs()

    external_id = delivery_of(app, report_id).external_id
    assert case_system.cases[str(report_id)]["form"]["description"] == "端到端：路边暴露垃圾。"
    signed_update(client, {"update_id": "e2e-1", "case_id": external_id, "status": "in_progress",
                           "note": "已派遣市南区环卫所。", "public": True})
    run_jobs()  # Its message goes before the next changes (else they would make one message together).
    case_system.photos["done.jpg"] = photo_bytes(2024)
    # Closed after the pushed update (updates apply in the order the case system made them).
    closed_at = (utcnow() + dt.timedelta(minutes=1)).isoformat(timespec="seconds")
    case_system.set_status(external_id, "closed", "垃圾已清运。", closed_at,
                           media_url=f"{case_server.base_url}/photos/done.jpg")
    with app.app_context():
        assert services.poll_case_system(current_case_settings()) == 1
        db.session.commit()
    run_jobs()

    report = client.get(f"/api/v1/reports/{report_id}", headers=resident).json
    assert [entry["status"] for entry in report["timeline"]] == [
        "pending_review", "accepted", "forwarded", "in_progress", "resolved", "closed"]
    assert report["timeline"][3]["note"] == "已派遣市南区环卫所。" and report["timeline"][-1]["note"] == "垃圾已清运。"
    assert len(report["timeline"][-1]["photos"]) == 1
    sent = [message["data"]["phrase3"]["value"] for message in fake_wechat.wechat.subscribe_messages
            if message["data"]["character_string1"]["value"] == str(report_id)]
    # Resolved and closed came in one poll: one message with the latest state, one permission.
    assert sent == ["已受理", "已转办", "处置中", "已结案"]
