"""Storefront signboards: templates, previews, and pre-approval applications staff review."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from core.admin import register_nav, register_readers, register_todo
    from core.api import register_api_blueprint
    from core.auth import register_roles
    from core.privacy import register_data_holder
    from core.staff_words import register_audit_names
    from signboard_templates import services
    from signboard_templates.admin import AUDIT_ACTIONS, AUDIT_FIELDS, AUDIT_OBJECTS, NAV, REVIEWER
    from signboard_templates.admin import bp as admin_pages
    from signboard_templates.api import blp, certificates_bp

    register_api_blueprint(api, blp)
    app.register_blueprint(certificates_bp)
    app.register_blueprint(admin_pages)
    register_nav(app, NAV, weight=50)
    register_roles(app, {"signboard_reviewer": "招牌审核员"})
    register_audit_names(app, actions=AUDIT_ACTIONS, objects=AUDIT_OBJECTS, fields=AUDIT_FIELDS,
                         values={("signboard_application", "status"): services.STATUSES})
    # The data dashboard, open to every role, lists reports (the most followed): a reviewer reads them too.
    register_readers(app, "report", ("signboard_reviewer",))
    register_todo(app, "signboards_to_review", "待审核招牌申请", (REVIEWER,),
                  lambda _staff: services.applications_by_status().get("submitted", 0), "signboard_admin.queue",
                  status="submitted")
    register_data_holder(app, "signboard_templates", export=services.export_resident_data,
                         forget=services.forget_resident)
