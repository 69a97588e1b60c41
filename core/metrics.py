"""Prometheus metrics: ``GET /metrics``, counted in every process that serves or works.

Counters and histograms are ``prometheus_client``'s. With ``PROMETHEUS_MULTIPROC_DIR`` set (production: the same
directory for gunicorn, the rq workers and the scheduler) each process writes its values to files there and a scrape
adds them up (``prometheus_client.multiprocess``); gunicorn's ``child_exit`` hook marks a dead worker
(deploy/gunicorn.conf.py). Without it (the embedded default) the one process counts in memory.

An rq worker forks a work-horse per job: each would leave files named by its own pid, thousands a day. The
work-horses of one worker run one at a time, so they share one identity instead (``use_work_horse_identity``).

Gauges of the state of things (deliveries waiting, payouts unfinished, queue depths) are read at scrape time from
the collectors the packages register with ``register_collector(app, fn)`` in their ``init_app``: ``fn()`` runs in
the scrape's application context and returns ``Gauge`` values from cheap queries. Core imports no package.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask, Response, abort, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram,
                               generate_latest, values)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

log = logging.getLogger(__name__)
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_identity = {"work_horse_of": None}


def _process_identifier() -> str:
    parent = _identity["work_horse_of"]
    return f"{parent}-horse" if parent is not None and os.getpid() != parent else str(os.getpid())


if os.environ.get(MULTIPROC_DIR_VARIABLE):
    # Before any metric below is made: each takes its value class from here.
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identifier)


def use_work_horse_identity(parent_pid: int) -> None:
    """In an rq work-horse (forked by the worker ``parent_pid``): write to the files of this worker's horses."""
    _identity["work_horse_of"] = parent_pid


# Route: the URL rule ("/api/v1/reports/<int:report_id>"), never the raw path, so that ids make no new series.
REQUESTS = Counter("http_requests_total", "HTTP requests answered, by route, method and status.",
                   ["route", "method", "status"])
REQUEST_SECONDS = Histogram("http_request_duration_seconds", "Time to answer an HTTP request, by route and method.",
                            ["route", "method"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
JOBS_QUEUED = Counter("jobs_queued_total", "Background jobs queued (or, embedded, run inline), by queue.",
                      ["queue"])
JOBS_FINISHED = Counter("jobs_finished_total", "Background jobs finished, by queue and outcome (done, failed).",
                        ["queue", "outcome"])
EXTERNAL_CALLS = Counter("external_calls_total",
                         "Calls to WeChat and WeChat Pay, by service, operation and outcome "
                         "(ok, refused: an error answer, unreachable).",
                         ["service", "operation", "outcome"])
UNMATCHED_ROUTE = "<unmatched>"


@dataclasses.dataclass(frozen=True)
class Gauge:
    """One gauge read at scrape time: ``samples`` maps label values (in ``labels``' order) to the value."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()
    samples: dict[tuple[str, ...], float] = dataclasses.field(default_factory=dict)


Collector = Callable[[], Iterable[Gauge]]


def register_collector(app: Flask, collector: Collector) -> None:
    """Read ``collector()``'s gauges at every scrape (in an application context)."""
    app.extensions.setdefault("metrics_collectors", []).append(collector)


def counter(name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
    """A package's own counter (``media_processing_failures_total``), counted in every process as core's are."""
    return Counter(name, documentation, list(labels))


def count_call(service: str, operation: str, outcome: str) -> None:
    EXTERNAL_CALLS.labels(service, operation, outcome).inc()


def seconds_since(moment: Any, now: Any) -> float:
    """Age of ``moment`` at ``now`` in seconds, 0 for none: the gauges of the oldest thing waiting."""
    return max(0.0, (now - moment).total_seconds()) if moment is not None else 0.0


def init_metrics(app: Flask) -> None:
    """Count every request, and serve ``GET /metrics`` to the allowed networks or the bearer of METRICS_TOKEN."""

    @app.after_request
    def _count(response: Response) -> Response:
        # The request's start is taken by the app's own first hook (core.app), for the access log too.
        started = g.get("request_started")
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
        REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        if started is not None:
            REQUEST_SECONDS.labels(route, request.method).observe(time.perf_counter() - started)
        return response

    app.add_url_rule("/metrics", "metrics", _scrape)


def _scrape() -> Response:
    if not _scrape_allowed():
        abort(404)
    registry = CollectorRegistry(auto_describe=False)
    directory = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if directory:
        MultiProcessCollector(registry, path=directory)
    source = _ScrapeTimeGauges(current_app._get_current_object())  # type: ignore[attr-defined]
    registry.register(source)
    body = generate_latest(registry) if directory else generate_latest(REGISTRY) + generate_latest(registry)
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def _scrape_allowed() -> bool:
    config = current_app.config["APP_SETTINGS"]
    header = request.headers.get("Authorization", "")
    if config.metrics_token and header.startswith("Bearer ") and hmac.compare_digest(
            header.removeprefix("Bearer ").encode(), config.metrics_token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in config.metrics_allowed_networks)


class _ScrapeTimeGauges:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for collector in self.app.extensions.get("metrics_collectors", []):
            try:
                gauges = list(collector())
            except Exception:  # a collector that fails leaves its gauges out, not the whole scrape
                log.exception("metrics collector failed", extra={"collector": getattr(collector, "__name__", "")})
                continue
            for gauge in gauges:
                family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=list(gauge.labels))
                for label_values, value in gauge.samples.items():
                    family.add_metric(list(label_values), value)
                yield family


def process_exited(pid: int) -> None:
    """gunicorn's child_exit: a worker's live gauges go with it (its counters stay counted)."""
    if os.environ.get(MULTIPROC_DIR_VARIABLE):
        mark_process_dead(pid)
