"""Media served from local disk through the real HTTP server: streamed (a worker's memory does not grow with the
file), with byte ranges (the mini-program's <video> seeks with them), and only on a valid signed link."""

from __future__ import annotations

import hashlib
import os
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

# The served app uses S3 in the services pass, where presigned links go to the store, not to the app.
pytestmark = pytest.mark.embedded_only

VIDEO_BYTES = 100 * 1024 * 1024
DOWNLOADS = 20
# What a worker may gain while serving: buffers and the requests' own objects, never the file.
MEMORY_GROWTH_ALLOWED_KB = 50 * 1024
CHUNK = 1024 * 1024


@pytest.fixture(scope="module")
def stored_video(gunicorn_app, tmp_path_factory) -> tuple[str, str]:
    """(key, SHA-256) of a 100 MB video placed straight into the served app's storage."""
    source = tmp_path_factory.mktemp("serving") / "video.mp4"
    digest = hashlib.sha256()
    with source.open("wb") as out:
        for _ in range(VIDEO_BYTES // CHUNK):
            chunk = os.urandom(CHUNK)
            digest.update(chunk)
            out.write(chunk)
    key = "media/1/serving-0123456789abcdef/large.mp4"
    with source.open("rb") as body:
        gunicorn_app.app.extensions["storage"].put(key, body, "video/mp4")
    source.unlink()
    return key, digest.hexdigest()


def _link(gunicorn_app, key: str, expires_in: int = 300) -> str:
    return gunicorn_app.url + gunicorn_app.app.extensions["storage"].signed_url(key, expires_in)


def _gunicorn_workers(url: str) -> list[int]:
    """The worker processes of the gunicorn bound to ``url``: the children of its master."""
    bind = urlsplit(url).netloc.encode()

    def cmdline(pid: str) -> bytes:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return b""

    def parent(pid: str) -> str:
        return re.search(r"^PPid:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M).group(1)

    served = {pid for pid in os.listdir("/proc") if pid.isdigit() and b"gunicorn" in cmdline(pid)
              and bind in cmdline(pid)}
    workers = sorted(int(pid) for pid in served if parent(pid) in served)
    assert workers, f"no gunicorn workers found for {url}"
    return workers


def _status_kb(pid: int, field: str) -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M).group(1))


def _download(url: str) -> tuple[int, int, str]:
    """(status, bytes received, SHA-256) of a GET read a piece at a time."""
    digest = hashlib.sha256()
    received = 0
    with requests.get(url, stream=True, timeout=300) as response:
        for chunk in response.iter_content(CHUNK):
            digest.update(chunk)
            received += len(chunk)
    return response.status_code, received, digest.hexdigest()


def _have_every_worker_answer(url: str, workers: int) -> None:
    """Have each worker answer a download before memory is measured, and finish it: one the master started again
    (after another test killed one) may still be loading the app. A worker sending a file the client does not read
    yet takes no other request, so each of these downloads needs another worker; each worker closes the connection
    once done with the response, so reading to the end of each leaves every worker idle."""
    parts = urlsplit(url)
    request = f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
    connections = []
    try:
        for _ in range(workers):
            connections.append(socket.create_connection((parts.hostname, parts.port), timeout=300))
            connections[-1].sendall(request.encode())
            assert connections[-1].recv(len(b"HTTP/1.1 200")) == b"HTTP/1.1 200"
        for connection in connections:
            while connection.recv(CHUNK):
                pass
    finally:
        for connection in connections:
            connection.close()


def test_twenty_concurrent_downloads_of_a_100_mb_video_keep_the_workers_memory_flat(gunicorn_app, stored_video):
    """Each download was read whole into the worker first: 20 of a 100 MB video held 2 GB among the workers."""
    key, sha256 = stored_video
    url = _link(gunicorn_app, key)
    workers = _gunicorn_workers(gunicorn_app.url)
    _have_every_worker_answer(url, len(workers))
    resident_before = {pid: _status_kb(pid, "VmRSS") for pid in workers}
    for pid in workers:
        # Resets VmHWM (the peak resident size) to the current size, so that it shows the downloads' peak.
        Path(f"/proc/{pid}/clear_refs").write_text("5")

    with ThreadPoolExecutor(max_workers=DOWNLOADS) as pool:
        results = list(pool.map(_download, [url] * DOWNLOADS))

    assert results == [(200, VIDEO_BYTES, sha256)] * DOWNLOADS
    assert _gunicorn_workers(gunicorn_app.url) == workers  # none was killed and replaced meanwhile
    growth = {pid: _status_kb(pid, "VmHWM") - resident_before[pid] for pid in workers}
    print(f"peak RSS growth per worker during {DOWNLOADS} downloads of {VIDEO_BYTES >> 20} MB (kB): {growth}; "
          f"resident before (kB): {resident_before}")
    assert max(growth.values()) <= MEMORY_GROWTH_ALLOWED_KB, growth


def test_a_video_is_served_in_ranges(gunicorn_app, stored_video):
    key, _ = stored_video
    url = _link(gunicorn_app, key)
    whole = requests.head(url, timeout=60)
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    assert int(whole.headers["Content-Length"]) == VIDEO_BYTES

    middle = requests.get(url, headers={"Range": "bytes=50000000-50000099"}, timeout=60)
    assert middle.status_code == 206
    assert middle.headers["Content-Range"] == f"bytes 50000000-50000099/{VIDEO_BYTES}"
    assert len(middle.content) == 100 and middle.headers["Content-Type"] == "video/mp4"
    storage = gunicorn_app.app.extensions["storage"]
    with (storage.root / key).open("rb") as stored:
        stored.seek(50_000_000)
        assert middle.content == stored.read(100)
        stored.seek(VIDEO_BYTES - 10)
        tail = requests.get(url, headers={"Range": "bytes=-10"}, timeout=60)
        assert tail.status_code == 206 and tail.content == stored.read()

    beyond = requests.get(url, headers={"Range": f"bytes={VIDEO_BYTES}-"}, timeout=60)
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{VIDEO_BYTES}"
    assert beyond.json()["error"]["code"] == "range_not_satisfiable"


def test_a_range_needs_a_valid_link_too(gunicorn_app, stored_video):
    key, _ = stored_video
    expired = requests.get(_link(gunicorn_app, key, expires_in=-1), headers={"Range": "bytes=0-99"}, timeout=60)
    assert expired.status_code == 403 and expired.json()["error"]["code"] == "link_expired_or_invalid"
    forged = _link(gunicorn_app, key).replace("signature=", "signature=0")
    assert requests.get(forged, headers={"Range": "bytes=0-99"}, timeout=60).status_code == 403
