"""Media jobs (ids in, inline or on rq): rendering derivatives, and the clean-up of unattached media.

Each commits when it returns (core.jobs); run from the CLI, the command commits."""

from __future__ import annotations

from core.config import current_config, current_settings
from media import services
from media.settings import MediaSettings


def process_media(media_id: int) -> None:
    services.render_media(media_id, current_settings(MediaSettings))


def requeue_unprocessed() -> int:
    """Scheduled (cron: `flask media sweep`, every few minutes): processing jobs lost with Redis or a worker."""
    return services.requeue_unprocessed()


def remove_upload_leftovers() -> int:
    """Scheduled with the sweep: expired direct uploads, staging objects a used link stored again, the folders and
    partial files of workers killed while receiving or storing."""
    return services.remove_upload_leftovers(current_settings(MediaSettings),
                                            services.upload_temp_dir(current_config().media_root))


def delete_unattached_media() -> int:
    """Scheduled (cron or an rq scheduler): media not attached within the configured hours goes."""
    return services.delete_unattached_media(current_settings(MediaSettings))
