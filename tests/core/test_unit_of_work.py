"""A request is one unit of work: it commits once at its end when it succeeds, and leaves nothing when refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from core import services
from core.db import commit_early, db
from core.errors import Conflict
from core.models import AuditEntry
from tests.conftest import app_on_own_database


@pytest.fixture(scope="module")
def uow_app(tmp_path_factory, fake_wechat, request) -> Iterator[Flask]:
    """An app on a database of its own (its requests really commit), with a route that writes, then answers with
    the status it is asked for (or raises a conflict)."""
    with app_on_own_database(tmp_path_factory.mktemp("uow"), fake_wechat, request, "uow") as app:
        add_writing_route(app)
        yield app


def add_writing_route(app: Flask) -> None:

    @app.post("/test/unit-of-work/<int:marker>/<int:status>")
    def write_then_answer(marker: int, status: int):  # noqa: ANN202
        services.record_audit(services.SYSTEM_ACTOR, "test.unit_of_work", "thing", marker)
        db.session.flush()
        if status == 409:
            raise Conflict("refused after writing")
        return {"marker": marker}, status


def written(app, marker: int) -> bool:
    with app.app_context():
        return bool(db.session.scalar(sa.select(sa.func.count()).where(
            AuditEntry.action == "test.unit_of_work", AuditEntry.object_id == str(marker))))


@pytest.mark.parametrize(("status", "kept"), [(200, True), (201, True), (302, True), (422, False), (409, False),
                                              (500, False)])
def test_what_a_request_wrote_is_kept_only_when_it_succeeds(uow_app, status, kept):
    marker = 7000 + status
    response = uow_app.test_client().post(f"/test/unit-of-work/{marker}/{status}")

    assert response.status_code == status
    assert written(uow_app, marker) is kept


def test_an_early_commit_says_why(app_ctx):
    with pytest.raises(ValueError):
        commit_early("")
