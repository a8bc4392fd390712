"""The Open311 GeoReport v2 door under `/open311/v2/` (server/cases/open311.py): services, requests and tokens in
JSON and XML, errors as the spec's list of `{code, description}`.

The spec is its own documentation (open311.org, GeoReport v2), so these routes are not in our OpenAPI document;
the README lists them with what each kind of caller sees. A partner's `api_key` comes as a parameter (the
form of a POST, or the query of a GET), never in a header, as the spec has it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

from tornado.httputil import HTTPInputError, parse_body_arguments

from handlers.base import CONTROL_CHARACTERS, BaseHandler, handles_idempotency, public
from server.cases.open311 import Filters, Open311, definition, services
from server.core.errors import NotFound, ValidationFailed

# A list's items are named in XML by the list: <services><service>…, <attributes><attribute>…
XML_ITEMS = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "errors": "error",
}
# HTTP statuses as the spec has them: a missing or wrong key is 403, a missing resource 404, the rest 400.
SPEC_STATUS = {401: 403, 409: 400, 422: 400}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def to_xml(root: str, items: Any) -> bytes:
    """The spec's XML for a list or an object (`root` names it), with the declaration it asks for."""
    element = ElementTree.Element(root)
    _fill(element, items)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(element, encoding="utf-8").split(
        b"?>", 1
    )[-1].lstrip(b"\n")


def _fill(element: ElementTree.Element, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _fill(ElementTree.SubElement(element, XML_ITEMS.get(element.tag, "item")), item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _fill(ElementTree.SubElement(element, key), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


class Open311Handler(BaseHandler):
    documented_elsewhere = True

    @property
    def door(self) -> Open311:
        return Open311(self.ctx)

    def fmt(self) -> str:
        return "xml" if self.request.path.endswith(".xml") else "json"

    def param(self, name: str) -> str | None:
        value = self.get_query_argument(name, None)
        if value is not None and CONTROL_CHARACTERS.search(value):
            raise ValidationFailed(details=[{"field": name, "message": "不能包含控制字符"}])
        return value

    def answer(self, root: str, data: Any, status: int = 200) -> None:
        """A list or object in the format the path asks for."""
        self.set_status(status)
        if self.fmt() == "xml":
            self.set_header("Content-Type", "text/xml; charset=utf-8")
            self.finish(to_xml(root, data))
        else:
            self.write_json(data, status=status)

    def write_error_body(self, status: int, code: str, message: str, details: Any) -> None:
        spec_status = SPEC_STATUS.get(status, status)
        self.set_status(spec_status)
        descriptions = [message]
        if isinstance(details, list) and details and all(isinstance(d, dict) and "field" in d for d in details):
            descriptions = [f"{d['field']}：{d['message']}" for d in details]
        errors = [{"code": spec_status, "description": text} for text in descriptions]
        if self.fmt() == "xml":
            self.set_header("Content-Type", "text/xml; charset=utf-8")
            self.finish(to_xml("errors", [{"code": e["code"], "description": e["description"]} for e in errors]))
            return
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(errors, ensure_ascii=False))

    async def town_for(self, partner: dict[str, Any] | None) -> dict[str, Any]:
        return await self.door.town(partner, self.param("jurisdiction_id"))


class ServicesHandler(Open311Handler):
    @public
    async def get(self, fmt: str) -> None:
        partner = await self.door.caller(self.param("api_key"), None, self.client_ip)
        await self.town_for(partner)  # a deployment of several towns asks which one, as the spec says
        self.answer("services", services())


class ServiceDefinitionHandler(Open311Handler):
    @public
    async def get(self, code: str, fmt: str) -> None:
        partner = await self.door.caller(self.param("api_key"), None, self.client_ip)
        town = await self.town_for(partner)
        self.answer("service_definition", definition(code, await self.door.villages(town)))


class RequestsHandler(Open311Handler):
    @public
    async def get(self, fmt: str) -> None:
        partner = await self.door.caller(self.param("api_key"), None, self.client_ip)
        numbers = _split(self.param("service_request_id"))
        if numbers:  # the spec: a list of ids overrides every other parameter
            cases = await self.door.by_numbers(partner, numbers)
        else:
            filters = Filters(
                codes=_split(self.param("service_code")),
                start=_date(self.param("start_date"), "start_date"),
                end=_date(self.param("end_date"), "end_date"),
                statuses=_statuses(self.param("status")),
            )
            cases = await self.door.search(partner, await self.town_for(partner), filters)
        self.answer("service_requests", await self.door.views(cases, partner["_id"] if partner else None))

    @public
    @handles_idempotency  # a partner's `attribute[external_ref]` makes a retry give back the first request
    async def post(self, fmt: str) -> None:
        form = self._form()
        api_key = (form.get("api_key") or [""])[-1] or self.param("api_key")
        partner = await self.door.caller(api_key, "submit", self.client_ip)
        assert partner is not None
        jurisdiction = (form.get("jurisdiction_id") or [""])[-1] or self.param("jurisdiction_id")
        town = await self.door.town(partner, jurisdiction)
        case, created = await self.door.submit(partner, town, form)
        answer = {
            "service_request_id": case["number"],
            "service_notice": "已登记，将按属地分派调解组织办理" if created else "该编号的请求已经登记过",
            "account_id": None,
            "token": case.get("open311_token"),
        }
        self.answer("service_requests", [answer], status=201 if created else 200)

    def _form(self) -> dict[str, list[str]]:
        if self.media_type not in FORM_TYPES:
            raise ValidationFailed(
                details=[{"field": "Content-Type", "message": "请以 application/x-www-form-urlencoded 提交"}]
            )
        arguments: dict[str, list[bytes]] = {}
        try:
            parse_body_arguments(self.request.headers.get("Content-Type", ""), self.body, arguments, {})
        except HTTPInputError as exc:
            raise ValidationFailed(details=[{"field": "body", "message": "表单格式不正确"}]) from exc
        form: dict[str, list[str]] = {}
        for name, values in arguments.items():
            texts = [v.decode("utf-8", "replace") for v in values]
            if any(CONTROL_CHARACTERS.search(t) for t in texts):
                raise ValidationFailed(details=[{"field": name, "message": "不能包含控制字符"}])
            form[name] = texts
        return form


class RequestHandler(Open311Handler):
    @public
    async def get(self, number: str, fmt: str) -> None:
        partner = await self.door.caller(self.param("api_key"), None, self.client_ip)
        case = await self.door.one(partner, number)
        self.answer("service_requests", await self.door.views([case], partner["_id"] if partner else None))


class TokenHandler(Open311Handler):
    @public
    async def get(self, token: str, fmt: str) -> None:
        await self.door.caller(self.param("api_key"), None, self.client_ip)
        case = await self.door.token(token)
        self.answer("service_requests", [{"service_request_id": case["number"], "token": token}])


class UnknownHandler(Open311Handler):
    """Anything else under the door: the spec's 404."""

    uses_database = False

    async def prepare(self) -> None:
        raise NotFound("没有这个接口")


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _date(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationFailed(
            details=[{"field": field, "message": "须为带时区的 W3C 时间，如 2026-11-01T00:00:00+08:00"}]
        )
    return moment


def _statuses(value: str | None) -> list[str]:
    statuses = _split(value)
    if any(s not in ("open", "closed") for s in statuses):
        raise ValidationFailed(details=[{"field": "status", "message": "只能是 open 或 closed"}])
    return statuses


FORMAT = r"\.(?P<fmt>json|xml)$"
default_handlers = [
    (r"/open311/v2/services" + FORMAT, ServicesHandler),
    (r"/open311/v2/services/(?P<code>[A-Za-z0-9_]+)" + FORMAT, ServiceDefinitionHandler),
    (r"/open311/v2/requests" + FORMAT, RequestsHandler),
    (r"/open311/v2/requests/(?P<number>[A-Za-z0-9-]+)" + FORMAT, RequestHandler),
    (r"/open311/v2/tokens/(?P<token>[A-Za-z0-9_-]+)" + FORMAT, TokenHandler),
    (r"/open311/.*", UnknownHandler),
]
