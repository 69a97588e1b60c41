"""Facility lookup (公厕查询): nearest public toilets and other mapped city components."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from core.admin import register_nav
    from core.api import register_api_blueprint
    from core.staff_words import register_audit_names
    from facilities.admin import AUDIT_ACTIONS, AUDIT_FIELDS, AUDIT_OBJECTS, NAV, STATUS_NAMES
    from facilities.admin import bp as admin_pages
    from facilities.api import blp
    from facilities.cli import facilities_cli

    register_api_blueprint(api, blp)
    app.register_blueprint(admin_pages)
    register_nav(app, NAV, weight=60)
    register_audit_names(app, actions=AUDIT_ACTIONS, objects=AUDIT_OBJECTS, fields=AUDIT_FIELDS,
                         values={("facility", "status"): STATUS_NAMES})
    app.cli.add_command(facilities_cli)
