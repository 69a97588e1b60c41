"""The upload's multipart body: the file part streams under the media limits alone, everything else stays small."""

from __future__ import annotations

import io

import pytest

from tests.common.media_files import phone_photo_bytes

BOUNDARY = "----WxUploadBoundaryQ1w2E3r4T5y6"
PHOTO = phone_photo_bytes(5, megapixels=1)


def part(name: str, value: bytes, *, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def send(client, headers: dict[str, str], body: bytes):
    return client.post("/api/v1/media", headers=headers, input_stream=io.BytesIO(body),
                       content_type=f"multipart/form-data; boundary={BOUNDARY}")


def closing() -> bytes:
    return f"--{BOUNDARY}--\r\n".encode()


def test_small_form_fields_beside_the_file_are_taken(client, resident):
    # wx.uploadFile sends its formData as fields before the file.
    body = part("scene", b"photo_my_city") + part("note", "积水".encode()) + part("file", PHOTO, filename="a.jpg")
    response = send(client, resident, body + closing())
    assert response.status_code == 201, response.json
    assert response.json["size"] == len(PHOTO)


def test_a_large_form_field_is_refused(client, resident, stored_keys):
    before = stored_keys()
    body = part("note", b"x" * (64 * 1024 + 1)) + part("file", PHOTO, filename="a.jpg") + closing()
    response = send(client, resident, body)
    assert response.status_code == 413
    assert response.json["error"]["details"] == {"field": "note", "max_bytes": 64 * 1024}
    assert stored_keys() == before


def test_only_the_first_file_part_is_stored(client, resident):
    other = phone_photo_bytes(6, megapixels=1)
    body = part("file", PHOTO, filename="a.jpg") + part("thumb", other, filename="b.jpg") + part("file", other,
                                                                                                  filename="c.jpg")
    response = send(client, resident, body + closing())
    assert response.status_code == 201, response.json
    assert response.json["size"] == len(PHOTO)


@pytest.mark.parametrize("body", [
    part("file", PHOTO, filename="a.jpg"),  # never closed: the phone lost its connection
    PHOTO,  # no multipart at all
    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n".encode() + PHOTO + b"\r\n" + closing(),  # no disposition
    # headers without end, held by nobody
    f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Padding: ".encode() + b"a" * 200_000,
])
def test_a_broken_body_is_a_clear_400_and_leaves_nothing(client, resident, stored_keys, body):
    before = stored_keys()
    response = send(client, resident, body)
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed_multipart"
    assert stored_keys() == before


def test_a_body_without_the_file_part_names_it(client, resident):
    # A file under another name is skipped, whatever its size.
    response = send(client, resident, part("photo", PHOTO, filename="a.jpg") + closing())
    assert response.status_code == 422 and response.json["error"]["code"] == "file_missing"


def test_too_many_parts_are_refused(client, resident):
    body = b"".join(part(f"f{index}", b"x") for index in range(17)) + part("file", PHOTO, filename="a.jpg")
    response = send(client, resident, body + closing())
    assert response.status_code == 413
