"""Security headers on every response: a Content-Security-Policy without inline script, no framing.

Pages (the admin, the public certificate page) may load scripts, styles and fonts only from this
app, pictures and media also from the object store and the map tiles. Swagger UI (``/api/docs``)
needs inline script and gets a policy of its own. JSON and files get a policy that allows nothing.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.wrappers import Response

from core.config import Config

API_DOCS_PATH = "/api/docs"
NOTHING_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
               "frame-ancestors 'none'")
# A report meant to be saved and mailed as one file carries its own stylesheet: it may style itself
# and show embedded pictures and fonts, and nothing else (no script at all).
DOCUMENT_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
                   "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
POWERFUL_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb")


def permissions_policy(*allowed_here: str) -> str:
    """The Permissions-Policy: no page may use these features, save ``allowed_here`` on this origin alone (a page
    that needs one sets it on its own response)."""
    return ", ".join(f"{feature}=(self)" if feature in allowed_here else f"{feature}=()"
                     for feature in POWERFUL_FEATURES)


COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Signed media links must not leak to other sites through Referer.
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": permissions_policy(),
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _origin(url: str | None) -> str | None:
    """The CSP source of a URL's origin; a ``{s}`` subdomain placeholder becomes a wildcard."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.netloc
    if "{" in host.split(".", 1)[0]:
        host = "*." + host.split(".", 1)[1]
    return f"{parts.scheme}://{host}" if parts.scheme and host else None


def page_policy(config: Config) -> str:
    media_sources = ["'self'", "data:", "blob:"]
    if config.media_backend == "s3":
        media_sources.append(_origin(config.s3_endpoint_url) or f"https://*.s3.{config.s3_region}.amazonaws.com")
    tiles = _origin(config.map_tile_url)
    image_sources = media_sources + ([tiles] if tiles else [])
    return ("default-src 'self'; script-src 'self'; style-src 'self'; font-src 'self'; "
            f"img-src {' '.join(image_sources)}; media-src {' '.join(media_sources)}; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def register_security_headers(app: Flask, config: Config) -> None:
    policy = page_policy(config)
    strict_transport = "max-age=31536000; includeSubDomains" if config.is_production else None

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in COMMON_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path == API_DOCS_PATH:
            csp = DOCS_POLICY
        elif response.mimetype == "text/html":
            csp = policy
        else:
            csp = NOTHING_POLICY
        response.headers.setdefault("Content-Security-Policy", csp)
        if strict_transport:
            response.headers.setdefault("Strict-Transport-Security", strict_transport)
        return response
