"""Reading and rendering media bytes: sniffing, probing, photo derivatives, metadata-free audio/video copies.

Pure functions over bytes and files: no database, no storage, no Flask. The formats are
told by the bytes themselves, never by a file name or a client's Content-Type.
"""

from media.processing.formats import (FORMATS, KINDS, SNIFF_BYTES, Format, MediaRejected, check_structure,
                                      jpeg_segments, sniff, unsupported)
from media.processing.photos import (LARGE_EDGE, THUMB_EDGE, difference_hash, encode_jpeg, hash_distance, open_photo,
                                     photo_meta, render_photo, shrunk, strip_jpeg_metadata)
from media.processing.streams import (parse_iso6709, playback_format, poster_frame, probe_stream,
                                      remux_without_metadata)

__all__ = [
    "FORMATS", "KINDS", "LARGE_EDGE", "SNIFF_BYTES", "THUMB_EDGE", "Format", "MediaRejected", "check_structure",
    "difference_hash", "encode_jpeg", "hash_distance", "jpeg_segments", "open_photo", "parse_iso6709",
    "photo_meta", "playback_format", "poster_frame", "probe_stream", "remux_without_metadata", "render_photo",
    "shrunk", "sniff", "strip_jpeg_metadata", "unsupported",
]
