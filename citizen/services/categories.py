"""The problem categories residents choose from, and their upkeep by administrators."""

from __future__ import annotations

import dataclasses

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


KIND_NAMES = {"component": "部件", "event": "事件"}


@dataclasses.dataclass(frozen=True)
class CategoryBranch:
    """A node of the classification above the categories: a kind (部件 "B", 事件 "S") or one of its classes ("S01"
    市容环境). Its ``key`` is the prefix of the ids of every category under it, which filters and campaigns use."""

    key: str
    name: str
    branches: tuple[CategoryBranch, ...] = ()
    categories: tuple[Category, ...] = ()


def category_tree(*, include_inactive: bool = False) -> list[CategoryBranch]:
    """The categories as staff pick them: kind → class → category, in their sort order."""
    kinds: dict[str, dict[str, list[Category]]] = {}
    for category in list_categories(include_inactive=include_inactive):
        kinds.setdefault(category.kind, {}).setdefault(class_key(category.id), []).append(category)
    return [CategoryBranch(key=next(iter(classes))[:1], name=KIND_NAMES.get(kind, kind), branches=tuple(
                CategoryBranch(key=key, name=members[0].class_name, categories=tuple(members))
                for key, members in classes.items()))
            for kind, classes in kinds.items()]


def class_key(category_id: str) -> str:
    """The class a category id belongs to: "S0102" → "S01"."""
    return category_id[:3]


def category_key_names(*, include_inactive: bool = True) -> dict[str, str]:
    """Every key of the tree (kind, class, category id) with the name staff read for it."""
    names: dict[str, str] = {}
    for kind in category_tree(include_inactive=include_inactive):
        names[kind.key] = kind.name
        for branch in kind.branches:
            names[branch.key] = f"{kind.name} · {branch.name}"
            names.update({category.id: category.name for category in branch.categories})
    return names
