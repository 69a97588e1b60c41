"""One JSON error shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from core.db import db

log = logging.getLogger(__name__)

# Codes for the statuses werkzeug and flask-smorest raise on their own.
HTTP_STATUS_CODES = {
    400: ("bad_request", "请求格式不正确。"),
    401: ("unauthorized", "需要登录。"),
    403: ("forbidden", "没有权限执行此操作。"),
    404: ("not_found", "请求的资源不存在。"),
    405: ("method_not_allowed", "不支持该请求方法。"),
    409: ("conflict", "请求与当前状态冲突。"),
    413: ("payload_too_large", "上传内容过大。"),
    415: ("unsupported_media_type", "不支持的内容类型。"),
    422: ("validation_error", "提交的数据未通过校验。"),
    429: ("rate_limited", "请求过于频繁，请稍后再试。"),
    500: ("internal_error", "服务器内部错误。"),
    503: ("service_unavailable", "服务暂时不可用。"),
}


class AppError(Exception):
    """An expected failure with a stable code that clients can act on."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}


class NotFound(AppError):
    status = 404
    code = "not_found"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class Conflict(AppError):
    status = 409
    code = "conflict"


class ValidationFailed(AppError):
    status = 422
    code = "validation_error"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details={**(details or {}), "retry_after_seconds": retry_after_seconds},
                         headers={"Retry-After": str(retry_after_seconds)})


class UpstreamUnavailable(AppError):
    status = 503
    code = "upstream_unavailable"


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "A stable code clients can act on"})
    message = fields.String(required=True, metadata={"description": "What went wrong, in Chinese, for people"})
    details = fields.Dict(required=True, metadata={"description": "fields (validation), retry_after_seconds…"})


class ErrorSchema(Schema):
    """The one error shape, as the OpenAPI document states it for every error answer."""

    error = fields.Nested(ErrorBodySchema, required=True)


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    return response


def _wants_html() -> bool:
    return request.path.startswith("/admin")


# An error in another format than ours: (status, message) -> the response.
ErrorFormat = Callable[[int, str], Response]


def register_error_format(app: Flask, path_prefix: str, render: ErrorFormat) -> None:
    """Under ``path_prefix`` errors answer as ``render`` makes them (a standard's own format, as Open311's), however
    they arise: in a view, or before any (a path no route matches, a method none takes) or unexpected."""
    app.extensions.setdefault("error_formats", {})[path_prefix] = render


def _own_format() -> ErrorFormat | None:
    formats: dict[str, ErrorFormat] = current_app.extensions.get("error_formats", {})
    return next((render for prefix, render in formats.items() if request.path.startswith(prefix)), None)


def _http_exception_response(exc: HTTPException) -> Response:
    status = exc.code or 500
    code, message = HTTP_STATUS_CODES.get(status, ("http_error", exc.description or ""))
    details: dict[str, Any] = {}
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if messages:
        # flask-smorest / webargs: {"json": {"field": ["msg"]}} keyed by request location.
        details["fields"] = messages
        if status == 400 and "json" in messages and messages["json"] == ["Invalid JSON body."]:
            code, message = "malformed_json", "请求体不是有效的 JSON。"
            details = {}
    elif status == 400 and exc.description and "JSON" in exc.description:
        code, message = "malformed_json", "请求体不是有效的 JSON。"
    valid_methods = getattr(exc, "valid_methods", None)
    if status == 405 and valid_methods:
        details["allowed_methods"] = sorted(valid_methods)
    own_format = _own_format()
    if _wants_html():
        return Response(render_template("admin/error.html", status=status, message=message), status=status)
    if own_format is not None:
        response = own_format(status, exc.description or exc.name)
    else:
        response = error_response(status, code, message, details)
    if exc.response is None:
        for name, value in exc.get_headers():
            if name.lower() not in {"content-type", "content-length"}:
                response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def _app_error(exc: AppError) -> Response:
        if _wants_html():
            return Response(render_template("admin/error.html", status=exc.status, message=exc.message),
                            status=exc.status, headers=exc.headers)
        own_format = _own_format()
        response = (own_format(exc.status, exc.message) if own_format is not None
                    else error_response(exc.status, exc.code, exc.message, exc.details))
        response.headers.update(exc.headers)
        return response

    app.register_error_handler(HTTPException, _http_exception_response)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        code, message = HTTP_STATUS_CODES[500]
        if _wants_html():
            # The page reads the signed-in staff member for its menu: not through a transaction that just failed.
            db.session.rollback()
            return Response(render_template("admin/error.html", status=500, message=message), status=500)
        own_format = _own_format()
        if own_format is not None:
            return own_format(500, "internal server error")
        return error_response(500, code, message)
