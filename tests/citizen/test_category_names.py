"""Every category can be told apart by its name, and reads as Chinese does: no two alike, no word said twice."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from core.config import PROJECT_ROOT
from core.db import db

CATEGORIES = json.loads((PROJECT_ROOT / "citizen" / "data" / "categories.json").read_text(encoding="utf-8"))
# A run of two or more characters said twice in a row: 其他其他设施问题.
REPEATED_WORD = re.compile(r"(.{2,})\1")


def test_all_146_category_names_are_unique():
    names = [category["name"] for category in CATEGORIES["categories"]]
    assert len(names) == 146
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


def test_no_category_name_repeats_a_word():
    assert [(category["id"], category["name"]) for category in CATEGORIES["categories"]
            if REPEATED_WORD.search(category["name"])] == []


def test_the_other_categories_name_their_class_once():
    names = {category["id"]: category["name"] for category in CATEGORIES["categories"]}
    assert (names["B0399"], names["S0199"], names["B0699"]) == (
        "其他市容环境设施问题", "其他市容环境问题", "其他设施问题")


@pytest.mark.live_database
def test_a_database_loaded_with_the_old_names_is_renamed_unless_an_admin_renamed_it(empty_app):
    with empty_app.app_context():
        upgrade(revision="0025")
        with db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE categories SET name = '其他其他设施问题' WHERE id = 'B0699'"))
            connection.execute(sa.text("UPDATE categories SET name = '市容设施（其他）' WHERE id = 'B0399'"))
        upgrade()
        with db.engine.connect() as connection:
            names = dict(connection.execute(sa.text(
                "SELECT id, name FROM categories WHERE id IN ('B0399', 'B0699', 'S0199')")).all())
    assert names == {"B0399": "市容设施（其他）", "B0699": "其他设施问题", "S0199": "其他市容环境问题"}
