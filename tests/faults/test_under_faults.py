"""The production stack under load and faults: nothing accepted is lost, nothing is done twice.

Residents upload photos and submit reports through gunicorn (retrying, as the mini-program does, until
they get an answer); a moderator accepts reports, a reward officer approves rewards, residents confirm
their transfers and cron runs the sweeps — while, one after another, PostgreSQL restarts, Redis stops and
comes back empty, the rq workers are killed with SIGKILL, and the object store and the case system answer
500 and then stop answering. Everything runs on private servers (tests/common/stack.py): the machine's shared
PostgreSQL and Redis are never touched. Afterwards, with the faults over and the sweeps run, every
accepted upload and report is present, every accepted report was delivered to the case system once, and
every approved reward was paid exactly once; the counts are printed.

    make faults                          # FAULT_SECONDS (default 4) is how long each fault lasts
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
import random
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from cases import jobs as case_jobs
from cases import services as case_services
from cases.models import CaseDelivery
from citizen import services as citizen_services
from citizen.models import Report
from core.app import create_app
from core.config import Config
from core.db import db, utcnow
from core.services import Actor
from insight import jobs as insight_jobs
from insight.models import ReportFact
from media import jobs as media_jobs
from media import services as media_services
from media.models import Media
from rewards import jobs as reward_jobs
from rewards import services as reward_services
from rewards.models import LedgerEntry, Payout, Reward
from tests.conftest import IN_CI
from tests.fakes.case_system import API_KEY, FakeCaseSystem
from tests.fakes.wechat import APP_ID
from tests.fakes.wechatpay import APIV3_KEY, CERT_SERIAL_NO, MCH_ID, PUBLIC_KEY_ID, FakeWeChatPayServer
from tests.common.media_files import photo_bytes
from tests.rewards.helpers import make_campaign
from tests.common.stack import (BIN, POSTGRES_BIN, ROOT, Faulty, Gunicorn, LoopbackServer, PrivatePostgres,
                                PrivateRedis, RqWorkers, s3_server, wait_until)

pytestmark = pytest.mark.faults

FAULT_SECONDS = float(os.environ.get("FAULT_SECONDS", "4"))
RESIDENTS = 2
# Between one report and the next a resident walks on: the rq workers (each job forks a work-horse) keep up
# on a two-core machine, so what is measured is recovery, not a backlog.
THINK_SECONDS = 2.0
BUCKET = "fault-media"
MODERATOR, OFFICER = Actor(None, "fault-moderator"), Actor(None, "fault-officer")


@dataclasses.dataclass
class Stack:
    postgres: PrivatePostgres
    redis: PrivateRedis
    s3: Faulty
    case_system: FakeCaseSystem
    case_faults: Faulty
    wechatpay: FakeWeChatPayServer
    env: dict[str, str]
    app: Flask
    workers: RqWorkers
    server: Gunicorn


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not (POSTGRES_BIN / "initdb").exists() or shutil.which("redis-server") is None:
        message = f"the fault suite needs PostgreSQL's server binaries ({POSTGRES_BIN}) and redis-server"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    tmp = tmp_path_factory.mktemp("faults")
    started: list[Callable[[], None]] = []
    try:
        postgres = PrivatePostgres().start()
        started.append(postgres.stop)
        redis_server = PrivateRedis().start()
        started.append(redis_server.stop)
        s3, s3_faults = s3_server()
        started.append(s3.stop)
        case_system = FakeCaseSystem()
        case_faults = Faulty(case_system)
        case_server = LoopbackServer(case_faults)
        started.append(case_server.stop)
        wechatpay = FakeWeChatPayServer(APP_ID).start()
        started.append(wechatpay.stop)
        private_key, public_key = wechatpay.state.write_keys(tmp)
        env = {
            "SECRET_KEY": "fault-suite-secret-key-0123456789-0123456789", "DATABASE_URL": postgres.url,
            "REDIS_URL": redis_server.url(), "LOG_LEVEL": "WARNING", "DEV_LOGIN": "1",
            "S3_BUCKET": BUCKET, "S3_ENDPOINT_URL": s3.url, "S3_REGION": "us-east-1",
            "S3_ACCESS_KEY_ID": "testing", "S3_SECRET_ACCESS_KEY": "testing",
            "CASE_SYSTEM": "open311", "OPEN311_ENDPOINT": f"{case_server.url}/open311", "OPEN311_API_KEY": API_KEY,
            "PUBLIC_BASE_URL": "http://testserver", "CASE_HTTP_TIMEOUT_SECONDS": "1",
            "CASE_DELIVERY_BACKOFF_BASE_SECONDS": "1", "CASE_DELIVERY_BACKOFF_MAX_SECONDS": "2",
            "CASE_DELIVERY_LEASE_SECONDS": "10", "CASE_DELIVERY_REQUEUE_AFTER_SECONDS": "30",
            "CASE_DELIVERY_MAX_ATTEMPTS": "1000",
            "WECHATPAY_PAYOUTS_ENABLED": "1", "WECHATPAY_MCH_ID": MCH_ID, "WECHATPAY_APP_ID": APP_ID,
            "WECHATPAY_PRIVATE_KEY_PATH": str(private_key), "WECHATPAY_CERT_SERIAL_NO": CERT_SERIAL_NO,
            "WECHATPAY_APIV3_KEY": APIV3_KEY, "WECHATPAY_PUBLIC_KEY_PATH": str(public_key),
            "WECHATPAY_PUBLIC_KEY_ID": PUBLIC_KEY_ID, "WECHATPAY_API_BASE_URL": wechatpay.base_url,
            "WECHATPAY_NOTIFY_URL": "https://example.invalid/api/v1/wechatpay/notify",
            "WECHATPAY_TIMEOUT_SECONDS": "2", "REWARD_PAYOUT_QUERY_AFTER_MINUTES": "0",
            "REPORTS_PER_RESIDENT_PER_HOUR": "100000", "REPORTS_PER_IP_PER_HOUR": "100000",
            "REWARD_BURST_REPORTS_PER_IP": "100000", "REWARD_BURST_REPORTS_PER_RESIDENT": "100000",
            "RATE_LIMIT_LOGIN": "0/1", "RATE_LIMIT_UPLOAD": "0/1", "RATE_LIMIT_PREVIEW": "0/1",
            "FLASK_APP": "wsgi",
        }
        subprocess.run([str(BIN / "flask"), "db", "upgrade"], env={**os.environ, **env}, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        app = create_app(Config.from_env(env))
        started.append(lambda: _dispose(app))
        app.extensions["storage"].client.create_bucket(Bucket=BUCKET)
        # A campaign paying 1 yuan for every accepted report, with room for everything the run files.
        make_campaign(app, default_amount_fen=100, budget_fen=10_000_000, daily_cap_fen=1_000_000,
                      monthly_cap_fen=1_000_000)
        workers = RqWorkers({**env, "LOG_LEVEL": "INFO"}, 2, log=tmp / "workers.log").start()
        started.append(workers.stop)
        server = Gunicorn(env, workers=2)
        started.append(server.stop)
        yield Stack(postgres, redis_server, s3_faults, case_system, case_faults, wechatpay.state, env, app,
                    workers, server)
    finally:
        for stop in reversed(started):
            try:
                stop()
            except Exception as exc:  # stop the rest whatever happens to one
                print(f"stopping: {exc}")


def _dispose(app: Flask) -> None:
    with app.app_context():
        db.engine.dispose()


# --- the load: residents, staff and cron, all tolerant of the faults ---------------------------------

@dataclasses.dataclass
class Ledger:
    """What the residents were told was accepted, and what went wrong on the way."""

    media: set[int] = dataclasses.field(default_factory=set)
    reports: set[int] = dataclasses.field(default_factory=set)
    failures: dict[str, int] = dataclasses.field(default_factory=dict)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def failed(self, what: str) -> None:
        with self.lock:
            self.failures[what] = self.failures.get(what, 0) + 1


_seeds = itertools.count(50_000)


def resident(url: str, number: int, ledger: Ledger, stop: threading.Event) -> None:
    """Uploads a photo and files a report with it, again and again; each request retried until answered."""
    session = requests.Session()
    rng = random.Random(number)

    def until_answered(what: str, send: Callable[[], requests.Response], ok: tuple[int, ...]) -> dict | None:
        while not stop.is_set():
            try:
                response = send()
                if response.status_code in ok:
                    return response.json()
                ledger.failed(f"{what} {response.status_code}")
            except requests.RequestException as exc:
                ledger.failed(f"{what} {type(exc).__name__}")
            time.sleep(0.2)
        return None

    signed_in = until_answered("sign-in", lambda: session.post(
        f"{url}/api/v1/auth/dev", json={"openid": f"oFaultResident{number:06d}"}, timeout=10), (200,))
    if signed_in is None:
        return
    session.headers["Authorization"] = f"Bearer {signed_in['token']}"
    while not stop.is_set():
        body = photo_bytes(next(_seeds))
        # The request runs inside until_answered, in this iteration: the default binds this photo.
        media = until_answered("upload", lambda body=body: session.post(
            f"{url}/api/v1/media", files={"file": ("photo.jpg", io.BytesIO(body), "image/jpeg")}, timeout=10),
            (200, 201))
        if media is None:
            return
        with ledger.lock:
            ledger.media.add(media["id"])
        key = uuid.uuid4().hex
        report = {"category_code": "S0102", "description": "路边有一堆暴露垃圾。", "address": "青岛市市南区",
                  "location": {"lat": 36.0671 + rng.uniform(-0.05, 0.05), "lng": 120.3826 + rng.uniform(-0.05, 0.05),
                               "coord_type": "wgs84"}, "media_ids": [media["id"]]}
        filed = until_answered("report", lambda report=report, key=key: session.post(
            f"{url}/api/v1/reports", json=report, headers={"Idempotency-Key": key}, timeout=10), (201,))
        if filed is None:
            return
        with ledger.lock:
            ledger.reports.add(filed["id"])
        stop.wait(THINK_SECONDS)


def staff_and_cron(stack: Stack, ledger: Ledger, stop: threading.Event, *, later: bool = False) -> None:
    """The moderator accepts what is waiting, the officer approves what was granted, residents confirm their
    transfers in WeChat, and cron runs the sweeps — every half second, each step shrugging off faults.
    ``later``: the media sweep runs as it would once its interval has passed (after the faults)."""
    app = stack.app
    steps: list[tuple[str, Callable[[], None]]] = [
        ("moderate", lambda: _accept_waiting(app)),
        ("approve", lambda: _approve_granted(app)),
        ("confirm", lambda: _confirm_transfers(stack)),
        ("cases sweep", case_jobs.sweep),
        ("media sweep", lambda: media_services.requeue_unprocessed(
            now=utcnow() + media_services.PROCESSING_REQUEUE_AFTER) if later else media_jobs.requeue_unprocessed()),
        ("rewards sweep", reward_jobs.sweep_payouts),
        ("insight sweep", insight_jobs.sweep),
    ]
    while not stop.is_set():
        for name, step in steps:
            with app.app_context():
                try:
                    step()
                    db.session.commit()  # as the job or the cron command would at its end
                except Exception as exc:
                    db.session.rollback()
                    ledger.failed(f"{name} {type(exc).__name__}")
        stop.wait(0.5)


def _accept_waiting(app: Flask) -> None:
    waiting = db.session.execute(sa.select(Report.id, Report.version).where(
        Report.status == citizen_services.PENDING_REVIEW)).all()
    db.session.rollback()
    for report_id, version in waiting:
        citizen_services.accept_report(MODERATOR, report_id, expected_version=version)
        db.session.commit()


def _approve_granted(app: Flask) -> None:
    granted = list(db.session.scalars(sa.select(Reward.id).where(Reward.state == reward_services.GRANTED)))
    if granted:
        reward_services.approve_rewards(OFFICER, granted)
        db.session.commit()


def _confirm_transfers(stack: Stack) -> None:
    for out_bill_no, bill in list(stack.wechatpay.bills.items()):
        if bill["state"] == "WAIT_USER_CONFIRM":
            stack.wechatpay.finish(out_bill_no, "SUCCESS")


# --- the faults --------------------------------------------------------------------------------------

def _faults(stack: Stack) -> list[tuple[str, Callable[[], None]]]:
    def redis_outage() -> None:
        stack.redis.stop()
        time.sleep(FAULT_SECONDS)
        stack.redis.start()


    def switched(faulty: Faulty, mode: str) -> Callable[[], None]:
        def fault() -> None:
            faulty.set(mode)
            time.sleep(FAULT_SECONDS)
            faulty.set(Faulty.OK)
        return fault

    return [
        ("PostgreSQL restarted", stack.postgres.restart),
        ("Redis stopped and restarted empty", redis_outage),
        ("rq workers killed with SIGKILL", stack.workers.kill),
        ("object store answers 500", switched(stack.s3, Faulty.ERROR)),
        ("object store stops answering", switched(stack.s3, Faulty.HANG)),
        ("case system answers 500", switched(stack.case_faults, Faulty.ERROR)),
        ("case system stops answering", switched(stack.case_faults, Faulty.HANG)),
    ]


# --- the checks --------------------------------------------------------------------------------------

@dataclasses.dataclass
class Outcome:
    uploads: int = 0
    uploads_missing: list[int] = dataclasses.field(default_factory=list)
    reports: int = 0
    reports_missing: list[int] = dataclasses.field(default_factory=list)
    accepted: int = 0
    delivered: int = 0
    not_delivered: list[int] = dataclasses.field(default_factory=list)
    cases: int = 0
    duplicate_cases: list[str] = dataclasses.field(default_factory=list)
    case_posts: int = 0
    rewards: int = 0
    approved: int = 0
    paid: int = 0
    not_paid: list[int] = dataclasses.field(default_factory=list)
    paid_twice: list[int] = dataclasses.field(default_factory=list)
    accepted_without_reward: list[int] = dataclasses.field(default_factory=list)
    deliveries_by_status: dict[str, int] = dataclasses.field(default_factory=dict)
    last_errors: list[str] = dataclasses.field(default_factory=list)
    media_by_status: dict[str, int] = dataclasses.field(default_factory=dict)
    miscounted: list[int] = dataclasses.field(default_factory=list)  # the dashboard's facts disagree with the report

    @property
    def unprocessed(self) -> int:
        return sum(count for status, count in self.media_by_status.items() if status != "ready")

    @property
    def settled(self) -> bool:
        return not (self.not_delivered or self.not_paid or self.accepted_without_reward or self.unprocessed
                    or self.miscounted)


def outcome(stack: Stack, ledger: Ledger) -> Outcome:
    result = Outcome(uploads=len(ledger.media), reports=len(ledger.reports))
    storage = stack.app.extensions["storage"]
    with stack.app.app_context():
        for media_id in sorted(ledger.media):
            media = db.session.get(Media, media_id)
            if media is None or not storage.exists(media.original_key):
                result.uploads_missing.append(media_id)
        found = set(db.session.scalars(sa.select(Report.id).where(Report.id.in_(ledger.reports))))
        result.reports_missing = sorted(ledger.reports - found)
        counted = dict(db.session.execute(sa.select(ReportFact.report_id, ReportFact.status)).all())
        result.miscounted = sorted(report_id for report_id, status in db.session.execute(
            sa.select(Report.id, Report.status).where(Report.id.in_(found))) if counted.get(report_id) != status)
        # Accepted, and wherever the case system has taken them since (its status updates are polled).
        accepted = set(db.session.scalars(sa.select(Report.id).where(Report.status.in_(
            (citizen_services.ACCEPTED, citizen_services.FORWARDED, citizen_services.IN_PROGRESS,
             citizen_services.RESOLVED, citizen_services.CLOSED)))))
        result.accepted = len(accepted)
        done = set(db.session.scalars(sa.select(CaseDelivery.report_id).where(
            CaseDelivery.status == case_services.DONE)))
        result.delivered = len(done & accepted)
        result.not_delivered = sorted(accepted - done)
        result.deliveries_by_status = dict(db.session.execute(sa.select(
            CaseDelivery.status, sa.func.count()).group_by(CaseDelivery.status)).all())
        result.last_errors = sorted({error for error in db.session.scalars(sa.select(CaseDelivery.last_error))
                                     if error})[:3]
        result.media_by_status = dict(db.session.execute(sa.select(Media.status, sa.func.count()).where(
            Media.id.in_(ledger.media)).group_by(Media.status)).all())
        rewards = {reward.report_id: reward for reward in db.session.scalars(sa.select(Reward))}
        result.rewards = len(rewards)
        result.accepted_without_reward = sorted(accepted - set(rewards))
        approved = [reward for reward in rewards.values() if reward.state in (
            reward_services.APPROVED, reward_services.PAYING, reward_services.PAID, reward_services.UNPAID)]
        result.approved = len(approved)
        paid_entries = dict(db.session.execute(sa.select(LedgerEntry.reward_id, sa.func.count()).where(
            LedgerEntry.kind == reward_services.L_PAID).group_by(LedgerEntry.reward_id)).all())
        bills_of = {payout.out_bill_no: payout.reward_id for payout in db.session.scalars(sa.select(Payout))}
        successful_bills: dict[int, int] = {}
        for out_bill_no, bill in stack.wechatpay.bills.items():
            if bill["state"] == "SUCCESS":
                reward_id = bills_of.get(out_bill_no, -1)
                successful_bills[reward_id] = successful_bills.get(reward_id, 0) + 1
        for reward in approved:
            entries, bills = paid_entries.get(reward.id, 0), successful_bills.get(reward.id, 0)
            if entries > 1 or bills > 1:
                result.paid_twice.append(reward.id)
            elif entries == 1 and bills == 1 and reward.state == reward_services.PAID:
                result.paid += 1
            else:
                result.not_paid.append(reward.id)
        db.session.rollback()
    external_ids = [form.get("attribute[external_id]") for form in stack.case_system.posts]
    result.case_posts = len(external_ids)
    result.cases = len(stack.case_system.cases)
    result.duplicate_cases = sorted(key for key in stack.case_system.cases if key not in
                                    {str(report_id) for report_id in accepted})
    return result


def test_nothing_accepted_is_lost_and_nothing_happens_twice(stack: Stack) -> None:
    ledger, stop = Ledger(), threading.Event()
    load = [threading.Thread(target=resident, args=(stack.server.url, number, ledger, stop))
            for number in range(RESIDENTS)]
    load.append(threading.Thread(target=staff_and_cron, args=(stack, ledger, stop)))
    for thread in load:
        thread.start()
    try:
        time.sleep(FAULT_SECONDS)
        for name, fault in _faults(stack):
            before = len(ledger.reports)
            fault()
            time.sleep(FAULT_SECONDS)  # recovering under load
            print(f"\n  {name}: {len(ledger.reports) - before} reports accepted meanwhile")
    finally:
        stop.set()
        for thread in load:
            thread.join(timeout=60)

    # Faults over: staff and cron go on (as they would) until everything accepted has settled.
    settle, done = Ledger(), threading.Event()
    cron = threading.Thread(target=staff_and_cron, args=(stack, settle, done), kwargs={"later": True})
    cron.start()
    try:
        wait_until(lambda: outcome(stack, ledger).settled, seconds=240, what="settling after the faults")
    except RuntimeError:
        pass  # reported with the counts below
    finally:
        done.set()
        cron.join(timeout=60)

    result = outcome(stack, ledger)
    if not result.settled:
        from rq import Queue
        print(f"  rq: worker processes {[p.poll() for p in stack.workers.processes]}, queued "
              f"{[len(q) for q in Queue.all(connection=stack.app.extensions['redis'])]}, "
              f"workers restarted {stack.workers.restarts} times; their log: {stack.workers.log}")
    print(f"\n  failed requests and steps during the faults (retried): {dict(sorted(ledger.failures.items()))}"
          f"\n  uploads accepted: {result.uploads}, present with their original: "
          f"{result.uploads - len(result.uploads_missing)}"
          f"\n  reports accepted: {result.reports}, present: {result.reports - len(result.reports_missing)}"
          f"\n  reports accepted by the moderator: {result.accepted}, delivered to the case system: "
          f"{result.delivered}, cases there: {result.cases} (from {result.case_posts} POSTs)"
          f"\n  rewards: {result.rewards}, approved: {result.approved}, paid exactly once: {result.paid}, "
          f"paid twice: {len(result.paid_twice)}"
          f"\n  deliveries by status: {result.deliveries_by_status}, last errors: {result.last_errors}"
          f"\n  accepted uploads by processing status: {result.media_by_status}"
          f"\n  reports counted on the dashboard with another status, or not at all: {len(result.miscounted)}")
    assert result.uploads > 0 and result.accepted > 0 and result.approved > 0
    assert result.uploads_missing == [] and result.unprocessed == 0
    assert result.reports_missing == [] and result.miscounted == []
    assert result.not_delivered == [] and result.duplicate_cases == [] and result.cases == result.accepted
    assert result.accepted_without_reward == []
    assert result.paid_twice == [] and result.not_paid == [] and result.paid == result.approved
