"""gunicorn's settings for production, behind nginx (deploy/nginx/citizen-services.conf):

    .venv/bin/gunicorn -c deploy/gunicorn.conf.py wsgi:app

Command-line options override these (``--workers 8``, ``--bind``).

Threaded workers (gthread), not sync ones. A sync worker is held for the whole of a request, reading its body
included: four clients trickling bodies at one byte per second held all four sync workers, and /healthz with them.
nginx buffers every body before it passes a request on (proxy_request_buffering on), so behind it gunicorn sees
only whole requests; but a proxy set up without buffering, or a request that reaches gunicorn directly, must not be
able to stop the site. With threads a slow client holds one thread of many while the worker goes on accepting and
answering; blocked reads release the GIL, as do the waits on PostgreSQL, Redis, object storage and Chromium that
most of our requests are made of.
"""

# The documented set-up: four processes, each with its thread pool.
workers = 4
worker_class = "gthread"
threads = 16
# A worker takes new connections only while it has a thread for each: one whose threads are all held leaves new
# connections to the other workers instead of queueing them behind the held ones. With four more allowed, a worker
# holding sixteen slow clients still took /healthz and let it wait (the fault suite's slow clients, in CI). Idle
# kept-alive connections count too, but gunicorn closes them after `keepalive` seconds.
worker_connections = threads
# Behind nginx; bind publicly only where nothing else can reach the port.
bind = "127.0.0.1:8000"
# gthread workers report to the arbiter from their own loop, not from the threads: a worker silent this long is
# stuck as a whole and is restarted. Requests themselves are bounded where they wait (database statement and
# HTTP client timeouts, Chromium's 120 s); slow request bodies are bounded by nginx's client_body_timeout.
timeout = 60
# The longest request (a monthly PDF) finishes within a restart or a deploy.
graceful_timeout = 30
# nginx holds idle upstream connections (keepalive in its upstream block) a little shorter than this.
keepalive = 5
# A worker is replaced after this many requests (with jitter, not all at once): memory a long-lived process
# fragments is given back.
max_requests = 5000
max_requests_jitter = 500
# The limits of a request line and its headers (8 KiB each at most, 100 headers) stay gunicorn's defaults.


def child_exit(server, worker):  # noqa: ANN001, ANN201
    """GET /metrics adds up every process's files in PROMETHEUS_MULTIPROC_DIR: a worker that exits (restarted after
    max_requests, or killed) is marked dead there, its counters still counted."""
    from core.metrics import process_exited

    process_exited(worker.pid)
