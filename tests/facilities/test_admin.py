"""The facility edit form through the test client."""

from __future__ import annotations

import re

from core.db import db
from facilities.models import Facility
from tests.core.admin_helpers import signed_in_staff
from tests.common.factories import FacilityFactory

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_FORM = re.compile(r'<form method="post".*?</form>', re.DOTALL)


def _edit_form(client, path: str) -> dict[str, str]:
    """The edit page's hidden fields as a browser holding the page would post them."""
    return dict(_HIDDEN.findall(client.get(path).get_data(as_text=True)))


def test_saving_a_form_opened_before_another_admin_saved_is_refused_not_overwriting(app):
    with app.app_context():
        facility_id = FacilityFactory(name="栈桥公厕", opening_hours=None).id
    path = f"/admin/facilities/{facility_id}"
    first, second = signed_in_staff(app, "editor_a", "admin"), signed_in_staff(app, "editor_b", "admin")
    first_form, second_form = _edit_form(first, path), _edit_form(second, path)
    saved = first.post(path, data={**first_form, "name": "栈桥公厕（新）", "status": "in_service"})
    assert saved.status_code == 302
    # The second admin's page still shows the old name; saving it would put the old name back.
    stale = second.post(path, data={**second_form, "name": "栈桥公厕", "opening_hours": "06:00-22:00",
                                    "status": "in_service"})
    assert stale.status_code == 409
    assert "已被他人修改" in stale.get_data(as_text=True)
    with app.app_context():
        facility = db.session.get(Facility, facility_id)
        assert (facility.name, facility.opening_hours) == ("栈桥公厕（新）", None)
    reloaded = _edit_form(second, path)
    assert second.post(path, data={**reloaded, "name": "栈桥公厕（新）", "opening_hours": "06:00-22:00",
                                   "status": "in_service"}).status_code == 302
    with app.app_context():
        assert db.session.get(Facility, facility_id).opening_hours == "06:00-22:00"


def test_a_refused_edit_shows_the_attributes_as_submitted(app):
    with app.app_context():
        facility_id = FacilityFactory(attributes={"free": True}).id
    path = f"/admin/facilities/{facility_id}"
    client = signed_in_staff(app, "editor", "admin")
    refused = client.post(path, data={**_edit_form(client, path), "name": "公厕", "opening_hours": "25:00-26:00",
                                      "status": "in_service", "baby_changing": "on", "genders": "family"})
    assert refused.status_code == 422
    # Saved again once the hours are corrected, the form must hold the ticks the admin made, not the stored ones.
    checked = set(re.findall(r'<input type="checkbox" name="(\w+)"(?: value="(\w+)")? checked>',
                             refused.get_data(as_text=True)))
    assert checked == {("baby_changing", ""), ("genders", "family")}


def test_each_facility_admin_form_carries_one_csrf_token_and_is_refused_without_it(app):
    with app.app_context():
        facility_id = FacilityFactory(name="栈桥公厕").id
    path = f"/admin/facilities/{facility_id}"
    client = signed_in_staff(app, "editor", "admin")
    for page in (path, "/admin/facilities/", "/admin/facilities/kinds"):
        forms = _FORM.findall(client.get(page).get_data(as_text=True))
        assert len(forms) > 1, page  # the page's own forms besides the header's sign-out
        assert all(form.count('name="csrf_token"') == 1 for form in forms), page
    form = _edit_form(client, path)
    without_token = {name: value for name, value in form.items() if name != "csrf_token"}
    edit = {"name": "栈桥公厕（新）", "status": "in_service"}
    assert client.post(path, data={**without_token, **edit}).status_code == 400
    assert client.post(path, data={**form, **edit}).status_code == 302
    with app.app_context():
        assert db.session.get(Facility, facility_id).name == "栈桥公厕（新）"
