"""The production stack as real processes on this machine, for the load benchmark and the fault suite.

A private PostgreSQL cluster and a private Redis on free ports (so that restarting them never touches
the machine's shared servers), the app under gunicorn, rq workers, and a WSGI wrapper that makes a
loopback service (the S3 endpoint, the case system) answer 500 or stop answering on demand.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
POSTGRES_BIN = Path(os.environ.get("POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # anything short of success means "not yet"
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {seconds:.0f} s")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class PrivatePostgres:
    """A PostgreSQL cluster of its own in a new temporary directory (as `postgres` when we are root, which
    PostgreSQL refuses to run as), removed by ``stop``."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="private-postgres-"))
        self.data = self.directory / "pgdata"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*as_postgres, *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed: {done.stderr.decode(errors='replace')[-2000:]}")

    def _ctl(self, action: str, *options: str) -> None:
        self._run(str(POSTGRES_BIN / "pg_ctl"), action, "-D", str(self.data), "-w", "-t", "60",
                  "-l", str(self.directory / "postgres.log"), *options)

    def start(self) -> PrivatePostgres:
        if not self.data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.directory, "postgres", "postgres")
            self._run(str(POSTGRES_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--locale", "C.UTF-8", "--no-sync")
        self._ctl("start", "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
                                 f"-c max_connections=200")
        return self

    def restart(self) -> None:
        """A fast restart: every connection is cut, the server is back a moment later."""
        self._ctl("restart", "-m", "fast", "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 "
                                                  f"-k {self.directory} -c max_connections=200")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivateRedis:
    """A redis-server of its own that keeps nothing on disk: a restart loses every queued job."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> PrivateRedis:
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--loglevel", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis(port=self.port)
        wait_until(lambda: bool(client.ping()), seconds=20, what="redis-server")
        client.close()
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


def stop_process(process: subprocess.Popen[bytes], *, grace_seconds: float = 30) -> None:
    """SIGTERM, then SIGKILL to its whole session after ``grace_seconds``, as systemd's TimeoutStopSec does: a
    worker finishing a job held up by the faults must not outlive the suite (its Popen would warn at collection)."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        print(f"process {process.args[0]} ignored SIGTERM for {grace_seconds} s: killed")
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)


class Gunicorn:
    """``app_spec`` served by gunicorn with ``env`` on ``port`` (a free one unless given: ``env`` may have to name it,
    as PUBLIC_BASE_URL does), ready once /healthz answers; with ``config``, gunicorn's settings file
    (deploy/gunicorn.conf.py), which the options given here override."""

    def __init__(self, env: dict[str, str], *, workers: int, app_spec: str = "wsgi:app",
                 python_path: Iterable[Path] = (ROOT,), timeout: int = 30, config: Path | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), *(["--config", str(config)] if config else []),
             "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}",
             "--timeout", str(timeout), "--pythonpath", ",".join(str(path) for path in python_path),
             "--log-level", "warning", app_spec],
            env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        wait_until(lambda: requests.get(f"{self.url}/healthz", timeout=5).status_code == 200, seconds=300,
                   what="gunicorn")

    def stop(self) -> None:
        stop_process(self.process)


class RqWorkers:
    """``count`` processes of `flask jobs worker` (the production worker command) under a supervisor that
    starts again any that exits, as systemd's Restart=always would (rq workers quit when Redis goes away)."""

    def __init__(self, env: dict[str, str], count: int, *, log: Path | None = None) -> None:
        self.env = {**os.environ, **env, "FLASK_APP": "wsgi"}
        self.count = count
        self.log = log
        self.restarts = 0
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        with (self.log.open("ab") if self.log else open(os.devnull, "wb")) as output:
            return subprocess.Popen([str(BIN / "flask"), "jobs", "worker"], env=self.env, cwd=ROOT,
                                    stdout=output, stderr=output, start_new_session=True)

    def start(self) -> RqWorkers:
        self.processes = [self._spawn() for _ in range(self.count)]
        self._supervisor.start()
        return self

    def _supervise(self) -> None:
        while not self._stopping.wait(0.5):
            with self._lock:
                for index, process in enumerate(self.processes):
                    if process.poll() is not None and not self._stopping.is_set():
                        self.processes[index] = self._spawn()
                        self.restarts += 1

    def kill(self) -> None:
        """SIGKILL every worker and its work-horse: jobs in flight die with them (the supervisor restarts them)."""
        with self._lock:
            for process in self.processes:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for process in self.processes:
                process.wait(timeout=30)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for process in self.processes:
                if process.poll() is None:
                    process.terminate()
            for process in self.processes:
                stop_process(process)


class Faulty:
    """WSGI middleware: passes requests to ``app``, or answers 500, or holds them unanswered (a timeout)."""

    OK, ERROR, HANG = "ok", "error", "hang"

    def __init__(self, app: Any, error_body: bytes = b"fault injected") -> None:
        self.app = app
        self.error_body = error_body
        self.mode = self.OK
        self.faulted = 0
        self._released = threading.Event()
        self._lock = threading.Lock()

    def set(self, mode: str) -> None:
        self.mode = mode
        if mode == self.HANG:
            self._released.clear()
        else:
            self._released.set()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        mode = self.mode
        if mode != self.OK:
            with self._lock:
                self.faulted += 1
            if mode == self.HANG:
                # Held until the fault ends; by then the caller has given up (or gets a late answer).
                self._released.wait(60)
            else:
                Request(environ).get_data()
                return Response(self.error_body, status=500)(environ, start_response)
        return self.app(environ, start_response)


class LoopbackServer:
    """A WSGI app served on 127.0.0.1 in a thread of this process."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def s3_server() -> tuple[LoopbackServer, Faulty]:
    """moto's S3 (as ThreadedMotoServer serves it), behind a fault switch."""
    from moto.server import DomainDispatcherApplication, create_backend_app

    faulty = Faulty(DomainDispatcherApplication(create_backend_app),
                    error_body=b"<Error><Code>InternalError</Code><Message>fault injected</Message></Error>")
    return LoopbackServer(faulty), faulty
