"""Facility lookup (公厕查询): nearest public toilets and other mapped city components."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from core.admin import register_nav
    from core.api import register_api_blueprint
    from facilities.admin import NAV
    from facilities.admin import bp as admin_pages
    from facilities.api import blp
    from facilities.cli import facilities_cli

    register_api_blueprint(api, blp)
    app.register_blueprint(admin_pages)
    register_nav(app, NAV, weight=60)
    app.cli.add_command(facilities_cli)
