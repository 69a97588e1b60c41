"""Slow clients against the shipped production configuration (deploy/): twenty clients trickling request bodies
at one byte per second to gunicorn started with deploy/gunicorn.conf.py leave /healthz answering (security review,
issue 19, finding 5: four such clients stopped the four sync workers of the earlier set-up). The nginx site file in
front is checked by ``nginx -t`` where nginx is installed (`make install` installs it; CI must have it).

    make faults
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import IN_CI
from tests.common.stack import BIN, ROOT, free_port, stop_process, wait_until

pytestmark = pytest.mark.faults

GUNICORN_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
NGINX_SITE = ROOT / "deploy" / "nginx" / "citizen-services.conf"
SLOW_CLIENTS = 20
# Each slow body is longer than the test: no slow client finishes while /healthz is asked.
SLOW_BODY_BYTES = 600


@pytest.fixture(scope="module")
def shipped_gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app as `make run` configures it, served by gunicorn with the shipped configuration on a free port."""
    tmp = tmp_path_factory.mktemp("slow-clients")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'app.db'}", "MEDIA_ROOT": str(tmp / "media"),
           "LOG_LEVEL": "WARNING", "DEV_LOGIN": "1"}
    env.pop("REDIS_URL", None)
    process = subprocess.Popen([str(BIN / "gunicorn"), "-c", str(GUNICORN_CONFIG), "--bind", f"127.0.0.1:{port}",
                                "wsgi:app"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(f"{url}/healthz", timeout=5).status_code == 200, seconds=120,
                   what="gunicorn with deploy/gunicorn.conf.py")
        yield url
    finally:
        stop_process(process)


class SlowClient(threading.Thread):
    """Sends a JSON sign-in's headers at once, then its body at one byte per second until told to stop."""

    def __init__(self, url: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.stop = stop
        self.sent = 0

    def run(self) -> None:
        body = b'{"openid": "' + b"s" * (SLOW_BODY_BYTES - 14) + b'"}'
        self.sock.sendall(b"POST /api/v1/auth/dev HTTP/1.1\r\nHost: citizen-services\r\n"
                          b"Content-Type: application/json\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode())
        try:
            for byte in body:
                if self.stop.wait(1.0):
                    break
                self.sock.sendall(bytes([byte]))
                self.sent += 1
        except OSError:
            pass
        finally:
            self.sock.close()


def test_twenty_slow_clients_leave_healthz_answering(shipped_gunicorn):
    stop = threading.Event()
    clients = [SlowClient(shipped_gunicorn, stop) for _ in range(SLOW_CLIENTS)]
    try:
        for client in clients:
            client.start()
        # Every slow client has been taken on by a worker and is in the middle of its body.
        wait_until(lambda: all(client.sent >= 3 for client in clients), seconds=30, what="the slow clients")
        answers = []
        for _ in range(10):
            answers.append(requests.get(f"{shipped_gunicorn}/healthz", timeout=5).status_code)
            time.sleep(0.5)
        assert answers == [200] * 10
        assert all(client.is_alive() for client in clients), "a slow client was cut off: the test proves nothing"
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=10)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.example.cn")])
    now = time.time()
    import datetime as dt

    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(dt.datetime.fromtimestamp(now - 60, dt.timezone.utc))
                   .not_valid_after(dt.datetime.fromtimestamp(now + 86400, dt.timezone.utc))
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "site.crt", directory / "site.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_the_nginx_site_file_is_valid(tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        message = "nginx is not installed (make install installs nginx-light)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    cert, key = _self_signed(tmp_path)
    # The site file as shipped, but for its certificate paths (a real one lives in /etc/nginx/tls).
    site = (NGINX_SITE.read_text().replace("/etc/nginx/tls/api.example.cn.crt", str(cert))
            .replace("/etc/nginx/tls/api.example.cn.key", str(key)))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n")
    checked = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "client_max_body_size 101m" in site and "proxy_request_buffering on" in site
