"""Migration 0018 on data written before it: public text masked, officers' notes made internal."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from core.db import db

pytestmark = pytest.mark.live_database


def test_existing_reports_get_their_public_text_and_case_notes_turn_internal(empty_app):
    with empty_app.app_context():
        upgrade(revision="0016")
        tables = sa.MetaData()
        tables.reflect(db.engine, only=["residents", "reports", "report_events"])
        now = dt.datetime.now(dt.timezone.utc)
        with db.engine.begin() as connection:
            resident_id = connection.execute(tables.tables["residents"].insert().values(
                openid="oBeforeMigration", is_blocked=False, created_at=now, updated_at=now)).inserted_primary_key[0]
            report_id = connection.execute(tables.tables["reports"].insert().values(
                resident_id=resident_id, category_id="S0102", description="垃圾没人管，电话13912345678，车牌鲁B12345",
                lat=36.0671, lng=120.3826, address="青岛市", status="in_progress", idempotency_key="before-0018",
                request_fingerprint="fp", flags=[], checks={}, version=1, created_at=now,
                updated_at=now)).inserted_primary_key[0]
            events = tables.tables["report_events"]
            connection.execute(events.insert(), [
                {"report_id": report_id, "occurred_at": now, "from_status": None, "to_status": "pending_review",
                 "actor_kind": "resident", "note": "您的反映已提交，正在等待审核。"},
                {"report_id": report_id, "occurred_at": now, "from_status": "forwarded", "to_status": "forwarded",
                 "actor_kind": "case_system", "note": "城市管理监督指挥中心已立案。"},
                {"report_id": report_id, "occurred_at": now, "from_status": "forwarded", "to_status": "forwarded",
                 "actor_kind": "case_system", "note": "请王师傅 13812345678 到场"},
                {"report_id": report_id, "occurred_at": now, "from_status": "forwarded", "to_status": "in_progress",
                 "actor_kind": "case_system", "note": "已派遣至环卫所处置。张三 13700001111 负责"},
            ])
        upgrade()
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT public_description FROM reports")).scalar_one() == \
                "垃圾没人管，电话［手机号］，车牌［车牌号］"
            rows = connection.execute(sa.text(
                "SELECT note, visibility, staff_note FROM report_events ORDER BY id")).all()
    assert [tuple(row) for row in rows] == [
        ("您的反映已提交，正在等待审核。", "resident", None),
        ("城市管理监督指挥中心已立案。", "resident", None),
        ("请王师傅 13812345678 到场", "internal", None),
        ("责任单位正在处置。", "resident", "已派遣至环卫所处置。张三 13700001111 负责"),
    ]
