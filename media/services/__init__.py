"""Media: accepting uploads, rendering them, signed links, attachment and expiry. No Flask here.

Other packages use ``get_owned_media``, ``attach_media``, ``media_urls`` and ``media_info``.
"""

from media.services.cleanup import (DIRECT_UPLOAD_COMPLETION_GRACE, delete_media, delete_unattached_media,
                                    export_resident_data, forget_resident, remove_upload_leftovers)
from media.services.limits import (UPLOAD_TEMP_MAX_AGE, UPLOAD_TEMP_PREFIX, IncomingFile, max_bytes, max_upload_bytes,
                                   too_large, upload_temp_dir)
from media.services.reading import (MediaInfo, attach_media, describe, get_owned_media, media_in_use, media_info,
                                    media_urls, media_urls_by_id, owned_media)
from media.services.rendering import (PROCESSING_REQUEUE_AFTER, create_public_copy, render_media,
                                      requeue_unprocessed)
from media.services.uploads import (accept_local_file, accept_upload, complete_direct_upload, find_by_hash,
                                    start_direct_upload)
from media.services.verification import Problem, Verification, verify_media

__all__ = [
    "DIRECT_UPLOAD_COMPLETION_GRACE", "PROCESSING_REQUEUE_AFTER", "UPLOAD_TEMP_MAX_AGE", "UPLOAD_TEMP_PREFIX",
    "IncomingFile", "MediaInfo", "Problem", "Verification", "accept_local_file", "accept_upload", "attach_media",
    "complete_direct_upload", "create_public_copy", "delete_media", "delete_unattached_media", "describe",
    "export_resident_data", "find_by_hash", "forget_resident", "get_owned_media", "max_bytes", "max_upload_bytes",
    "media_in_use", "media_info", "media_urls", "media_urls_by_id", "owned_media", "remove_upload_leftovers",
    "render_media", "requeue_unprocessed", "start_direct_upload", "too_large", "upload_temp_dir", "verify_media",
]
