"""Packages plug themselves into core with init_app; core names them once and imports none of them."""

from __future__ import annotations

import json
import subprocess
import sys

import grimp
import pytest
import sqlalchemy as sa

from core.admin import admin_nav, register_nav
from core.config import DOMAIN_PACKAGES
from core.auth import register_roles, staff_roles
from core.config import PROJECT_ROOT
from core.db import db
from core.models import StaffAccount
from core.privacy import data_holders, register_data_holder
from tests.core.admin_helpers import admin_post, signed_in_staff


def imported_after(code: str) -> list[str]:
    """The modules of the domain packages a fresh interpreter holds after running ``code``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=True)
    return [name for name in json.loads(result.stdout.splitlines()[-1])
            if name.partition(".")[0] in DOMAIN_PACKAGES]


def test_importing_all_of_core_imports_no_domain_package():
    assert imported_after("import importlib, pkgutil, core\n"
                          "for module in pkgutil.iter_modules(core.__path__):\n"
                          "    importlib.import_module(f'core.{module.name}')") == []


def test_no_core_module_imports_a_domain_package_even_inside_a_function():
    graph = grimp.build_graph("core", *DOMAIN_PACKAGES)
    assert [package for package in DOMAIN_PACKAGES
            if graph.chain_exists(importer="core", imported=package, as_packages=True)] == []


@pytest.mark.parametrize("package", DOMAIN_PACKAGES)
def test_a_packages_models_import_without_its_pages(package):
    """Migrations import every package's models: that pulls in no blueprint, view or command."""
    loaded = imported_after(f"import {package}.models")
    assert not {f"{package}.{module}" for module in ("admin", "api", "cli")} & set(loaded)


def test_creating_the_app_plugs_in_every_package(app):
    assert {blueprint.name for blueprint in app.iter_blueprints()} >= {
        "citizen", "citizen_admin", "media", "signboards", "signboard_certificates", "signboard_admin", "rewards",
        "wechatpay", "rewards_admin", "cases", "open311", "cases_admin", "facilities", "facilities_admin",
        "insight_admin"}
    assert set(app.cli.commands) >= {"create-staff", "jobs", "reports", "privacy", "media", "rewards", "cases",
                                     "facilities", "insight"}
    assert app.extensions["resident_gate"].__module__.startswith("citizen.")


def test_the_admin_navigation_keeps_its_order(app):
    assert [item.endpoint for item in admin_nav(app)] == [
        "admin.dashboard", "insight_admin.dashboard", "admin.staff_list", "admin.audit_list", "admin_jobs.jobs",
        "citizen_admin.queue", "citizen_admin.categories", "citizen_admin.rejection_templates",
        "citizen_admin.blocked_residents", "cases_admin.desk", "cases_admin.deliveries", "cases_admin.supervisions",
        "cases_admin.departments", "cases_admin.time_limits", "signboard_admin.queue", "signboard_admin.verify",
        "facilities_admin.facility_list", "facilities_admin.kind_list", "facilities_admin.import_list",
        "rewards_admin.campaigns", "rewards_admin.review", "rewards_admin.payouts"]


def test_navigation_of_equal_weight_keeps_the_order_it_was_registered_in(app):
    first, second = admin_nav(app)[:2]
    fresh = type(app)(__name__)
    register_nav(fresh, (second,), weight=5)
    register_nav(fresh, (first,), weight=5)
    register_nav(fresh, admin_nav(app)[2:3], weight=1)
    assert admin_nav(fresh) == [admin_nav(app)[2], second, first]


def test_each_package_declares_its_roles_and_core_keeps_admin(app):
    assert staff_roles(app) == {"admin": "系统管理员", "moderator": "审核员", "signboard_reviewer": "招牌审核员",
                                "reward_officer": "奖励专员", "dispatcher": "案件调度员", "handler": "处置人员",
                                "verifier": "核查员"}


def test_a_role_declared_twice_is_refused(app):
    with pytest.raises(ValueError, match="moderator"):
        register_roles(app, {"moderator": "另一个审核员"})


def test_the_staff_form_offers_every_registered_role(app):
    page = signed_in_staff(app, "roles_admin", "admin").get("/admin/staff/new").get_data(as_text=True)
    assert all(f'value="{role}"' in page for role in staff_roles(app))


def test_a_role_no_package_declared_is_refused_by_the_form(app):
    client = signed_in_staff(app, "roles_chief", "admin")
    response = admin_post(client, "/admin/staff/new", {"username": "ghost_role", "password": "long-enough-pass",
                                                       "roles": ["auditor"]})
    assert response.status_code == 422 and "角色无效" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(StaffAccount.id).where(StaffAccount.username == "ghost_role")) is None


def test_a_role_no_package_declared_is_refused_by_create_staff(app):
    result = app.test_cli_runner().invoke(args=["create-staff", "--username", "cli_ghost", "--role", "auditor"],
                                          input="a-long-enough-password\na-long-enough-password\n")
    assert result.exit_code == 2 and "'auditor' is not one of 'admin', 'moderator'" in result.output


def test_data_holders_are_the_registered_packages_in_order(app):
    with app.app_context():
        holders = data_holders()
    assert [package for package, _ in holders] == ["citizen", "media", "signboard_templates", "rewards", "cases"]
    for package, holder in holders:
        assert holder.export_resident_data.__module__.startswith(f"{package}.")
        assert holder.forget_resident.__module__.startswith(f"{package}.")


def test_a_data_holder_registered_twice_is_refused(app):
    with pytest.raises(ValueError, match="media"):
        register_data_holder(app, "media", export=lambda resident_id: [], forget=lambda resident_id: None)
