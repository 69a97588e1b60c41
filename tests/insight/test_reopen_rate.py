"""The reopen rate of the monthly figures: reopenings of the month per report closed in it."""

from __future__ import annotations

import re

import pytest

from citizen.models import ReportEvent
from core.db import db
from insight import services
from insight.settings import InsightSettings
from tests.core.admin_helpers import admin_login
from tests.common.factories import StaffFactory
from tests.insight.helpers import local, make_report, seed_october

OCTOBER = services.month(2026, 10)


def reopened(report, at) -> None:
    report.events.append(ReportEvent(from_status="closed", to_status="in_progress", actor_kind="resident",
                                     note="您已申请重新办理：仍未清理。", occurred_at=at))
    db.session.flush()


def seed_reopenings(app) -> InsightSettings:
    seed_october()
    unhappy = make_report(local(2026, 10, 2, 8), district="市北区", status="closed", closed_after_hours=20,
                          rating=1, rated_at=local(2026, 10, 3))
    reopened(unhappy, local(2026, 10, 4))
    reopened(unhappy, local(2026, 10, 31, 23, 50))  # Beijing time: still October
    reopened(make_report(local(2026, 9, 1), status="closed", closed_after_hours=24), local(2026, 11, 1, 0, 10))
    settings = app.config["APP_SETTINGS"].area(InsightSettings)
    services.rebuild(settings)
    return settings


@pytest.fixture
def october(app, app_ctx):
    return seed_reopenings(app)


def test_reopenings_in_the_month_per_report_closed_in_it(october):
    figures = services.report_figures(OCTOBER, october)
    # Closed in October: the four of seed_october and the unhappy one; reopened twice in October, once in November.
    assert (figures.reopened, figures.closing.closed) == (2, 5)
    assert figures.reopen_rate == pytest.approx(2 / 5)
    assert services.report_figures(OCTOBER, october, district="市北区").reopened == 2
    assert services.report_figures(OCTOBER, october, district="市南区").reopen_rate == 0
    assert services.report_figures(services.month(2026, 11), october).reopened == 1


def test_the_monthly_report_shows_the_reopen_rate(app, client):
    with app.app_context():
        seed_reopenings(app)
        StaffFactory(username="insight_reopen_viewer", roles=["moderator"])
        db.session.commit()
    admin_login(client, "insight_reopen_viewer")
    monthly = client.get("/admin/insight/monthly?month=2026-10&format=html").get_data(as_text=True)
    row = re.search(r'<tr><th scope="row">重新办理率（2 次）</th><td class="num">([^<]+)</td>', monthly)
    assert row is not None and row.group(1) == "40.0%"
