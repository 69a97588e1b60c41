from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, TimestampMixin


class Resident(TimestampMixin, Base):
    """A mini-program user, known by their WeChat openid (never shown or logged in the clear)."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    is_blocked: Mapped[bool] = mapped_column(default=False)
    last_login_at: Mapped[dt.datetime | None]
