"""Forwarding reports to the city's case system and hearing back: the outbox, updates, the built-in desk."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from cases import services
    from cases.admin import AUDIT_ACTIONS, AUDIT_FIELDS, AUDIT_OBJECTS, CASE_SYSTEM_NAMES, DELIVERY_ROLES, NAV
    from cases.admin import bp as admin_pages
    from cases.api import blp
    from cases.cli import cases_cli
    from cases.facts import delivery_gauges
    from cases.open311 import bp as open311_server
    from cases.open311 import error_answer as open311_error
    from core.admin import register_nav, register_readers, register_todo
    from core.api import register_api_blueprint
    from core.auth import register_roles
    from core.errors import register_error_format
    from core.events import REPORT_ACCEPTED, REPORT_REOPENED, REPORT_STATUS_CHANGED, handle, subscribe
    from core.metrics import register_collector
    from core.privacy import register_data_holder
    from core.staff_words import register_actor_names, register_audit_names
    from core.schedule import register_periodic

    register_api_blueprint(api, blp)
    app.register_blueprint(open311_server)
    register_error_format(app, open311_server.url_prefix, open311_error)
    app.register_blueprint(admin_pages)
    register_nav(app, NAV, weight=40)
    register_roles(app, {"dispatcher": "案件调度员", "handler": "处置人员", "verifier": "核查员"})
    register_audit_names(app, actions=AUDIT_ACTIONS, objects=AUDIT_OBJECTS, fields=AUDIT_FIELDS,
                         values={("desk_case", "step"): services.DESK_STEP_NAMES,
                                 ("case_delivery", "status"): services.OUTBOX_STATUS_NAMES})
    # The case system is recorded as who moved a report (已转办 by desk): staff read its name.
    register_actor_names(app, CASE_SYSTEM_NAMES)
    # The desk's staff read the report behind a case or a delivery.
    register_readers(app, "report", services.DESK_ROLES)
    # The counts of the whole desk, as a dispatcher or verifier sees it.
    whole_desk = services.DeskViewer(None, ("dispatcher", "verifier"))
    register_todo(app, "to_register", "待立案案件", ("dispatcher",),
                  lambda _staff: services.desk_counts(whole_desk)["received"], "cases_admin.desk", step="received")
    register_todo(app, "to_dispatch", "待派遣案件", ("dispatcher",),
                  lambda _staff: services.desk_counts(whole_desk)["registered"], "cases_admin.desk", step="registered")
    # A handler's are its own departments' cases waiting at 处置.
    register_todo(app, "to_handle", "待处置案件", ("handler",),
                  lambda staff: services.desk_counts(services.DeskViewer(staff.id, tuple(staff.roles)))["dispatched"],
                  "cases_admin.desk", step="dispatched")
    register_todo(app, "to_verify", "待核查案件", ("verifier",),
                  lambda _staff: services.desk_counts(whole_desk)["handled"], "cases_admin.desk", step="handled")
    register_todo(app, "overdue", "超时案件", ("dispatcher", "verifier"), lambda _staff: services.overdue_count(),
                  "cases_admin.desk", step="", sort="due")
    # A handler's 督办 notices are its own departments' cases'.
    register_todo(app, "supervisions_unread", "未阅督办通知", ("handler",),
                  lambda staff: services.unread_notice_count(
                      within=services.DeskViewer(staff.id, tuple(staff.roles)).departments()),
                  "cases_admin.supervisions", unread="1")
    register_todo(app, "failed_deliveries", "转办失败", DELIVERY_ROLES,
                  lambda _staff: services.delivery_counts()[services.FAILED], "cases_admin.deliveries",
                  status=services.FAILED)
    app.cli.add_command(cases_cli)
    register_periodic(app, "cases sweep", every_seconds=60)
    register_periodic(app, "cases supervise", every_seconds=60)
    register_collector(app, delivery_gauges)
    subscribe(app, REPORT_STATUS_CHANGED, "cases.jobs.queue_notifications")
    # An accepted report's forwarding record is written in the acceptance's transaction.
    handle(app, REPORT_ACCEPTED, "cases.services.open_delivery")
    # A reopened report goes back to the case system in the reopening's transaction (the desk, or an outbox row).
    handle(app, REPORT_REOPENED, "cases.services.reopen_case")
    register_data_holder(app, "cases", export=services.export_resident_data, forget=services.forget_resident)
