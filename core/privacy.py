"""Residents' data rights (PIPL): which packages hold a resident's data, and plain JSON of it.

A package joins export and erasure by defining, in its ``services`` module,

- ``export_resident_data(resident_id) -> dict | list``: everything it holds about the resident, and
- ``forget_resident(resident_id) -> None``: delete it, or anonymise what the city must keep (the
  caller commits once, after every package).

``citizen.services`` runs them for ``GET /api/v1/me/export`` and ``DELETE /api/v1/me``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import sqlalchemy as sa

# Mainland mobile numbers as residents write them: 13912345678, 139 1234 5678, 139-1234-5678, +86 139…, 0086139….
PHONE_NUMBER = re.compile(r"(?<!\d)(?:(?:\+|00)?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")


def data_holders() -> list[tuple[str, ModuleType]]:
    """(package, services module) of every domain package that holds residents' data."""
    from core.app import DOMAIN_PACKAGES

    holders = []
    for package in DOMAIN_PACKAGES:
        try:
            module = importlib.import_module(f"{package}.services")
        except ModuleNotFoundError:
            continue
        if hasattr(module, "export_resident_data") and hasattr(module, "forget_resident"):
            holders.append((package, module))
    return holders


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
