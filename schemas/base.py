"""Shared wire shapes: the base model, the error envelope, pagination and validation-error wording."""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from server.core.errors import ValidationFailed
from server.core.pii import PHONE_PATTERN

T = TypeVar("T")
# Every id on the wire: a MongoDB ObjectId as 24 lowercase hex digits.
ObjectIdStr = Annotated[str, StringConstraints(min_length=24, max_length=24, pattern=r"^[0-9a-f]{24}$")]
# A mainland mobile number as people type it; the pattern is documented, the check (with its Chinese message
# naming the field) is `server.core.pii.normalize_phone`.
Phone = Annotated[str, Field(min_length=11, max_length=20, json_schema_extra={"pattern": PHONE_PATTERN})]
# A resident ID number: 17 digits and a check digit (or X), which a pattern cannot express; the format names it.
IdNumber = Annotated[
    str,
    Field(
        min_length=18,
        max_length=18,
        description="18 位居民身份证号码（含校验位）",
        json_schema_extra={"format": "cn-resident-id"},
    ),
]


# Why someone asks for full phone and ID numbers: written to the audit log with the reveal.
RevealReason: Any = Field(
    None, min_length=2, max_length=200, description="查看完整信息的理由（reveal=true 时必填，记入审计日志）"
)


def reveal_reason(reveal: bool, reason: str | None) -> str | None:
    """The reason for a reveal, which must be given (a 422 naming `reason` otherwise)."""
    if reveal and not reason:
        raise ValidationFailed(details=[{"field": "reason", "message": "查看完整信息须填写理由"}])
    return reason if reveal else None


class Schema(BaseModel):
    """Requests reject unknown fields, so a typo in a field name is an error that names it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# Rules between fields that the server checks, stated in the document with JSON Schema's own words, so
# that a generated client (and schemathesis) sends what the server accepts. Each model merges them into
# its `model_config` (pydantic merges a subclass's config with `Schema`'s).
def given(*names: str, **string: Any) -> dict[str, Any]:
    """The fields are present, as strings (`null` does not count)."""
    return {"required": list(names), "properties": {name: {"type": "string", **string} for name in names}}


def when(field: str, value: str | list[str], then: dict[str, Any]) -> dict[str, Any]:
    """If `field` is `value` (or one of the values), `then` holds."""
    test = {"enum": value} if isinstance(value, list) else {"const": value}
    return {"if": {"properties": {field: test}, "required": [field]}, "then": then}


def _no_nulls(schema: dict[str, Any]) -> None:
    """A patch's fields may be left out, never null: the document says so (pydantic would offer `null`)."""
    for prop in schema.get("properties", {}).values():
        options = prop.get("anyOf")
        if options and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            prop.pop("anyOf")
            prop.pop("default", None)
            if len(rest) == 1:
                prop.update(rest[0])
            else:
                prop["anyOf"] = rest


class Patch(Schema):
    """A partial update: a field left out stays as it is; `null` is not a value for it (a 422 naming the
    field), so a client cannot blank a name by accident."""

    model_config = ConfigDict(json_schema_extra=_no_nulls)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:  # runs only for fields the client sent
        if value is None:
            raise ValueError("不能为空；不修改的字段请不要提交")
        return value


def _iso_time(value: Any) -> Any:
    """Times are ISO 8601 text (`2026-11-28T08:00:00+08:00`), never a bare number of seconds."""
    if not isinstance(value, str) or not _ISO_DATE.match(value.strip()):
        raise ValueError("应为 ISO 8601 时间，如 2026-11-28T08:00:00+08:00")
    return value


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
# A time on the wire: ISO 8601 with a zone; numbers (which pydantic would read as seconds) are refused.
Time = Annotated[AwareDatetime, BeforeValidator(_iso_time)]


class ErrorBody(Schema):
    code: str = Field(description="供程序判断的错误代码，永不改变")
    message: str = Field(description="给人看的说明")
    details: Any | None = Field(None, description="字段错误时为 [{field, message}]，field 如 parties.0.phone")
    request_id: str


class ErrorEnvelope(Schema):
    error: ErrorBody


class PageParams(Schema):
    """Every list endpoint: `?page=1&page_size=20`, pages counted from 1, at most 100 items a page."""

    page: int = Field(1, ge=1, le=10000, description="页码，从 1 开始")
    page_size: int = Field(20, ge=1, le=100, description="每页条数，最多 100")

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.page_size


class Page(Schema, Generic[T]):
    items: list[T]
    total: int = Field(description="符合条件的总条数")
    page: int
    page_size: int


_MESSAGES = {
    "missing": "必填",
    "extra_forbidden": "不认识的字段",
    "string_too_short": "内容太短（至少 {min_length} 个字）",
    "string_too_long": "内容太长（最多 {max_length} 个字）",
    "too_short": "至少需要 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "string_type": "应为文本",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "greater_than": "必须大于 {gt}",
    "less_than": "必须小于 {lt}",
    "literal_error": "取值应为 {expected} 之一",
    "enum": "取值应为 {expected} 之一",
    "datetime_parsing": "应为 ISO 8601 时间",
    "datetime_from_date_parsing": "应为 ISO 8601 时间",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "list_type": "应为列表",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "string_pattern_mismatch": "格式不正确",
    "int_from_float": "应为整数",
}


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as `{"field", "message"}` items with Chinese messages."""
    items = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "body"
        template = _MESSAGES.get(err["type"])
        if err["type"] == "value_error":
            message = str(err.get("ctx", {}).get("error", "")) or "取值不正确"
        elif template is not None:
            message = template.format(**{k: v for k, v in (err.get("ctx") or {}).items()})
        else:
            message = "取值不正确"
        items.append({"field": field, "message": message})
    return items
