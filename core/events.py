"""Domain events between packages, without packages importing each other.

A service publishes ``publish("report.status_changed", report.id)`` inside its transaction;
once it commits, every listener subscribed to that event runs as its own job (inline or on
rq) with the id. Listeners are job functions from a package's ``jobs.py`` that read the
current state themselves, so a retried or late delivery is harmless. The app factory wires
the subscriptions explicitly.
"""

from __future__ import annotations

from flask import Flask, current_app

from core.jobs import JobFunction, enqueue_after_commit

REPORT_STATUS_CHANGED = "report.status_changed"
REPORT_RATED = "report.rated"
REPORT_DELETED = "report.deleted"
# The automatic checks changed a report's flags (one was still pending, or they found something).
REPORT_FLAGS_CHANGED = "report.flags_changed"


def subscribe(app: Flask, event: str, listener: JobFunction) -> None:
    app.extensions.setdefault("event_listeners", {}).setdefault(event, []).append(listener)


def publish(event: str, object_id: int) -> None:
    for listener in current_app.extensions.get("event_listeners", {}).get(event, []):
        enqueue_after_commit(listener, object_id)
