"""The reviewers' admin forms."""

from __future__ import annotations

import marshmallow as ma


class DecisionForm(ma.Schema):
    """A reviewer's decision on an application. Which decisions there are and when a comment is required is the
    service's rule (``services.decide``), so that its message is the one the reviewer sees."""

    decision = ma.fields.String(load_default="")
    comment = ma.fields.String(load_default="")
