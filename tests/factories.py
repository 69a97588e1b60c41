"""factory_boy factories for the models; they commit through the test's rolled-back session."""

from __future__ import annotations

import factory
from factory.alchemy import SQLAlchemyModelFactory

from citizen.models import Resident
from core.db import db
from core.models import StaffAccount
from core.services import _hasher

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


class StaffFactory(BaseFactory):
    class Meta:
        model = StaffAccount

    username = factory.Sequence(lambda n: f"staff{n}")
    display_name = factory.Sequence(lambda n: f"工作人员{n}")
    password_hash = _STAFF_PASSWORD_HASH
    roles = factory.LazyFunction(lambda: ["moderator"])
