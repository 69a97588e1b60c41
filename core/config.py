"""One typed configuration object, read from the environment only when the app is built."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.ratelimit import FailurePolicy

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = PROJECT_ROOT / "var"
# A placeholder that must never reach production: create_app refuses it there.
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me"
# The wait after the failed sign-ins allowed; each further failure doubles it.
SIGN_IN_FIRST_DELAY_SECONDS = 2
DEFAULT_WECHAT_API_BASE_URL = "https://api.weixin.qq.com/"
DEFAULT_WECHATPAY_API_BASE_URL = "https://api.mch.weixin.qq.com"
AMAP_TILE_URL = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"


# Qingdao's administrative extent, roughly, as (lat, lng) WGS-84 vertices.
QINGDAO_SERVICE_AREA: tuple[tuple[float, float], ...] = (
    (35.57, 119.48), (35.57, 120.30), (35.90, 120.60), (36.05, 120.98), (36.45, 121.05),
    (36.95, 120.95), (37.15, 120.60), (37.15, 119.85), (36.75, 119.48),
)


class ConfigError(RuntimeError):
    """The configuration cannot run safely; the message says what to change."""


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclasses.dataclass(frozen=True)
class Config:
    environment: str = "development"
    secret_key: str = DEVELOPMENT_SECRET_KEY
    database_url: str = f"sqlite:///{DEFAULT_VAR_DIR / 'app.db'}"
    redis_url: str | None = None

    media_backend: str = "local"
    media_root: Path = DEFAULT_VAR_DIR / "media"
    allow_local_media_in_production: bool = False
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "ap-guangzhou"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    signed_url_ttl_seconds: int = 300
    # Media limits per kind, fitted to what the mini-program can send.
    media_photo_max_bytes: int = 20 * 1024 * 1024
    media_photo_max_pixels: int = 50_000_000
    media_audio_max_bytes: int = 10 * 1024 * 1024
    media_audio_max_seconds: int = 10 * 60
    media_video_max_bytes: int = 100 * 1024 * 1024
    media_video_max_seconds: int = 5 * 60
    media_upload_ttl_seconds: int = 15 * 60
    media_unattached_ttl_hours: int = 24

    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_api_base_url: str = DEFAULT_WECHAT_API_BASE_URL
    dev_login_enabled: bool = True

    resident_token_ttl_seconds: int = 7 * 24 * 3600
    staff_max_failed_logins: int = 5
    staff_lockout_seconds: int = 15 * 60
    log_level: str = "INFO"
    log_format: str = "text"
    # Photo My City: where reports are accepted, and the thresholds of the automatic checks.
    service_area: tuple[tuple[float, float], ...] = QINGDAO_SERVICE_AREA
    duplicate_radius_m: float = 50.0
    duplicate_window_days: int = 7
    evidence_max_distance_m: float = 500.0
    evidence_max_age_days: int = 3
    reports_per_resident_per_hour: int = 20
    reports_per_ip_per_hour: int = 60
    nearby_radius_m: float = 500.0
    queue_counts_ttl_seconds: float = 10.0
    # Map tiles for the admin view's maps; AMap's tiles are GCJ-02. Empty: a map without tiles.
    map_tile_url: str = AMAP_TILE_URL
    # How many reverse proxies (nginx, a cloud load balancer) sit in front and set X-Forwarded-*.
    trusted_proxy_count: int = 0
    # A city's own signboard rule file; unset: the rules shipped in signboard_templates/data.
    signboard_rules_file: Path | None = None
    # Rewarded snapshots: WeChat Pay 商家转账 (API v3) payouts, and the reward abuse signals.
    wechatpay_payouts_enabled: bool = False
    wechatpay_mch_id: str | None = None
    wechatpay_app_id: str | None = None
    wechatpay_private_key_path: Path | None = None
    wechatpay_cert_serial_no: str | None = None
    wechatpay_apiv3_key: str | None = None
    wechatpay_public_key_path: Path | None = None
    wechatpay_public_key_id: str | None = None
    wechatpay_api_base_url: str = DEFAULT_WECHATPAY_API_BASE_URL
    wechatpay_notify_url: str | None = None
    wechatpay_transfer_scene_id: str = "1000"
    # Starts every out_bill_no this deployment sends; deployments sharing a merchant need different ones.
    wechatpay_out_bill_prefix: str = "QDRW"
    wechatpay_timeout_seconds: float = 10.0
    wechatpay_notify_window_seconds: int = 300
    wechatpay_max_transfer_fen: int = 20_000
    reward_payout_query_after_minutes: int = 10
    reward_burst_window_minutes: int = 60
    reward_burst_reports_per_ip: int = 10
    reward_burst_reports_per_resident: int = 6

    # The city's case system (cases package): "desk" (built in), "open311" or "webhook".
    case_system: str = "desk"
    open311_endpoint: str | None = None
    open311_api_key: str | None = None
    open311_jurisdiction_id: str | None = None
    # Our category id -> the case system's service_code; unmapped categories send their own id.
    open311_service_codes: tuple[tuple[str, str], ...] = ()
    # Poll the GeoReport "servicerequestupdates" extension instead of requests.json.
    open311_updates_extension: bool = False
    case_webhook_url: str | None = None
    case_webhook_secret: str | None = None
    # Shared secret of POST /api/v1/case-updates (HMAC-SHA256), and how old its timestamp may be.
    case_updates_secret: str | None = None
    case_updates_max_skew_seconds: int = 300
    case_http_timeout_seconds: float = 10.0
    case_delivery_max_attempts: int = 12
    case_delivery_backoff_base_seconds: int = 30
    case_delivery_backoff_max_seconds: int = 6 * 3600
    # An attempt still "delivering" after this is taken to be lost with its worker.
    case_delivery_lease_seconds: int = 120
    # A queued delivery not started after this is taken to be lost with Redis.
    case_delivery_requeue_after_seconds: int = 300
    # Hosts whose photos we fetch (resolution photos of case updates, Open311 media_url).
    case_media_hosts: tuple[str, ...] = ()
    case_media_max_bytes: int = 10 * 1024 * 1024
    # Lifetime of the photo link handed to a case system (S3 presigned links last at most 7 days).
    case_media_url_ttl_seconds: int = 7 * 24 * 3600
    # This app's public origin, for links handed to others ("https://api.example.cn").
    public_base_url: str | None = None
    # Our Open311 server: api_key -> client name, each client filing as a resident of its own.
    open311_server_api_keys: tuple[tuple[str, str], ...] = ()
    # WeChat subscribe messages on report status changes: template id, data keys -> our values, page.
    wechat_status_template_id: str | None = None
    wechat_status_template_fields: tuple[tuple[str, str], ...] = (
        ("character_string1", "report_no"), ("thing2", "category"), ("phrase3", "status"),
        ("time4", "time"), ("thing5", "note"))
    wechat_status_page: str = "pages/report/detail"
    # Insight: hot-spot grid cell size, the time limit for disposal, the district score's weights,
    # the Chromium that prints monthly reports to PDF, and where the command writes them.
    insight_grid_m: int = 500
    insight_close_limit_hours: int = 72
    insight_ranking_weights: tuple[tuple[str, float], ...] = (("handled", 0.4), ("speed", 0.3), ("satisfaction", 0.3))
    insight_chromium: str = "chromium"
    insight_output_dir: Path = DEFAULT_VAR_DIR / "reports"
    # Rate limits as (requests, per seconds): failed staff sign-ins per IP (see staff_sign_in_policies), uploads per resident,
    # preview renderings (not cached answers) per IP, data exports per resident. 0 requests: no limit.
    rate_limit_login: tuple[int, int] = (20, 300)
    rate_limit_upload: tuple[int, int] = (120, 3600)
    rate_limit_preview: tuple[int, int] = (120, 60)
    rate_limit_export: tuple[int, int] = (10, 3600)
    # Public work (security review): certificate look-ups, Open311 reads and nearby reports per IP address, monthly
    # PDFs per staff member; and how many PDFs Chromium prints at once, in all processes together.
    rate_limit_certificate: tuple[int, int] = (60, 60)
    rate_limit_open311: tuple[int, int] = (120, 60)
    rate_limit_nearby: tuple[int, int] = (60, 60)
    rate_limit_pdf: tuple[int, int] = (10, 600)
    pdf_prints_at_once: int = 2
    # The largest request body that is not a file upload (JSON, forms): refused with 413 before it is read.
    # Uploads (multipart bodies) may be as large as the largest media limit.
    request_body_max_bytes: int = 256 * 1024
    # Key for sensitive fields at rest (32 bytes, URL-safe base64); unset: derived from SECRET_KEY (not in production).
    field_encryption_key: str | None = None
    # Keys values may still be encrypted with, read but never written (during and until `flask privacy rotate-key`).
    field_encryption_old_keys: tuple[str, ...] = ()
    # HMAC key of the blind indexes that find encrypted values (openids, IP addresses); never rotated with the
    # encryption key (core/crypto.py says why). Unset: derived from SECRET_KEY (not in production).
    field_index_key: str | None = None
    # Retention (days): report IP addresses, media of finished reports, residents who no longer sign in.
    retention_report_ip_days: int = 90
    retention_finished_report_media_days: int = 730
    retention_inactive_resident_days: int = 1095

    def __repr__(self) -> str:
        # Settings get printed (tracebacks, a debugging log line): keys, secrets and URLs that may carry passwords
        # are shown only as set or not.
        shown = (f"{field.name}={'<set>' if getattr(self, field.name) else getattr(self, field.name)!r}"
                 if field.name in _NOT_PRINTED else f"{field.name}={getattr(self, field.name)!r}"
                 for field in dataclasses.fields(self))
        return f"Config({', '.join(shown)})"

    @property
    def rate_limits(self) -> dict[str, tuple[int, int]]:
        return {field.name.removeprefix("rate_limit_"): getattr(self, field.name) for field in dataclasses.fields(self)
                if field.name.startswith("rate_limit_")}

    @property
    def upload_body_max_bytes(self) -> int:
        """The largest multipart body: the largest media file and its multipart framing."""
        return max(self.media_photo_max_bytes, self.media_audio_max_bytes, self.media_video_max_bytes) + MULTIPART_OVERHEAD

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
        environment = _choice(env, "APP_ENV", ENVIRONMENTS, cls.environment)
        wechat_app_id = env.get("WECHAT_APP_ID") or None
        s3_bucket = env.get("S3_BUCKET") or None
        return cls(
            environment=environment,
            secret_key=env.get("SECRET_KEY") or DEVELOPMENT_SECRET_KEY,
            database_url=_database_url(env.get("DATABASE_URL") or cls.database_url),
            redis_url=_url(env, "REDIS_URL", schemes=REDIS_URL_SCHEMES),
            media_backend=_choice(env, "MEDIA_BACKEND", MEDIA_BACKENDS, "s3" if s3_bucket else "local"),
            media_root=Path(env.get("MEDIA_ROOT") or cls.media_root),
            allow_local_media_in_production=_flag(env.get("ALLOW_LOCAL_MEDIA_IN_PRODUCTION")),
            s3_endpoint_url=_url(env, "S3_ENDPOINT_URL"),
            s3_bucket=s3_bucket,
            s3_region=env.get("S3_REGION") or cls.s3_region,
            s3_access_key_id=env.get("S3_ACCESS_KEY_ID") or None,
            s3_secret_access_key=env.get("S3_SECRET_ACCESS_KEY") or None,
            signed_url_ttl_seconds=_integer(env, "signed_url_ttl_seconds", maximum=PRESIGNED_URL_MAX_SECONDS),
            **{name: _integer(env, name) for name in _MEDIA_LIMITS},
            wechat_app_id=wechat_app_id,
            wechat_app_secret=env.get("WECHAT_APP_SECRET") or None,
            wechat_api_base_url=_url(env, "WECHAT_API_BASE_URL") or DEFAULT_WECHAT_API_BASE_URL,
            # The development login exists only where no real WeChat app is configured.
            dev_login_enabled=_flag(env.get("DEV_LOGIN"), default=wechat_app_id is None and environment != "production"),
            resident_token_ttl_seconds=_integer(env, "resident_token_ttl_seconds"),
            staff_max_failed_logins=_integer(env, "staff_max_failed_logins"),
            staff_lockout_seconds=_integer(env, "staff_lockout_seconds"),
            log_level=_choice(env, "LOG_LEVEL", LOG_LEVELS, cls.log_level),
            # JSON lines for the log collector in production, a readable line per event at a developer's terminal.
            log_format=_choice(env, "LOG_FORMAT", LOG_FORMATS, "json" if environment == "production" else "text"),
            trusted_proxy_count=_integer(env, "trusted_proxy_count", minimum=0),
            signboard_rules_file=Path(env["SIGNBOARD_RULES_FILE"]) if env.get("SIGNBOARD_RULES_FILE") else None,
            service_area=_polygon(env.get("SERVICE_AREA_POLYGON")) or QINGDAO_SERVICE_AREA,
            # Distances divide by the duplicate radius: zero would fail the first report filed where another is.
            duplicate_radius_m=_decimal(env, "duplicate_radius_m", positive=True),
            duplicate_window_days=_integer(env, "duplicate_window_days", minimum=0),
            evidence_max_distance_m=_decimal(env, "evidence_max_distance_m"),
            evidence_max_age_days=_integer(env, "evidence_max_age_days", minimum=0),
            reports_per_resident_per_hour=_integer(env, "reports_per_resident_per_hour"),
            reports_per_ip_per_hour=_integer(env, "reports_per_ip_per_hour"),
            nearby_radius_m=_decimal(env, "nearby_radius_m", positive=True),
            queue_counts_ttl_seconds=_decimal(env, "queue_counts_ttl_seconds"),
            map_tile_url=_tile_url(env.get("MAP_TILE_URL", AMAP_TILE_URL)),
            **_case_settings(env),
            **_wechatpay_settings(env, wechat_app_id),
            insight_grid_m=_integer(env, "insight_grid_m"),
            insight_close_limit_hours=_integer(env, "insight_close_limit_hours"),
            insight_ranking_weights=_weights(env.get("INSIGHT_RANKING_WEIGHTS")) or cls.insight_ranking_weights,
            insight_chromium=env.get("INSIGHT_CHROMIUM") or cls.insight_chromium,
            insight_output_dir=Path(env.get("INSIGHT_OUTPUT_DIR") or cls.insight_output_dir),
            **{name: _rate(env, name) for name in _RATE_LIMITS},
            pdf_prints_at_once=_integer(env, "pdf_prints_at_once"),
            # Below 4 KiB even a sign-in or a short report would not fit.
            request_body_max_bytes=_integer(env, "request_body_max_bytes", minimum=4096),
            field_encryption_key=_encryption_key("FIELD_ENCRYPTION_KEY", env.get("FIELD_ENCRYPTION_KEY") or None),
            field_encryption_old_keys=tuple(
                _encryption_key("FIELD_ENCRYPTION_OLD_KEYS", key.strip())
                for key in (env.get("FIELD_ENCRYPTION_OLD_KEYS") or "").split(",") if key.strip()),
            field_index_key=_encryption_key("FIELD_INDEX_KEY", env.get("FIELD_INDEX_KEY") or None),
            # A retention of 0 days (or fewer) would forget every resident and delete every finished report's media.
            **{name: _integer(env, name) for name in _RETENTION},
        )

    def check_can_start(self) -> None:
        """Refuse settings that cannot work anywhere (payouts without their keys), and in production those that are
        fine on a laptop and dangerous in front of residents."""
        problems = (self._production_problems() if self.is_production else []) + self._payout_problems()
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
        if self.case_system == "open311" and not (self.open311_endpoint and self.open311_api_key):
            problems.append("CASE_SYSTEM=open311 needs OPEN311_ENDPOINT and OPEN311_API_KEY")
        if self.case_system == "webhook" and not (self.case_webhook_url and self.case_webhook_secret):
            problems.append("CASE_SYSTEM=webhook needs CASE_WEBHOOK_URL and CASE_WEBHOOK_SECRET")
        if self.case_system != "desk" and self.media_backend == "local" and not self.public_base_url:
            problems.append(f"CASE_SYSTEM={self.case_system} with media on the local disk needs PUBLIC_BASE_URL "
                            "(the case system is handed links to this app's photos)")
        return problems

    def _payout_problems(self) -> list[str]:
        if not self.wechatpay_payouts_enabled:
            return []
        missing = [name.upper() for name in ("wechatpay_mch_id", "wechatpay_cert_serial_no", "wechatpay_public_key_id",
                                             "wechatpay_notify_url") if not getattr(self, name)]
        if not (self.wechatpay_app_id or self.wechat_app_id):
            missing.append("WECHATPAY_APP_ID (or WECHAT_APP_ID)")
        if not self.wechatpay_apiv3_key or len(self.wechatpay_apiv3_key) != 32:
            missing.append("WECHATPAY_APIV3_KEY (32 characters)")
        # Read now: a certificate, an encrypted or a cut-short key would otherwise stop the start in wechatpayv3 with
        # "failed to load private key", naming no file.
        for name, kind in (("wechatpay_private_key_path", "private"), ("wechatpay_public_key_path", "public")):
            if not _is_pem_key(getattr(self, name), kind):
                missing.append(f"{name.upper()} (a readable PEM {kind} key file)")
        return [f"WECHATPAY_PAYOUTS_ENABLED needs {', '.join(missing)}"] if missing else []


# Integer media settings, each read from the environment variable of its name in capitals.
_MEDIA_LIMITS = tuple(field.name for field in dataclasses.fields(Config) if field.name.startswith("media_")
                      and field.type == "int")

_RATE_LIMITS = tuple(field.name for field in dataclasses.fields(Config) if field.name.startswith("rate_limit_"))
_RETENTION = tuple(field.name for field in dataclasses.fields(Config) if field.name.startswith("retention_"))

_NOT_PRINTED = frozenset(("secret_key", "database_url", "redis_url", "s3_secret_access_key", "wechat_app_secret",
                          "wechatpay_apiv3_key", "case_webhook_secret", "case_updates_secret", "open311_api_key",
                          "open311_server_api_keys", "field_encryption_key", "field_encryption_old_keys",
                          "field_index_key"))
ENVIRONMENTS = ("development", "production")
MEDIA_BACKENDS = ("local", "s3")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
CASE_SYSTEMS = ("desk", "open311", "webhook")
DATABASE_BACKENDS = ("sqlite", "postgresql")
REDIS_URL_SCHEMES = ("redis", "rediss", "unix")
# Room for a multipart body's boundaries and part headers around its file.
MULTIPART_OVERHEAD = 64 * 1024
# S3 (SigV4) refuses a presigned link valid for longer than seven days, when it is used.
PRESIGNED_URL_MAX_SECONDS = 7 * 24 * 3600


def current_config() -> Config:
    """The running app's configuration (for code outside views, such as services and jobs)."""
    from flask import current_app

    return current_app.config["APP_SETTINGS"]


def _is_pem_key(path: Path | None, kind: str) -> bool:
    """Whether the file holds an unencrypted PEM key of that kind ("private" or "public")."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    if path is None:
        return False
    try:
        data = path.read_bytes()
        if kind == "private":
            serialization.load_pem_private_key(data, password=None)
        else:
            serialization.load_pem_public_key(data)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


# --- reading one variable: a value that cannot work is refused with the variable's name -------------

def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    """One of ``choices``, in any case; a typo ("prod", "S3 ") must not quietly mean the default."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    by_lower = {choice.lower(): choice for choice in choices}
    if text.lower() not in by_lower:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {text!r}")
    return by_lower[text.lower()]


def _integer(env: Mapping[str, str], field: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """The whole number in the variable named as ``field`` in capitals, or the field's default."""
    name, text = field.upper(), env.get(field.upper())
    if not text:
        return getattr(Config, field)
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" + (f" and at most {maximum}" if maximum is not None else "")
        raise ConfigError(f"{name} must be a whole number of {bounds}, not {text!r}")
    return value


def _decimal(env: Mapping[str, str], field: str, *, positive: bool = False) -> float:
    """The finite number in the variable named as ``field`` in capitals (≥ 0, or > 0), or the field's default."""
    name, text = field.upper(), env.get(field.upper())
    if not text:
        return getattr(Config, field)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ConfigError(f"{name} must be a number {'greater than 0' if positive else 'of at least 0'}, not {text!r}")
    return value


def _rate(env: Mapping[str, str], field: str) -> tuple[int, int]:
    """A rate limit written "20/300": 20 requests per 300 seconds (0 requests: no limit)."""
    name, text = field.upper(), env.get(field.upper())
    if not text:
        return getattr(Config, field)
    count, _, seconds = text.partition("/")
    try:
        limit = int(count), int(seconds)
    except ValueError:
        limit = (-1, 0)
    if limit[0] < 0 or limit[1] < 1:
        raise ConfigError(f"{name}: a rate limit is written as requests/seconds (requests ≥ 0, seconds ≥ 1), "
                          f"e.g. 20/300, not {text!r}")
    return limit


def _url(env: Mapping[str, str], name: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    """An absolute URL of one of ``schemes``, or None when unset. Its value is not repeated in the message: URLs
    of databases and Redis carry passwords."""
    value = env.get(name) or None
    if value is None:
        return None
    try:
        parts = urlsplit(value.strip())
        located = bool(parts.hostname) or (parts.scheme == "unix" and bool(parts.path))
    except ValueError:
        located = False
    if not located or parts.scheme not in schemes:
        raise ConfigError(f"{name} must be an absolute URL with a host ({', '.join(f'{scheme}://…' for scheme in schemes)})")
    return value.strip()


def _database_url(url: str) -> str:
    """DATABASE_URL as SQLAlchemy takes it: PostgreSQL through psycopg 3, whatever spelling hosting panels use."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        backend = None
    if backend not in DATABASE_BACKENDS:
        raise ConfigError("DATABASE_URL must be a PostgreSQL URL (postgresql://user@host:5432/db) "
                          "or a SQLite one (sqlite:///path/app.db)")
    return url


def _tile_url(value: str) -> str:
    """MAP_TILE_URL: a Leaflet tile template, http(s) with {x}, {y} and {z}; empty for maps without tiles."""
    if not value:
        return ""
    try:
        host = urlsplit(value).hostname
    except ValueError:
        host = None
    if not (value.startswith(("https://", "http://")) and host and all(part in value for part in ("{x}", "{y}", "{z}"))):
        raise ConfigError("MAP_TILE_URL must be an http(s) tile template with {x}, {y} and {z} "
                          f"(empty: maps without tiles), not {value!r}")
    return value


def _encryption_key(name: str, value: str | None) -> str | None:
    from core.crypto import decode_key

    if value is not None:
        try:
            decode_key(value)
        except ValueError:
            raise ConfigError(f"{name} must be 32 random bytes in URL-safe base64 (44 characters)") from None
    return value


def _pairs(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    """A JSON object of strings ('{"S0102": "garbage"}') as sorted (key, value) pairs."""
    value = env.get(name)
    if not value:
        return ()
    try:
        mapping = json.loads(value)
    except ValueError:
        mapping = None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ConfigError(f"{name} must be a JSON object of strings, not {value[:40]!r}")
    return tuple(sorted((str(key), text) for key, text in mapping.items()))


def _polygon(value: str | None) -> tuple[tuple[float, float], ...] | None:
    """SERVICE_AREA_POLYGON: a JSON list of [lat, lng] WGS-84 vertices."""
    if not value:
        return None
    try:
        vertices = tuple((float(lat), float(lng)) for lat, lng in json.loads(value))
    except (ValueError, TypeError):
        vertices = ()
    # A NaN fails both range checks; [lng, lat] pairs for Qingdao fail the latitude's.
    if len(vertices) < 3 or not all(-90 <= lat <= 90 and -180 <= lng <= 180 for lat, lng in vertices):
        raise ConfigError("SERVICE_AREA_POLYGON must be a JSON list of at least three [lat, lng] WGS-84 vertices, "
                          "latitude first, e.g. [[35.57, 119.48], [35.57, 120.30], [37.15, 120.60]]")
    return vertices


RANKING_MEASURES = ("handled", "speed", "satisfaction")


def _weights(value: str | None) -> tuple[tuple[str, float], ...] | None:
    """INSIGHT_RANKING_WEIGHTS: "handled=0.4,speed=0.3,satisfaction=0.3" (measures left out weigh 0)."""
    if not value:
        return None
    weights = dict.fromkeys(RANKING_MEASURES, 0.0)
    for part in value.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in weights:
            raise ConfigError(f"INSIGHT_RANKING_WEIGHTS: unknown measure {name.strip()!r}; use {', '.join(RANKING_MEASURES)}")
        try:
            weights[name.strip()] = float(weight)
        except ValueError:
            weights[name.strip()] = math.nan
    if not all(math.isfinite(weight) and weight >= 0 for weight in weights.values()) or sum(weights.values()) <= 0:
        raise ConfigError("INSIGHT_RANKING_WEIGHTS: weights are numbers ≥ 0 and not all 0")
    return tuple(weights.items())


# --- the settings of one package each ------------------------------------------------------------

def _case_settings(env: Mapping[str, str]) -> dict[str, object]:
    """The cases package's settings (case system, status updates, notifications, Open311 server)."""
    ints = ("case_updates_max_skew_seconds", "case_delivery_max_attempts", "case_delivery_backoff_base_seconds",
            "case_delivery_backoff_max_seconds", "case_delivery_lease_seconds",
            "case_delivery_requeue_after_seconds", "case_media_max_bytes")
    texts = ("open311_api_key", "open311_jurisdiction_id", "case_webhook_secret", "case_updates_secret",
             "wechat_status_template_id")
    settings: dict[str, object] = {name: _integer(env, name) for name in ints}
    settings.update({name: env.get(name.upper()) or None for name in texts})
    settings.update({name: _url(env, name.upper()) for name in ("open311_endpoint", "case_webhook_url",
                                                                 "public_base_url")})
    settings.update(
        case_system=_choice(env, "CASE_SYSTEM", CASE_SYSTEMS, Config.case_system),
        open311_service_codes=_pairs(env, "OPEN311_SERVICE_CODES"),
        open311_updates_extension=_flag(env.get("OPEN311_UPDATES_EXTENSION")),
        case_http_timeout_seconds=_decimal(env, "case_http_timeout_seconds", positive=True),
        case_media_hosts=tuple(host.strip().lower() for host in (env.get("CASE_MEDIA_HOSTS") or "").split(",")
                               if host.strip()),
        case_media_url_ttl_seconds=_integer(env, "case_media_url_ttl_seconds", maximum=PRESIGNED_URL_MAX_SECONDS),
        open311_server_api_keys=_pairs(env, "OPEN311_SERVER_API_KEYS"),
        wechat_status_template_fields=(_pairs(env, "WECHAT_STATUS_TEMPLATE_FIELDS")
                                       or Config.wechat_status_template_fields),
        wechat_status_page=env.get("WECHAT_STATUS_PAGE") or Config.wechat_status_page,
    )
    return settings


# WeChat Pay integers, each at least 1 but the bill query's delay (0: query at the next sweep) and the burst
# thresholds (0: any report holds the reward).
_WECHATPAY_INTEGERS = {"wechatpay_notify_window_seconds": 1, "wechatpay_max_transfer_fen": 1,
                       "reward_payout_query_after_minutes": 0, "reward_burst_window_minutes": 1,
                       "reward_burst_reports_per_ip": 0, "reward_burst_reports_per_resident": 0}


# WeChat Pay's out_bill_no is at most 32 letters and digits; the payout's random part takes what the prefix leaves.
OUT_BILL_PREFIX_MAX_LENGTH = 12


def _out_bill_prefix(value: str | None) -> str:
    if not value:
        return Config.wechatpay_out_bill_prefix
    if not (value.isascii() and value.isalnum() and len(value) <= OUT_BILL_PREFIX_MAX_LENGTH):
        raise ConfigError(f"WECHATPAY_OUT_BILL_PREFIX must be 1–{OUT_BILL_PREFIX_MAX_LENGTH} letters or digits "
                          f"(WeChat Pay's out_bill_no allows nothing else), not {value!r}")
    return value


def _wechatpay_settings(env: Mapping[str, str], wechat_app_id: str | None) -> dict[str, object]:
    """WECHATPAY_* and REWARD_* settings, each from the environment variable of its name in capitals."""
    def path(name: str) -> Path | None:
        return Path(env[name]) if env.get(name) else None

    return {
        "wechatpay_payouts_enabled": _flag(env.get("WECHATPAY_PAYOUTS_ENABLED")),
        "wechatpay_mch_id": env.get("WECHATPAY_MCH_ID") or None,
        "wechatpay_app_id": env.get("WECHATPAY_APP_ID") or wechat_app_id,
        "wechatpay_private_key_path": path("WECHATPAY_PRIVATE_KEY_PATH"),
        "wechatpay_cert_serial_no": env.get("WECHATPAY_CERT_SERIAL_NO") or None,
        "wechatpay_apiv3_key": env.get("WECHATPAY_APIV3_KEY") or None,
        "wechatpay_public_key_path": path("WECHATPAY_PUBLIC_KEY_PATH"),
        "wechatpay_public_key_id": env.get("WECHATPAY_PUBLIC_KEY_ID") or None,
        "wechatpay_api_base_url": _url(env, "WECHATPAY_API_BASE_URL") or DEFAULT_WECHATPAY_API_BASE_URL,
        "wechatpay_notify_url": _url(env, "WECHATPAY_NOTIFY_URL"),
        "wechatpay_transfer_scene_id": env.get("WECHATPAY_TRANSFER_SCENE_ID") or Config.wechatpay_transfer_scene_id,
        "wechatpay_out_bill_prefix": _out_bill_prefix(env.get("WECHATPAY_OUT_BILL_PREFIX")),
        "wechatpay_timeout_seconds": _decimal(env, "wechatpay_timeout_seconds", positive=True),
        **{name: _integer(env, name, minimum=minimum) for name, minimum in _WECHATPAY_INTEGERS.items()},
    }
