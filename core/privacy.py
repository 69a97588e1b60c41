"""Residents' data rights (PIPL): which packages hold a resident's data, and plain JSON of it.

A package joins export and erasure from its ``init_app`` with ``register_data_holder(app, package,
export=..., forget=...)``, giving

- ``export(resident_id) -> dict | list``: everything it holds about the resident, and
- ``forget(resident_id) -> None``: delete it, or anonymise what the city must keep (the caller
  commits once, after every package).

``citizen.services`` runs them for ``GET /api/v1/me/export`` and ``DELETE /api/v1/me``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

# Mainland mobile numbers as residents write them: 13912345678, 139 1234 5678, 139-1234-5678, +86 139…, 0086139….
PHONE_NUMBER = re.compile(r"(?<!\d)(?:(?:\+|00)?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
# Resident identity card numbers: 18 characters (area, birth date 18xx–20xx, sequence, check digit or X) and the
# 15-digit numbers of the first generation (two-digit birth year), as long as no letter or digit runs on.
ID_CARD_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx]"
    r"|\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})(?![0-9A-Za-z])")
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_CHARACTER = "[A-HJ-NP-Z0-9]"  # plates use neither I nor O
# Licence plates: province, issuing-office letter, an optional separator (鲁B·12345, 鲁B 12345), then a new-energy
# number (D/F with five more), an ordinary five, or four and a suffix (学 learner, 警 police, 使/领 embassy and
# consulate, 挂 trailer, 港/澳 cross-border, 试, 超). Letters in either case: residents type 鲁b12345.
LICENCE_PLATE = re.compile(
    rf"[{_PROVINCES}][A-Z][·•・\-\s]?"
    rf"(?:[DF]{_PLATE_CHARACTER}\d{{4}}|\d{{5}}[DF]|{_PLATE_CHARACTER}{{4}}[挂学警港澳领使试超]|{_PLATE_CHARACTER}{{5}})"
    r"(?![0-9A-Za-z])", re.IGNORECASE)
# What each kind of personal data becomes in public text; identity numbers first, so that none is read as a phone.
_MASKS = ((ID_CARD_NUMBER, "［身份证号］"), (PHONE_NUMBER, "［手机号］"), (LICENCE_PLATE, "［车牌号］"))


def mask_personal_data(text: str) -> str:
    """The public version of a resident's or an officer's text: phone numbers, identity card numbers and licence
    plates replaced by what they were."""
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return text


@dataclasses.dataclass(frozen=True)
class DataHolder:
    """What a package holding residents' data does for their rights."""

    export_resident_data: Callable[[int], Any]
    forget_resident: Callable[[int], None]


def register_data_holder(app: Flask, package: str, *, export: Callable[[int], Any],
                         forget: Callable[[int], None]) -> None:
    holders = app.extensions.setdefault("data_holders", {})
    if package in holders:
        raise ValueError(f"{package} is registered as a data holder twice")
    holders[package] = DataHolder(export_resident_data=export, forget_resident=forget)


def data_holders() -> list[tuple[str, DataHolder]]:
    """(package, its hooks) of every package of the current app that holds residents' data, in registration
    order."""
    return list(current_app.extensions.get("data_holders", {}).items())


def jsonable(value: Any) -> Any:
    """Dates as ISO 8601, tuples as lists, recursively: what the export document is made of."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def row_dict(row: Any, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """A model instance's columns, as plain JSON values."""
    skipped = set(exclude)
    return {attribute.key: jsonable(getattr(row, attribute.key))
            for attribute in sa.inspect(row).mapper.column_attrs if attribute.key not in skipped}


def absolute_links(value: Any, base_url: str, prefix: str = "/files/") -> Any:
    """The document with app-relative file links (local-disk storage) made absolute, recursively."""
    if isinstance(value, str):
        return base_url.rstrip("/") + value if value.startswith(prefix) else value
    if isinstance(value, dict):
        return {key: absolute_links(item, base_url, prefix) for key, item in value.items()}
    if isinstance(value, list):
        return [absolute_links(item, base_url, prefix) for item in value]
    return value
