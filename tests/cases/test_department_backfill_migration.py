"""Migration 0033 on cases dispatched before departments had ids (0026): a case, and a 督办 notice, whose department
name is exactly that of one department in the directory gets its id; any other is left as it was."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from core.db import db
from tests.core.test_migrations import empty_app, empty_database_url  # noqa: F401 (fixtures)

pytestmark = pytest.mark.live_database


def test_old_cases_and_notices_get_the_id_of_the_department_named_exactly_so(empty_app):  # noqa: F811
    with empty_app.app_context():
        upgrade(revision="0032")
        tables = sa.MetaData()
        tables.reflect(db.engine, only=["case_departments", "desk_cases", "desk_supervisions"])
        departments, cases = tables.tables["case_departments"], tables.tables["desk_cases"]
        now = dt.datetime.now(dt.UTC)
        with db.engine.begin() as connection:
            ids = {name: connection.execute(departments.insert().values(
                       name=name, kind="环卫", is_active=True, created_at=now, updated_at=now)).inserted_primary_key[0]
                   for name in ("市南区环卫所", "市北区环卫所")}
            connection.execute(cases.insert(), [
                {"id": case_id, "report_id": case_id, "step": "dispatched", "department_id": department_id,
                 "department": name, "version": 1, "due_in_working_hours": True, "is_urgent": False,
                 "created_at": now, "updated_at": now}
                for case_id, name, department_id in (
                    (1, "市南区环卫所", None),  # before 0026: its name alone
                    (2, "市南区环卫所 ", None),  # not exactly a department's name
                    (3, "已撤并的环卫站", None),  # no department of that name
                    (4, None, None),  # never dispatched
                    (5, "市南区环卫所", ids["市北区环卫所"]),  # renamed since: its id stands
                )])
            connection.execute(tables.tables["desk_supervisions"].insert(), [
                {"case_id": 1, "step": "dispatched", "department": "市南区环卫所", "due_at": now, "created_at": now},
                {"case_id": 3, "step": "dispatched", "department": "已撤并的环卫站", "due_at": now, "created_at": now},
                {"case_id": 4, "step": "registered", "department": None, "due_at": now, "created_at": now},
            ])
        upgrade()
        with db.engine.connect() as connection:
            case_ids = dict(connection.execute(sa.text("SELECT id, department_id FROM desk_cases")).all())
            notice_ids = dict(connection.execute(sa.text("SELECT case_id, department_id FROM desk_supervisions")).all())
            names = dict(connection.execute(sa.text("SELECT id, department FROM desk_cases")).all())
    assert case_ids == {1: ids["市南区环卫所"], 2: None, 3: None, 4: None, 5: ids["市北区环卫所"]}
    assert notice_ids == {1: ids["市南区环卫所"], 3: None, 4: None}
    assert names[1] == "市南区环卫所" and names[5] == "市南区环卫所"  # names are kept as they were handled under
