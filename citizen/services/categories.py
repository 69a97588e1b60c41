"""The problem categories residents choose from, and their upkeep by administrators."""

from __future__ import annotations

import sqlalchemy as sa

from citizen.models import Category
from core.db import db, get_or_not_found
from core.errors import ValidationFailed
from core.services import Actor, change_audited


def list_categories(*, include_inactive: bool = False) -> list[Category]:
    query = sa.select(Category).order_by(Category.sort_order)
    if not include_inactive:
        query = query.where(Category.is_active.is_(True))
    return list(db.session.scalars(query))


def update_category(actor: Actor, category_id: str, *, name: str, hint: str, is_active: bool,
                    is_urgent: bool = False) -> Category:
    """An administrator's change of a category; ``is_urgent`` makes it a 急要件 (the top of every queue, the short
    time limits of the case desk). Audited."""
    category = get_or_not_found(Category, category_id, "类别不存在。")
    name, hint = name.strip(), hint.strip()
    if not name or len(name) > 64 or len(hint) > 200:
        raise ValidationFailed("名称不能为空且不超过 64 字，提示不超过 200 字。",
                               details={"fields": {"name": ["1–64 characters"], "hint": ["≤ 200 characters"]}})
    change_audited(actor, "category.update", "category", category, name=name, hint=hint, is_active=is_active,
                   is_urgent=is_urgent)
    return category
