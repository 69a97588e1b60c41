"""GET /metrics: requests counted by route, who may read it, the gauges of the packages, and every process of
gunicorn added up."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import requests

from core.config import Config
from core.config_values import ConfigError
from core.metrics import Gauge, register_collector
from tests.common import metrics
from tests.common.stack import ROOT, Gunicorn, wait_until


def scrape(client) -> str:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain")
    return answer.get_data(as_text=True)


def test_requests_are_counted_by_route_not_by_path(client):
    route = "/api/v1/reports/<int:report_id>"
    before = scrape(client)
    for report_id in (900001, 900002, 900003):
        assert client.get(f"/api/v1/reports/{report_id}").status_code == 401
    after = scrape(client)

    def counted(text: str) -> float:
        return metrics.value(text, "http_requests_total", route=route, method="GET", status="401")

    assert counted(after) - counted(before) == 3
    assert not [labels for labels, _ in metrics.samples(after, "http_requests_total") if "900001" in labels["route"]]
    latency = "http_request_duration_seconds_count"
    assert metrics.value(after, latency, route=route) - metrics.value(before, latency, route=route) == 3


def test_an_unknown_path_is_one_route(client):
    before = scrape(client)
    client.get("/no/such/page/1")
    client.get("/no/such/page/2")
    after = scrape(client)
    unmatched = {"route": "<unmatched>", "status": "404"}
    assert (metrics.value(after, "http_requests_total", **unmatched)
            - metrics.value(before, "http_requests_total", **unmatched)) == 2


def test_only_allowed_networks_or_the_token_may_scrape(client, override_settings):
    override_settings(metrics_allowed_networks=("10.1.0.0/16",), metrics_token="scrape-token-0123456789")
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.2.0.1"}).status_code == 404
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 404
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                      headers={"Authorization": "Bearer scrape-token-0123456789"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                      headers={"Authorization": "Bearer wrong-token"}).status_code == 404


def test_the_default_allows_loopback_only():
    assert Config.from_env({}).metrics_allowed_networks == ("127.0.0.1/32",)
    assert Config.from_env({"METRICS_ALLOWED_NETWORKS": "10.0.0.1, 192.168.0.0/24"}).metrics_allowed_networks == (
        "10.0.0.1/32", "192.168.0.0/24")
    with pytest.raises(ConfigError, match="METRICS_ALLOWED_NETWORKS"):
        Config.from_env({"METRICS_ALLOWED_NETWORKS": "10.0.0.0/33"})


def test_readiness_is_a_gauge(client):
    text = scrape(client)
    assert metrics.value(text, "readiness_check", check="database") == 1
    assert metrics.value(text, "readiness_check", check="storage") == 1


def test_a_failing_collector_leaves_the_others(app, client, monkeypatch):
    monkeypatch.setitem(app.extensions, "metrics_collectors", list(app.extensions["metrics_collectors"]))

    def broken() -> list[Gauge]:
        raise RuntimeError("collector down")

    register_collector(app, broken)
    register_collector(app, lambda: [Gauge("test_answer", "A test gauge.", ("kind",), {("x",): 42.0})])
    text = scrape(client)
    assert metrics.value(text, "test_answer", kind="x") == 42
    assert metrics.value(text, "readiness_check", check="database") == 1


def test_gunicorn_workers_add_up(tmp_path: Path, gunicorn_app):
    """Requests served by either of two gunicorn workers, and by one killed and replaced, are all counted."""
    from tests.conftest import APP_ID, APP_SECRET, TEST_SECRET_KEY

    config = gunicorn_app.app.config["APP_SETTINGS"]
    multiproc_dir = tmp_path / "metrics"
    multiproc_dir.mkdir()
    env = {"APP_ENV": "development", "SECRET_KEY": TEST_SECRET_KEY, "DATABASE_URL": config.database_url,
           "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET, "DEV_LOGIN": "1", "LOG_LEVEL": "WARNING",
           "MEDIA_ROOT": str(config.media_root), "REDIS_URL": "", "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    server = Gunicorn(env, workers=2, config=ROOT / "deploy" / "gunicorn.conf.py", timeout=120)
    try:
        def served(count: int) -> None:
            for _ in range(count):
                assert requests.get(f"{server.url}/api/v1/categories", timeout=30).status_code == 200

        def counted() -> float:
            answer = requests.get(f"{server.url}/metrics", timeout=30)
            assert answer.status_code == 200
            return metrics.value(answer.text, "http_requests_total", route="/api/v1/categories", status="200")

        def worker_pids() -> set[int]:
            return {int(path.stem.split("_")[-1]) for path in multiproc_dir.glob("counter_*.db")}

        served(40)
        assert counted() == 40
        # Whichever worker served them: one is killed; its counts stay, another takes its place.
        killed = next(iter(worker_pids()))
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: requests.get(f"{server.url}/healthz", timeout=5).status_code == 200, seconds=60,
                   what="gunicorn after a worker was killed")
        served(30)
        wait_until(lambda: len(worker_pids() - {killed}) >= 1, seconds=30, what="another worker's counts")
        assert counted() == 70
        assert len(worker_pids()) >= 2
    finally:
        server.stop()
