"""Configuration comes from the environment, and production refuses unsafe settings."""

from __future__ import annotations

import pytest

from cases.settings import CaseSettings
from citizen.settings import CitizenSettings
from core.app import create_app
from core.config import Config, ConfigError, current_settings
from media.settings import MediaSettings
from rewards.settings import RewardSettings

SAFE_PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 48,
    "WECHAT_APP_ID": "wx123",
    "WECHAT_APP_SECRET": "wechat-app-secret",
    "REDIS_URL": "redis://redis.invalid:6379/0",
    "S3_BUCKET": "media",
    "FIELD_ENCRYPTION_KEY": "A" * 43,
    "FIELD_INDEX_KEY": "B" * 43,
}


def test_nothing_set_means_the_embedded_default():
    config = Config.from_env({})
    assert config.uses_sqlite and config.database_url.endswith("var/app.db")
    assert config.redis_url is None
    assert config.media_backend == "local" and str(config.media_root).endswith("var/media")
    assert config.dev_login_enabled


def test_postgres_urls_are_routed_through_psycopg3():
    assert Config.from_env({"DATABASE_URL": "postgres://u@h/db"}).database_url == "postgresql+psycopg://u@h/db"
    assert Config.from_env({"DATABASE_URL": "postgresql://u@h/db"}).database_url == "postgresql+psycopg://u@h/db"


def test_a_bucket_selects_s3_storage():
    assert Config.from_env({"S3_BUCKET": "b"}).media_backend == "s3"


def test_configuring_a_wechat_app_turns_the_dev_login_off():
    assert not Config.from_env({"WECHAT_APP_ID": "wx123"}).dev_login_enabled


def test_safe_production_settings_start():
    Config.from_env(SAFE_PRODUCTION).check_can_start()


@pytest.mark.parametrize(("change", "complaint"), [
    ({"SECRET_KEY": ""}, "SECRET_KEY"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY"),
    ({"DEV_LOGIN": "1"}, "DEV_LOGIN"),
    ({"S3_BUCKET": ""}, "ALLOW_LOCAL_MEDIA_IN_PRODUCTION"),
    ({"FIELD_ENCRYPTION_KEY": ""}, "FIELD_ENCRYPTION_KEY"),
    # Blind indexes derived from SECRET_KEY would stop finding every resident the day that key is changed.
    ({"FIELD_INDEX_KEY": ""}, "FIELD_INDEX_KEY"),
    # Jobs inline in every gunicorn process, and a login rate limit per process: 4 workers, 4 times the attempts.
    ({"REDIS_URL": ""}, "REDIS_URL"),
    # Nobody could sign in: every WeChat login would fail at request time.
    ({"WECHAT_APP_SECRET": ""}, "WECHAT_APP_SECRET"),
    ({"WECHAT_APP_ID": ""}, "WECHAT_APP_ID"),
    # The case system would be handed /files/… links, paths of a host it does not know.
    ({"S3_BUCKET": "", "ALLOW_LOCAL_MEDIA_IN_PRODUCTION": "1", "CASE_SYSTEM": "webhook",
      "CASE_WEBHOOK_URL": "https://cases.example.cn/hook", "CASE_WEBHOOK_SECRET": "s" * 32}, "PUBLIC_BASE_URL"),
])
def test_production_refuses_unsafe_settings(change, complaint):
    with pytest.raises(ConfigError, match=complaint):
        create_app(Config.from_env({**SAFE_PRODUCTION, **change}))


def test_local_media_in_production_needs_the_explicit_override():
    settings = {**SAFE_PRODUCTION, "S3_BUCKET": "", "ALLOW_LOCAL_MEDIA_IN_PRODUCTION": "1"}
    Config.from_env(settings).check_can_start()


def test_production_session_cookies_are_secure():
    app = create_app(Config.from_env(SAFE_PRODUCTION))
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_rate_limits_and_retention_come_from_the_environment():
    config = Config.from_env({"RATE_LIMIT_LOGIN": "5/60", "RETENTION_REPORT_IP_DAYS": "30"})
    assert config.rate_limit_login == (5, 60) and config.rate_limits["upload"] == Config.rate_limit_upload
    assert config.area(CitizenSettings).retention_report_ip_days == 30
    with pytest.raises(ConfigError, match="requests/seconds"):
        Config.from_env({"RATE_LIMIT_PREVIEW": "many"})


def test_public_work_limits_and_the_body_limit_come_from_the_environment():
    config = Config.from_env({"RATE_LIMIT_NEARBY": "5/60", "RATE_LIMIT_OPEN311": "0/1", "PDF_PRINTS_AT_ONCE": "3",
                              "REQUEST_BODY_MAX_BYTES": "65536"})
    assert config.rate_limits["nearby"] == (5, 60) and config.rate_limits["open311"] == (0, 1)
    assert config.rate_limits["pdf"] == Config.rate_limit_pdf
    assert config.rate_limits["certificate"] == Config.rate_limit_certificate
    assert config.request_body_max_bytes == 65536
    assert config.upload_body_max_bytes > config.area(MediaSettings).media_video_max_bytes


@pytest.mark.parametrize(("name", "value"), [
    ("SIGNED_URL_TTL_SECONDS", "5min"),
    ("SIGNED_URL_TTL_SECONDS", "-300"),
    ("SIGNED_URL_TTL_SECONDS", "864000"),  # ten days: S3 refuses a presigned link beyond seven, when it is opened
    ("CASE_MEDIA_URL_TTL_SECONDS", "2592000"),
    ("MEDIA_PHOTO_MAX_BYTES", "20MB"),
    ("MEDIA_UPLOAD_TTL_SECONDS", "0"),
    ("RESIDENT_TOKEN_TTL_SECONDS", "-1"),
    ("TRUSTED_PROXY_COUNT", "-1"),
    ("REPORTS_PER_IP_PER_HOUR", "0"),  # a negative OFFSET on PostgreSQL: every report a 500
    ("DUPLICATE_RADIUS_M", "0"),  # distances are divided by it
    ("DUPLICATE_RADIUS_M", "nan"),
    ("NEARBY_RADIUS_M", "500m"),
    ("QUEUE_COUNTS_TTL_SECONDS", "-10"),
    ("INSIGHT_GRID_M", "0"),
    ("CASE_HTTP_TIMEOUT_SECONDS", "inf"),
    ("CASE_DELIVERY_MAX_ATTEMPTS", "twelve"),
    ("WECHATPAY_MAX_TRANSFER_FEN", "200.00"),
    ("WECHATPAY_TIMEOUT_SECONDS", "0"),
    ("RETENTION_INACTIVE_RESIDENT_DAYS", "-1"),  # `flask privacy enforce-retention` would forget every resident
    ("RETENTION_FINISHED_REPORT_MEDIA_DAYS", "0"),
    ("RATE_LIMIT_LOGIN", "5/0"),  # a window of no seconds limits nothing
    ("RATE_LIMIT_UPLOAD", "-1/60"),
    ("RATE_LIMIT_NEARBY", "60"),
    ("RATE_LIMIT_PDF", "-1/600"),
    ("PDF_PRINTS_AT_ONCE", "0"),  # no PDF could ever be printed
    ("REQUEST_BODY_MAX_BYTES", "1024"),  # not even a sign-in would fit
    ("REQUEST_BODY_MAX_BYTES", "256k"),
    ("APP_ENV", "prod"),  # was development: the dev login on and no production check
    ("MEDIA_BACKEND", "cos"),
    ("LOG_LEVEL", "verbose"),
    ("SERVICE_AREA_POLYGON", "[[36.0, 120.1], [36.2, 120.1]"),
    ("SERVICE_AREA_POLYGON", "[[120.1, 36.0], [120.3, 36.0], [120.3, 36.2]]"),  # longitude first
    ("SERVICE_AREA_POLYGON", '[[36.0, 120.1], [36.2, "east"], [36.2, 120.3]]'),
    ("SERVICE_AREA_POLYGON", '{"lat": 36.0, "lng": 120.1}'),
    ("MAP_TILE_URL", "webrd01.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}"),
    ("MAP_TILE_URL", "https://tiles.example.cn/{z}/{x}.png"),
    ("WECHAT_API_BASE_URL", "api.weixin.qq.com"),
    ("WECHATPAY_NOTIFY_URL", "/api/v1/wechatpay/notify"),
    ("PUBLIC_BASE_URL", "city.example.cn"),
    ("OPEN311_ENDPOINT", "ftp://cases.example.cn/open311"),
    ("S3_ENDPOINT_URL", "cos.ap-guangzhou.myqcloud.com"),
    ("REDIS_URL", "127.0.0.1:6379"),
    ("DATABASE_URL", "mysql://user@host/db"),
    ("DATABASE_URL", "app.db"),
    ("OPEN311_SERVICE_CODES", "{S0102: garbage}"),
    ("INSIGHT_RANKING_WEIGHTS", "handled=lots"),
    ("INSIGHT_RANKING_WEIGHTS", "handled=nan"),
    ("FIELD_ENCRYPTION_KEY", "too-short"),
    ("FIELD_ENCRYPTION_OLD_KEYS", "A" * 43 + ",too-short"),
    ("FIELD_INDEX_KEY", "too-short"),
])
def test_a_value_that_cannot_work_is_refused_at_start_naming_its_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        create_app(Config.from_env({name: value}))


def test_values_are_read_in_the_forms_the_readme_gives():
    config = Config.from_env({
        "APP_ENV": "Production", "MEDIA_BACKEND": "S3", "LOG_LEVEL": "warning", "CASE_SYSTEM": "Open311",
        "SERVICE_AREA_POLYGON": "[[36.0, 120.1], [36.0, 120.5], [36.4, 120.5]]", "MAP_TILE_URL": "",
        "REDIS_URL": "rediss://:secret@cache.example.cn:6380/2", "TRUSTED_PROXY_COUNT": "0",
        "DUPLICATE_RADIUS_M": "25.5", "RATE_LIMIT_EXPORT": "0/1", "REWARD_PAYOUT_QUERY_AFTER_MINUTES": "0"})
    citizen = config.area(CitizenSettings)
    assert (config.environment, config.media_backend, config.log_level, config.area(CaseSettings).case_system) == (
        "production", "s3", "WARNING", "open311")
    assert citizen.service_area == ((36.0, 120.1), (36.0, 120.5), (36.4, 120.5)) and config.map_tile_url == ""
    assert config.redis_url == "rediss://:secret@cache.example.cn:6380/2" and config.trusted_proxy_count == 0
    assert citizen.duplicate_radius_m == 25.5 and config.rate_limit_export == (0, 1)
    assert config.area(RewardSettings).reward_payout_query_after_minutes == 0


def test_a_misspelt_backend_is_refused_in_production_not_taken_for_the_local_disk():
    """MEDIA_BACKEND=S3 was neither "s3" nor "local": the app stored media on local disk, and the production check,
    which looked for "local", let it start."""
    assert Config.from_env({**SAFE_PRODUCTION, "MEDIA_BACKEND": "S3"}).media_backend == "s3"
    with pytest.raises(ConfigError, match="MEDIA_BACKEND"):
        create_app(Config.from_env({**SAFE_PRODUCTION, "MEDIA_BACKEND": "oss"}))


def test_a_bad_url_is_named_without_repeating_its_password():
    with pytest.raises(ConfigError, match="REDIS_URL") as refused:
        Config.from_env({"REDIS_URL": "redis//:s3cret-pass@cache:6379/0"})
    assert "s3cret-pass" not in str(refused.value)


def test_printing_the_settings_shows_no_secret():
    """A traceback or a log line that prints the settings must not carry keys, secrets or database passwords."""
    secrets = {"SECRET_KEY": "s3cr3t-session-key-0123456789abcdef", "WECHAT_APP_SECRET": "wechat-app-secret-987",
               "DATABASE_URL": "postgresql://app:db-password-42@127.0.0.1/test",
               "REDIS_URL": "redis://:redis-password-7@127.0.0.1:6379/0",
               "FIELD_ENCRYPTION_KEY": "C" * 43, "FIELD_INDEX_KEY": "D" * 43, "S3_SECRET_ACCESS_KEY": "s3-secret-55",
               "CASE_WEBHOOK_SECRET": "webhook-secret-31", "CASE_UPDATES_SECRET": "updates-secret-32",
               "OPEN311_API_KEY": "open311-key-33", "OPEN311_SERVER_API_KEYS": '{"server-key-34": "district"}',
               "WECHATPAY_APIV3_KEY": "apiv3-key-35"}
    printed = repr(Config.from_env(secrets))
    assert "Config(" in printed and "environment='development'" in printed
    assert "CaseSettings(" in printed and "case_system='desk'" in printed
    for value in ("s3cr3t-session-key", "wechat-app-secret-987", "db-password-42", "redis-password-7", "C" * 43,
                  "D" * 43, "s3-secret-55", "webhook-secret-31", "updates-secret-32", "open311-key-33",
                  "server-key-34", "apiv3-key-35"):
        assert value not in printed


# --- the areas: each package's settings, composed by Config -----------------------------------------

def test_each_area_reads_its_own_variables_and_config_hands_it_out():
    config = Config.from_env({"CASE_SYSTEM": "webhook", "NEARBY_RADIUS_M": "250", "SIGNED_URL_TTL_SECONDS": "60"})
    assert config.area(CaseSettings) == CaseSettings.from_env({"CASE_SYSTEM": "webhook"})
    assert config.area(CitizenSettings).nearby_radius_m == 250.0
    assert config.area(MediaSettings).signed_url_ttl_seconds == 60
    assert Config().area(CaseSettings) == CaseSettings()


def test_replace_changes_settings_by_name_whichever_area_holds_them():
    config = Config.from_env({})
    changed = config.replace(case_system="open311", nearby_radius_m=100.0, public_base_url="https://city.example.cn")
    assert changed.area(CaseSettings).case_system == "open311" and changed.area(CitizenSettings).nearby_radius_m == 100
    assert changed.public_base_url == "https://city.example.cn"
    assert config.area(CaseSettings).case_system == "desk"
    with pytest.raises(TypeError, match="no_such_setting"):
        config.replace(no_such_setting=1)


def test_an_areas_setting_is_read_from_its_area_only():
    config = Config.from_env({"CASE_SYSTEM": "open311"})
    assert config.area(CaseSettings).case_system == "open311"
    assert not hasattr(config, "case_system")


def test_current_settings_reads_the_running_app_s_area(app, app_ctx):
    assert current_settings(CaseSettings) is app.config["APP_SETTINGS"].area(CaseSettings)
