"""Photo My City: residents, their identity, and the street problems they report."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from citizen import services
    from citizen.admin import AUDIT_ACTIONS, AUDIT_FIELDS, AUDIT_OBJECTS, NAV, REVEALED_FIELDS
    from citizen.admin import bp as admin_pages
    from citizen.api import blp, dev_blp
    from citizen.cli import citizen_cli, privacy_cli, reports_cli
    from core.admin import register_nav, register_todo
    from core.api import register_api_blueprint
    from core.staff_words import register_audit_names
    from core.auth import register_roles
    from core.metrics import Gauge, register_collector
    from core.privacy import register_data_holder
    from core.schedule import register_periodic

    register_api_blueprint(api, blp)
    if app.config["APP_SETTINGS"].dev_login_enabled:
        register_api_blueprint(api, dev_blp)
    app.register_blueprint(admin_pages)
    register_nav(app, NAV, weight=30)
    register_roles(app, {"moderator": "审核员"})
    register_audit_names(app, actions=AUDIT_ACTIONS, objects=AUDIT_OBJECTS, fields=AUDIT_FIELDS,
                         values={("report", "status"): services.STATUS_NAMES, ("report", "field"): REVEALED_FIELDS})
    register_todo(app, "to_moderate", "待审核反映", ("moderator",), lambda _staff: services.pending_review_count(),
                  "citizen_admin.queue", status=services.PENDING_REVIEW)
    app.cli.add_command(reports_cli)
    app.cli.add_command(privacy_cli)
    app.cli.add_command(citizen_cli)
    register_periodic(app, "reports sweep", every_seconds=300)
    register_periodic(app, "privacy enforce-retention", daily_at="04:00")
    register_collector(app, lambda: [Gauge(
        "report_checks_stuck", "Reports whose automatic checks have been pending too long (counted up to 100).",
        samples={(): float(services.stuck_checks().count)})])
    # Tokens of blocked or forgotten residents stop working at once, not when they expire.
    app.extensions["resident_gate"] = services.check_resident_may_act
    register_data_holder(app, "citizen", export=services.export_resident_data, forget=services.forget_resident)
