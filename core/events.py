"""Domain events between packages, without packages importing each other.

Two kinds, both wired by each package's ``init_app`` with dotted names:

- After the commit: a service publishes ``publish("report.status_changed", report.id)`` inside its
  transaction; once it commits, every listener subscribed to that event runs as its own job (inline
  or on rq) with the id. Listeners are job functions from a package's ``jobs.py`` that read the
  current state themselves, so a retried or late delivery is harmless.
- In the same transaction: ``emit("report.accepted", report_id=…)`` calls every handler now, in the
  caller's transaction, so what they write commits with the caller's change or not at all (the
  cases package's outbox row with the acceptance of a report).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from core.jobs import JobReference, enqueue_after_commit, resolve_job

REPORT_STATUS_CHANGED = "report.status_changed"
REPORT_RATED = "report.rated"
REPORT_DELETED = "report.deleted"
# The automatic checks changed a report's flags (one was still pending, or they found something).
REPORT_FLAGS_CHANGED = "report.flags_changed"
# Same-transaction: staff accepted a report (payload ``report_id``); its forwarding to the case system starts.
REPORT_ACCEPTED = "report.accepted"
# Same-transaction: a resident reopened a closed report (payload ``report_id``, ``reason``, ``sequence``: the how
# many-th reopening); the case system is asked to handle it again.
REPORT_REOPENED = "report.reopened"


def subscribe(app: Flask, event: str, listener: JobReference) -> None:
    """Run the job ``listener`` (best by dotted name) with the object's id after each commit that published
    ``event``."""
    _add_once(app, "event_listeners", event, listener)


def handle(app: Flask, event: str, handler: str) -> None:
    """Call the function named ``handler`` (dotted) with the payload of every ``emit(event, …)``, in the emitter's
    transaction."""
    _add_once(app, "event_handlers", event, handler)


def _add_once(app: Flask, registry: str, event: str, target: JobReference) -> None:
    # Registered twice, a handler would run twice per event: a merge of two init_app edits did exactly that.
    resolve_job(target)
    registered = app.extensions.setdefault(registry, {}).setdefault(event, [])
    if target in registered:
        raise ValueError(f"{target!r} is already registered for {event!r}")
    registered.append(target)


def emit(event: str, **payload: Any) -> None:
    for handler in current_app.extensions.get("event_handlers", {}).get(event, []):
        resolve_job(handler)(**payload)


def publish(event: str, object_id: int) -> None:
    for listener in current_app.extensions.get("event_listeners", {}).get(event, []):
        enqueue_after_commit(listener, object_id)
