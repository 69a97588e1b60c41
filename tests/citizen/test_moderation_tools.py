"""The moderation tools' services: holding reports, bulk decisions, search, the category tree, blocking."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from citizen import services
from citizen.cli import CLI_ACTOR
from citizen.models import RejectionTemplate, Report, Resident
from core.db import db
from core.errors import Conflict, ValidationFailed
from core.models import AuditEntry
from core.services import Actor
from tests.citizen.helpers import sign_in
from tests.common.factories import ReportFactory, ResidentFactory, StaffFactory


def audit(action: str, object_id: object) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.object_id == str(object_id)).order_by(AuditEntry.id)))


def pending(**values) -> Report:
    return ReportFactory(status="pending_review", **values)


def queue_ids(**filters) -> list[int]:
    return [report.id for report in services.moderation_queue(services.QueueFilter(**filters), after=None)]


@pytest.fixture
def staff(app_ctx):
    moderator, other, clerk = (StaffFactory(username="tools_mod", display_name="审核员甲"),
                               StaffFactory(username="tools_mod_2", display_name="审核员乙"),
                               StaffFactory(username="tools_officer", roles=["reward_officer"]))
    admin = StaffFactory(username="tools_admin", display_name="管理员", roles=["admin"])
    return {name: Actor.of(account) for name, account in
            (("moderator", moderator), ("other", other), ("clerk", clerk), ("admin", admin))}


# --- 1. holding reports ---------------------------------------------------------------------

def test_a_moderator_claims_a_report_others_cannot_take_it_and_an_admin_reassigns_it(staff):
    report = pending()
    services.claim_report(staff["moderator"], report.id)
    with pytest.raises(Conflict) as refused:
        services.claim_report(staff["other"], report.id)
    assert refused.value.code == "report_held" and "审核员甲" in refused.value.message

    services.assign_report(staff["admin"], report.id, staff["other"].staff_id)
    assert services.assignments_of([report.id])[report.id].staff.display_name == "审核员乙"
    services.release_report(staff["other"], report.id)
    assert services.assignments_of([report.id]) == {}

    assert [(entry.action, entry.actor_name, entry.before, entry.after)
            for entry in db.session.scalars(sa.select(AuditEntry).where(AuditEntry.object_id == str(report.id))
                                            .order_by(AuditEntry.id))] == [
        ("report.claim", "tools_mod", {"holder": None}, {"holder": "tools_mod"}),
        ("report.assign", "tools_admin", {"holder": "tools_mod"}, {"holder": "tools_mod_2"}),
        ("report.release", "tools_mod_2", {"holder": "tools_mod_2"}, {"holder": None}),
    ]


def test_reports_are_assigned_only_to_active_moderators(staff):
    report = pending()
    with pytest.raises(ValidationFailed) as refused:
        services.assign_report(staff["admin"], report.id, staff["clerk"].staff_id)
    assert refused.value.code == "not_a_moderator"
    assert {member.username for member in services.moderators()} >= {"tools_mod", "tools_mod_2", "tools_admin"}
    assert "tools_officer" not in {member.username for member in services.moderators()}


def test_mine_lists_only_the_reports_the_moderator_holds(staff):
    mine, theirs, nobodys = pending(), pending(), pending()
    services.claim_report(staff["moderator"], mine.id)
    services.claim_report(staff["other"], theirs.id)
    assert queue_ids(holder_id=staff["moderator"].staff_id) == [mine.id]
    assert nobodys.id in queue_ids()


# --- 2. bulk decisions ----------------------------------------------------------------------

def test_a_bulk_acceptance_takes_each_report_on_its_own_and_says_why_one_was_left(staff):
    first, second, changed = pending(), pending(), pending()
    outcome = services.moderate_selection(staff["moderator"], {first.id: first.version, second.id: second.version,
                                                               changed.id: changed.version - 1}, accept=True)
    assert outcome.done == [first.id, second.id]
    assert list(outcome.refused) == [changed.id] and "已被其他人处理" in outcome.refused[changed.id]
    statuses = {report.id: report.status for report in db.session.scalars(
        sa.select(Report).where(Report.id.in_([first.id, second.id, changed.id])))}
    assert statuses[first.id] in {"accepted", "forwarded"} and statuses[second.id] in {"accepted", "forwarded"}
    assert statuses[changed.id] == "pending_review"
    assert [len(audit("report.accept", report.id)) for report in (first, second, changed)] == [1, 1, 0]


def test_a_bulk_rejection_gives_every_report_the_one_template_reason(staff):
    template = RejectionTemplate(title="重复", text="该问题已有人反映。", sort_order=1)
    db.session.add(template)
    db.session.flush()
    reports = [pending(), pending()]
    outcome = services.moderate_selection(staff["moderator"], {report.id: report.version for report in reports},
                                          accept=False, template_id=template.id)
    assert outcome.done == [report.id for report in reports] and outcome.refused == {}
    for report in reports:
        db.session.refresh(report)
        assert (report.status, report.reject_reason) == ("rejected", "该问题已有人反映。")
        assert audit("report.reject", report.id)[0].after["reject_reason"] == "该问题已有人反映。"


def test_a_bulk_rejection_without_a_reason_changes_nothing(staff):
    report = pending()
    with pytest.raises(ValidationFailed) as refused:
        services.moderate_selection(staff["moderator"], {report.id: report.version}, accept=False)
    assert refused.value.code == "reason_required"
    assert db.session.get(Report, report.id).status == "pending_review"


def test_a_report_no_longer_in_review_is_left_and_named(staff):
    done = ReportFactory(status="rejected")
    outcome = services.moderate_selection(staff["moderator"], {done.id: done.version}, accept=True)
    assert outcome.done == [] and "不能变更为" in outcome.refused[done.id]


# --- 3. search ------------------------------------------------------------------------------

def test_search_finds_a_report_by_number_words_or_address_within_the_other_filters(staff):
    pothole = pending(description="井盖缺失，夜里很危险", address="市北区辽宁路八十八号", category_id="B0101")
    advert = pending(description="电线杆上贴满小广告", address="崂山区海尔路 1 号", category_id="S0201")
    assert queue_ids(search=f"#{pothole.id}") == [pothole.id] and queue_ids(search=f"#{advert.id}") == [advert.id]
    # A bare number is the report's, or words of the text: "1" is in the advert's address.
    assert pothole.id in queue_ids(search=str(pothole.id)) and advert.id in queue_ids(search="1")
    assert queue_ids(search="小广告") == [advert.id]
    assert queue_ids(search="辽宁路") == [pothole.id]
    assert queue_ids(search="辽宁路", category_id="S02") == []
    assert queue_ids(search="辽宁路", status="accepted") == []


def test_search_never_finds_a_report_by_a_phone_number(staff):
    report = pending(description="物业不管，请联系我 13812345678")
    assert queue_ids(search="联系我") == [report.id]
    phone_search = services.QueueFilter(search="13812345678")
    assert phone_search.searches_personal_data
    assert queue_ids(search="13812345678") == [] and queue_ids(search="1381234") == []
    assert services.status_counts(phone_search)["pending_review"] == 0


def test_search_wildcards_are_plain_characters(staff):
    pending(description="普通的描述")
    assert queue_ids(search="%") == [] and queue_ids(search="_") == []


# --- 4. the export -------------------------------------------------------------------------

def test_the_export_reads_every_page_of_the_filtered_queue_a_batch_at_a_time(staff):
    reports = [pending(description=f"导出{n}") for n in range(5)]
    batches = list(services.queue_export_batches(services.QueueFilter(search="导出"), batch=2))
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert [report.id for batch in batches for report in batch] == [report.id for report in reports]
    assert services.openids_of([reports[0].resident_id]) == {
        reports[0].resident_id: db.session.get(Resident, reports[0].resident_id).openid}


# --- 6. the category tree -------------------------------------------------------------------

def test_the_categories_form_a_tree_of_kinds_and_classes(app_ctx):
    tree = services.category_tree()
    assert [(kind.key, kind.name) for kind in tree] == [("B", "部件"), ("S", "事件")]
    assert [branch.key for branch in tree[1].branches][:2] == ["S01", "S02"]
    assert sum(len(branch.categories) for kind in tree for branch in kind.branches) == len(services.list_categories())
    assert all(category.id.startswith(branch.key) for kind in tree for branch in kind.branches
               for category in branch.categories)
    assert services.category_key_names()["S01"] == "事件 · 市容环境"


def test_the_queue_filters_by_a_class_or_a_whole_kind(staff):
    garbage, advert, cover = pending(category_id="S0102"), pending(category_id="S0201"), pending(category_id="B0101")
    assert garbage.id in queue_ids(category_id="S01") and advert.id not in queue_ids(category_id="S01")
    assert {garbage.id, advert.id} <= set(queue_ids(category_id="S")) and cover.id not in queue_ids(category_id="S")
    assert queue_ids(category_id="B0101") == [cover.id]


# --- 5. blocking a resident -----------------------------------------------------------------

def test_blocking_keeps_the_reason_is_audited_and_lists_the_resident(staff):
    resident = ResidentFactory()
    services.block_resident(staff["admin"], resident.id, reason="  恶意刷单  ")
    assert (resident.is_blocked, resident.blocked_reason) == (True, "恶意刷单") and resident.blocked_at
    assert resident in db.session.scalars(services.blocked_residents())
    with pytest.raises(Conflict):
        services.block_resident(staff["admin"], resident.id, reason="再次")
    services.unblock_resident(staff["admin"], resident.id, reason="申诉成功")
    assert (resident.is_blocked, resident.blocked_reason, resident.blocked_at) == (False, None, None)
    assert resident not in db.session.scalars(services.blocked_residents())
    block, unblock = audit("resident.block", resident.id)[0], audit("resident.unblock", resident.id)[0]
    assert block.after == {"is_blocked": True, "blocked_reason": "恶意刷单"}
    assert unblock.after == {"is_blocked": False, "reason": "申诉成功"}


def test_forgetting_a_blocked_resident_drops_the_reason_staff_wrote(staff):
    resident = ResidentFactory()
    services.block_resident(staff["admin"], resident.id, reason="冒充他人，电话13812345678")
    services.forget_resident(resident.id)
    assert (resident.is_blocked, resident.blocked_reason) == (True, None)


@pytest.mark.parametrize("reason", ["", "   ", "长" * 201])
def test_a_block_needs_a_reason(staff, reason):
    resident = ResidentFactory()
    with pytest.raises(ValidationFailed):
        services.block_resident(staff["admin"], resident.id, reason=reason)
    assert not resident.is_blocked


def test_a_blocked_resident_gets_a_clear_error_from_the_api_and_at_sign_in(app, client):
    auth = sign_in(client, "oToBeBlocked")
    with app.app_context():
        resident_id = db.session.scalar(sa.select(Resident.id).where(Resident.find_by("openid", "oToBeBlocked")))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["citizen", "block", str(resident_id), "--reason", "辱骂工作人员"])
    assert result.exit_code == 0, result.output

    for response in (client.get("/api/v1/reports/mine", headers=auth),
                     client.post("/api/v1/auth/dev", json={"openid": "oToBeBlocked"})):
        assert response.status_code == 403
        assert response.json["error"]["code"] == "resident_blocked"
        assert "账号已被停用" in response.json["error"]["message"]

    assert runner.invoke(args=["citizen", "unblock", str(resident_id), "--reason", "申诉成功"]).exit_code == 0
    assert client.get("/api/v1/reports/mine", headers=auth).status_code == 200
    with app.app_context():
        assert [(entry.action, entry.actor_name) for entry in db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.object_type == "resident",
                                        AuditEntry.object_id == str(resident_id)).order_by(AuditEntry.id))] == [
            ("resident.block", CLI_ACTOR.name), ("resident.unblock", CLI_ACTOR.name)]


def test_the_command_refuses_a_block_without_a_reason_or_of_nobody(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["citizen", "block", "1"]).exit_code != 0
    missing = runner.invoke(args=["citizen", "block", "2000000000", "--reason", "测试"])
    assert missing.exit_code != 0 and "用户不存在" in missing.output
