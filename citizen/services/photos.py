"""The public version of a report's photos: a moderator marks a photo public with boxes to blur, a job renders
the blurred copy, and only that copy is ever shown to the public."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from citizen.models import Report, ReportMedia
from core.db import db
from core.errors import Conflict, NotFound, ValidationFailed
from core.jobs import enqueue_after_commit
from core.services import Actor, record_audit
from media import services as media_services

MAX_BLUR_BOXES = 20


def blur_boxes_from_display(boxes: Any, display_width: float, display_height: float) -> list[list[float]]:
    """Boxes drawn on a photo shown ``display_width`` × ``display_height`` pixels ([[x, y, w, h], …] from its top
    left) as fractions of the photo, clipped to it; anything else is a ValidationFailed naming the problem."""
    problem = None
    if not all(isinstance(size, int | float) and math.isfinite(size) and size > 0
               for size in (display_width, display_height)):
        problem = "the displayed size must be positive"
    elif not isinstance(boxes, list) or len(boxes) > MAX_BLUR_BOXES:
        problem = f"a list of at most {MAX_BLUR_BOXES} boxes"
    elif not all(isinstance(box, list) and len(box) == 4 and all(isinstance(value, int | float)
                                                                    and math.isfinite(value) for value in box)
                 for box in boxes):
        problem = "each box is [x, y, width, height] in pixels"
    if problem:
        raise ValidationFailed("遮挡框无效，请重新绘制。", code="invalid_blur_boxes", details={"boxes": problem})
    fractions = []
    for x, y, w, h in boxes:
        left, top = max(0.0, min(x, x + w) / display_width), max(0.0, min(y, y + h) / display_height)
        right, bottom = min(1.0, max(x, x + w) / display_width), min(1.0, max(y, y + h) / display_height)
        if right > left and bottom > top:
            fractions.append([round(left, 5), round(top, 5), round(right - left, 5), round(bottom - top, 5)])
    return fractions


def set_photo_publication(actor: Actor, report_id: int, media_id: int, *, is_public: bool,
                          blur_boxes: list[list[float]]) -> ReportMedia:
    """A moderator's choice for one of a report's photos: public (as a copy blurred in ``blur_boxes``) or not.

    The copy made for an earlier choice goes at once; a job renders the new one, and until then the photo is not
    public anywhere. Audited."""
    locked = _lock_report_photo(report_id, media_id)
    if locked is None or locked.kind != "photo":
        raise NotFound("该反映没有这张照片。")
    if is_public and media_services.media_info(media_id).status != "ready":
        raise Conflict("照片尚未处理完成，请稍后再公开。", code="media_not_ready")
    before = {"is_public": locked.is_public, "blur_boxes": locked.blur_boxes}
    if locked.public_media_id is not None:
        media_services.delete_media([locked.public_media_id])
    locked.is_public, locked.blur_boxes, locked.public_media_id = is_public, blur_boxes, None
    record_audit(actor, "report.photo_publication", "report", report_id,
                 before=before, after={"media_id": media_id, "is_public": is_public, "blur_boxes": blur_boxes})
    if is_public:
        enqueue_after_commit("citizen.jobs.render_public_photo", report_id, media_id)
    db.session.flush()
    return locked


def _lock_report_photo(report_id: int, media_id: int) -> ReportMedia | None:
    """The photo's row, locked until the transaction ends: a marking and the rendering of a copy one at a time."""
    return db.session.scalars(sa.select(ReportMedia).where(ReportMedia.report_id == report_id,
                                                           ReportMedia.media_id == media_id)
                              .with_for_update().execution_options(populate_existing=True)).one_or_none()


def render_public_photo(report_id: int, media_id: int) -> int | None:
    """Make the blurred copy of a photo marked public, unless it is no longer public or already has one; the copy's
    media id. The photo stays locked meanwhile (a second run waits, then finds the copy made)."""
    locked = _lock_report_photo(report_id, media_id)
    if locked is None or not locked.is_public or locked.public_media_id is not None:
        return None
    locked.public_media_id = media_services.create_public_copy(media_id, locked.blur_boxes,
                                                               attached_to=f"report:{report_id}")
    db.session.flush()
    return locked.public_media_id


def public_photo_ids(reports: Iterable[Report]) -> dict[int, list[int]]:
    """By report id, the media ids of the public copies of its photos marked public, in order."""
    return {report.id: [item.public_media_id for item in report.media
                        if item.is_public and item.public_media_id is not None] for report in reports}
