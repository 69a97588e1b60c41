"""factory_boy factories for the models; they commit through the test's rolled-back session."""

from __future__ import annotations

import factory
from factory.alchemy import SQLAlchemyModelFactory

from citizen.models import Report, Resident
from core.db import db
from core.models import StaffAccount
from core.services import _hasher
from facilities.models import Facility
from facilities.spatial import cell_of

STAFF_PASSWORD = "correct-horse-battery"
_STAFF_PASSWORD_HASH = _hasher.hash(STAFF_PASSWORD)


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


class ResidentFactory(BaseFactory):
    class Meta:
        model = Resident

    openid = factory.Sequence(lambda n: f"oTestOpenid{n:017d}")


class ReportFactory(BaseFactory):
    """A report as the flow leaves it (its status given), without photos: for views that read many."""

    class Meta:
        model = Report

    resident_id = factory.LazyFunction(lambda: ResidentFactory().id)
    category_id = "S0102"
    description = "路边有一堆暴露垃圾，无人清理。"
    lat = 36.0671
    lng = 120.3826
    address = "青岛市市南区香港中路 1 号"
    district = "市南区"
    status = "accepted"
    idempotency_key = factory.Sequence(lambda n: f"factory-report-{n}")
    request_fingerprint = "factory"


class StaffFactory(BaseFactory):
    class Meta:
        model = StaffAccount

    username = factory.Sequence(lambda n: f"staff{n}")
    display_name = factory.Sequence(lambda n: f"工作人员{n}")
    password_hash = _STAFF_PASSWORD_HASH
    roles = factory.LazyFunction(lambda: ["moderator"])


class FacilityFactory(BaseFactory):
    class Meta:
        model = Facility

    source_id = factory.Sequence(lambda n: f"test-facility-{n}")
    kind_code = "0301"
    name = factory.Sequence(lambda n: f"测试公厕{n}号")
    lat = 36.07
    lng = 120.38
    cell = factory.LazyAttribute(lambda f: cell_of(f.lat, f.lng))
    address = "香港中路 1 号"
    district = "市南区"
    attributes = factory.LazyFunction(lambda: {"free": True, "accessible": True})
