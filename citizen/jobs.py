"""Background work on reports. Each job takes ids and runs inline or on an rq worker; services queue them by
name ("citizen.jobs.check_report"), and the queue commits each one when it returns."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from flask import current_app

from citizen import services
from citizen.settings import CitizenSettings
from core.config import current_settings

log = logging.getLogger(__name__)


def check_report(report_id: int) -> None:
    """The automatic checks flagged for moderators, run once the report is committed."""
    wechat = current_app.extensions["wechat"]
    services.run_checks(report_id, current_settings(CitizenSettings),
                        screen_text=wechat.text_is_risky if wechat is not None else None)


def requeue_pending_checks() -> int:
    """Scheduled (cron: `flask reports sweep`, every few minutes): checks lost with Redis or a worker, or run
    before a photo was processed or while WeChat's text check was unavailable."""
    return services.requeue_pending_checks()


def enforce_retention() -> Any:
    """Scheduled daily (cron running `flask privacy enforce-retention`, or an rq scheduler running this)."""
    outcome = services.enforce_retention(current_settings(CitizenSettings))
    log.info("retention enforced", extra=dataclasses.asdict(outcome))
    return outcome


def render_public_photo(report_id: int, media_id: int) -> None:
    """The blurred public copy of a photo a moderator marked public."""
    services.render_public_photo(report_id, media_id)
