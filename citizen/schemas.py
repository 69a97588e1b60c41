from __future__ import annotations

from marshmallow import Schema, fields, validate


class WeChatLoginSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128),
                         metadata={"description": "The code from wx.login()"})


class DevLoginSchema(Schema):
    openid = fields.String(required=True, validate=validate.Length(min=1, max=64))


class ResidentSchema(Schema):
    id = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class SessionSchema(Schema):
    token = fields.String(required=True, metadata={"description": "Send as `Authorization: Bearer <token>`"})
    expires_at = fields.DateTime(required=True)
    resident = fields.Nested(ResidentSchema, required=True)
