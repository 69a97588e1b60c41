from __future__ import annotations

import dataclasses
import math
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from core.db import db

T = TypeVar("T")
MAX_PER_PAGE = 100


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(query: sa.Select[Any], number: int, per_page: int = 20) -> Page[Any]:
    per_page = min(max(1, per_page), MAX_PER_PAGE)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    # A number past the last page shows the last one (an offset past every row may not even fit the database).
    number = min(max(1, number), max(1, math.ceil(total / per_page)))
    items = list(db.session.scalars(query.limit(per_page).offset((number - 1) * per_page)))
    return Page(items=items, number=number, per_page=per_page, total=total)
