"""Our Open311 GeoReport v2 server, its JSON checked against the official schemas, its XML parsed."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from citizen import services as citizen_services
from citizen.models import Report
from rewards import services as rewards_services

from tests.cases.conftest import accept, accepted_report
from tests.citizen.helpers import new_report
from tests.common.media_files import photo_bytes
from tests.rewards.helpers import budget_used, make_campaign, reward_of

SCHEMA_DIR = Path("/work/shared/open311-georeport-v2-schema")
CLIENT_KEY = "open311-client-key"


# The schemas refer to their item schema by relative $ref ("service.json"): resolve within the folder.
REGISTRY = Registry().with_resources(
    (path.name, Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT7))
    for path in SCHEMA_DIR.glob("*.json") if path.name != "swagger.json")


def check(body, schema_name: str) -> None:
    schema = json.loads((SCHEMA_DIR / schema_name).read_text())
    validator = jsonschema.Draft7Validator(schema, registry=REGISTRY,
                                           format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = list(validator.iter_errors(body))
    assert not errors, errors[0].message
    assert body, "an empty answer proves nothing"


@pytest.fixture
def open311(use_case_system, case_system, case_server):
    use_case_system("desk", open311_server_api_keys=((CLIENT_KEY, "fixmystreet"),))
    case_system.photos["street.jpg"] = photo_bytes(311)
    return f"{case_server.base_url}/photos/street.jpg"


def test_services_validate_in_json_and_read_in_xml(client, open311):
    services = client.get("/open311/v2/services.json").json
    check(services, "services.json")
    assert {"service_code": "S0102", "service_name": "暴露垃圾"}.items() <= next(
        s for s in services if s["service_code"] == "S0102").items()
    root = ElementTree.fromstring(client.get("/open311/v2/services.xml").data)
    assert root.tag == "services" and root.find("service/service_code").text == services[0]["service_code"]
    definition = client.get("/open311/v2/services/S0102.json").json
    check(definition, "service-definition.json")
    definition_xml = ElementTree.fromstring(client.get("/open311/v2/services/S0102.xml").data)
    assert definition_xml.find("service_code").text == "S0102"


def test_discovery(client, open311):
    discovery = client.get("/open311/v2/discovery.json").json
    assert discovery["endpoints"][0]["url"].endswith("/open311/v2")
    assert "text/xml" in discovery["endpoints"][0]["formats"]


def test_errors_use_the_open311_format(client, open311):
    missing = client.get("/open311/v2/services/NOPE.json")
    assert missing.status_code == 404 and missing.json[0]["code"] == 404 and missing.json[0]["description"]
    forbidden = client.post("/open311/v2/requests.json", data={"api_key": "wrong", "service_code": "S0102"})
    assert forbidden.status_code == 403 and forbidden.json[0]["code"] == 403
    bad = client.post("/open311/v2/requests.xml", data={"api_key": CLIENT_KEY, "service_code": "S0102"})
    assert bad.status_code == 400
    assert ElementTree.fromstring(bad.data).find("error/code").text == "400"
    assert client.get("/open311/v2/requests.json?start_date=yesterday").status_code == 400
    assert client.get("/open311/v2/requests/999999.json").status_code == 404


@pytest.mark.parametrize(("method", "path", "status"), [
    ("get", "/open311/v2/nothing-here.xml", 404),
    ("get", "/open311/v2/requests/not-a-number.xml", 404),
    ("delete", "/open311/v2/requests.xml", 405),
    ("put", "/open311/v2/requests/1.xml", 405),
])
def test_errors_outside_any_route_answer_in_the_format_asked(client, open311, method, path, status):
    # Regression: a path no route matched (or a method none takes) answered our JSON error, not the standard's.
    response = getattr(client, method)(path)
    assert response.status_code == status and response.content_type.startswith("text/xml")
    root = ElementTree.fromstring(response.data)
    assert root.tag == "errors" and root.find("error/code").text == str(status)
    assert root.find("error/description").text
    as_json = getattr(client, method)(path.replace(".xml", ".json"))
    assert as_json.status_code == status and as_json.json[0]["code"] == status


def test_an_unexpected_failure_answers_in_the_format_asked(client, open311, monkeypatch):
    from cases import services as case_services

    def fail() -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(case_services, "service_list", fail)
    response = client.get("/open311/v2/services.xml")
    assert response.status_code == 500
    assert ElementTree.fromstring(response.data).find("error/code").text == "500"


@pytest.mark.parametrize("query", ["start_date=9999-12-31T23:59:59-14:00", "start_date=0001-01-01T00:00:00%2B14:00",
                                   "end_date=0001-01-05T00:00:00", "end_date=0001-01-01T00:00:00Z"])
def test_dates_at_the_ends_of_time_are_answered_not_a_500(client, open311, query):
    response = client.get(f"/open311/v2/requests.json?{query}")
    assert response.status_code in {200, 400}
    assert response.json == [] or response.json[0]["code"] == 400


def test_an_id_no_database_holds_is_an_unknown_request(client, open311):
    response = client.get("/open311/v2/requests.json?service_request_id=1,99999999999")
    assert response.status_code == 200 and response.json == []


def test_a_blank_description_is_missing(client, open311):
    # Regression: a description of spaces alone filed a report.
    form = {"api_key": CLIENT_KEY, "service_code": "S0102", "lat": "36.0671", "long": "120.3826",
            "description": " \u3000\n ", "media_url": open311}
    response = client.post("/open311/v2/requests.json", data=form)
    assert response.status_code == 400 and "description" in response.json[0]["description"]


def test_posting_files_a_report_for_review_then_the_token_gives_its_id(app, client, open311, run_jobs):
    form = {"api_key": CLIENT_KEY, "service_code": "S0102", "lat": "36.0671", "long": "120.3826",
            "address_string": "青岛市市南区香港中路 1 号", "description": "路口有暴露垃圾。", "media_url": open311}
    created = client.post("/open311/v2/requests.json", data=form)
    assert created.status_code == 201
    token = created.json[0]["token"]
    assert "service_request_id" not in created.json[0]
    assert client.post("/open311/v2/requests.json", data=form).json[0]["token"] == token  # a repeat is the same
    pending = client.get(f"/open311/v2/tokens/{token}.json").json
    assert pending == [{"service_request_id": None, "token": token}]
    run_jobs()
    with app.app_context():
        [report] = citizen_services.find_reports(statuses=("pending_review",), category_ids=["S0102"], limit=1)
        report_id = report.id
        assert report.description == "路口有暴露垃圾。" and len(report.media) == 1
    accept(app, report_id)
    run_jobs()
    assert client.get(f"/open311/v2/tokens/{token}.json").json[0]["service_request_id"] == str(report_id)
    one = client.get(f"/open311/v2/requests/{report_id}.json").json
    check(one, "requests.json")
    assert one[0]["status"] == "open" and one[0]["lat"] == pytest.approx(36.0671)
    xml = ElementTree.fromstring(client.get(f"/open311/v2/requests/{report_id}.xml").data)
    assert xml.tag == "service_requests" and xml.find("request/service_request_id").text == str(report_id)


def filed_through_open311(app, client, run_jobs, media_url: str, description: str) -> Report:
    """The report an Open311 client's POST filed (checked, its jobs run), as stored."""
    form = {"api_key": CLIENT_KEY, "service_code": "S0102", "lat": "36.0671", "long": "120.3826",
            "description": description, "media_url": media_url}
    assert client.post("/open311/v2/requests.json", data=form).status_code == 201
    run_jobs()
    with app.app_context():
        [report] = citizen_services.find_reports(statuses=("pending_review",), category_ids=["S0102"], limit=1)
        return report

def test_a_posted_request_gets_the_text_check_the_mini_program_gets(app, client, open311, fake_wechat, run_jobs):
    """Filed through Open311 or the mini-program, a report's text goes through WeChat's content check."""
    fake_wechat.wechat.risky_words.add("违禁")
    report = filed_through_open311(app, client, run_jobs, open311, "这里有违禁内容。")
    assert "text_flagged" in report.flags and "checks_pending" not in report.flags


def test_a_request_posted_by_an_api_client_earns_no_reward_it_could_never_be_paid(app, client, open311, run_jobs,
                                                                                   resident):
    """An Open311 client's account has no WeChat openid for a transfer to reach: refused with a reason, never
    granted (a grant would take the budget and wait for a payout that cannot happen)."""
    campaign_id = make_campaign(app)
    report_id = filed_through_open311(app, client, run_jobs, open311, "路口有暴露垃圾。").id
    accept(app, report_id)
    run_jobs()
    reward = reward_of(app, report_id)
    assert (reward.state, reward.reason) == ("refused", "resident_api_client")
    assert "微信" in rewards_services.REASONS[reward.reason]
    assert budget_used(app, campaign_id) == 0
    from_the_mini_program = accepted_report(app, client, resident, run_jobs)
    assert reward_of(app, from_the_mini_program).state == "granted"


def test_media_from_hosts_not_allowed_is_refused(client, open311):
    form = {"api_key": CLIENT_KEY, "service_code": "S0102", "lat": "36.0671", "long": "120.3826",
            "description": "x", "media_url": "http://photos.evil.example/a.jpg"}
    refused = client.post("/open311/v2/requests.json", data=form)
    assert refused.status_code == 400 and "允许" in refused.json[0]["description"]


def test_listing_filters_and_validates(app, client, resident, run_jobs, open311):
    first = accepted_report(app, client, resident, run_jobs)
    second = accepted_report(app, client, resident, run_jobs, category="S0201", description="电线杆上有小广告。")
    listed = client.get("/open311/v2/requests.json").json
    check(listed, "requests.json")
    assert {first, second} <= {int(item["service_request_id"]) for item in listed}
    by_code = client.get("/open311/v2/requests.json?service_code=S0201").json
    assert {int(item["service_request_id"]) for item in by_code} >= {second} and first not in {
        int(item["service_request_id"]) for item in by_code}
    by_ids = client.get(f"/open311/v2/requests.json?service_request_id={first},{second}").json
    assert sorted(int(item["service_request_id"]) for item in by_ids) == sorted([first, second])
    assert client.get("/open311/v2/requests.json?status=closed&service_code=S0201").json == []
    long_ago = "start_date=2000-01-01T00:00:00Z&end_date=2000-02-01T00:00:00Z"
    assert client.get(f"/open311/v2/requests.json?{long_ago}").json == []
    xml = ElementTree.fromstring(client.get("/open311/v2/requests.xml").data)
    assert len(xml.findall("request")) == len(listed)


def test_reports_not_yet_accepted_are_not_published(client, resident, open311):
    pending = new_report(client, resident)["id"]
    assert client.get(f"/open311/v2/requests/{pending}.json").status_code == 404
