"""The reward officers' forms, loaded with ``core.forms.load_form``."""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from marshmallow import fields

DATE_MESSAGES = {"required": "请填写日期（YYYY-MM-DD）。", "invalid": "请填写正确的日期（YYYY-MM-DD）。"}
AMOUNT_MESSAGES = {"required": "请填写金额（元）。"}


def fen(text: str) -> int:
    """Yuan as officers type them (at most two decimals), in fen."""
    try:
        amount = decimal.Decimal(text.strip())
        whole_fen = amount.is_finite() and amount == amount.quantize(decimal.Decimal("0.01"))
    except decimal.InvalidOperation:
        # Not a number, or one (1e100000000) with more digits in fen than a Decimal holds.
        whole_fen = False
    if not whole_fen:
        raise ma.ValidationError(f"金额格式不正确：{text}（以元为单位，最多两位小数）。")
    return int(amount * 100)


class Yuan(fields.Field):
    """An amount in yuan, loaded as fen; an optional one left empty is None."""

    def __init__(self, *, optional: bool = False, **kwargs: Any) -> None:
        self.optional = optional
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int | None:
        if self.optional and not str(value).strip():
            return None
        return fen(str(value))


class AmountLines(fields.Field):
    """One ``category=yuan`` a line (``S0102=10.00``, ``S01=5.00``), loaded as {category: fen}."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> dict[str, int]:
        amounts = {}
        for line in str(value).splitlines():
            if line.strip():
                key, _, amount = line.partition("=")
                amounts[key.strip()] = fen(amount)
        return amounts


def _checkbox() -> fields.Field:
    """A checkbox: "on" when ticked, absent otherwise."""
    return fields.Function(deserialize=lambda text: text == "on", load_default=False)


class CampaignSettingsForm(ma.Schema):
    """Loads as the keyword arguments of ``rewards.services.CampaignForm``; amounts are typed in yuan."""

    name = fields.String(load_default="")
    description = fields.String(load_default="")
    starts_on = fields.Date(required=True, error_messages=DATE_MESSAGES)
    ends_on = fields.Date(required=True, error_messages=DATE_MESSAGES)
    budget_fen = Yuan(data_key="budget_yuan", required=True, error_messages=AMOUNT_MESSAGES)
    default_amount_fen = Yuan(data_key="default_amount_yuan", required=True, error_messages=AMOUNT_MESSAGES)
    daily_cap_fen = Yuan(data_key="daily_cap_yuan", required=True, error_messages=AMOUNT_MESSAGES)
    monthly_cap_fen = Yuan(data_key="monthly_cap_yuan", required=True, error_messages=AMOUNT_MESSAGES)
    amounts = AmountLines(load_default=dict)
    # Keys ticked in the category tree: a class ("S01") or a category ("S0102").
    eligible_categories = fields.List(fields.String(), load_default=())
    eligible_districts = fields.List(fields.String(), load_default=())
    earn_on = fields.String(load_default="accepted")
    second_approval_above_fen = Yuan(data_key="second_approval_above_yuan", optional=True, load_default=None)
    is_active = _checkbox()

    @ma.post_load
    def _choices_as_tuples(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**data, "eligible_districts": tuple(data["eligible_districts"]),
                "eligible_categories": tuple(key.strip() for key in data["eligible_categories"] if key.strip())}

    def by_input(self, problems: Mapping[str, list[str]]) -> dict[str, list[str]]:
        """A refusal keyed by ``services.CampaignForm``'s fields, keyed instead by the inputs they were typed in."""
        inputs = {name: field.data_key or name for name, field in self.fields.items()}
        return {inputs.get(name, name): list(messages) for name, messages in problems.items()}


class ApprovalForm(ma.Schema):
    # Text, not numbers: an id that is none of ours ("²", 2**31) is skipped (core.db.database_ids reads them).
    reward_ids = fields.List(fields.String(), data_key="reward_id", load_default=list)


class ReversalForm(ma.Schema):
    note = fields.String(load_default="")


class ExclusionForm(ma.Schema):
    # Checked by the service, which refuses a reason not on the form with its own message.
    reason = fields.String(load_default="staff")
    note = fields.String(load_default="")
