"""Field values: opening hours, and the validation of a row's fields (imports and edits)."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from core.db import is_storable_text
from facilities.models import FACILITY_STATUSES

BEIJING = ZoneInfo("Asia/Shanghai")
_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


@functools.lru_cache(maxsize=4096)
def parse_opening_hours(text: str) -> tuple[tuple[int, int], ...]:
    """"06:00-22:00,22:30-23:30" -> minute ranges; a range whose end is before its start crosses midnight."""
    ranges = []
    for part in text.replace("，", ",").split(","):
        match = _HOURS_RE.match(part.strip())
        if match is None:
            raise ValueError(f"开放时间“{text}”应为 HH:MM-HH:MM，多段以逗号分隔")
        start = int(match[1]) * 60 + int(match[2])
        end = int(match[3]) * 60 + int(match[4])
        if end > 24 * 60 or start == end:
            raise ValueError(f"开放时间“{text}”中的时段“{part.strip()}”为空或不成立")
        ranges.append((start, end))
    return tuple(ranges)


def is_open(opening_hours: str | None, at: dt.datetime) -> bool:
    """Open at ``at`` (any timezone; judged in Beijing time). No hours recorded means no restriction."""
    if not opening_hours:
        return True
    local = at.astimezone(BEIJING)
    minute = local.hour * 60 + local.minute
    for start, end in parse_opening_hours(opening_hours):
        if (start <= minute < end) if start < end else (minute >= start or minute < end):
            return True
    return False


# As core.app refuses them in requests; an imported file's JSON escapes make them too.
def storable(text: str) -> str:
    """``text``, or ValueError if it holds a NUL (PostgreSQL stores none) or a lone surrogate (no database does)."""
    if not is_storable_text(text):
        raise ValueError("含有 NUL 或不成对的代理字符")
    return text


def _text(limit: int, *, required: bool = False) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = storable("" if value is None else str(value).strip())
        if required and not text:
            raise ValueError("必填")
        if len(text) > limit:
            raise ValueError(f"超过 {limit} 个字符")
        return text
    return check


def _opening_hours(value: Any) -> str | None:
    text = _text(64)(value)  # the column's length: a valid but longer list of ranges cannot be stored
    if not text:
        return None
    parse_opening_hours(text)
    return text


def _status(value: Any) -> str:
    text = str(value or "in_service").strip()
    if text not in FACILITY_STATUSES:
        raise ValueError(f"应为 {'、'.join(FACILITY_STATUSES)} 之一")
    return text


_TRUE = {"1", "true", "yes", "y", "是", "有"}
_FALSE = {"0", "false", "no", "n", "否", "无"}
GENDER_FACILITIES = ("male", "female", "family", "unisex")
BOOLEAN_ATTRIBUTES = ("free", "accessible", "baby_changing")


def _boolean(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "":
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"“{value}”不是 是/否")


def _attributes(value: Any) -> dict[str, Any]:
    """Known attributes in a fixed order: free, accessible, baby_changing (yes/no), genders (a list)."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ValueError("应为对象")
    unknown = set(value) - set(BOOLEAN_ATTRIBUTES) - {"genders"}
    if unknown:
        raise ValueError(f"未知的属性：{'、'.join(sorted(unknown))}")
    result: dict[str, Any] = {}
    for name in BOOLEAN_ATTRIBUTES:
        flag = _boolean(value.get(name))
        if flag is not None:
            result[name] = flag
    genders = value.get("genders")
    if isinstance(genders, str):
        genders = [g for g in re.split(r"[;,、\s]+", genders) if g]
    if genders:
        if not isinstance(genders, list) or not all(isinstance(g, str) for g in genders) \
                or not set(genders) <= set(GENDER_FACILITIES):
            raise ValueError(f"genders 应取自 {'、'.join(GENDER_FACILITIES)}")
        result["genders"] = [g for g in GENDER_FACILITIES if g in genders]
    return result


FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": _text(128, required=True),
    "address": _text(255),
    "district": _text(32),
    "opening_hours": _opening_hours,
    "status": _status,
    "attributes": _attributes,
}
