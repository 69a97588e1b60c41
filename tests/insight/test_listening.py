"""The counters follow real reports through the citizen package's events, with no rebuild."""

from __future__ import annotations

import pytest

from citizen import services as citizen_services
from core.db import db, utcnow
from core.services import Actor
from insight import services
from insight.models import ReportFact
from insight.services import counters
from insight.settings import InsightSettings
from tests.citizen.helpers import new_report, sign_in
from tests.common.statements import recorded_statements

MODERATOR = Actor(None, "moderator-1")


def test_a_report_is_counted_when_submitted_moved_along_and_rated(app, client, run_jobs):
    settings = app.config["APP_SETTINGS"].area(InsightSettings)
    resident = sign_in(client, "oInsightResident")
    report_id = new_report(client, resident)["id"]
    run_jobs()
    with app.app_context():
        assert db.session.get(ReportFact, report_id).status == "pending_review"
        version = citizen_services.get_report(report_id).version
        citizen_services.accept_report(MODERATOR, report_id, expected_version=version)
        db.session.commit()
    run_jobs()  # the built-in case desk may take (forward) the report at once
    with app.app_context():
        report = citizen_services.get_report(report_id)
        for status in ("forwarded", "in_progress", "resolved", "closed"):
            if report.status != status:
                citizen_services.transition(report, status, actor_kind="staff")
        db.session.commit()
    run_jobs()
    response = client.post(f"/api/v1/reports/{report_id}/rating", json={"rating": 5}, headers=resident)
    assert response.status_code == 200, response.json
    run_jobs()
    with app.app_context():
        fact = db.session.get(ReportFact, report_id)
        assert (fact.status, fact.close_hours, fact.rating) == ("closed", 0, 5)
        figures = services.report_figures(services.last_days(1), settings)
        assert figures.by_status["closed"] == 1 and figures.submitted == 1
        assert figures.closing.closed == 1 and figures.satisfaction.average == 5
        assert figures.acceptance_rate == 1.0


def test_the_sweep_counts_again_what_a_lost_refresh_left_behind(app, client, run_jobs, jobs_lost):
    settings = app.config["APP_SETTINGS"].area(InsightSettings)
    resident = sign_in(client, "oLostRefresh")
    counted = new_report(client, resident)["id"]
    run_jobs()
    with jobs_lost():
        missed = new_report(client, resident)["id"]
        with app.app_context():
            version = citizen_services.get_report(counted).version
            citizen_services.reject_report(MODERATOR, counted, expected_version=version, reason="不属于城市管理问题")
            db.session.commit()
    with app.app_context():
        assert db.session.get(ReportFact, missed) is None
        assert db.session.get(ReportFact, counted).status == "pending_review"
        assert services.catch_up(settings) == 2
        assert db.session.get(ReportFact, missed).status == "pending_review"
        assert db.session.get(ReportFact, counted).status == "rejected"
        figures = services.report_figures(services.last_days(1), settings)
        assert figures.submitted == 2 and figures.by_status["rejected"] == 1
        assert services.catch_up(settings) == 0


def test_reports_that_go_with_a_deleted_account_leave_the_counts(app, client, run_jobs):
    settings = app.config["APP_SETTINGS"].area(InsightSettings)
    resident = sign_in(client, "oLeavingResident")
    report_id = new_report(client, resident)["id"]
    run_jobs()
    assert client.delete("/api/v1/me", headers=resident).status_code == 204
    run_jobs()
    with app.app_context():
        assert db.session.get(ReportFact, report_id) is None
        figures = services.report_figures(services.last_days(1), settings)
        assert figures.submitted == 0 and figures.by_status.get("pending_review", 0) == 0


@pytest.mark.parametrize("bucket", [None, 1], ids=["as_configured", "one_id_per_bucket"])
def test_the_sweep_takes_out_reports_deleted_while_their_refresh_was_lost(app, client, run_jobs, jobs_lost,
                                                                          monkeypatch, bucket):
    """A deleted report has no row left to be found among recent changes: the sweep finds its fact by
    comparing the facts with the reports there are (in buckets of ids: here also one id a bucket)."""
    if bucket is not None:
        monkeypatch.setattr(counters, "DIGEST_BUCKET", bucket)
    settings = app.config["APP_SETTINGS"].area(InsightSettings)
    staying, leaving = sign_in(client, "oStayingResident"), sign_in(client, "oQuietlyLeaving")
    kept = new_report(client, staying)["id"]
    gone = [new_report(client, leaving)["id"] for _ in range(2)]
    also_kept = new_report(client, staying)["id"]
    run_jobs()
    with jobs_lost():  # the report.deleted listeners' jobs
        assert client.delete("/api/v1/me", headers=leaving).status_code == 204
    with app.app_context():
        assert services.report_figures(services.last_days(1), settings).submitted == 4
        assert services.catch_up(settings, now=utcnow() + 2 * services.CATCH_UP_WINDOW) == 2
    swept = app.test_cli_runner().invoke(args=["insight", "sweep"])
    assert swept.exit_code == 0 and "counted again 0 reports" in swept.output
    with app.app_context():
        figures = services.report_figures(services.last_days(1), settings)
        assert figures.submitted == 2 and figures.by_status["pending_review"] == 2
        assert [db.session.get(ReportFact, report_id) for report_id in gone] == [None, None]
        assert all(db.session.get(ReportFact, report_id) is not None for report_id in (kept, also_kept))


def test_a_sweep_with_nothing_deleted_reads_digests_not_reports(app, client, run_jobs):
    """What the sweep reads for deleted reports grows with the span of ids (a few statements per 65,536 ids),
    not with the reports: with every fact in agreement no id is looked up."""
    settings = app.config["APP_SETTINGS"].area(InsightSettings)
    resident = sign_in(client, "oManyReports")
    for _ in range(3):
        new_report(client, resident)
    run_jobs()
    later = utcnow() + 2 * services.CATCH_UP_WINDOW  # no report changed lately
    with recorded_statements(app) as statements, app.app_context():
        assert services.catch_up(settings, now=later) == 0
    # The changes lately; the lowest fact id, the span's two digests; the lowest fact id beyond it (none).
    assert len(statements) == 5
