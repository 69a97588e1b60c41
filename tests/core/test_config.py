"""Configuration comes from the environment, and production refuses unsafe settings."""

from __future__ import annotations

import pytest

from core.app import create_app
from core.config import Config, ConfigError

SAFE_PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 48,
    "WECHAT_APP_ID": "wx123",
    "S3_BUCKET": "media",
    "FIELD_ENCRYPTION_KEY": "A" * 43,
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
    Config.from_env(SAFE_PRODUCTION).check_safe_for_production()


@pytest.mark.parametrize(("change", "complaint"), [
    ({"SECRET_KEY": ""}, "SECRET_KEY"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY"),
    ({"DEV_LOGIN": "1"}, "DEV_LOGIN"),
    ({"S3_BUCKET": ""}, "ALLOW_LOCAL_MEDIA_IN_PRODUCTION"),
    ({"FIELD_ENCRYPTION_KEY": ""}, "FIELD_ENCRYPTION_KEY"),
])
def test_production_refuses_unsafe_settings(change, complaint):
    with pytest.raises(ConfigError, match=complaint):
        create_app(Config.from_env({**SAFE_PRODUCTION, **change}))


def test_local_media_in_production_needs_the_explicit_override():
    settings = {**SAFE_PRODUCTION, "S3_BUCKET": "", "ALLOW_LOCAL_MEDIA_IN_PRODUCTION": "1"}
    Config.from_env(settings).check_safe_for_production()


def test_production_session_cookies_are_secure():
    app = create_app(Config.from_env(SAFE_PRODUCTION))
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_rate_limits_and_retention_come_from_the_environment():
    config = Config.from_env({"RATE_LIMIT_LOGIN": "5/60", "RETENTION_REPORT_IP_DAYS": "30"})
    assert config.rate_limits["login"] == (5, 60) and config.rate_limits["upload"] == Config.rate_limit_upload
    assert config.retention_report_ip_days == 30
    with pytest.raises(ConfigError, match="requests/seconds"):
        Config.from_env({"RATE_LIMIT_PREVIEW": "many"})
