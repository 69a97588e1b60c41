"""Entry point for `gunicorn wsgi:app` and `flask --app wsgi`; `python wsgi.py` is `make run`'s development server."""

import argparse

from werkzeug.serving import make_server

from core.app import create_app
from core.cli import show_banner

app = create_app()


def serve(host: str, port: int) -> None:
    """werkzeug's server, as `flask run` starts it, but the banner comes once it listens, as the last thing shown."""
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as exc:
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror} (`PORT=5001 make run` for another)") from None
    show_banner(app, f"http://{host}:{port}")
    server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The development server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    arguments = parser.parse_args()
    serve(arguments.host, arguments.port)
