"""Acting as a resident through the API: sign in, upload photos, submit reports."""

from __future__ import annotations

import io
import itertools
import uuid

from tests.common.media_files import photo_bytes

# A street corner in 市南区 (WGS-84), and far outside Qingdao (Beijing).
QINGDAO = (36.0671, 120.3826)
BEIJING = (39.9042, 116.4074)
_seeds = itertools.count(1000)
# An accepted report, or one already forwarded where the delivery job ran inline on the built-in case desk.
ACCEPTED = ("accepted", "forwarded")


def sign_in(client, openid: str) -> dict[str, str]:
    token = client.post("/api/v1/auth/dev", json={"openid": openid}).json["token"]
    return {"Authorization": f"Bearer {token}"}


def upload_photo(client, auth: dict[str, str], *, data: bytes | None = None, **photo_options) -> int:
    body = data if data is not None else photo_bytes(next(_seeds), **photo_options)
    response = client.post("/api/v1/media", headers=auth, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(body), "photo.jpg")})
    assert response.status_code == 201, response.json
    return response.json["id"]


def report_body(media_ids: list[int], *, location: tuple[float, float] = QINGDAO, coord_type: str = "wgs84",
                category: str = "S0102", description: str = "路边有一堆暴露垃圾，无人清理。") -> dict:
    return {"category_code": category, "description": description, "address": "青岛市市南区香港中路 1 号",
            "location": {"lat": location[0], "lng": location[1], "coord_type": coord_type}, "media_ids": media_ids}


def submit(client, auth: dict[str, str], body: dict, *, key: str | None = None):
    return client.post("/api/v1/reports", json=body, headers={**auth, "Idempotency-Key": key or uuid.uuid4().hex})


def new_report(client, auth: dict[str, str], **body_options) -> dict:
    """A submitted report (one fresh photo unless media_ids are given)."""
    media_ids = body_options.pop("media_ids", None) or [upload_photo(client, auth)]
    response = submit(client, auth, report_body(media_ids, **body_options))
    assert response.status_code == 201, response.json
    return response.json


def make_photos_public(app, report_id: int, blur_boxes: list[list[float]] | None = None) -> None:
    """A moderator makes each of the report's photos public, blurred in ``blur_boxes`` (fractions of the photo)."""
    from citizen import services
    from core.db import db
    from core.services import Actor

    with app.app_context():
        for item in services.get_report(report_id).media:
            if item.kind == "photo":
                services.set_photo_publication(Actor(None, "publishing-moderator"), report_id, item.media_id,
                                               is_public=True, blur_boxes=blur_boxes or [])
        # As the admin request would: its commit queues the rendering jobs.
        db.session.commit()


def half_detailed_photo() -> bytes:
    """A 640 × 480 JPEG: fine black-and-white squares on its left half (what a blur visibly changes), flat grey on
    its right half (what a blur elsewhere must leave as it is), a different grey each time (new bytes)."""
    from PIL import Image, ImageDraw

    grey = 60 + next(_seeds) % 120
    image = Image.new("RGB", (640, 480), (grey, grey, grey))
    draw = ImageDraw.Draw(image)
    for x in range(0, 320, 8):
        for y in range(0, 480, 8):
            if (x + y) // 8 % 2:
                draw.rectangle((x, y, x + 7, y + 7), fill=(255, 255, 255))
            else:
                draw.rectangle((x, y, x + 7, y + 7), fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()
