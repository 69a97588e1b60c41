"""Forwarding accepted reports to the case system and bringing its changes back. No Flask here.

Other packages call ``open_delivery(report_id)`` inside the transaction that accepts a report (the outbox).
Everything else runs in jobs (``cases.jobs``), the case-updates API, the desk pages, our Open311 server and
the ``flask cases`` commands, which pass in the settings each needs.

The modules follow the way of a case: the outbox's machinery (``outbox``), deliveries (``delivery``), status
coming back (``updates``), the built-in desk (``desk``), its departments (``departments``) and the proof its 处置
needs (``proof``), resident notifications (``notifications``), our Open311 server (``open311_server``), residents'
data rights (``data_rights``), and the desk's time limits, deadlines and 督办 (``limits``).
"""

from cases.services.data_rights import export_resident_data, forget_resident
from cases.services.delivery import (Backlog, deliver, deliver_reopening, deliveries, delivery_counts,
                                     forwarding_backlog, open_delivery, reopen_case, retry_deliveries)
from cases.services.departments import (DEPARTMENT_KINDS, HANDLER_ROLE, DepartmentImportRefused, ImportOutcome,
                                        Proposal, add_rule, create_department, departments_of, get_department,
                                        handlers, import_departments, list_departments, member_ids,
                                        propose_department, remove_rule, rule_label, set_members,
                                        update_department)
from cases.services.desk import (DESK_ACTIONS, DESK_ROLES, DESK_STEP_NAMES, STEP_ACTION_NAMES, DeskAction,
                                 DeskViewer, act_on_desk_case, available_actions, departments_returned_from,
                                 desk_case_for, desk_counts, desk_queue, get_desk_case, open_desk_case,
                                 pending_return, rework_desk_case, reworked_cases, viewer_of)
from cases.services.limits import (CENTRE_NAME, LIMITED_STEPS, RETURN_ACTIONS, WEEKDAY_NAMES, DepartmentScore, Limit,
                                   Measure, TimeLeft, WorkingCalendar, WorkingWeek, calendar_days, department_scores,
                                   limit_table, mark_notice_read, notice_departments, overdue_count,
                                   remove_calendar_day, reset_working_week, set_calendar_day, set_limits,
                                   set_working_week, supervise_overdue, supervision_notices, supervisions_of,
                                   time_left, unread_notice_count, working_calendar, working_week)
from cases.services.notifications import (notifications_for, queue_notifications, record_subscriptions,
                                          send_notification)
from cases.services.open311_server import (CHANGESET, file_request, find_requests, public_request, service_definition,
                                           service_list, token_answer)
from cases.services.outbox import DONE, FAILED, OUTBOX_STATUS_NAMES, WORKING, backoff_seconds, sweep
from cases.services.proof import AfterPhoto, AfterPhotos, Proof, ShownPhoto, before_and_after
from cases.services.updates import (EXTERNAL_STATUSES, apply_update, digest, fetch_update_photos, poll_case_system,
                                    report_id_for_external)

__all__ = [
    "CHANGESET", "DESK_ACTIONS", "DESK_STEP_NAMES", "DONE", "EXTERNAL_STATUSES", "FAILED", "OUTBOX_STATUS_NAMES",
    "WORKING",
    "AfterPhoto", "AfterPhotos", "Backlog", "Proof", "ShownPhoto",
    "act_on_desk_case", "apply_update", "backoff_seconds", "before_and_after", "deliver", "deliver_reopening",
    "deliveries",
    "delivery_counts", "desk_counts", "desk_queue", "digest", "export_resident_data", "fetch_update_photos",
    "file_request", "find_requests", "forget_resident", "forwarding_backlog", "get_desk_case", "notifications_for",
    "open_delivery", "open_desk_case", "poll_case_system", "public_request", "queue_notifications",
    "record_subscriptions", "reopen_case", "report_id_for_external", "retry_deliveries", "rework_desk_case",
    "send_notification", "service_definition", "service_list", "sweep", "token_answer",
    # the desk's time limits, deadlines, 督办 and department scores
    "CENTRE_NAME", "LIMITED_STEPS", "RETURN_ACTIONS", "DepartmentScore", "Limit", "Measure", "TimeLeft",
    "WorkingCalendar", "calendar_days", "department_scores", "limit_table", "mark_notice_read", "notice_departments",
    "overdue_count", "remove_calendar_day", "set_calendar_day", "set_limits", "supervise_overdue",
    "supervision_notices", "supervisions_of", "time_left", "working_calendar",
    "WEEKDAY_NAMES", "WorkingWeek", "reset_working_week", "set_working_week", "unread_notice_count", "working_week",
]
# The departments directory, its routing rules and handlers; the desk's separate duties and returns (issue #22).
__all__ += [
    "DESK_ROLES", "STEP_ACTION_NAMES", "DeskAction", "DeskViewer", "available_actions", "departments_returned_from",
    "desk_case_for",
    "pending_return", "reworked_cases", "viewer_of",
    "DEPARTMENT_KINDS", "HANDLER_ROLE", "DepartmentImportRefused", "ImportOutcome", "Proposal", "add_rule",
    "create_department", "departments_of", "get_department", "handlers", "import_departments", "list_departments",
    "member_ids", "propose_department", "remove_rule", "rule_label", "set_members", "update_department",
]
