"""Residents' data rights: what the signboard package holds about a merchant, exported or forgotten."""

from __future__ import annotations

from typing import Any

from core.db import db
from core.privacy import row_dict
from signboard_templates.services.applications import my_applications

def export_resident_data(resident_id: int) -> list[dict[str, Any]]:
    """The merchant's applications with their history."""
    return [{**row_dict(application, exclude=("resident_id", "reviewer_id")),
             "events": [row_dict(event, exclude=("application_id",)) for event in application.events]}
            for application in my_applications(resident_id)]


def forget_resident(resident_id: int) -> None:
    """Approved applications stay (a certificate anyone may verify is a public record) without the facade
    photo, which the media package deletes; every other application goes. The caller commits."""
    for application in my_applications(resident_id):
        if application.status != "approved":
            db.session.delete(application)
