"""Media jobs (ids in, inline or on rq): rendering derivatives, and the clean-up of unattached media."""

from __future__ import annotations

from core.db import db
from media import services


def process_media(media_id: int) -> None:
    services.render_media(media_id)
    db.session.commit()


def requeue_unprocessed() -> int:
    """Scheduled (cron: `flask media sweep`, every few minutes): processing jobs lost with Redis or a worker."""
    return services.requeue_unprocessed()


def delete_unattached_media() -> int:
    """Scheduled (cron or an rq scheduler): media not attached within the configured hours goes."""
    return services.delete_unattached_media()
