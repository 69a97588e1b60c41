from __future__ import annotations


VALID_CREDIT_CODE = "91370200163562681G"


def application_body(photo_id: int, **changes: object) -> dict:
    body = {
        "shop_name": "老王海鲜", "licence_name": "青岛市市南区老王海鲜餐饮店", "credit_code": VALID_CREDIT_CODE,
        "category": "catering", "address": "青岛市市南区中山路 100 号", "latitude": 36.0671, "longitude": 120.3826,
        "coord_type": "wgs84",
        "facade_width_m": 6.0, "facade_height_m": 4.0, "facade_photo_media_id": photo_id, "floor": 1,
        "building_storeys": 3, "pedestrian_street": False, "template_id": "catering-01", "sign_width_m": 5.5,
        "sign_height_m": 0.9, "sign_thickness_m": 0.2, "protrusion_m": 0.2, "mount_height_m": 2.8,
        "mount_position": "lintel",
    }
    body.update(changes)
    return body
