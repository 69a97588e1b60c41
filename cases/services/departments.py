"""The handling departments the desk dispatches to, the routing rules that propose one for a case, and the
handlers working for each. Edited by administrators, one at a time or from a CSV file."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterable

import sqlalchemy as sa

from cases.models import Department, DepartmentMember, RoutingRule
from citizen import services as citizen_services
from core.db import db, get_or_not_found
from core.errors import Conflict, ValidationFailed
from core.models import StaffAccount
from core.services import Actor, change_audited, record_audit

DEPARTMENT_KINDS = ("街道办事处", "环卫", "市政", "园林", "公用事业", "城管执法", "交通", "其他")
HANDLER_ROLE = "handler"
# A category id ("S0102"), the class it belongs to ("S01"), its kind ("S") or nothing (every category).
_CATEGORY_PREFIX = re.compile(r"(?:[BS](?:\d{2}(?:\d{2})?)?)?")
_CSV_COLUMNS = ("name", "kind", "district", "categories", "active")
_YES, _NO = ("", "1", "是", "true", "yes"), ("0", "否", "false", "no")


@dataclasses.dataclass(frozen=True)
class Proposal:
    """The department the routing rules propose for a case, and the rule that made it."""

    department: Department
    rule: RoutingRule

    @property
    def reason(self) -> str:
        return f"按分派规则「{rule_label(self.rule)}」推荐"


def rule_label(rule: RoutingRule) -> str:
    """A rule as staff read it: "类别 S01 · 市南区", "全部类别 · 全市"."""
    category = f"类别 {rule.category_prefix}" if rule.category_prefix else "全部类别"
    return f"{category} · {rule.district or '全市'}"


def list_departments(*, active_only: bool = False) -> list[Department]:
    query = sa.select(Department).order_by(Department.is_active.desc(), Department.kind, Department.name)
    if active_only:
        query = query.where(Department.is_active.is_(True))
    return list(db.session.scalars(query))


def get_department(department_id: int) -> Department:
    return get_or_not_found(Department, department_id, "部门不存在。")


def _checked_department_fields(name: str, kind: str) -> tuple[str, str]:
    name = name.strip()
    if not name or len(name) > 64:
        raise ValidationFailed("部门名称不能为空且不超过 64 字。", code="invalid_department",
                               details={"fields": {"name": ["1–64 characters"]}})
    if kind not in DEPARTMENT_KINDS:
        raise ValidationFailed(f"部门类型须为：{'、'.join(DEPARTMENT_KINDS)}。", code="invalid_department",
                               details={"fields": {"kind": list(DEPARTMENT_KINDS)}})
    return name, kind


def _check_name_free(name: str, department_id: int | None = None) -> None:
    holder = db.session.scalar(sa.select(Department.id).where(Department.name == name))
    if holder is not None and holder != department_id:
        raise Conflict(f"已有名为「{name}」的部门。", code="department_exists")


def create_department(actor: Actor, *, name: str, kind: str) -> Department:
    name, kind = _checked_department_fields(name, kind)
    _check_name_free(name)
    department = Department(name=name, kind=kind, is_active=True)
    db.session.add(department)
    db.session.flush()
    record_audit(actor, "department.create", "department", department.id, after={"name": name, "kind": kind})
    return department


def update_department(actor: Actor, department_id: int, *, name: str, kind: str, is_active: bool) -> Department:
    """Rename, retype, deactivate or reactivate a department. A deactivated one is no longer offered for
    dispatch nor proposed; its cases stay with it."""
    department = get_department(department_id)
    name, kind = _checked_department_fields(name, kind)
    _check_name_free(name, department.id)
    change_audited(actor, "department.update", "department", department, name=name, kind=kind, is_active=is_active)
    return department


def _checked_rule(category_prefix: str, district: str) -> tuple[str, str]:
    """The rule's category prefix and district as stored, or why they cannot be (a Chinese reason)."""
    # "S01*" reads as "S01", a lone "*" as every category.
    prefix, district = category_prefix.strip().upper().rstrip("*"), district.strip()
    if not _CATEGORY_PREFIX.fullmatch(prefix) or (
            prefix and not any(category.id.startswith(prefix)
                               for category in citizen_services.list_categories(include_inactive=True))):
        raise ValidationFailed(f"类别「{category_prefix.strip()}」不存在（填写类别编码或其前缀，如 S0102、S01）。",
                               code="invalid_rule")
    if district and district not in citizen_services.district_names():
        raise ValidationFailed(f"「{district}」不是青岛市的区（市）。", code="invalid_rule")
    return prefix, district


def _rule_holder(prefix: str, district: str) -> RoutingRule | None:
    return db.session.scalar(sa.select(RoutingRule).where(RoutingRule.category_prefix == prefix,
                                                          RoutingRule.district == district))


def add_rule(actor: Actor, department_id: int, *, category_prefix: str, district: str) -> RoutingRule:
    department = get_department(department_id)
    prefix, district = _checked_rule(category_prefix, district)
    holder = _rule_holder(prefix, district)
    if holder is not None:
        raise Conflict(f"规则「{rule_label(holder)}」已属于「{holder.department.name}」。", code="rule_exists")
    rule = RoutingRule(category_prefix=prefix, district=district)
    department.rules.append(rule)
    db.session.flush()
    record_audit(actor, "department.rule_add", "department", department.id,
                 after={"category_prefix": prefix, "district": district})
    return rule


def remove_rule(actor: Actor, department_id: int, rule_id: int) -> None:
    department = get_department(department_id)
    rule = next((rule for rule in department.rules if rule.id == rule_id), None)
    if rule is None:
        raise ValidationFailed("该规则不属于此部门。", code="invalid_rule")
    department.rules.remove(rule)
    db.session.flush()
    record_audit(actor, "department.rule_remove", "department", department.id,
                 before={"category_prefix": rule.category_prefix, "district": rule.district})


def propose_department(category_id: str, district: str | None, *,
                       excluding: Iterable[int] = ()) -> Proposal | None:
    """The active department the most specific matching rule names: the longest category prefix first, then a
    rule for the case's district before one for the whole city. Departments ``excluding`` (those that returned the
    case) are not proposed again."""
    prefixes = [category_id[:length] for length in (5, 3, 1, 0)]
    rules = db.session.scalars(
        sa.select(RoutingRule).join(RoutingRule.department)
        .where(Department.is_active.is_(True), Department.id.not_in(list(excluding)),
               RoutingRule.category_prefix.in_(prefixes), RoutingRule.district.in_({"", district or ""})))
    best = max(rules, key=lambda rule: (len(rule.category_prefix), rule.district != ""), default=None)
    return None if best is None else Proposal(best.department, best)


# --- handlers ------------------------------------------------------------------------------

def handlers() -> list[StaffAccount]:
    """The active staff holding the handler role, whom a department page may make its members."""
    staff = db.session.scalars(sa.select(StaffAccount).where(StaffAccount.is_active.is_(True))
                               .order_by(StaffAccount.username))
    return [account for account in staff if HANDLER_ROLE in account.roles]


def member_ids(department_id: int) -> set[int]:
    return set(db.session.scalars(sa.select(DepartmentMember.staff_id)
                                  .where(DepartmentMember.department_id == department_id)))


def departments_of(staff_id: int | None) -> set[int]:
    """The departments a staff member handles cases for."""
    if staff_id is None:
        return set()
    return set(db.session.scalars(sa.select(DepartmentMember.department_id)
                                  .where(DepartmentMember.staff_id == staff_id)))


def set_members(actor: Actor, department_id: int, staff_ids: Iterable[int]) -> None:
    """The department's handlers are exactly ``staff_ids``, each an active staff member with the handler role."""
    department = get_department(department_id)
    allowed = {account.id for account in handlers()}
    wanted = set(staff_ids)
    if wanted - allowed:
        raise ValidationFailed("只能指派具有处置人员角色的在用账户。", code="invalid_members")
    before = member_ids(department.id)
    db.session.execute(sa.delete(DepartmentMember).where(DepartmentMember.department_id == department.id,
                                                         DepartmentMember.staff_id.not_in(wanted)))
    db.session.add_all(DepartmentMember(staff_id=staff_id, department_id=department.id)
                       for staff_id in wanted - before)
    db.session.flush()
    if wanted != before:
        record_audit(actor, "department.members", "department", department.id,
                     before={"staff_ids": sorted(before)}, after={"staff_ids": sorted(wanted)})


# --- import ------------------------------------------------------------------------------

class DepartmentImportRefused(ValidationFailed):
    """A file with a bad row: nothing of it was written. ``problems`` are its rows' Chinese reasons."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("部门文件有误，未导入任何内容：" + "；".join(problems[:10]), code="department_import_refused",
                         details={"problems": problems})


@dataclasses.dataclass
class _ImportedDepartment:
    kind: str
    is_active: bool
    rules: set[tuple[str, str]] = dataclasses.field(default_factory=set)


@dataclasses.dataclass(frozen=True)
class ImportOutcome:
    created: int
    updated: int
    rules: int


def _read_rows(text: str) -> tuple[dict[str, _ImportedDepartment], list[str]]:
    """The file's departments by name, each with the rules of all its rows, and the problems of its rows."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [column for column in _CSV_COLUMNS[:2] if column not in (reader.fieldnames or ())]
    if missing:
        return {}, [f"缺少列：{'、'.join(missing)}（列为 {','.join(_CSV_COLUMNS)}）"]
    departments: dict[str, _ImportedDepartment] = {}
    rule_owner: dict[tuple[str, str], str] = {}
    problems = []
    for line, row in enumerate(reader, start=2):
        try:
            name, kind = _checked_department_fields(row.get("name") or "", (row.get("kind") or "").strip())
            active = (row.get("active") or "").strip().lower()
            if active not in _YES + _NO:
                raise ValidationFailed("启用一栏须为 1 或 0。")
            district = row.get("district") or ""
            rules = {_checked_rule(prefix, district) for prefix in (row.get("categories") or "").split()}
        except ValidationFailed as problem:
            problems.append(f"第 {line} 行：{problem.message}")
            continue
        department = departments.setdefault(name, _ImportedDepartment(kind, active in _YES))
        if (department.kind, department.is_active) != (kind, active in _YES):
            problems.append(f"第 {line} 行：「{name}」的类型或启用与前面的行不一致。")
        for rule in rules:
            owner = rule_owner.setdefault(rule, name)
            if owner != name:
                label = rule_label(RoutingRule(category_prefix=rule[0], district=rule[1]))
                problems.append(f"第 {line} 行：规则「{label}」已属于「{owner}」。")
        department.rules |= rules
    return departments, problems


def import_departments(actor: Actor, text: str) -> ImportOutcome:
    """Create or update the file's departments (by name), each with exactly the file's rules for it. A file with
    any bad row is refused whole (``DepartmentImportRefused``). Columns: name, kind, district (empty: the whole
    city), categories (category ids or prefixes separated by spaces, for that district), active (1 or 0)."""
    departments, problems = _read_rows(text)
    if not problems and not departments:
        problems.append("文件中没有部门。")
    existing = {department.name: department for department in
                db.session.scalars(sa.select(Department).where(Department.name.in_(departments)))}
    for rule_key, name in {rule: name for name, department in departments.items()
                           for rule in department.rules}.items():
        holder = _rule_holder(*rule_key)
        if holder is not None and holder.department.name not in departments:
            problems.append(f"规则「{rule_label(holder)}」已属于「{holder.department.name}」，文件中却给了「{name}」。")
    if problems:
        raise DepartmentImportRefused(problems)
    # The file's departments give up their old rules first, so a rule moving between two of them is never held
    # twice at a flush.
    for department in existing.values():
        department.rules.clear()
    db.session.flush()
    for name, imported in departments.items():
        department = existing.get(name)
        if department is None:
            department = Department(name=name, kind=imported.kind, is_active=imported.is_active)
            db.session.add(department)
        department.kind, department.is_active = imported.kind, imported.is_active
        department.rules.extend(RoutingRule(category_prefix=prefix, district=district)
                                for prefix, district in sorted(imported.rules))
    db.session.flush()
    outcome = ImportOutcome(created=len(departments) - len(existing), updated=len(existing),
                            rules=sum(len(imported.rules) for imported in departments.values()))
    record_audit(actor, "department.import", "department", None, after=dataclasses.asdict(outcome)
                 | {"names": sorted(departments)})
    return outcome
