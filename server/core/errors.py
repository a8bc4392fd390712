"""Domain errors.

Services raise these and know nothing about HTTP; `handlers.base` maps each class to a status code in one
place. `code` is for programs and never changes; `message` is for people, in Chinese.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"
    message = "请求无法完成"

    def __init__(self, message: str | None = None, *, code: str | None = None, details: Any = None) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        super().__init__(self.message)


class BadRequest(DomainError):
    code = "bad_request"
    message = "请求格式不正确"


class ValidationFailed(DomainError):
    """Input that parsed but broke a rule; `details` lists `{"field", "message"}` items."""

    code = "validation_failed"
    message = "提交的内容有误，请检查标出的字段"


class Unauthenticated(DomainError):
    code = "unauthenticated"
    message = "请先登录"


class Forbidden(DomainError):
    code = "forbidden"
    message = "没有权限执行此操作"


class NotFound(DomainError):
    code = "not_found"
    message = "找不到请求的内容"


class Conflict(DomainError):
    code = "conflict"
    message = "操作与当前状态冲突"


class Gone(DomainError):
    """Something that existed and was deliberately retired, such as a replaced door plate."""

    code = "gone"
    message = "该内容已失效"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    message = "提交的内容过大"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    message = "不支持的内容类型，请以 application/json 提交"


class TooManyRequests(DomainError):
    code = "too_many_requests"
    message = "操作过于频繁，请稍后再试"


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
    message = "服务暂时不可用，请稍后再试"
