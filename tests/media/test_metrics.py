"""Media that cannot be rendered are counted on /metrics by reason."""

from __future__ import annotations

from media import processing
from media.processing import MediaRejected
from tests.common import metrics
from tests.media import samples


def test_a_media_that_cannot_be_rendered_is_counted(client, resident, upload, run_jobs, monkeypatch):
    def failures() -> float:
        text = client.get("/metrics").get_data(as_text=True)
        return metrics.value(text, "media_processing_failures_total", reason="corrupt_media")

    before = failures()

    def unrenderable(*args, **kwargs):
        raise MediaRejected(422, "corrupt_media", "图片已损坏。")

    monkeypatch.setattr(processing, "render_photo", unrenderable)
    response = upload(samples.jpeg(800, 600))
    assert response.status_code == 201
    run_jobs()
    assert client.get(f"/api/v1/media/{response.json['id']}", headers=resident).json["status"] == "failed"
    assert failures() - before == 1
