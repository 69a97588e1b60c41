"""The cases package's settings: the city's case system, status updates from it, notifications to residents, and
the Open311 server."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from core.config import PRESIGNED_URL_MAX_SECONDS, Config
from core.config_values import (choice_setting, decimal_setting, flag_setting, integer_setting, pairs_setting, secret,
                                settings_repr, url_setting)

CASE_SYSTEMS = ("desk", "open311", "webhook")


@dataclasses.dataclass(frozen=True)
class CaseSettings:
    # The city's case system: "desk" (built in), "open311" or "webhook".
    case_system: str = "desk"
    open311_endpoint: str | None = None
    open311_api_key: str | None = secret()
    open311_jurisdiction_id: str | None = None
    # Our category id -> the case system's service_code; unmapped categories send their own id.
    open311_service_codes: tuple[tuple[str, str], ...] = ()
    # Poll the GeoReport "servicerequestupdates" extension instead of requests.json.
    open311_updates_extension: bool = False
    case_webhook_url: str | None = None
    case_webhook_secret: str | None = secret()
    # Shared secret of POST /api/v1/case-updates (HMAC-SHA256), and how old its timestamp may be.
    case_updates_secret: str | None = secret()
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
    # Our Open311 server: api_key -> client name, each client filing as a resident of its own.
    open311_server_api_keys: tuple[tuple[str, str], ...] = secret(())
    # WeChat subscribe messages on report status changes: template id, data keys -> our values, page.
    wechat_status_template_id: str | None = None
    wechat_status_template_fields: tuple[tuple[str, str], ...] = (
        ("character_string1", "report_no"), ("thing2", "category"), ("phrase3", "status"),
        ("time4", "time"), ("thing5", "note"))
    wechat_status_page: str = "pages/report/detail"
    # A status message waits this long for further changes of its report: changes close together (accepted, then
    # forwarded) make one message with the latest state, spending one of the resident's one-time permissions.
    # 0: sent at once (changes in one transaction still make one message).
    wechat_status_coalesce_seconds: int = 60

    __repr__ = settings_repr

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CaseSettings:
        texts = ("open311_api_key", "open311_jurisdiction_id", "case_webhook_secret", "case_updates_secret",
                 "wechat_status_template_id")
        return cls(
            case_system=choice_setting(env, "CASE_SYSTEM", CASE_SYSTEMS, cls.case_system),
            open311_endpoint=url_setting(env, "OPEN311_ENDPOINT"),
            open311_service_codes=pairs_setting(env, "OPEN311_SERVICE_CODES"),
            open311_updates_extension=flag_setting(env, "OPEN311_UPDATES_EXTENSION"),
            case_webhook_url=url_setting(env, "CASE_WEBHOOK_URL"),
            case_http_timeout_seconds=decimal_setting(env, cls, "case_http_timeout_seconds", positive=True),
            case_media_hosts=tuple(host.strip().lower() for host in (env.get("CASE_MEDIA_HOSTS") or "").split(",")
                                   if host.strip()),
            case_media_url_ttl_seconds=integer_setting(env, cls, "case_media_url_ttl_seconds",
                                                       maximum=PRESIGNED_URL_MAX_SECONDS),
            open311_server_api_keys=pairs_setting(env, "OPEN311_SERVER_API_KEYS"),
            wechat_status_template_fields=(pairs_setting(env, "WECHAT_STATUS_TEMPLATE_FIELDS")
                                           or cls.wechat_status_template_fields),
            wechat_status_page=env.get("WECHAT_STATUS_PAGE") or cls.wechat_status_page,
            wechat_status_coalesce_seconds=integer_setting(env, cls, "wechat_status_coalesce_seconds", minimum=0,
                                                           maximum=3600),
            **{name: env.get(name.upper()) or None for name in texts},
            **{name: integer_setting(env, cls, name) for name in _INTEGERS},
        )

    def problems(self, *, production: bool, shared: Config) -> list[str]:
        if not production:
            return []
        problems = []
        if self.case_system == "open311" and not (self.open311_endpoint and self.open311_api_key):
            problems.append("CASE_SYSTEM=open311 needs OPEN311_ENDPOINT and OPEN311_API_KEY")
        if self.case_system == "webhook" and not (self.case_webhook_url and self.case_webhook_secret):
            problems.append("CASE_SYSTEM=webhook needs CASE_WEBHOOK_URL and CASE_WEBHOOK_SECRET")
        if self.case_system != "desk" and shared.media_backend == "local" and not shared.public_base_url:
            problems.append(f"CASE_SYSTEM={self.case_system} with media on the local disk needs PUBLIC_BASE_URL "
                            "(the case system is handed links to this app's photos)")
        return problems


_INTEGERS = ("case_updates_max_skew_seconds", "case_delivery_max_attempts", "case_delivery_backoff_base_seconds",
             "case_delivery_backoff_max_seconds", "case_delivery_lease_seconds", "case_delivery_requeue_after_seconds",
             "case_media_max_bytes")

SETTINGS = CaseSettings
