"""The departments' 考核 in the monthly report: read from the case desk, scored only on enough cases."""

from __future__ import annotations

import re

from core.admin import SHANGHAI
from core.db import db, utcnow
from tests.cases.test_department_scores import closed_case
from tests.core.admin_helpers import admin_login
from tests.common.factories import StaffFactory

SCORED, TOO_FEW = "月报考核·市南区环卫所", "月报考核·崂山区城管局"


def department_rows(page: str) -> dict[str, list[str]]:
    """The 考核 table's rows by department: rank, then each cell's text."""
    html = page[page.index('<table id="departments-month">'):]
    rows = re.findall(r"<tr>(.*?)</tr>", html[:html.index("</table>")], re.S)[1:]
    cells = [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
             for row in rows]
    return {row[1]: [row[0], *row[2:]] for row in cells}


def test_the_monthly_report_scores_departments_with_enough_cases_and_names_the_others(app, client,
                                                                                      override_settings):
    override_settings(insight_department_min_sample=2)
    with app.app_context():
        StaffFactory(username="insight_departments", roles=["moderator"])
        closed_case(SCORED, rating=4)
        closed_case(SCORED, late=True, rating=5)
        closed_case(TOO_FEW, rating=5)
        db.session.commit()
    admin_login(client, "insight_departments")
    month = utcnow().astimezone(SHANGHAI)
    page = client.get(f"/admin/insight/monthly?month={month:%Y-%m}&format=html").get_data(as_text=True)
    rows = department_rows(page)
    assert rows[SCORED][1:] == ["2", "50.0%（2）", "0.0%（2）", "0.0%（2）", "4.50（2）"]
    assert rows[TOO_FEW] == ["—", "1", "样本不足（1）", "样本不足（1）", "样本不足（1）", "样本不足（1）"]
    assert list(rows).index(SCORED) < list(rows).index(TOO_FEW)
