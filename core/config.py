"""One typed configuration object, read from the environment only when the app is built."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = PROJECT_ROOT / "var"
# A placeholder that must never reach production: create_app refuses it there.
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me"
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
    # Rate limits as (requests, per seconds): staff sign-in attempts per IP, uploads per resident,
    # preview renderings (not cached answers) per IP, data exports per resident. 0 requests: no limit.
    rate_limit_login: tuple[int, int] = (20, 300)
    rate_limit_upload: tuple[int, int] = (120, 3600)
    rate_limit_preview: tuple[int, int] = (120, 60)
    rate_limit_export: tuple[int, int] = (10, 3600)
    # Key for sensitive fields at rest (32 bytes, URL-safe base64); unset: derived from SECRET_KEY (not in production).
    field_encryption_key: str | None = None
    # Retention (days): report IP addresses, media of finished reports, residents who no longer sign in.
    retention_report_ip_days: int = 90
    retention_finished_report_media_days: int = 730
    retention_inactive_resident_days: int = 1095

    @property
    def rate_limits(self) -> dict[str, tuple[int, int]]:
        return {"login": self.rate_limit_login, "upload": self.rate_limit_upload,
                "preview": self.rate_limit_preview, "export": self.rate_limit_export}

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        environment = env.get("APP_ENV", "development").strip().lower()
        wechat_app_id = env.get("WECHAT_APP_ID") or None
        s3_bucket = env.get("S3_BUCKET") or None
        return cls(
            environment=environment,
            secret_key=env.get("SECRET_KEY") or DEVELOPMENT_SECRET_KEY,
            database_url=_normalise_database_url(env.get("DATABASE_URL") or cls.database_url),
            redis_url=env.get("REDIS_URL") or None,
            media_backend=env.get("MEDIA_BACKEND") or ("s3" if s3_bucket else "local"),
            media_root=Path(env.get("MEDIA_ROOT") or cls.media_root),
            allow_local_media_in_production=_flag(env.get("ALLOW_LOCAL_MEDIA_IN_PRODUCTION")),
            s3_endpoint_url=env.get("S3_ENDPOINT_URL") or None,
            s3_bucket=s3_bucket,
            s3_region=env.get("S3_REGION") or cls.s3_region,
            s3_access_key_id=env.get("S3_ACCESS_KEY_ID") or None,
            s3_secret_access_key=env.get("S3_SECRET_ACCESS_KEY") or None,
            signed_url_ttl_seconds=int(env.get("SIGNED_URL_TTL_SECONDS") or cls.signed_url_ttl_seconds),
            **{name: int(env.get(name.upper()) or getattr(cls, name)) for name in _MEDIA_LIMITS},
            wechat_app_id=wechat_app_id,
            wechat_app_secret=env.get("WECHAT_APP_SECRET") or None,
            wechat_api_base_url=env.get("WECHAT_API_BASE_URL") or DEFAULT_WECHAT_API_BASE_URL,
            # The development login exists only where no real WeChat app is configured.
            dev_login_enabled=_flag(env.get("DEV_LOGIN"), default=wechat_app_id is None and environment != "production"),
            resident_token_ttl_seconds=int(env.get("RESIDENT_TOKEN_TTL_SECONDS") or cls.resident_token_ttl_seconds),
            staff_max_failed_logins=int(env.get("STAFF_MAX_FAILED_LOGINS") or cls.staff_max_failed_logins),
            staff_lockout_seconds=int(env.get("STAFF_LOCKOUT_SECONDS") or cls.staff_lockout_seconds),
            log_level=(env.get("LOG_LEVEL") or cls.log_level).upper(),
            trusted_proxy_count=int(env.get("TRUSTED_PROXY_COUNT") or 0),
            signboard_rules_file=Path(env["SIGNBOARD_RULES_FILE"]) if env.get("SIGNBOARD_RULES_FILE") else None,
            service_area=_polygon(env.get("SERVICE_AREA_POLYGON")) or QINGDAO_SERVICE_AREA,
            duplicate_radius_m=float(env.get("DUPLICATE_RADIUS_M") or cls.duplicate_radius_m),
            duplicate_window_days=int(env.get("DUPLICATE_WINDOW_DAYS") or cls.duplicate_window_days),
            evidence_max_distance_m=float(env.get("EVIDENCE_MAX_DISTANCE_M") or cls.evidence_max_distance_m),
            evidence_max_age_days=int(env.get("EVIDENCE_MAX_AGE_DAYS") or cls.evidence_max_age_days),
            reports_per_resident_per_hour=int(env.get("REPORTS_PER_RESIDENT_PER_HOUR")
                                              or cls.reports_per_resident_per_hour),
            reports_per_ip_per_hour=int(env.get("REPORTS_PER_IP_PER_HOUR") or cls.reports_per_ip_per_hour),
            nearby_radius_m=float(env.get("NEARBY_RADIUS_M") or cls.nearby_radius_m),
            queue_counts_ttl_seconds=float(env.get("QUEUE_COUNTS_TTL_SECONDS") or cls.queue_counts_ttl_seconds),
            map_tile_url=env.get("MAP_TILE_URL", AMAP_TILE_URL),
            **_case_settings(env),
            **_wechatpay_settings(env, wechat_app_id),
            insight_grid_m=int(env.get("INSIGHT_GRID_M") or cls.insight_grid_m),
            insight_close_limit_hours=int(env.get("INSIGHT_CLOSE_LIMIT_HOURS") or cls.insight_close_limit_hours),
            insight_ranking_weights=_weights(env.get("INSIGHT_RANKING_WEIGHTS")) or cls.insight_ranking_weights,
            insight_chromium=env.get("INSIGHT_CHROMIUM") or cls.insight_chromium,
            insight_output_dir=Path(env.get("INSIGHT_OUTPUT_DIR") or cls.insight_output_dir),
            **{name: _rate(env.get(name.upper()), getattr(cls, name)) for name in _RATE_LIMITS},
            field_encryption_key=env.get("FIELD_ENCRYPTION_KEY") or None,
            **{name: int(env.get(name.upper()) or getattr(cls, name)) for name in _RETENTION},
        )

    def check_safe_for_production(self) -> None:
        """Refuse settings that are fine on a laptop and dangerous in front of residents."""
        if not self.is_production:
            return
        problems = []
        if not self.secret_key or self.secret_key == DEVELOPMENT_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
        if self.dev_login_enabled:
            problems.append("DEV_LOGIN must be off in production")
        if self.media_backend == "local" and not self.allow_local_media_in_production:
            problems.append("media on the local disk needs ALLOW_LOCAL_MEDIA_IN_PRODUCTION=1 (or configure S3_BUCKET)")
        if not self.field_encryption_key:
            problems.append("FIELD_ENCRYPTION_KEY must be set (32 random bytes, URL-safe base64)")
        if self.media_backend == "s3" and not self.s3_bucket:
            problems.append("MEDIA_BACKEND=s3 needs S3_BUCKET")
        if self.case_system == "open311" and not (self.open311_endpoint and self.open311_api_key):
            problems.append("CASE_SYSTEM=open311 needs OPEN311_ENDPOINT and OPEN311_API_KEY")
        if self.case_system == "webhook" and not (self.case_webhook_url and self.case_webhook_secret):
            problems.append("CASE_SYSTEM=webhook needs CASE_WEBHOOK_URL and CASE_WEBHOOK_SECRET")
        problems.extend(self._payout_problems())
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))


    def _payout_problems(self) -> list[str]:
        if not self.wechatpay_payouts_enabled:
            return []
        missing = [name.upper() for name in ("wechatpay_mch_id", "wechatpay_cert_serial_no", "wechatpay_public_key_id",
                                             "wechatpay_notify_url") if not getattr(self, name)]
        if not (self.wechatpay_app_id or self.wechat_app_id):
            missing.append("WECHATPAY_APP_ID (or WECHAT_APP_ID)")
        if not self.wechatpay_apiv3_key or len(self.wechatpay_apiv3_key) != 32:
            missing.append("WECHATPAY_APIV3_KEY (32 characters)")
        for name in ("wechatpay_private_key_path", "wechatpay_public_key_path"):
            path = getattr(self, name)
            if path is None or not path.is_file():
                missing.append(f"{name.upper()} (a readable PEM file)")
        return [f"WECHATPAY_PAYOUTS_ENABLED needs {', '.join(missing)}"] if missing else []


# Integer media settings, each read from the environment variable of its name in capitals.
_MEDIA_LIMITS = tuple(field.name for field in dataclasses.fields(Config) if field.name.startswith("media_")
                      and field.type == "int")

_RATE_LIMITS = tuple(field.name for field in dataclasses.fields(Config) if field.name.startswith("rate_limit_"))
_RETENTION = tuple(field.name for field in dataclasses.fields(Config) if field.name.startswith("retention_"))


def _rate(value: str | None, default: tuple[int, int]) -> tuple[int, int]:
    """A rate limit written "20/300": 20 requests per 300 seconds."""
    if not value:
        return default
    count, _, seconds = value.partition("/")
    try:
        return int(count), int(seconds)
    except ValueError:
        raise ConfigError(f"a rate limit is written as requests/seconds, e.g. 20/300, not {value!r}") from None


def current_config() -> Config:
    """The running app's configuration (for code outside views, such as services and jobs)."""
    from flask import current_app

    return current_app.config["APP_SETTINGS"]
def _case_settings(env: Mapping[str, str]) -> dict[str, object]:
    """The cases package's settings (case system, status updates, notifications, Open311 server)."""
    ints = ("case_updates_max_skew_seconds", "case_delivery_max_attempts", "case_delivery_backoff_base_seconds",
            "case_delivery_backoff_max_seconds", "case_delivery_lease_seconds",
            "case_delivery_requeue_after_seconds", "case_media_max_bytes", "case_media_url_ttl_seconds")
    texts = ("open311_endpoint", "open311_api_key", "open311_jurisdiction_id", "case_webhook_url",
             "case_webhook_secret", "case_updates_secret", "public_base_url", "wechat_status_template_id")
    settings: dict[str, object] = {name: int(env.get(name.upper()) or getattr(Config, name)) for name in ints}
    settings.update({name: env.get(name.upper()) or None for name in texts})
    settings.update(
        case_system=(env.get("CASE_SYSTEM") or Config.case_system).strip().lower(),
        open311_service_codes=_pairs(env.get("OPEN311_SERVICE_CODES")),
        open311_updates_extension=_flag(env.get("OPEN311_UPDATES_EXTENSION")),
        case_http_timeout_seconds=float(env.get("CASE_HTTP_TIMEOUT_SECONDS") or Config.case_http_timeout_seconds),
        case_media_hosts=tuple(host.strip().lower() for host in (env.get("CASE_MEDIA_HOSTS") or "").split(",")
                               if host.strip()),
        open311_server_api_keys=_pairs(env.get("OPEN311_SERVER_API_KEYS")),
        wechat_status_template_fields=(_pairs(env.get("WECHAT_STATUS_TEMPLATE_FIELDS"))
                                       or Config.wechat_status_template_fields),
        wechat_status_page=env.get("WECHAT_STATUS_PAGE") or Config.wechat_status_page,
    )
    if settings["case_system"] not in CASE_SYSTEMS:
        raise ConfigError(f"CASE_SYSTEM must be one of {', '.join(CASE_SYSTEMS)}")
    return settings


CASE_SYSTEMS = ("desk", "open311", "webhook")


def _pairs(value: str | None) -> tuple[tuple[str, str], ...]:
    """A JSON object of strings ('{"S0102": "garbage"}') as sorted (key, value) pairs."""
    if not value:
        return ()
    mapping = json.loads(value)
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ConfigError(f"expected a JSON object of strings, got {value[:40]!r}")
    return tuple(sorted((str(key), text) for key, text in mapping.items()))
_WECHATPAY_INTEGERS = ("wechatpay_notify_window_seconds", "wechatpay_max_transfer_fen",
                       "reward_payout_query_after_minutes", "reward_burst_window_minutes",
                       "reward_burst_reports_per_ip", "reward_burst_reports_per_resident")


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
        "wechatpay_api_base_url": env.get("WECHATPAY_API_BASE_URL") or DEFAULT_WECHATPAY_API_BASE_URL,
        "wechatpay_notify_url": env.get("WECHATPAY_NOTIFY_URL") or None,
        "wechatpay_transfer_scene_id": env.get("WECHATPAY_TRANSFER_SCENE_ID") or Config.wechatpay_transfer_scene_id,
        "wechatpay_timeout_seconds": float(env.get("WECHATPAY_TIMEOUT_SECONDS") or Config.wechatpay_timeout_seconds),
        **{name: int(env.get(name.upper()) or getattr(Config, name)) for name in _WECHATPAY_INTEGERS},
    }


def _polygon(value: str | None) -> tuple[tuple[float, float], ...] | None:
    """SERVICE_AREA_POLYGON: a JSON list of [lat, lng] WGS-84 vertices."""
    if not value:
        return None
    vertices = tuple((float(lat), float(lng)) for lat, lng in json.loads(value))
    if len(vertices) < 3:
        raise ConfigError("SERVICE_AREA_POLYGON needs at least three [lat, lng] vertices")
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
        weights[name.strip()] = float(weight)
    if any(weight < 0 for weight in weights.values()) or sum(weights.values()) <= 0:
        raise ConfigError("INSIGHT_RANKING_WEIGHTS: weights are ≥ 0 and not all 0")
    return tuple(weights.items())


def _normalise_database_url(url: str) -> str:
    # PostgreSQL goes through psycopg 3; accept the URLs that hosting panels hand out.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
