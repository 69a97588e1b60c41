"""Two applications for one shop at once, on PostgreSQL (SQLite has one writer): the first one is held between its
writes and its commit while the second runs into its lock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from signboard_templates import services
from signboard_templates.rules import load_rule_set
from signboard_templates.schemas import ApplicationInputSchema
from tests.citizen.helpers import upload_photo
from tests.conftest import app_on_own_database
from tests.common.locks import lock_waiters_appear, other_connection, uncommitted
from tests.signboard_templates.conftest import application_body

pytestmark = [pytest.mark.live_database, pytest.mark.services_only]


@pytest.fixture(scope="module")
def signboard_app(tmp_path_factory, fake_wechat, request):
    with app_on_own_database(tmp_path_factory.mktemp("signboard_race"), fake_wechat, request, "signboard_race") as app:
        yield app


def test_two_applications_for_one_shop_at_once_do_not_both_reach_the_reviewers(signboard_app):
    """Each counted the shop's other active applications before the other had committed, found none, and both went to
    the reviewers (one sign per shop, rule R01, passed twice). Now the second waits for the first, then counts it."""
    client = signboard_app.test_client()
    signed = client.post("/api/v1/auth/dev", json={"openid": "oTwoPhonesOneShop"}).json
    headers, resident_id = {"Authorization": f"Bearer {signed['token']}"}, signed["resident"]["id"]
    first_photo, second_photo = upload_photo(client, headers), upload_photo(client, headers)
    rules = load_rule_set()
    first = ApplicationInputSchema().load(application_body(first_photo))
    create_first = lambda: services.create_application(resident_id, first, rules)  # noqa: E731
    with ThreadPoolExecutor(max_workers=1) as pool, other_connection(signboard_app) as observer:
        with uncommitted(signboard_app, create_first):
            answer = pool.submit(client.post, "/api/v1/signboard-applications", json=application_body(second_photo),
                                 headers=headers)
            assert lock_waiters_appear(observer)
        second = answer.result(timeout=60)
    assert second.status_code == 201, second.json
    assert second.json["status"] == "draft"
    assert [check["code"] for check in second.json["checks"] if not check["passed"]] == ["R01"]
    statuses = [a["status"] for a in client.get("/api/v1/signboard-applications/mine", headers=headers).json]
    assert statuses == ["draft", "submitted"]
