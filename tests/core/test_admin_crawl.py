"""A hostile tester in the admin: every page an admin holding every role can reach, every form on it, each field
given values no form expects (huge numbers, far dates, line breaks, long text, NUL, bytes that are no UTF-8,
negative ids, emoji), with the CSRF token. No answer may be a server error.

``make test`` sends a few of the values; ``make fuzz`` sends them all (``FUZZ_ADMIN_VALUES=all``).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote_from_bytes, urljoin, urlsplit

import pytest
import sqlalchemy as sa

from core.auth import staff_roles
from core.db import db
from core.models import StaffAccount
from tests.citizen.helpers import new_report, sign_in, upload_photo
from tests.core.admin_helpers import csrf_token, signed_in_staff
from tests.common.factories import FacilityFactory, StaffFactory
from tests.rewards.helpers import accepted_report, make_campaign
from tests.signboard_templates.conftest import application_body

HOSTILE_VALUES: list[bytes] = [
    b"9" * 400, b"1e100000000", b"-1", str(2**31).encode(), str(2**63).encode(), b"0001-01-01", b"9999-12-31",
    b"a\r\nSet-Cookie: x=1", b"x" * 10_000, b"a\x00b", b"\xff\xfe\xc0\xaf", "😀🀄".encode(), b"", "²".encode(),
    b"NaN", b"2026-13-45", b"1.5",
]
VALUES = HOSTILE_VALUES if os.environ.get("FUZZ_ADMIN_VALUES") == "all" else HOSTILE_VALUES[:2]
STAFF_NAME = "crawl_admin"
# Signing out, and the login page, would end the crawl's session; they have tests of their own (test_admin.py).
NOT_CRAWLED = ("/admin/logout", "/admin/login")


class PageParser(HTMLParser):
    """The admin links and the forms of one page: each form's method, action, enctype and fields as a browser
    would send them untouched (inputs with their values, the first or selected option, textareas' text)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[dict] = []
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        elif tag == "form":
            self.forms.append({"method": attributes.get("method", "get").lower(),
                               "action": attributes.get("action", ""), "fields": []})
            self._in_form = True
        elif not self._in_form or "name" not in attributes:
            return
        elif tag == "input" and attributes.get("type", "text") not in ("submit", "button", "image", "reset"):
            if attributes.get("type") in ("checkbox", "radio") and "checked" not in attributes:
                self.forms[-1]["fields"].append([attributes["name"], None])  # a field that is there, not sent
            else:
                self.forms[-1]["fields"].append([attributes["name"], attributes.get("value", "on" if
                                                 attributes.get("type") in ("checkbox", "radio") else "")])
        elif tag == "button" and attributes.get("value"):
            self.forms[-1]["fields"].append([attributes["name"], attributes["value"]])
        elif tag == "select":
            self._select = attributes["name"]
            self.forms[-1]["fields"].append([self._select, None])
        elif tag == "option" and self._select is not None:
            field = next(field for field in reversed(self.forms[-1]["fields"]) if field[0] == self._select)
            if field[1] is None or "selected" in attributes:
                field[1] = attributes.get("value", "")
        elif tag == "textarea":
            self._textarea = attributes["name"]
            self.forms[-1]["fields"].append([self._textarea, ""])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None and self._in_form:
            self.forms[-1]["fields"][-1][1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def encoded(fields: list[tuple[str, bytes]]) -> bytes:
    """application/x-www-form-urlencoded of raw bytes: a value need not be UTF-8, as a hostile client's need not."""
    return b"&".join(quote_from_bytes(name.encode()).encode() + b"=" + quote_from_bytes(value).encode()
                     for name, value in fields)


@pytest.fixture
def admin_data(app, client, run_jobs):
    """Something on every admin page to act on."""
    resident = sign_in(client, "oAdminCrawlResident000001")
    make_campaign(app)
    accepted_report(app, client, run_jobs, resident)  # a reward to review, a delivery, a case on the desk
    new_report(client, resident, description="待审核的反映")
    client.post("/api/v1/signboard-applications", headers=resident,
                json=application_body(upload_photo(client, resident)))
    with app.app_context():
        FacilityFactory()
        StaffFactory(username="crawl_colleague")  # whose account page is crawled instead of one's own


@pytest.fixture
def admin_everything(app, admin_data):
    """A client signed in with every role."""
    staff = signed_in_staff(app, STAFF_NAME, *staff_roles(app))
    with app.app_context():
        own_id = db.session.scalar(sa.select(StaffAccount.id).where(StaffAccount.username == STAFF_NAME))
    return staff, f"/admin/staff/{own_id}"


def _ids_as_one(path: str) -> str:
    return re.sub(r"/[0-9]+", "/<id>", path.rstrip("/"))


@dataclasses.dataclass
class Crawled:
    pages: list[str] = dataclasses.field(default_factory=list)
    forms: list[tuple[str, dict]] = dataclasses.field(default_factory=list)
    # "page → link: status" for each link the crawling staff member was refused (403) or found nothing behind (404)
    dead_links: list[str] = dataclasses.field(default_factory=list)


def crawl(staff, not_crawled: tuple[str, ...]) -> Crawled:
    """Every admin page reachable from the dashboard (links followed once, query strings kept), and its forms."""
    seen, queue, crawled = set(), deque([("/admin/", None)]), Crawled()
    pages, forms = crawled.pages, crawled.forms
    while queue:
        path, linked_from = queue.popleft()
        response = staff.get(path)
        # Read and closed, as a browser would: a streamed download (the ledger's CSV) left open would end its
        # request's context in the middle of the next request.
        body = response.get_data(as_text=True)
        response.close()
        assert response.status_code < 500, f"GET {path}: {response.status_code}"
        if response.status_code in (403, 404):
            crawled.dead_links.append(f"{linked_from} → {path}: {response.status_code}")
        pages.append(path)
        if not response.content_type.startswith("text/html"):
            continue
        parser = PageParser()
        parser.feed(body)
        for form in parser.forms:
            # One form of each kind: the hundred rows of a list each with its own form say the same thing.
            action = urlsplit(urljoin(path, form["action"] or path))
            kind = (form["method"], _ids_as_one(action.path), tuple(name for name, _ in form["fields"]))
            if kind not in seen:
                seen.add(kind)
                forms.append((path, form))
        for link in parser.links:
            target = urljoin(path, link)
            parts = urlsplit(target)
            if parts.netloc or not parts.path.startswith("/admin") or parts.path in not_crawled:
                continue
            # One page of each kind: pages differing only by their query or id say the same thing to a tester.
            kind = ("link", _ids_as_one(parts.path), tuple(sorted(name for name, _ in parse_qsl(parts.query))))
            if kind not in seen:
                seen.add(kind)
                queue.append((target.split("#")[0], path))
    return crawled


def test_no_admin_form_answers_hostile_values_with_a_server_error(admin_everything):
    # Not one's own account either: a new password or deactivation sent to it would end the crawl.
    staff, own_account = admin_everything
    not_crawled = (*NOT_CRAWLED, own_account)
    crawled = crawl(staff, not_crawled)
    pages, forms = crawled.pages, crawled.forms
    assert len(pages) >= 25 and len(forms) >= 25, (pages, len(forms))
    submissions, failures, token = 0, [], csrf_token(staff, "/admin/")
    for page, form in forms:
        action = urljoin(page, form["action"] or page).split("#")[0]
        if urlsplit(action).path in not_crawled:
            continue
        names = [name for name, _ in form["fields"]]
        assert "csrf_token" in names or form["method"] == "get", f"{action}: a form without a CSRF token"
        for hostile_field in [name for name in names if name != "csrf_token"]:
            for value in VALUES:
                fields = [(name, value if name == hostile_field else (token if name == "csrf_token" else original or
                                                                         "").encode())
                          for name, original in form["fields"] if original is not None or name == hostile_field]
                if form["method"] == "post":
                    response = staff.post(action, data=encoded(fields),
                                          content_type="application/x-www-form-urlencoded")
                else:
                    response = staff.get(urlsplit(action).path, query_string=encoded(fields).decode("ascii"))
                response.close()
                submissions += 1
                assert urlsplit(response.location or "").path != "/admin/login", f"signed out by {action}"
                if response.status_code >= 500:
                    failures.append(f"{form['method'].upper()} {action} {hostile_field}={value[:40]!r}: "
                                    f"{response.status_code}")
    print(f"\nadmin crawl: {len(pages)} pages, {len(forms)} forms, {submissions} hostile submissions, "
          f"{len(failures)} server errors")
    assert not failures, "\n".join(failures)


def test_every_link_leads_each_role_to_a_page_it_may_open(app, admin_data):
    """Signed in with one role at a time, every link on every page the role reaches opens: a dispatcher's report
    number leads to the report's read-only page, not to the moderators' page that refuses it."""
    dead_links = {}
    for role in staff_roles(app):
        crawled = crawl(signed_in_staff(app, f"crawl_{role}", role), NOT_CRAWLED)
        assert len(crawled.pages) > 1, role
        if crawled.dead_links:
            dead_links[role] = crawled.dead_links
    assert dead_links == {}
