"""One typed configuration object, read from the environment only when the app is built.

`Config` holds what every package shares (environment, keys, database, Redis, storage, the WeChat mini-program,
logging, proxies, rate limits, links, body limits) and composes the settings of each domain package: an *area*,
a frozen dataclass in ``<package>/settings.py`` named by that module's ``SETTINGS``. An area class gives every field
a default, reads its variables in ``from_env(env)`` with the value checkers of ``core.config_values``, and names
what cannot run in ``problems(production=…, shared=config)``. Views, admin views, jobs and CLI commands read an
area with ``current_settings(CaseSettings)`` and pass it (or the fields needed) to services.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar


from core.config_values import (ConfigError, choice_setting, database_url_setting, encryption_key_setting, flag_setting,
                                integer_setting, networks_setting, rate_setting, secret, settings_repr,
                                tile_url_setting, url_setting)
from core.logs import LOG_FORMATTERS
from core.ratelimit import FailurePolicy

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = PROJECT_ROOT / "var"
# The domain packages, named here once so that the app factory and the settings reach them without core importing
# them. They are plugged in in this order, which is that of the API's tags in the OpenAPI document, of the listeners
# of an event and of the data holders. Their models share core's schema and its one migration chain.
DOMAIN_PACKAGES = ("citizen", "media", "signboard_templates", "rewards", "cases", "facilities", "insight")
# A placeholder that must never reach production: create_app refuses it there.
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me"
# The wait after the failed sign-ins allowed; each further failure doubles it.
SIGN_IN_FIRST_DELAY_SECONDS = 2
DEFAULT_WECHAT_API_BASE_URL = "https://api.weixin.qq.com/"
AMAP_TILE_URL = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
ENVIRONMENTS = ("development", "production")
MEDIA_BACKENDS = ("local", "s3")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDIS_URL_SCHEMES = ("redis", "rediss", "unix")
# Room for a multipart body's boundaries and part headers around its file.
MULTIPART_OVERHEAD = 64 * 1024
# S3 (SigV4) refuses a presigned link valid for longer than seven days, when it is used.
PRESIGNED_URL_MAX_SECONDS = 7 * 24 * 3600

_T = TypeVar("_T")


class AreaSettings(Protocol):
    """The settings of one domain package (see the module's docstring)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self: ...

    def problems(self, *, production: bool, shared: Config) -> list[str]: ...


def area_kinds() -> tuple[type[AreaSettings], ...]:
    """The area classes of the domain packages that have settings (a ``settings`` module exposing ``SETTINGS``)."""
    kinds = []
    for package in DOMAIN_PACKAGES:
        try:
            module = importlib.import_module(f"{package}.settings")
        except ModuleNotFoundError as missing:
            if missing.name != f"{package}.settings":
                raise
            continue
        kinds.append(module.SETTINGS)
    return tuple(kinds)


def _default_areas() -> tuple[AreaSettings, ...]:
    return tuple(kind() for kind in area_kinds())


@dataclasses.dataclass(frozen=True)
class Config:
    environment: str = "development"
    secret_key: str = secret(DEVELOPMENT_SECRET_KEY)
    database_url: str = secret(f"sqlite:///{DEFAULT_VAR_DIR / 'app.db'}")
    redis_url: str | None = secret()

    media_backend: str = "local"
    media_root: Path = DEFAULT_VAR_DIR / "media"
    allow_local_media_in_production: bool = False
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "ap-guangzhou"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = secret()

    wechat_app_id: str | None = None
    wechat_app_secret: str | None = secret()
    wechat_api_base_url: str = DEFAULT_WECHAT_API_BASE_URL
    dev_login_enabled: bool = True

    resident_token_ttl_seconds: int = 7 * 24 * 3600
    staff_max_failed_logins: int = 5
    staff_lockout_seconds: int = 15 * 60
    log_level: str = "INFO"
    log_format: str = "text"
    # Map tiles for the admin view's maps; AMap's tiles are GCJ-02. Empty: a map without tiles.
    map_tile_url: str = AMAP_TILE_URL
    # How many reverse proxies (nginx, a cloud load balancer) sit in front and set X-Forwarded-*.
    trusted_proxy_count: int = 0
    # This app's public origin, for links handed to others ("https://api.example.cn").
    public_base_url: str | None = None
    # Rate limits as (requests, per seconds): failed staff sign-ins per IP (see staff_sign_in_policies), uploads per
    # resident, preview renderings (not cached answers) per IP, data exports per resident. 0 requests: no limit.
    rate_limit_login: tuple[int, int] = (20, 300)
    rate_limit_upload: tuple[int, int] = (120, 3600)
    rate_limit_preview: tuple[int, int] = (120, 60)
    rate_limit_export: tuple[int, int] = (10, 3600)
    # Public work (security review): certificate look-ups, Open311 reads and nearby reports per IP address, monthly
    # PDFs per staff member.
    rate_limit_certificate: tuple[int, int] = (60, 60)
    rate_limit_open311: tuple[int, int] = (120, 60)
    rate_limit_nearby: tuple[int, int] = (60, 60)
    # The public reports map (GET /api/v1/reports/public), per IP address: a map pans and zooms often.
    rate_limit_public_reports: tuple[int, int] = (120, 60)
    rate_limit_pdf: tuple[int, int] = (10, 600)
    # 附议 (me too) and its withdrawal per resident.
    rate_limit_me_too: tuple[int, int] = (30, 3600)
    # The largest request body that is not a file upload (JSON, forms): refused with 413 before it is read.
    # Uploads (multipart bodies) may be as large as the largest file an area takes (upload_body_max_bytes).
    request_body_max_bytes: int = 256 * 1024
    # Key for sensitive fields at rest (32 bytes, URL-safe base64); unset: derived from SECRET_KEY (not in production).
    field_encryption_key: str | None = secret()
    # Keys values may still be encrypted with, read but never written (during and until `flask privacy rotate-key`).
    field_encryption_old_keys: tuple[str, ...] = secret(())
    # HMAC key of the blind indexes that find encrypted values (openids, IP addresses); never rotated with the
    # encryption key (core/crypto.py says why). Unset: derived from SECRET_KEY (not in production).
    field_index_key: str | None = secret()
    # Who may read GET /metrics: these networks, or the bearer of this token.
    metrics_allowed_networks: tuple[str, ...] = ("127.0.0.1/32",)
    metrics_token: str | None = secret()
    # The settings of each domain package, one instance per area class (see area()).
    areas: tuple[AreaSettings, ...] = dataclasses.field(default_factory=_default_areas)

    __repr__ = settings_repr

    def area(self, kind: type[_T]) -> _T:
        """The settings of one area: ``config.area(CaseSettings)``."""
        for settings in self.areas:
            if type(settings) is kind:
                return settings
        raise LookupError(f"no {kind.__name__} in this configuration: is its package in DOMAIN_PACKAGES?")

    def replace(self, **changes: Any) -> Config:
        """A copy with settings changed by their own names, whichever area holds them (for tests and benches)."""
        own = {field.name for field in dataclasses.fields(self)}
        areas = []
        for settings in self.areas:
            names = {field.name for field in dataclasses.fields(settings)}
            mine = {name: changes.pop(name) for name in list(changes) if name in names and name not in own}
            areas.append(dataclasses.replace(settings, **mine))
        unknown = sorted(set(changes) - own)
        if unknown:
            raise TypeError(f"no setting named {', '.join(unknown)}")
        return dataclasses.replace(self, areas=tuple(areas), **changes)

    @property
    def rate_limits(self) -> dict[str, tuple[int, int]]:
        return {field.name.removeprefix("rate_limit_"): getattr(self, field.name) for field in dataclasses.fields(self)
                if field.name.startswith("rate_limit_")}

    @property
    def upload_body_max_bytes(self) -> int:
        """The largest multipart body: the largest file an area takes (its ``largest_upload_bytes``) and its
        multipart framing."""
        return max((getattr(settings, "largest_upload_bytes", 0) for settings in self.areas),
                   default=0) + MULTIPART_OVERHEAD

    @property
    def staff_sign_in_policies(self) -> tuple[FailurePolicy, FailurePolicy]:
        """Failed sign-ins slow down the next ones of the same username from the same address (guessing one
        account), and of any username from that address (trying many); no account is ever locked for everyone."""
        failures, seconds = self.rate_limit_login
        return (FailurePolicy("sign-in-account", self.staff_max_failed_logins, self.staff_lockout_seconds,
                              SIGN_IN_FIRST_DELAY_SECONDS, self.staff_lockout_seconds),
                FailurePolicy("sign-in-address", failures, seconds, SIGN_IN_FIRST_DELAY_SECONDS, seconds))

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """The settings of the environment; a value that cannot work is a ConfigError naming its variable, here at
        start-up rather than in the first request that reads it."""
        env = os.environ if environ is None else environ
        environment = choice_setting(env, "APP_ENV", ENVIRONMENTS, cls.environment)
        wechat_app_id = env.get("WECHAT_APP_ID") or None
        s3_bucket = env.get("S3_BUCKET") or None
        return cls(
            environment=environment,
            secret_key=env.get("SECRET_KEY") or DEVELOPMENT_SECRET_KEY,
            database_url=database_url_setting(env.get("DATABASE_URL") or cls.database_url),
            redis_url=url_setting(env, "REDIS_URL", schemes=REDIS_URL_SCHEMES),
            media_backend=choice_setting(env, "MEDIA_BACKEND", MEDIA_BACKENDS, "s3" if s3_bucket else "local"),
            media_root=Path(env.get("MEDIA_ROOT") or cls.media_root),
            allow_local_media_in_production=flag_setting(env, "ALLOW_LOCAL_MEDIA_IN_PRODUCTION"),
            s3_endpoint_url=url_setting(env, "S3_ENDPOINT_URL"),
            s3_bucket=s3_bucket,
            s3_region=env.get("S3_REGION") or cls.s3_region,
            s3_access_key_id=env.get("S3_ACCESS_KEY_ID") or None,
            s3_secret_access_key=env.get("S3_SECRET_ACCESS_KEY") or None,
            wechat_app_id=wechat_app_id,
            wechat_app_secret=env.get("WECHAT_APP_SECRET") or None,
            wechat_api_base_url=url_setting(env, "WECHAT_API_BASE_URL") or DEFAULT_WECHAT_API_BASE_URL,
            # The development login exists only where no real WeChat app is configured.
            dev_login_enabled=flag_setting(env, "DEV_LOGIN",
                                           default=wechat_app_id is None and environment != "production"),
            resident_token_ttl_seconds=integer_setting(env, cls, "resident_token_ttl_seconds"),
            staff_max_failed_logins=integer_setting(env, cls, "staff_max_failed_logins"),
            staff_lockout_seconds=integer_setting(env, cls, "staff_lockout_seconds"),
            log_level=choice_setting(env, "LOG_LEVEL", LOG_LEVELS, cls.log_level),
            # JSON lines for the log collector in production, a readable line per event at a developer's terminal.
            log_format=choice_setting(env, "LOG_FORMAT", tuple(LOG_FORMATTERS),
                                      "json" if environment == "production" else "text"),
            map_tile_url=tile_url_setting(env.get("MAP_TILE_URL", AMAP_TILE_URL)),
            trusted_proxy_count=integer_setting(env, cls, "trusted_proxy_count", minimum=0),
            public_base_url=url_setting(env, "PUBLIC_BASE_URL"),
            **{name: rate_setting(env, cls, name) for name in _RATE_LIMITS},
            # Below 4 KiB even a sign-in or a short report would not fit.
            request_body_max_bytes=integer_setting(env, cls, "request_body_max_bytes", minimum=4096),
            field_encryption_key=encryption_key_setting("FIELD_ENCRYPTION_KEY",
                                                        env.get("FIELD_ENCRYPTION_KEY") or None),
            field_encryption_old_keys=tuple(
                encryption_key_setting("FIELD_ENCRYPTION_OLD_KEYS", key.strip())
                for key in (env.get("FIELD_ENCRYPTION_OLD_KEYS") or "").split(",") if key.strip()),
            field_index_key=encryption_key_setting("FIELD_INDEX_KEY", env.get("FIELD_INDEX_KEY") or None),
            metrics_allowed_networks=networks_setting(env, "METRICS_ALLOWED_NETWORKS", cls.metrics_allowed_networks),
            metrics_token=env.get("METRICS_TOKEN") or None,
            areas=tuple(kind.from_env(env) for kind in area_kinds()),
        )

    def check_can_start(self) -> None:
        """Refuse settings that cannot work anywhere (payouts without their keys), and in production those that are
        fine on a laptop and dangerous in front of residents."""
        problems = self._production_problems() if self.is_production else []
        for settings in self.areas:
            problems += settings.problems(production=self.is_production, shared=self)
        if problems:
            where = " in production" if self.is_production else ""
            raise ConfigError(f"refusing to start{where}: " + "; ".join(problems))

    def _production_problems(self) -> list[str]:
        problems = []
        if not self.secret_key or self.secret_key == DEVELOPMENT_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
        if self.dev_login_enabled:
            problems.append("DEV_LOGIN must be off in production")
        if self.media_backend == "local" and not self.allow_local_media_in_production:
            problems.append("media on the local disk needs ALLOW_LOCAL_MEDIA_IN_PRODUCTION=1 (or configure S3_BUCKET)")
        if not self.field_encryption_key:
            problems.append("FIELD_ENCRYPTION_KEY must be set (32 random bytes, URL-safe base64)")
        if not self.field_index_key:
            problems.append("FIELD_INDEX_KEY must be set (32 random bytes, URL-safe base64, not the encryption key)")
        if not self.redis_url:
            problems.append("REDIS_URL must be set: without it jobs (video processing, case deliveries, payouts) run "
                            "inside the web processes and each process counts rate limits on its own")
        if not (self.wechat_app_id and self.wechat_app_secret):
            problems.append("WECHAT_APP_ID and WECHAT_APP_SECRET must be set: residents sign in through WeChat")
        if self.media_backend == "s3" and not self.s3_bucket:
            problems.append("MEDIA_BACKEND=s3 needs S3_BUCKET")
        return problems


_RATE_LIMITS = tuple(field.name for field in dataclasses.fields(Config) if field.name.startswith("rate_limit_"))


def current_config() -> Config:
    """The running app's configuration (for code outside views, such as services and jobs)."""
    from flask import current_app

    return current_app.config["APP_SETTINGS"]


def current_settings(kind: type[_T]) -> _T:
    """The running app's settings of one area, for views, admin views, jobs and CLI commands:
    ``current_settings(CaseSettings)``."""
    return current_config().area(kind)


# --- reading one variable: a value that cannot work is refused with the variable's name -------------
# Areas read theirs with these. Numbers are read from the variable named as their field in capitals, and default to
# the field's default on ``owner``, the settings class.
