"""Internal names as staff read them, in Chinese: audit actions, the objects and fields they change and the values
of those fields, and the names of the machines that act (``system``, a case system). Each package registers the
words of its own actions in its ``init_app``; a test finds every audit action recorded in the code and fails on one
without a name (tests/core/test_staff_words.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

CORE_ACTIONS = {
    "staff.create": "新建人员账户", "staff.update": "修改人员账户", "staff.login": "登录",
    "staff.login_failed": "登录失败（密码错误）", "sensitive.reveal": "查看敏感信息", "job.retry": "重试后台任务",
}
CORE_OBJECTS = {"staff_account": "人员账户", "job": "后台任务"}
CORE_FIELDS = {
    "username": "用户名", "display_name": "姓名", "roles": "角色", "is_active": "启用", "password_changed": "已改密码",
    "field": "字段", "status": "状态", "state": "状态", "note": "说明", "reason": "原因", "name": "名称",
    "hint": "提示", "by": "操作人", "error": "错误",
}
CORE_ACTORS = {"system": "系统"}
RESIDENT_ACTOR_PREFIX = "resident:"  # how an action a resident took is recorded (citizen.services.conversation)
BLANK = "—"


@dataclasses.dataclass
class StaffWords:
    actions: dict[str, str] = dataclasses.field(default_factory=dict)
    objects: dict[str, str] = dataclasses.field(default_factory=dict)
    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    # (object type, field) → the field's stored values → what staff read
    values: dict[tuple[str, str], Mapping[str, str]] = dataclasses.field(default_factory=dict)
    actors: dict[str, str] = dataclasses.field(default_factory=dict)


def _words(app: Flask | None = None) -> StaffWords:
    return (app or current_app).extensions.setdefault("staff_words", StaffWords())


def register_audit_names(app: Flask, *, actions: Mapping[str, str], objects: Mapping[str, str] | None = None,
                         fields: Mapping[str, str] | None = None,
                         values: Mapping[tuple[str, str], Mapping[str, str]] | None = None) -> None:
    """The Chinese names of a package's audit actions, of the objects they change, of those objects' fields as the
    audit records them, and of the values of fields stored as codes (``("report", "status"): STATUS_NAMES``)."""
    words = _words(app)
    taken = sorted(set(words.actions) & set(actions))
    if taken:
        raise ValueError(f"audit actions named twice: {', '.join(taken)}")
    words.actions.update(actions)
    words.objects.update(objects or {})
    words.fields.update(fields or {})
    words.values.update(values or {})


def register_actor_names(app: Flask, names: Mapping[str, str]) -> None:
    """What staff read for a machine recorded as acting (``"desk"`` → 内置案件台)."""
    _words(app).actors.update(names)


def audit_actions(app: Flask | None = None) -> dict[str, str]:
    return dict(_words(app).actions)


def audit_objects(app: Flask | None = None) -> dict[str, str]:
    return dict(_words(app).objects)


def action_name(action: str) -> str:
    return _words().actions.get(action, action)


def object_name(object_type: str) -> str:
    return _words().objects.get(object_type, object_type)


def actor_name(name: str | None) -> str:
    """Who acted, as staff read it: a staff member's username as it is, a machine by its Chinese name, a resident
    as 市民 #id."""
    if not name:
        return ""
    if name.startswith(RESIDENT_ACTOR_PREFIX):
        return f"市民 #{name.removeprefix(RESIDENT_ACTOR_PREFIX)}"
    return _words().actors.get(name, name)


@dataclasses.dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


def audit_changes(object_type: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[Change]:
    """An audit entry's before and after as rows a person reads, ``字段：前 → 后``: fields that did not change left
    out, codes named, yes and no for flags, a dash for nothing."""
    before, after = before or {}, after or {}
    words = _words()
    rows = []
    for field in [*before, *(field for field in after if field not in before)]:
        old, new = before.get(field), after.get(field)
        if field in before and field in after and old == new:
            continue
        names = words.values.get((object_type, field), {})
        rows.append(Change(words.fields.get(field, field), _shown(old, names), _shown(new, names)))
    return rows


def _shown(value: Any, names: Mapping[str, str]) -> str:
    if value is None or value == "" or value == []:
        return BLANK
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(_shown(item, names) for item in value)
    if isinstance(value, dict):
        return "，".join(f"{key}：{_shown(item, names)}" for key, item in value.items())
    return names.get(value, str(value)) if isinstance(value, str) else str(value)

