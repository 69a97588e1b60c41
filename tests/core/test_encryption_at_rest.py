"""Residents' openids and unionids, submitters' IP addresses and rating comments are stored encrypted: read through the
database driver, no clear value is anywhere in the database; `flask privacy rotate-key` moves them to a new key
while the app reads both."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from flask_migrate import downgrade, upgrade

from citizen import services as citizen_services
from citizen.models import Report, Resident
from core import crypto
from core.app import create_app, import_models
from core.db import UTCDateTime, db, utcnow
from core.wechat import WeChatIdentity
from tests.citizen.helpers import new_report, sign_in
from tests.conftest import app_on_own_database, build_config, dispose, own_database

pytestmark = pytest.mark.live_database
OLD_KEY, NEW_KEY, STRAY_KEY = "O" * 43, "N" * 43, "S" * 43
INDEX_KEY = "I" * 43
IP_ADDRESS = "203.0.113.77"
COMMENT = "师傅处理得很及时，谢谢！"
RESIDENTS = [(f"oEncryptedResident{n:010d}", f"uEncryptedUnion{n:013d}") for n in range(3)]


@pytest.fixture
def encrypted_app(tmp_path, fake_wechat, request):
    with app_on_own_database(tmp_path, fake_wechat, request, "encrypted", field_encryption_key=OLD_KEY,
                             field_index_key=INDEX_KEY) as app:
        yield app


def _residents_with_reports(app) -> list[int]:
    """Residents signed in with a unionid, each with a report sent from IP_ADDRESS and rated with COMMENT."""
    report_ids = []
    for openid, unionid in RESIDENTS:
        with app.app_context():
            citizen_services.sign_in_resident(WeChatIdentity(openid=openid, unionid=unionid))
            db.session.commit()
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = IP_ADDRESS
        report_ids.append(new_report(client, sign_in(client, openid))["id"])
    with app.app_context():
        for report in db.session.scalars(sa.select(Report).where(Report.id.in_(report_ids))):
            report.rating, report.rating_comment = 5, COMMENT
        db.session.commit()
    return report_ids


def _driver_connection(database_url: str) -> Any:
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return sqlite3.connect(url.database)
    return psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))


def _every_stored_value(database_url: str) -> Iterator[tuple[str, Any]]:
    """(table, value) of every column of every row of every table, read through the driver, not the models."""
    connection = _driver_connection(database_url)
    try:
        if isinstance(connection, sqlite3.Connection):
            tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        else:
            tables = [name for (name,) in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]
        assert "residents" in tables and "reports" in tables
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"').fetchall():
                yield from ((table, value) for value in row)
    finally:
        connection.close()


def _encrypted_values(database_url: str) -> dict[str, list[str]]:
    """The stored text of each encrypted column of the models, read through the driver."""
    import_models()
    connection = _driver_connection(database_url)
    try:
        return {f"{table.name}.{column.name}": [value for (value,) in connection.execute(
                    f'SELECT "{column.name}" FROM "{table.name}" WHERE "{column.name}" IS NOT NULL').fetchall()]
                for table, column in crypto.encrypted_columns(db.metadata)}
    finally:
        connection.close()


def test_no_clear_value_is_stored_anywhere_and_the_app_reads_them_all(encrypted_app):
    report_ids = _residents_with_reports(encrypted_app)
    url = encrypted_app.config["APP_SETTINGS"].database_url
    clear_values = [IP_ADDRESS, COMMENT, *(value for pair in RESIDENTS for value in pair)]
    stored = [str(value) for _, value in _every_stored_value(url)]
    for clear in clear_values:
        assert not [value for value in stored if clear in value], clear

    encrypted = _encrypted_values(url)
    assert {"residents.openid", "residents.unionid", "reports.submitted_ip", "reports.rating_comment"} <= set(encrypted)
    assert len(encrypted["residents.openid"]) == len(encrypted["reports.rating_comment"]) == len(RESIDENTS)
    assert all(value.startswith("v2:") for values in encrypted.values() for value in values)

    with encrypted_app.app_context():
        reports = db.session.scalars(sa.select(Report).where(Report.id.in_(report_ids))).all()
        assert {(report.submitted_ip, report.rating_comment) for report in reports} == {(IP_ADDRESS, COMMENT)}
        resident = db.session.scalars(sa.select(Resident).where(Resident.find_by("unionid", RESIDENTS[1][1]))).one()
        assert (resident.openid, resident.unionid) == RESIDENTS[1]
    # Signing in again finds the same resident by the openid's blind index.
    client = encrypted_app.test_client()
    assert client.get("/api/v1/me", headers=sign_in(client, RESIDENTS[1][0])).json["id"] == resident.id


def _app_with_keys(app, **keys: Any):
    return create_app(dataclasses.replace(app.config["APP_SETTINGS"], **keys))


def _key_ids(database_url: str) -> set[str]:
    return {value.split(":")[1] for values in _encrypted_values(database_url).values() for value in values}


def test_rotating_the_key_reencrypts_every_value_in_batches_while_both_keys_read(encrypted_app):
    _residents_with_reports(encrypted_app)
    url = encrypted_app.config["APP_SETTINGS"].database_url
    old_id, new_id = (crypto.key_id(crypto.decode_key(key)) for key in (OLD_KEY, NEW_KEY))
    assert _key_ids(url) == {old_id}
    rotating = _app_with_keys(encrypted_app, field_encryption_key=NEW_KEY, field_encryption_old_keys=(OLD_KEY,))
    try:
        # Stopped after the first batch of one column: values under both keys, every one read, sign-in still finds.
        with rotating.app_context():
            import_models()
            table = Resident.__table__
            ring = crypto.current_key_ring()
            first_batch = next(crypto.reencrypt_column(db.engine.connect, ring, table, table.c.openid, 1))
            assert (first_batch.rows, first_batch.reencrypted) == (1, 1)
        assert _key_ids(url) == {old_id, new_id}
        with rotating.app_context():
            assert sorted(resident.openid for resident in db.session.scalars(sa.select(Resident))) == sorted(
                openid for openid, _ in RESIDENTS)
        client = rotating.test_client()
        for openid, _ in RESIDENTS:
            assert client.get("/api/v1/me", headers=sign_in(client, openid)).status_code == 200

        result = rotating.test_cli_runner().invoke(args=["privacy", "rotate-key", "--batch-size", "2"])
        assert result.exit_code == 0, result.output
        assert "residents.openid: 2 rows read, 1 re-encrypted" in result.output
        assert "residents.openid: 3 rows read, 2 re-encrypted" in result.output
        assert "reports.submitted_ip: 3 rows read, 3 re-encrypted" in result.output
        assert "FIELD_ENCRYPTION_OLD_KEYS may be removed" in result.output
        assert _key_ids(url) == {new_id}

        again = rotating.test_cli_runner().invoke(args=["privacy", "rotate-key"])
        assert again.exit_code == 0
        assert "3 rows read, 0 re-encrypted" in again.output and " 1 re-encrypted" not in again.output
    finally:
        dispose(rotating)

    rotated = _app_with_keys(encrypted_app, field_encryption_key=NEW_KEY)
    try:
        with rotated.app_context():
            assert {report.rating_comment for report in db.session.scalars(sa.select(Report))} == {COMMENT}
        client = rotated.test_client()
        for openid, _ in RESIDENTS:
            assert client.get("/api/v1/me", headers=sign_in(client, openid)).status_code == 200
    finally:
        dispose(rotated)


def test_values_under_a_key_no_longer_configured_are_reported_and_left_alone(encrypted_app):
    _residents_with_reports(encrypted_app)
    stray = _app_with_keys(encrypted_app, field_encryption_key=STRAY_KEY)
    rotating = _app_with_keys(encrypted_app, field_encryption_key=NEW_KEY, field_encryption_old_keys=(OLD_KEY,))
    try:
        with stray.app_context():
            citizen_services.sign_in_resident(WeChatIdentity(openid="oWrittenUnderAStrayKey00000001", unionid=None))
            db.session.commit()
        result = rotating.test_cli_runner().invoke(args=["privacy", "rotate-key"])
        assert result.exit_code == 1
        assert "residents.openid: 1 values under no configured key" in result.output
        assert "keep the old keys" in result.output
        stray_id = crypto.key_id(crypto.decode_key(STRAY_KEY))
        assert stray_id in _key_ids(encrypted_app.config["APP_SETTINGS"].database_url)
    finally:
        dispose(stray)
        dispose(rotating)


def _insert_clear_rows() -> None:
    """Residents and reports as revision 0016 stored them: in the clear."""
    now = utcnow()
    residents = sa.table("residents", sa.column("id"), sa.column("openid"), sa.column("unionid"),
                         sa.column("is_blocked"), sa.column("created_at", UTCDateTime()),
                         sa.column("updated_at", UTCDateTime()))
    db.session.execute(residents.insert(), [
        {"id": 1, "openid": RESIDENTS[0][0], "unionid": RESIDENTS[0][1], "is_blocked": False, "created_at": now,
         "updated_at": now},
        {"id": 2, "openid": "forgotten:2", "unionid": None, "is_blocked": False, "created_at": now,
         "updated_at": now}])
    reports = sa.table("reports", *(sa.column(name) for name in (
        "id", "resident_id", "category_id", "description", "lat", "lng", "address", "status", "idempotency_key",
        "request_fingerprint", "submitted_ip", "rating", "rating_comment", "version")),
        sa.column("flags", sa.JSON()), sa.column("checks", sa.JSON()), sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()))
    db.session.execute(reports.insert(), [
        {"id": number, "resident_id": 1, "category_id": "S0102", "description": "路边垃圾", "lat": 36.0671,
         "lng": 120.3826, "address": "香港中路 1 号", "status": "closed", "idempotency_key": f"key-{number:04d}",
         "request_fingerprint": "f" * 64, "submitted_ip": IP_ADDRESS, "rating": 5, "rating_comment": COMMENT,
         "version": 1, "flags": [], "checks": {}, "created_at": now, "updated_at": now} for number in (1, 2)])
    db.session.commit()


def test_the_migration_encrypts_rows_stored_in_the_clear_and_downgrading_restores_them(tmp_path, fake_wechat,
                                                                                      request):
    clear_values = [IP_ADDRESS, COMMENT, *RESIDENTS[0]]
    with own_database(tmp_path, request, "clear_rows") as url:
        app = create_app(build_config(tmp_path, fake_wechat, database_url=url, field_encryption_key=OLD_KEY,
                                      field_index_key=INDEX_KEY))
        try:
            with app.app_context():
                upgrade(revision="0016")
                _insert_clear_rows()
                upgrade(revision="0019")
            stored = [str(value) for _, value in _every_stored_value(url)]
            assert not [value for value in stored for clear in clear_values if clear in value]
            with app.app_context():
                upgrade()  # the models read the latest schema; the later revisions keep what 0019 encrypted
                resident = db.session.scalars(sa.select(Resident).where(Resident.find_by("openid", RESIDENTS[0][0]))
                                              ).one()
                assert resident.unionid == RESIDENTS[0][1] and resident.forgotten_at is None
                assert db.session.get(Resident, 2).forgotten_at is not None
                facts = citizen_services.report_facts(2, burst_window=dt.timedelta(days=1))
                assert facts.reports_from_same_ip == 2 and not facts.resident_api_client
                assert {(report.submitted_ip, report.rating_comment)
                        for report in db.session.scalars(sa.select(Report))} == {(IP_ADDRESS, COMMENT)}
                db.session.remove()
                downgrade(revision="0016")
            stored = [str(value) for _, value in _every_stored_value(url)]
            assert all(stored.count(clear) >= 1 for clear in clear_values)
            assert stored.count(COMMENT) == 2 and "forgotten:2" in stored
        finally:
            dispose(app)
