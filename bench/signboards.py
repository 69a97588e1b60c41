"""Signboard preview benchmark: render time per template (median over all 108, cold and cached) and
previews per second over HTTP, each printed next to a reference measured in the same run.

    .venv/bin/python bench/signboards.py

References: "bare" is the least any preview costs — one line of text in the same font on a board of the
same size, encoded to PNG, without layout, fitting or decoration; "healthz" is the app's cheapest HTTP route.
Targets (issue 7): cold render under 50 ms median, a cached one under 2 ms.
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from core.app import create_app  # noqa: E402
from core.config import Config  # noqa: E402
from signboard_templates import rendering, services  # noqa: E402

NAME = "青岛市市南区老王海鲜大酒楼"
HTTP_SECONDS = 5.0
HTTP_MAX_REQUESTS = 5000


def _ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def _timed(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def _bare(width_m: float, height_m: float) -> bytes:
    image = Image.new("RGB", rendering.board_pixels(width_m, height_m), "#B3261E")
    ImageDraw.Draw(image).text((10, 10), NAME, font=rendering.font("bold", 48), fill="#FFFFFF")
    return rendering.png_bytes(image)


def render_times() -> None:
    templates = services.catalogue().templates
    specs = [services.preview_spec(t.id, NAME) for t in templates]
    services.preview_png(specs[0])  # the fonts' first opening is start-up, not a render
    services.preview_cache.clear()
    cold = [_timed(lambda s=spec: services.preview_png(s)) for spec in specs]
    cached = [_timed(lambda s=spec: services.preview_png(s)) for spec in specs]
    bare = [_timed(lambda t=t: _bare(t.default_width_m, t.default_height_m)) for t in templates]
    print(f"render, median over {len(templates)} templates:")
    print(f"  cold   {_ms(cold):7.2f} ms"
          f"   (bare text+PNG reference {_ms(bare):6.2f} ms, ratio {_ms(cold) / _ms(bare):5.2f})"
          f"   target < 50 ms: {'met' if _ms(cold) < 50 else 'MISSED'}")
    print(f"  cached {_ms(cached):7.4f} ms   (ratio to bare {_ms(cached) / _ms(bare):7.4f})"
          f"   target < 2 ms: {'met' if _ms(cached) < 2 else 'MISSED'}")


def _rate(session: requests.Session, urls: list[str], headers: dict[str, str] | None = None) -> float:
    done, started = 0, time.perf_counter()
    while done < HTTP_MAX_REQUESTS and time.perf_counter() - started < HTTP_SECONDS:
        response = session.get(urls[done % len(urls)], headers=headers, timeout=10)
        assert response.status_code in (200, 304), response.status_code
        done += 1
    return done / (time.perf_counter() - started)


def http_rates() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.from_env({}).replace(database_url=f"sqlite:///{tmp}/bench.db",
                                             media_root=Path(tmp) / "media", log_level="WARNING")
        app = create_app(config)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            urls = [f"{base}/api/v1/signboard-templates/{t.id}/preview.png?shop_name={quote(NAME)}"
                    for t in services.catalogue().templates]
            with requests.Session() as session:
                for url in urls:
                    session.get(url, timeout=10)
                etag = session.get(urls[0], timeout=10).headers["ETag"]
                healthz = _rate(session, [f"{base}/healthz"])
                cached = _rate(session, urls)
                revalidated = _rate(session, urls[:1], {"If-None-Match": etag})
        finally:
            server.shutdown()
            server.server_close()
    print("HTTP, one client on loopback (werkzeug threaded server):")
    print(f"  cached previews      {cached:7.0f} /s"
          f"   (/healthz reference {healthz:6.0f} /s, ratio {cached / healthz:4.2f})")
    print(f"  304 revalidations    {revalidated:7.0f} /s   (ratio {revalidated / healthz:4.2f})")


if __name__ == "__main__":
    render_times()
    http_rates()
