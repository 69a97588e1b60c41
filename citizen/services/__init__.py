"""Residents and their reports: sign-in, categories, submission, lifecycle, moderation, checks, data rights.

No Flask here: settings come in as arguments. What callers use is re-exported from the modules below (one per
concern); other packages that only read may import ``citizen.facts`` instead.
"""

from citizen.facts import (ACCEPTED, API_CLIENT_OPENID_PREFIX, CLOSED, DUPLICATE, FORWARDED, IN_PROGRESS,
                           PENDING_REVIEW, PUBLICLY_OPEN, REJECTED, REOPENED_TO, RESOLVED, STATUS_NAMES, TRANSITIONS,
                           WITHDRAWN,
                           ReportFacts, ReportSnapshot, changed_report_snapshots, district_names, district_of,
                           district_seats, existing_report_ids, get_report, get_reports, report_created_at,
                           report_facts, is_reopening, reopened_count, report_id_digests, report_snapshot,
                           report_snapshots, report_snapshots_of)
from citizen.services.assignment import (assign_report, assignments_of, claim_report, moderators,
                                         release_report)
from citizen.services.categories import (KIND_NAMES, CategoryBranch, category_key_names, category_tree, class_key,
                                         list_categories, update_category)
from citizen.services.checks import (CHECKS_OVERDUE_AFTER, CHECKS_PENDING, CHECKS_STUCK_AFTER, INFO_REQUESTED,
                                     INFO_SUPPLIED, DuplicateCandidate, Evidence, StuckChecks, duplicate_candidates,
                                     measure_evidence, requeue_pending_checks, run_checks, stuck_checks)
from citizen.services.conversation import (REOPEN_PURPOSE, REPLY_PURPOSE, reopen_report,
                                           resident_messages,
                                           reply_to_information_request)
from citizen.services.data_rights import (RetentionOutcome, enforce_retention, export_resident, export_resident_data,
                                          forget_resident, forget_resident_everywhere)
from citizen.services.followers import (ME_TOO, MERGED, REPORTER, Followed, FollowerSummary, add_me_too,
                                        followed_report, followed_reports, follower_summary, follower_timeline,
                                        followers_of, me_too_counts, most_followed_open, originals_followed, rate,
                                        relations, withdraw_me_too)
from citizen.services.lifecycle import (RESIDENT_NOTES, add_case_photos, rate_report, record_case_progress,
                                        transition, withdraw_report)
from citizen.services.moderation import (REVEALABLE_REPORT_FIELDS, BulkOutcome, QueueFilter, accept_report,
                                         mark_duplicate, moderate_selection, moderation_queue, pending_review_count,
                                         queue_export_batches, reject_report, rejection_reason, rejection_templates,
                                         request_more_information, reveal_report_field, save_rejection_template,
                                         status_counts)
from citizen.services.photos import (blur_boxes_from_display, public_photo_ids, render_public_photo,
                                     set_photo_publication)
from citizen.services.public_map import (PUBLIC_STATUSES, Cluster, MapWindow, cached_map_answer, clusters,
                                         grid_level, rebuild_map_cells, reports_in_window, shows_reports)
from citizen.services.reading import (find_reports, get_resident_report, latest_public_reply, lock_report,
                                      nearby_open_reports, resident_history, resident_reports, timeline)
from citizen.services.residents import (block_resident, blocked_residents, check_resident_may_act, get_resident,
                                        is_forgotten, openids_of, sign_in_resident, unblock_resident)
from citizen.services.submission import ReportDraft, Submission, submit_report

__all__ = [
    "ACCEPTED", "API_CLIENT_OPENID_PREFIX", "CHECKS_OVERDUE_AFTER", "CHECKS_PENDING", "CHECKS_STUCK_AFTER", "CLOSED",
    "DUPLICATE", "FORWARDED", "INFO_REQUESTED", "INFO_SUPPLIED", "IN_PROGRESS", "PENDING_REVIEW", "PUBLICLY_OPEN",
    "REJECTED", "REOPENED_TO", "REOPEN_PURPOSE", "REPLY_PURPOSE", "RESIDENT_NOTES", "RESOLVED",
    "REVEALABLE_REPORT_FIELDS", "STATUS_NAMES", "TRANSITIONS", "WITHDRAWN",
    "DuplicateCandidate", "Evidence", "QueueFilter", "ReportDraft", "ReportFacts", "ReportSnapshot", "RetentionOutcome",
    "StuckChecks", "Submission",
    "accept_report", "add_case_photos", "blur_boxes_from_display", "changed_report_snapshots", "check_resident_may_act",
    "district_names", "district_of", "district_seats", "duplicate_candidates", "enforce_retention",
    "existing_report_ids", "export_resident", "export_resident_data", "find_reports", "forget_resident",
    "forget_resident_everywhere", "get_report", "get_reports", "get_resident", "get_resident_report", "is_forgotten",
    "is_reopening",
    "latest_public_reply", "list_categories", "lock_report", "mark_duplicate", "measure_evidence", "moderation_queue",
    "nearby_open_reports", "pending_review_count", "public_photo_ids", "rate_report", "record_case_progress",
    "reject_report",
    "rejection_templates", "render_public_photo", "reopen_report", "reopened_count", "reply_to_information_request",
    "report_created_at", "report_facts", "report_id_digests", "report_snapshot", "report_snapshots",
    "report_snapshots_of",
    "request_more_information", "requeue_pending_checks", "resident_history", "resident_messages", "resident_reports",
    "reveal_report_field", "run_checks", "save_rejection_template", "set_photo_publication", "sign_in_resident",
    "status_counts", "stuck_checks", "submit_report", "timeline", "transition", "update_category", "withdraw_report",
]
# The public reports map.
__all__ += ["PUBLIC_STATUSES", "Cluster", "MapWindow", "cached_map_answer", "clusters", "grid_level",
            "rebuild_map_cells", "reports_in_window", "shows_reports"]
# Followers of a report: merged duplicates and 附议 (issue #21).
__all__ += [
    "ME_TOO", "MERGED", "REPORTER", "Followed", "FollowerSummary", "add_me_too", "followed_report", "followed_reports",
    "follower_summary", "follower_timeline", "followers_of", "me_too_counts", "most_followed_open",
    "originals_followed", "rate", "relations", "withdraw_me_too",
]
# Moderation tools (issue #22): holding reports, bulk actions, the export, blocking, the category tree.
__all__ += [
    "KIND_NAMES", "BulkOutcome", "CategoryBranch", "assign_report", "assignments_of", "block_resident",
    "blocked_residents", "category_key_names", "category_tree", "claim_report", "class_key", "moderate_selection",
    "moderators", "openids_of", "queue_export_batches", "rejection_reason", "release_report", "unblock_resident",
]
