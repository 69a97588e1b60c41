"""core.forms: admin forms load through schemas, and say what is wrong per field."""

from __future__ import annotations

import marshmallow as ma
import pytest
from werkzeug.datastructures import MultiDict

from core.forms import FormInvalid, load_form


class CampaignLikeForm(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=20))
    amount_fen = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))
    districts = ma.fields.List(ma.fields.String())


def test_a_good_form_loads_with_lists_and_without_unknown_fields():
    form = MultiDict([("name", "春季"), ("amount_fen", "100"), ("districts", "市南区"), ("districts", "崂山区"),
                      ("csrf_token", "x")])

    assert load_form(CampaignLikeForm(), form) == {"name": "春季", "amount_fen": 100, "districts": ["市南区", "崂山区"]}


def test_a_bad_form_names_every_field_in_the_apis_shape():
    with pytest.raises(FormInvalid) as caught:
        load_form(CampaignLikeForm(), MultiDict([("amount_fen", "zero")]))

    assert set(caught.value.fields) == {"name", "amount_fen"}
    assert all(isinstance(text, str) for messages in caught.value.fields.values() for text in messages)
    assert caught.value.status == 422
    assert caught.value.details == {"fields": caught.value.fields}
