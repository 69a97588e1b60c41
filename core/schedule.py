"""Periodic work without hand-written cron: `flask schedule run`.

Each package registers its periodic commands in its ``init_app`` with ``register_periodic(app, "cases sweep",
every_seconds=60)`` or ``daily_at="03:30"`` (Asia/Shanghai): the schedule is the list they make, in one place at run
time (`flask schedule show` prints it). One scheduler process runs them, each as the command line an operator would
type, in an application context of its own.

Any number of schedulers may run (one per host, say); one leads. The leader holds a lease in Redis (``SET NX PX``,
renewed while it lives by a thread of its own, also during a long command); the others stand by and take over once
a lease expires. Whether a command is due is decided from its last start, kept in the database (``SweepRun``), which
a new leader reads too: two schedulers never run the same sweep twice. In the embedded default (no Redis) the one
scheduler leads alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import shlex
import socket
import threading
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import ScriptInfo

from core.db import db, utcnow
from core.metrics import Gauge
from core.models import SweepRun

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
LEADER_KEY = "schedule:leader"
LEASE_SECONDS = 30
ERROR_MAX_CHARS = 500
# Renew the lease if it is ours (the value names the holder), in one step.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


@dataclasses.dataclass(frozen=True)
class Periodic:
    """A command line ("media sweep") run every ``every`` or once a day at ``daily_at``, Asia/Shanghai time."""

    command: str
    every: dt.timedelta | None = None
    daily_at: dt.time | None = None

    def due(self, last_started: dt.datetime | None, now: dt.datetime) -> bool:
        if last_started is None:
            return True
        if self.every is not None:
            return now >= last_started + self.every
        assert self.daily_at is not None
        local_now = now.astimezone(SHANGHAI)
        latest = dt.datetime.combine(local_now.date(), self.daily_at, SHANGHAI)
        if latest > local_now:
            latest -= dt.timedelta(days=1)
        return last_started < latest

    @property
    def when(self) -> str:
        if self.every is not None:
            return f"每 {int(self.every.total_seconds())} 秒"
        assert self.daily_at is not None
        return f"每天 {self.daily_at:%H:%M}（北京时间）"


def register_periodic(app: Flask, command: str, *, every_seconds: int | None = None,
                      daily_at: str | None = None) -> None:
    """Add a package's command to the schedule: every ``every_seconds``, or daily at ``daily_at`` ("03:30")."""
    if (every_seconds is None) == (daily_at is None):
        raise ValueError("a periodic command runs either every so many seconds or daily at a time")
    periodic = Periodic(command, dt.timedelta(seconds=every_seconds) if every_seconds is not None else None,
                        dt.time.fromisoformat(daily_at) if daily_at is not None else None)
    app.extensions.setdefault("schedule", []).append(periodic)


def schedule_of(app: Flask) -> list[Periodic]:
    return list(app.extensions.get("schedule", []))


class Leadership(Protocol):
    def hold(self) -> bool:
        """Take or renew the lead; whether this scheduler leads now."""

    def release(self) -> None: ...


class AloneLeadership:
    """The embedded default: no Redis, one scheduler."""

    def hold(self) -> bool:
        return True

    def release(self) -> None:
        return None


class RedisLeadership:
    def __init__(self, redis_connection: Any, identity: str, lease_seconds: int = LEASE_SECONDS) -> None:
        self.redis = redis_connection
        self.identity = identity
        self.lease_ms = lease_seconds * 1000

    def hold(self) -> bool:
        if self.redis.set(LEADER_KEY, self.identity, nx=True, px=self.lease_ms):
            return True
        return bool(self.redis.eval(_RENEW, 1, LEADER_KEY, self.identity, self.lease_ms))

    def release(self) -> None:
        self.redis.eval(_RELEASE, 1, LEADER_KEY, self.identity)


def runner_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def leadership_for(app: Flask, identity: str) -> Leadership:
    redis_connection = app.extensions["redis"]
    return RedisLeadership(redis_connection, identity) if redis_connection is not None else AloneLeadership()


class Scheduler:
    def __init__(self, app: Flask, leadership: Leadership, identity: str) -> None:
        self.app = app
        self.leadership = leadership
        self.identity = identity
        # Set to stop: the command under way finishes, no other starts.
        self.stop = threading.Event()

    def tick(self, now: dt.datetime | None = None) -> list[str]:
        """Run the commands that are due, while this scheduler leads; the commands run."""
        ran = []
        for periodic in schedule_of(self.app):
            if self.stop.is_set() or not self.leadership.hold():
                break
            with self.app.app_context():
                last = db.session.get(SweepRun, periodic.command)
                due = periodic.due(last.started_at if last else None, now or utcnow())
                db.session.rollback()
            if due:
                self.run(periodic.command)
                ran.append(periodic.command)
        return ran

    def run(self, command: str) -> bool:
        """Run one command line and record how it went; whether it succeeded."""
        with self.app.app_context():
            run = db.session.get(SweepRun, command) or SweepRun(name=command)
            db.session.add(run)
            run.started_at, run.finished_at, run.succeeded, run.error = utcnow(), None, None, None
            run.runner = self.identity
            db.session.commit()
        error = None
        with self.app.app_context():
            try:
                status = self.app.cli.main(args=shlex.split(command), prog_name="flask", standalone_mode=False,
                                           obj=ScriptInfo(create_app=lambda: self.app))
                if isinstance(status, int) and status:
                    error = f"exit status {status}"
                db.session.commit()
            except SystemExit as stop:
                error = f"exit status {stop.code}" if stop.code else None
            except Exception as exc:  # whatever a command raises is its failure, recorded; the scheduler goes on
                log.exception("scheduled command failed", extra={"command": command})
                error = f"{type(exc).__name__}: {exc}"
            finally:
                db.session.rollback()
        with self.app.app_context():
            run = db.session.get(SweepRun, command)
            run.finished_at = utcnow()
            run.succeeded = error is None
            run.error = error[:ERROR_MAX_CHARS] if error else None
            if error is None:
                run.last_success_at = run.finished_at
            db.session.commit()
        if error:
            log.error("scheduled command failed", extra={"command": command, "error": error})
        return error is None

    def run_until_stopped(self, poll_seconds: float = 5) -> None:
        """Run due commands until ``stop`` is set; a thread renews the lead meanwhile, a long command included."""
        renewer = threading.Thread(target=self._renew, daemon=True)
        renewer.start()
        try:
            while not self.stop.is_set():
                self.tick()
                self.stop.wait(poll_seconds)
        finally:
            self.stop.set()
            renewer.join()
            self.leadership.release()

    def _renew(self) -> None:
        while not self.stop.wait(LEASE_SECONDS / 3):
            try:
                self.leadership.hold()
            except Exception:  # Redis away: the lease lapses and whoever reaches it next leads
                log.warning("schedule lease not renewed", exc_info=True)


def last_runs() -> dict[str, SweepRun]:
    return {run.name: run for run in db.session.scalars(sa.select(SweepRun))}


def sweep_gauges() -> list[Gauge]:
    runs = last_runs()
    return [
        Gauge("sweep_last_success_timestamp_seconds",
              "When each scheduled command last finished successfully (Unix time).", ("sweep",),
              {(name,): run.last_success_at.timestamp() for name, run in runs.items() if run.last_success_at}),
        Gauge("sweep_last_run_succeeded", "Whether each scheduled command's last finished run succeeded (1) or not.",
              ("sweep",), {(name,): float(bool(run.succeeded)) for name, run in runs.items()
                           if run.succeeded is not None}),
    ]


def echo_schedule(app: Flask) -> None:
    with app.app_context():
        runs = last_runs()
    for periodic in schedule_of(app):
        run = runs.get(periodic.command)
        state = "never run" if run is None else (
            f"last started {run.started_at:%Y-%m-%d %H:%M:%S}Z, "
            + {None: "running or interrupted", True: "succeeded", False: f"failed: {run.error}"}[run.succeeded])
        click.echo(f"{periodic.command:32} {periodic.when:24} {state}")
