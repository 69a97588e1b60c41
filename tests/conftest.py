"""Test harness: the app is built once per session on a migrated database; each test rolls back.

``TEST_BACKENDS=embedded`` (default) runs the app as `make run` does: SQLite, inline jobs,
local-disk media. ``TEST_BACKENDS=services`` runs it as production does: PostgreSQL from
``DATABASE_URL``, rq on Redis from ``REDIS_URL``, S3 (a loopback S3 server). With
``CI=true`` a missing service fails the run instead of skipping.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from core.app import create_app
from core.config import Config
from core.db import db
from core.jobs import DEFAULT_QUEUE, QueuedCall, make_worker
from tests.fakes.wechat import APP_ID, APP_SECRET, FakeWeChatServer

IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = os.environ.get("TEST_BACKENDS", "embedded")
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"
S3_BUCKET = "test-media"
# The test's settings changed to what production requires (Config.check_can_start), for make_app. Redis is
# connected to only when used, and the apps made with these use none of it.
PRODUCTION = dict(environment="production", dev_login_enabled=False, allow_local_media_in_production=True,
                  field_encryption_key="A" * 43, field_index_key="B" * 43,
                  redis_url="redis://redis.invalid:6379/0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each pass leaves out what only the other pass can prove, and every pass leaves out the fault suite and the
    corpus suite unless asked for with ``-m faults`` (`make faults`) or ``-m corpus`` (`make corpus`): deselected,
    not skipped."""
    other_pass_only = "embedded_only" if BACKENDS == "services" else "services_only"
    asked = config.getoption("markexpr") or ""
    on_request = [marker for marker in ("faults", "corpus") if marker not in asked]

    def left_out(item: pytest.Item) -> bool:
        return bool(item.get_closest_marker(other_pass_only)
                    or any(item.get_closest_marker(marker) for marker in on_request))

    deselected = [item for item in items if left_out(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not left_out(item)]


def require_service(name: str, value: str | None) -> str:
    if value:
        return value
    message = f"{name} is not set; this test needs it"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return require_service("REDIS_URL", os.environ.get("REDIS_URL"))


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return require_service("DATABASE_URL", os.environ.get("DATABASE_URL"))


@pytest.fixture(scope="session")
def fake_wechat() -> Iterator[FakeWeChatServer]:
    server = FakeWeChatServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    yield f"http://{host}:{port}"
    server.stop()


def fresh_postgres_schema(url: str, schema: str) -> str:
    """A URL for an emptied schema of the PostgreSQL database at ``url``."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


def drop_postgres_schema(url: str, schema: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def build_config(tmp_dir: Path, fake_wechat: FakeWeChatServer, *, database_url: str, **overrides: object) -> Config:
    settings: dict[str, object] = dict(
        environment="development",
        secret_key=TEST_SECRET_KEY,
        database_url=database_url,
        media_root=tmp_dir / "media",
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_base_url=fake_wechat.base_url,
        dev_login_enabled=True,
        log_level="INFO",
        # Every test sees its own data in the moderation counts.
        queue_counts_ttl_seconds=0,
        # The test client's origin: links to this app are built from PUBLIC_BASE_URL alone, never from the request.
        public_base_url="http://localhost",
    )
    settings.update(overrides)
    return Config.from_env({}).replace(**settings)


def migrated_app(config: Config) -> Flask:
    app = create_app(config)
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory, fake_wechat: FakeWeChatServer,
        request: pytest.FixtureRequest) -> Iterator[Flask]:
    tmp_dir = tmp_path_factory.mktemp("app")
    if BACKENDS == "services":
        # A schema of its own per run, so that runs side by side never meet.
        database_url = fresh_postgres_schema(
            Config.from_env({"DATABASE_URL": request.getfixturevalue("postgres_url")}).database_url,
            f"test_suite_{os.getpid()}")
        redis = request.getfixturevalue("redis_url")
        config = build_config(tmp_dir, fake_wechat, database_url=database_url, redis_url=redis,
                              media_backend="s3", s3_bucket=S3_BUCKET,
                              s3_endpoint_url=request.getfixturevalue("s3_endpoint"), s3_region="us-east-1",
                              s3_access_key_id="testing", s3_secret_access_key="testing")
    else:
        config = build_config(tmp_dir, fake_wechat, database_url=f"sqlite:///{tmp_dir / 'test.db'}")
    app = migrated_app(config)
    if config.media_backend == "s3":
        app.extensions["storage"].client.create_bucket(Bucket=S3_BUCKET)
    if config.redis_url:
        app.extensions["redis"].flushdb()
    yield app
    dispose(app)
    if BACKENDS == "services":
        drop_postgres_schema(config.database_url, f"test_suite_{os.getpid()}")


@contextlib.contextmanager
def own_database(tmp_dir: Path, request: pytest.FixtureRequest, name: str) -> Iterator[str]:
    """The URL of an empty database of the test's own (a PostgreSQL schema, or an SQLite file), dropped after."""
    schema = f"{name}_{os.getpid()}"
    if BACKENDS == "services":
        url = Config.from_env({"DATABASE_URL": request.getfixturevalue("postgres_url")}).database_url
        database_url = fresh_postgres_schema(url, schema)
    else:
        database_url = f"sqlite:///{tmp_dir / f'{name}.db'}"
    try:
        yield database_url
    finally:
        if BACKENDS == "services":
            drop_postgres_schema(database_url, schema)


@contextlib.contextmanager
def app_on_own_database(tmp_dir: Path, fake_wechat: FakeWeChatServer, request: pytest.FixtureRequest, name: str,
                        **overrides: object) -> Iterator[Flask]:
    """An app on a database of its own where each request or job commits in its own transaction and connection
    (for tests of things done at once); ``overrides`` change its settings."""
    with own_database(tmp_dir, request, name) as database_url:
        app = migrated_app(build_config(tmp_dir, fake_wechat, database_url=database_url, **overrides))
        try:
            yield app
        finally:
            dispose(app)


def dispose(app: Flask) -> None:
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()
    if app.extensions["redis"] is not None:
        app.extensions["redis"].close()


@pytest.fixture
def run_jobs(app: Flask) -> Callable[[], None]:
    """Runs the queued jobs now: inline jobs already ran at commit; rq jobs run in a burst worker."""

    def run() -> None:
        if app.extensions["redis"] is not None:
            from rq import Queue

            queues = [queue.name for queue in Queue.all(connection=app.extensions["redis"])]
            make_worker(app, queues or [DEFAULT_QUEUE], fork=False).work(burst=True)

    return run


class LosingQueue:
    """A job queue that loses every job, as a Redis restarted empty does."""

    def enqueue(self, calls: Sequence[QueuedCall]) -> None:
        return None

    def check(self) -> None:
        return None


@pytest.fixture
def jobs_lost(app: Flask) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """``with jobs_lost(): …``: every job queued inside is lost (with Redis, or with a killed worker)."""

    @contextlib.contextmanager
    def lost() -> Iterator[None]:
        original = app.extensions["job_queue"]
        app.extensions["job_queue"] = LosingQueue()
        try:
            yield
        finally:
            app.extensions["job_queue"] = original

    return lost


@pytest.fixture
def override_settings(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Config]:
    """Change settings read at request time (limits, TTLs, thresholds) for one test."""

    def override(**changes: object) -> Config:
        settings = app.config["APP_SETTINGS"].replace(**changes)
        monkeypatch.setitem(app.config, "APP_SETTINGS", settings)
        return settings

    return override


@pytest.fixture
def make_app(app: Flask) -> Iterator[Callable[..., Flask]]:
    """Another app on the test's settings with some changed at build time (production mode, endpoints…).

    It has its own connections, outside the test's transaction: use it for what it builds, not to
    write to the shared database.
    """
    made: list[Flask] = []

    def make(**overrides: object) -> Flask:
        made.append(create_app(app.config["APP_SETTINGS"].replace(**overrides)))
        return made[-1]

    yield make
    for other in made:
        dispose(other)


@pytest.fixture(autouse=True)
def _rollback_after_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every session in the test shares one connection whose outer transaction is rolled back."""
    if "app" not in request.fixturenames or request.node.get_closest_marker("live_database"):
        yield
        return
    app: Flask = request.getfixturevalue("app")
    engines = db._app_engines[app]
    engine = engines[None]
    connection = engine.connect()
    outer = connection.begin()
    engines[None] = connection  # Session.get_bind now hands out this connection.
    db.session.session_factory.configure(join_transaction_mode="create_savepoint")
    try:
        yield
    finally:
        with app.app_context():
            db.session.remove()
        engines[None] = engine
        outer.rollback()
        connection.close()


@pytest.fixture(autouse=True)
def _fresh_rate_limits(request: pytest.FixtureRequest) -> Iterator[None]:
    """Rate-limit counts and cached answers live outside the database: each test starts from none."""
    yield
    if "app" in request.fixturenames:
        request.getfixturevalue("app").extensions["rate_limiter"].reset()
        request.getfixturevalue("app").extensions["cache"].reset()


@pytest.fixture
def frozen_rate_limit_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rate limits and sign-in delays see no time pass: a delay earned is still running at the next request,
    however slowly the machine verifies passwords."""
    import time

    from core import ratelimit

    now = time.time()
    monkeypatch.setattr(ratelimit, "time", type("FrozenTime", (), {"time": staticmethod(lambda: now)}))


@pytest.fixture
def client(app: Flask):  # noqa: ANN201
    return app.test_client()


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[None]:
    """For tests that call services directly. Requests made inside get this same context."""
    with app.app_context():
        yield


# --- a live server and a real browser, for the admin pages ----------------------------------

@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory, fake_wechat: FakeWeChatServer,
             request: pytest.FixtureRequest) -> Iterator[Flask]:
    """An app on a database of its own that really commits, served to a browser by a live server."""
    with app_on_own_database(tmp_path_factory.mktemp("live"), fake_wechat, request, "live") as app:
        yield app


@pytest.fixture(scope="session")
def live_server(live_app: Flask) -> Iterator[str]:
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    # Its links to itself (certificates, media) lead to where the browser finds it.
    live_app.config["APP_SETTINGS"] = live_app.config["APP_SETTINGS"].replace(public_base_url=url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    server.server_close()


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, driven by Playwright (whose own browser download is never used)."""
    from playwright.sync_api import sync_playwright

    executable = "/usr/bin/chromium"
    if not Path(executable).exists():
        message = "Debian's chromium is not installed (make test installs it)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[object]:  # noqa: ANN001
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


# --- the app as production serves it: gunicorn worker processes on a loopback port ----------------

@dataclasses.dataclass(frozen=True)
class ServedApp:
    """gunicorn serving the app at ``url``; ``app`` is an app on the same database and storage, for reading what
    the served one stored."""

    url: str
    app: Flask

    def sign_in(self, openid: str) -> dict[str, str]:
        import requests

        answer = requests.post(f"{self.url}/api/v1/auth/dev", json={"openid": openid}, timeout=30)
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['token']}"}


def _environment_of(config: Config, fake_wechat: FakeWeChatServer) -> dict[str, str]:
    """The environment under which Config.from_env reads ``config``'s backends, as a production process would."""
    env = {"APP_ENV": "development", "SECRET_KEY": TEST_SECRET_KEY, "DATABASE_URL": config.database_url,
           "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET, "WECHAT_API_BASE_URL": fake_wechat.base_url,
           "DEV_LOGIN": "1", "LOG_LEVEL": "WARNING", "MEDIA_ROOT": str(config.media_root),
           "MEDIA_BACKEND": config.media_backend}
    # Set either way: the served processes must not take the suite's own REDIS_URL (set in both passes in CI), or an
    # embedded pass would queue its jobs to a Redis no worker of theirs reads.
    env["REDIS_URL"] = config.redis_url or ""
    if config.media_backend == "s3":
        env.update(S3_BUCKET=config.s3_bucket or "", S3_ENDPOINT_URL=config.s3_endpoint_url or "",
                   S3_REGION=config.s3_region, S3_ACCESS_KEY_ID="testing", S3_SECRET_ACCESS_KEY="testing")
    return env


def _redis_of_its_own(url: str) -> str:
    """Another database of the suite's Redis: the suite's burst workers must not run the served app's jobs."""
    base, _, number = url.rpartition("/")
    return f"{base}/{(int(number or 0) + 8) % 16}"


@pytest.fixture(scope="session")
def gunicorn_app(tmp_path_factory: pytest.TempPathFactory, fake_wechat: FakeWeChatServer,
                 request: pytest.FixtureRequest) -> Iterator[ServedApp]:
    """The pass's backends behind two gunicorn workers (and in the services pass an rq worker) on a database of
    their own: requests cross a real socket and a real HTTP parser, as the mini-program's do."""
    from tests.common.stack import Gunicorn, RqWorkers

    tmp_dir = tmp_path_factory.mktemp("served")
    overrides: dict[str, object] = {}
    if BACKENDS == "services":
        redis_url = _redis_of_its_own(request.getfixturevalue("redis_url"))
        overrides = dict(redis_url=redis_url, media_backend="s3", s3_bucket=f"{S3_BUCKET}-served",
                         s3_endpoint_url=request.getfixturevalue("s3_endpoint"), s3_region="us-east-1",
                         s3_access_key_id="testing", s3_secret_access_key="testing")
    with app_on_own_database(tmp_dir, fake_wechat, request, "served", **overrides) as app:
        config: Config = app.config["APP_SETTINGS"]
        if config.media_backend == "s3":
            app.extensions["storage"].client.create_bucket(Bucket=config.s3_bucket)
        if config.redis_url:
            app.extensions["redis"].flushdb()
        env = _environment_of(config, fake_wechat)
        workers = RqWorkers(env, 1).start() if config.redis_url else None
        server = Gunicorn(env, workers=2, timeout=120)
        try:
            yield ServedApp(server.url, app)
        finally:
            server.stop()
            if workers is not None:
                workers.stop()
