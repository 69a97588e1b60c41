"""Rewards benchmark: payouts per second through the loopback WeChat Pay v3, notifications per second, and
the reconciliation of all of them, each printed next to a reference measured in the same run.

    .venv/bin/python bench/rewards.py [REWARDS]     # default 10,000; BENCH_DATABASE_URL for PostgreSQL

References: "bare client" is wechatpayv3 creating the same number of bills against the same fake
server with no database (the floor of a payout: signing, HTTP, verifying the answer); "bare verify"
is wechatpayv3's callback() on the same notifications without our bookkeeping; "bare ledger read" is
one GROUP BY over the ledger, the least a reconciliation has to read.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from citizen.models import Resident  # noqa: E402
from core.app import create_app  # noqa: E402
from core.config import Config  # noqa: E402
from core.db import db  # noqa: E402
from core.services import Actor  # noqa: E402
from rewards import services  # noqa: E402
from rewards.models import Campaign, LedgerEntry, Payout, Reward  # noqa: E402
from rewards.wechatpay import TransferBill  # noqa: E402
from tests.fakes.wechatpay import (APIV3_KEY, CERT_SERIAL_NO, MCH_ID, PUBLIC_KEY_ID,  # noqa: E402
                                   FakeWeChatPayServer)

APP_ID = "wx_bench_app_id"
OFFICER = Actor(None, "bench-officer")


def _app(tmp: Path, server: FakeWeChatPayServer, database_url: str | None) -> object:
    private_key, public_key = server.state.write_keys(tmp)
    config = Config.from_env({}).replace(
        database_url=Config.from_env({"DATABASE_URL": database_url}).database_url
        if database_url else f"sqlite:///{tmp / 'bench.db'}", media_root=tmp / "media", log_level="WARNING",
        wechatpay_payouts_enabled=True, wechatpay_mch_id=MCH_ID, wechatpay_app_id=APP_ID,
        wechatpay_private_key_path=private_key, wechatpay_cert_serial_no=CERT_SERIAL_NO,
        wechatpay_apiv3_key=APIV3_KEY, wechatpay_public_key_path=public_key, wechatpay_public_key_id=PUBLIC_KEY_ID,
        wechatpay_api_base_url=server.base_url, wechatpay_notify_url="https://bench.invalid/notify")
    app = create_app(config)
    with app.app_context():
        upgrade()
    return app


def _approved_rewards(count: int) -> list[int]:
    """Residents and approved rewards written directly (the grant path is what the test suite covers)."""
    today = services.shanghai_day(dt.datetime.now(dt.timezone.utc))
    campaign = services.save_campaign(OFFICER, services.CampaignForm(
        name="基准测试活动", starts_on=today, ends_on=today, budget_fen=count * 500, default_amount_fen=500,
        daily_cap_fen=10**9, monthly_cap_fen=10**9), max_transfer_fen=20_000)
    residents = [Resident(openid=f"oBench{n:022d}") for n in range(count)]
    db.session.add_all(residents)
    db.session.flush()
    rewards = [Reward(campaign_id=campaign.id, report_id=n + 1, resident_id=resident.id, amount_fen=500,
                      state=services.APPROVED, granted_on=today) for n, resident in enumerate(residents)]
    db.session.add_all(rewards)
    db.session.flush()
    for reward in rewards:
        services._append(reward, services.L_GRANTED, 500, actor_name="system", dedupe_key=f"grant:{reward.id}")
        services._append(reward, services.L_APPROVED, 0, actor_name=OFFICER.name, dedupe_key=f"approve:{reward.id}:1")
    db.session.commit()
    return [reward.id for reward in rewards]


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    logging.disable(logging.WARNING)
    import os

    server = FakeWeChatPayServer(APP_ID).start()
    with tempfile.TemporaryDirectory() as tmp:
        app = _app(Path(tmp), server, os.environ.get("BENCH_DATABASE_URL"))
        with app.app_context():
            gateway = app.extensions["wechatpay"]
            reward_ids = _approved_rewards(count)

            started = time.perf_counter()
            for reward_id in reward_ids:
                services.pay(reward_id, gateway)
            payouts = time.perf_counter() - started
            bills = list(db.session.scalars(sa.select(Payout.out_bill_no)))
            assert len(bills) == count and len(server.state.bills) == count

            started = time.perf_counter()
            for n in range(count):
                gateway.create_bill(TransferBill(out_bill_no=f"BARE{n:016d}", openid=f"oBare{n}", amount_fen=500,
                                                 remark="基准", scene_report_infos=(("活动名称", "基准"),)))
            bare_client = time.perf_counter() - started

            for out_bill_no in bills:
                server.state.finish(out_bill_no, "SUCCESS")
            notifications = [server.state.notification(out_bill_no) for out_bill_no in bills]
            started = time.perf_counter()
            for headers, body in notifications:
                gateway.verify_notification(headers, body)
            bare_verify = time.perf_counter() - started
            settings = app.config["APP_SETTINGS"]
            started = time.perf_counter()
            for headers, body in notifications:
                assert services.handle_notification(headers, body, gateway, settings) == "applied"
            applied = time.perf_counter() - started

            started = time.perf_counter()
            differences = services.reconcile()
            reconcile = time.perf_counter() - started
            started = time.perf_counter()
            db.session.execute(sa.select(LedgerEntry.reward_id, LedgerEntry.kind, sa.func.count(),
                                         sa.func.sum(LedgerEntry.amount_fen))
                               .group_by(LedgerEntry.reward_id, LedgerEntry.kind)).all()
            bare_read = time.perf_counter() - started
            paid = services.budget_used(db.session.scalar(sa.select(Campaign.id)))
        with app.app_context():
            db.engine.dispose()
    server.stop()

    print(f"{count} rewards on {'PostgreSQL' if os.environ.get('BENCH_DATABASE_URL') else 'SQLite'}, "
          f"WeChat Pay fake on loopback ({paid} fen granted, {len(differences)} reconciliation differences)")
    print(f"  payouts        {_rate(count, payouts):8.0f} /s   (bare client {_rate(count, bare_client):6.0f} /s, "
          f"ratio {bare_client / payouts:4.2f})")
    print(f"  notifications  {_rate(count, applied):8.0f} /s   (bare verify {_rate(count, bare_verify):6.0f} /s, "
          f"ratio {bare_verify / applied:4.2f})")
    print(f"  reconciliation {reconcile * 1000:8.0f} ms   (bare ledger read {bare_read * 1000:6.0f} ms, "
          f"ratio {reconcile / bare_read:5.1f})")


if __name__ == "__main__":
    main()
