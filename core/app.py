"""The application factory: configuration in, every extension and adapter wired explicitly, then each domain
package plugged in by its own ``init_app(app, api)``: its blueprints, admin pages, commands, listeners, roles and
data-rights hooks. Core names the packages here, as strings, and imports none of them."""

from __future__ import annotations

import importlib
import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

import swagger_ui_bundle
from flask import Flask, Request, g, request, send_from_directory
from flask_migrate import Migrate
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from core.admin import HOME_NAV, HOME_NAV_WEIGHT, STAFF_NAV, STAFF_NAV_WEIGHT, register_nav
from core.admin import bp as admin_pages
from core.api import API_VERSION, files_bp, readiness_gauges
from core.api import bp as core_api
from core.auth import CORE_ROLES, register_roles, staff_roles
from core.cache import make_cache
from core.cli import create_staff_command, jobs_cli, schedule_cli
from core.config import DOMAIN_PACKAGES, PROJECT_ROOT, Config
from core.db import MAX_DATABASE_ID, db, engine_options, install_unit_of_work, is_storable_text
from core.errors import AppError, ErrorSchema, ValidationFailed, register_error_handlers
from core.jobs import InlineQueue, RqQueue
from core.jobs_admin import NAV as JOBS_NAV
from core.jobs_admin import NAV_WEIGHT as JOBS_NAV_WEIGHT
from core.jobs_admin import bp as jobs_pages
from core.logs import configure_logging, new_request_id, request_id_var
from core.metrics import init_metrics, register_collector
from core.queues import queue_gauges
from core.ratelimit import make_rate_limiter, make_slots
from core.schedule import sweep_gauges
from core.security import register_security_headers
from core.schemas import COORDINATES_NOTE
from core.staff_words import (CORE_ACTIONS, CORE_ACTORS, CORE_FIELDS, CORE_OBJECTS, register_actor_names,
                              register_audit_names)
from core.storage import LocalDiskStorage, S3Storage, UrlSigner
from core.wechat import WeChatMiniProgram

access_log = logging.getLogger("access")
migrate = Migrate(directory=str(PROJECT_ROOT / "migrations"))
csrf = CSRFProtect()
# Deeper than any document of ours: more nesting is refused before a parser or a schema recurses into it.
MAX_JSON_DEPTH = 32


class DatabaseIdConverter(IntegerConverter):
    """``<int:…>`` in every route: no larger than a database id, so /reports/99999999999 is a 404, not a 500."""

    def __init__(self, url_map, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        kwargs.setdefault("max", MAX_DATABASE_ID)
        super().__init__(url_map, *args, **kwargs)


class DocumentedApi(Api):
    """flask-smorest's Api, documenting our error shape instead of its own."""

    ERROR_SCHEMA = ErrorSchema


def import_models() -> None:
    for package in ("core", *DOMAIN_PACKAGES):
        importlib.import_module(f"{package}.models")


def create_app(config: Config | None = None) -> Flask:
    config = config if config is not None else Config.from_env()
    config.check_can_start()
    configure_logging(config.log_level, config.log_format)

    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.request_class = TextCheckedRequest
    app.url_map.converters["int"] = DatabaseIdConverter
    app.config.update(_flask_settings(config))
    app.json.ensure_ascii = False  # Chinese text as itself, not \u escapes
    if config.trusted_proxy_count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxy_count,  # type: ignore[method-assign]
                                x_proto=config.trusted_proxy_count, x_host=config.trusted_proxy_count)

    if config.uses_sqlite:
        (PROJECT_ROOT / "var").mkdir(exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db)
    csrf.init_app(app)
    _wire_adapters(app, config)

    api = DocumentedApi(app)
    register_error_handlers(app)
    _register_request_hooks(app)
    init_metrics(app)
    install_unit_of_work(app)
    register_security_headers(app, config)
    _register_core(app)
    for package in DOMAIN_PACKAGES:
        importlib.import_module(package).init_app(app, api)
    return app


def _flask_settings(config: Config) -> dict[str, Any]:
    return {
        "APP_SETTINGS": config,
        "SECRET_KEY": config.secret_key,
        "SQLALCHEMY_DATABASE_URI": config.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(config.database_url),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": config.is_production,
        "SESSION_COOKIE_NAME": "qd_admin_session",
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        # CSRF is checked by the admin blueprint itself; the API authenticates by bearer token.
        "WTF_CSRF_CHECK_DEFAULT": False,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "API_TITLE": "点·靓青岛 citizen services API",
        "API_VERSION": API_VERSION,
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        # Swagger UI's files come from the swagger-ui-bundle package, never from a CDN.
        "OPENAPI_SWAGGER_UI_URL": "/api/swagger-ui/",
        "API_SPEC_OPTIONS": {
            "info": {"description": COORDINATES_NOTE},
            "components": {"securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "caseSignature": {"type": "apiKey", "in": "header", "name": "X-Case-Signature"}}},
        },
    }


def _wire_adapters(app: Flask, config: Config) -> None:
    redis_connection = None
    if config.redis_url:
        import redis

        redis_connection = redis.Redis.from_url(config.redis_url, socket_timeout=5, socket_connect_timeout=5)
    app.extensions["redis"] = redis_connection
    app.extensions["rate_limiter"] = make_rate_limiter(redis_connection)
    app.extensions["concurrency_slots"] = make_slots(redis_connection)
    app.extensions["cache"] = make_cache(redis_connection)
    app.extensions["job_queue"] = RqQueue(redis_connection) if redis_connection is not None else InlineQueue(app)

    if config.media_backend == "s3":
        app.extensions["storage"] = S3Storage.connect(
            endpoint_url=config.s3_endpoint_url, bucket=config.s3_bucket or "", region=config.s3_region,
            access_key_id=config.s3_access_key_id, secret_access_key=config.s3_secret_access_key)
    else:
        app.extensions["storage"] = LocalDiskStorage(config.media_root, UrlSigner(config.secret_key))

    app.extensions["wechat"] = (
        WeChatMiniProgram(config.wechat_app_id, config.wechat_app_secret or "", config.wechat_api_base_url,
                          redis_connection)
        if config.wechat_app_id else None
    )


def _register_core(app: Flask) -> None:
    """Core's own part: operational endpoints, signed files, the admin shell and its staff pages, the admin role."""

    @app.route("/api/swagger-ui/<path:filename>")
    def swagger_ui_files(filename: str):  # noqa: ANN202
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)

    register_roles(app, CORE_ROLES)
    # Roles as their labels: the packages' roles join the same dict as each registers them.
    register_audit_names(app, actions=CORE_ACTIONS, objects=CORE_OBJECTS, fields=CORE_FIELDS,
                         values={("staff_account", "roles"): staff_roles(app)})
    register_actor_names(app, CORE_ACTORS)
    app.register_blueprint(core_api)
    app.register_blueprint(files_bp)
    app.register_blueprint(admin_pages)
    register_nav(app, HOME_NAV, weight=HOME_NAV_WEIGHT)
    register_nav(app, STAFF_NAV, weight=STAFF_NAV_WEIGHT)
    app.register_blueprint(jobs_pages)
    register_nav(app, JOBS_NAV, weight=JOBS_NAV_WEIGHT)
    app.cli.add_command(create_staff_command)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(schedule_cli)
    register_collector(app, readiness_gauges)
    register_collector(app, sweep_gauges)
    redis_connection = app.extensions["redis"]
    if redis_connection is not None:
        register_collector(app, lambda: queue_gauges(redis_connection))


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start_request() -> None:
        g.request_started = time.perf_counter()
        g.request_id = new_request_id(request.headers.get("X-Request-Id"))
        g.request_id_token = request_id_var.set(g.request_id)

    @app.before_request
    def _limit_body_by_kind() -> None:
        # Only the limit is set here (413 past it, before reading): the body is read, if at all, by the view that
        # takes it. Upload views may narrow it to the file they expect.
        settings = app.config["APP_SETTINGS"]
        request.max_content_length = (settings.upload_body_max_bytes if request.mimetype == "multipart/form-data"
                                      else settings.request_body_max_bytes)

    @app.before_request
    def _refuse_unstorable_query() -> None:
        refuse_unstorable_text([("query", [text for key, values in request.args.lists() for text in (key, *values)])])

    @app.after_request
    def _finish_request(response):  # noqa: ANN001, ANN202
        response.headers["X-Request-Id"] = g.get("request_id", "")
        started = g.get("request_started")
        access_log.info(
            "request", extra={"method": request.method, "path": request.path, "status": response.status_code,
                              "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None})
        return response

    @app.teardown_request
    def _forget_request_id(exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id_var.reset(token)


def refuse_unstorable_text(inputs: Iterable[tuple[str, list[str]]]) -> None:
    """PostgreSQL stores no NUL character and no database a lone surrogate: bad input, not a 500 later."""
    bad = [location for location, values in inputs if any(not is_storable_text(text) for text in values)]
    if bad:
        raise ValidationFailed("请求中含有不允许的字符（NUL 或不成对的代理字符）。",
                               details={"fields": {location: ["contains a NUL or lone surrogate character"]
                                                   for location in bad}})


class TextCheckedRequest(Request):
    """Flask's request, whose bodies refuse text no database stores when they are read, by the view that takes them
    and never earlier (upload views stream theirs under limits they set first): forms (URL-encoded or multipart,
    fields and file names) as they are parsed, JSON when first read, which also refuses nesting deeper than
    MAX_JSON_DEPTH."""

    _body_checked = False

    def _load_form_data(self) -> None:
        super()._load_form_data()
        texts = [text for key, values in self.form.lists() for text in (key, *values)]
        texts += [text for key, upload in self.files.items(multi=True) for text in (key, upload.filename or "")]
        refuse_unstorable_text([("form", texts)])

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False) -> Any:
        # Every reader of a whole body (webargs, get_json, a signature check) starts here.
        if not self._body_checked:
            body = super().get_data(cache=True, parse_form_data=parse_form_data)
            if self.content_length is None and self.max_content_length is not None \
                    and len(body) >= self.max_content_length:
                # werkzeug cuts a streamed (chunked) body off at the limit: refused instead, as a declared length is.
                raise RequestEntityTooLarge()
            if self.is_json:
                check_json_body(body)
            self._body_checked = True
        return super().get_data(cache=cache, as_text=as_text, parse_form_data=parse_form_data)


def check_json_body(data: bytes) -> None:
    """Refuse a JSON body nested deeper than MAX_JSON_DEPTH (400) or holding unstorable text (422). A body that
    is not JSON at all is left to the view's parser, which answers malformed_json."""
    try:
        document = json.loads(data)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        return
    refuse_unstorable_text([("json", list(_json_texts(document)))])


def _too_deep() -> AppError:
    return AppError(f"JSON 嵌套过深（最多 {MAX_JSON_DEPTH} 层）。", code="json_too_deep", status=400,
                    details={"max_depth": MAX_JSON_DEPTH})


def _json_texts(document: Any) -> Iterator[str]:
    """The keys and strings of a parsed JSON document, walked without recursion; deeper than MAX_JSON_DEPTH
    is refused."""
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            if isinstance(value, dict):
                yield from value.keys()
            pending.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
