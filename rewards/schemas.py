from __future__ import annotations

from marshmallow import Schema, fields


class CampaignSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    starts_on = fields.Date(required=True, metadata={"description": "Asia/Shanghai date"})
    ends_on = fields.Date(required=True, metadata={"description": "Asia/Shanghai date, inclusive"})
    default_amount_fen = fields.Integer(required=True)
    daily_cap_fen = fields.Integer(required=True)
    monthly_cap_fen = fields.Integer(required=True)
    earn_on = fields.String(required=True, metadata={"description": "accepted or closed"})
    budget_left_fen = fields.Integer(required=True)
    rules = fields.List(fields.String(), required=True, metadata={"description": "The rules in plain Chinese"})


class CurrentCampaignSchema(Schema):
    campaign = fields.Nested(CampaignSchema, allow_none=True, required=True)


class RewardReportSchema(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True)
    status_name = fields.String(required=True)
    category_name = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class RewardSchema(Schema):
    id = fields.Integer(required=True)
    campaign_id = fields.Integer(required=True)
    campaign_name = fields.String(required=True)
    report = fields.Nested(RewardReportSchema, required=True)
    state = fields.String(required=True)
    state_name = fields.String(required=True)
    amount_fen = fields.Integer(required=True)
    explanation = fields.String(allow_none=True, required=True,
                                metadata={"description": "Why it earns nothing, or what it waits for, in Chinese"})
    claimable = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class RewardTotalsSchema(Schema):
    earned_fen = fields.Integer(required=True)
    paid_fen = fields.Integer(required=True)
    owed_fen = fields.Integer(required=True)


class MyRewardsSchema(Schema):
    rewards = fields.List(fields.Nested(RewardSchema), required=True)
    totals = fields.Nested(RewardTotalsSchema, required=True)


class ClaimSchema(Schema):
    state = fields.String(required=True, metadata={"description": "ready, processing or paid"})
    mch_id = fields.String(metadata={"description": "For wx.requestMerchantTransfer (state ready)"})
    app_id = fields.String()
    package_info = fields.String(metadata={"description": "The package for wx.requestMerchantTransfer"})


class NotificationAnswerSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
