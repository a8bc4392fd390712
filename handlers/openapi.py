"""`GET /api/openapi.json`: the OpenAPI 3.1 document, built from the application's own routes and schemas.

Each handler method carries its `@api(...)` description and its `@public` / `@requires` marks; the request
and response models are the same pydantic classes that validate and serialize. A route method without
`@api` makes the build fail, so the document cannot fall behind the code.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from tornado.routing import PathMatches, Rule
from tornado.web import RequestHandler

from handlers.base import ERROR_SCHEMA, NO_CONTROL_CHARACTERS, BaseHandler, api, public
from server.core.version import NAME, VERSION

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_REF = "#/components/schemas/{model}"
_GROUP = re.compile(r"\(\?P<(\w+)>")
_ERROR_RESPONSES = {
    "401": "未登录或登录凭证无效",
    "403": "没有权限",
    "413": "请求体过大",
    "415": "内容类型不是 application/json",
    "422": "字段校验失败，details 列出每个出错字段",
}


class UndocumentedRoute(Exception):
    pass


def openapi_path(pattern: str) -> tuple[str, list[str]]:
    """`/api/x/(?P<id>[^/]+)$` → (`/api/x/{id}`, [`id`]); groups may nest parentheses."""
    pattern = pattern.removesuffix("$")
    out, names, i = [], [], 0
    while i < len(pattern):
        match = _GROUP.match(pattern, i)
        if match is None:
            out.append(pattern[i])
            i += 1
            continue
        depth, j = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(pattern[j], 0) if pattern[j - 1] != "\\" else 0
            j += 1
        names.append(match.group(1))
        out.append(f"{{{match.group(1)}}}")
        i = j
    return "".join(out).replace("\\", ""), names


def handler_methods(handler: type[RequestHandler]) -> list[str]:
    """The HTTP methods a handler class implements itself (not Tornado's 405 defaults)."""
    return [m for m in HTTP_METHODS if getattr(handler, m) is not getattr(RequestHandler, m)]


def _route_operations(rules: list[Rule]) -> list[tuple[str, list[str], str, type[BaseHandler], Any]]:
    operations = []
    for rule in rules:
        handler = rule.target
        if not (isinstance(handler, type) and issubclass(handler, BaseHandler)) or handler.documented_elsewhere:
            continue
        if not isinstance(rule.matcher, PathMatches):
            continue
        path, names = openapi_path(rule.matcher.regex.pattern)
        for method in handler_methods(handler):
            function = getattr(handler, method)
            meta = getattr(function, "__api__", None)
            if meta is None:
                raise UndocumentedRoute(f"{handler.__name__}.{method} ({path}) has no @api description")
            operations.append((path, names, method, handler, function))
    return operations


def _say_no_control_characters(schema: Any) -> None:
    """Every free string refuses control characters (tab and newlines aside), as the server does: say so."""
    if isinstance(schema, dict):
        if schema.get("type") == "string" and not schema.keys() & {"pattern", "format", "enum", "const"}:
            schema["pattern"] = NO_CONTROL_CHARACTERS
        for value in schema.values():
            _say_no_control_characters(value)
    elif isinstance(schema, list):
        for item in schema:
            _say_no_control_characters(item)


def _fill_vocabularies(schema: Any, vocabularies: dict[str, list[str]]) -> None:
    """Words a deployment configures (`"x-vocabulary": name`) become the enum this server accepts."""
    if isinstance(schema, dict):
        name = schema.pop("x-vocabulary", None)
        if name is not None:
            schema["enum"] = vocabularies[name]
            schema.pop("pattern", None)
        for value in schema.values():
            _fill_vocabularies(value, vocabularies)
    elif isinstance(schema, list):
        for item in schema:
            _fill_vocabularies(item, vocabularies)


def build_openapi(rules: list[Rule], vocabularies: dict[str, list[str]] | None = None) -> dict[str, Any]:
    operations = _route_operations(rules)
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ERROR_SCHEMA, "serialization")]
    for *_, function in operations:
        meta = function.__api__
        uses: tuple[tuple[str, JsonSchemaMode], ...] = (
            ("request", "validation"),
            ("query", "validation"),
            ("response", "serialization"),
        )
        for key, mode in uses:
            if meta[key] is not None and (meta[key], mode) not in models:
                models.append((meta[key], mode))
    refs, defs = models_json_schema(models, ref_template=_REF)
    _fill_vocabularies(defs, vocabularies or {})
    _say_no_control_characters(defs)

    def schema(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return refs[(model, mode)]  # type: ignore[index]

    paths: dict[str, dict[str, Any]] = {}
    for path, names, method, _handler, function in operations:
        meta = function.__api__
        is_public = getattr(function, "__public__", False)
        roles = getattr(function, "__roles__", None)
        parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
        if meta["query"] is not None:
            query_schema = meta["query"].model_json_schema(ref_template=_REF)
            required = set(query_schema.get("required", []))
            for name, prop in query_schema.get("properties", {}).items():
                parameters.append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                    | ({"description": prop["description"]} if "description" in prop else {})
                )
        status = str(meta["status"])
        responses: dict[str, Any] = {status: {"description": meta["summary"]}}
        if meta["response"] is not None:
            responses[status]["content"] = {"application/json": {"schema": schema(meta["response"], "serialization")}}
        if meta["media"]:
            responses[status]["content"] = {
                m: {"schema": {"type": "string", "format": "binary"}} for m in meta["media"]
            }
        for code in meta.get("also", []):
            responses[str(code)] = responses[status] | {"description": meta["description"] or meta["summary"]}
        error_content = {"application/json": {"schema": schema(ERROR_SCHEMA, "serialization")}}
        wanted = [] if is_public else ["401"]
        if roles:
            wanted.append("403")
        if meta["request"] is not None or meta["upload"]:
            wanted += ["413", "415", "422"]
        elif meta["query"] is not None:
            wanted.append("422")
        for code in wanted:
            responses[code] = {"description": _ERROR_RESPONSES[code], "content": error_content}
        responses["default"] = {"description": "错误（统一错误信封）", "content": error_content}
        operation: dict[str, Any] = {
            "operationId": method + re.sub(r"[^A-Za-z0-9]+", "_", path).rstrip("_"),
            "summary": meta["summary"],
            "tags": meta["tags"],
            "parameters": parameters,
            "responses": responses,
            "security": [] if is_public else [{"bearerAuth": []}],
        }
        if meta["description"]:
            operation["description"] = meta["description"]
        if roles:
            operation["x-roles"] = list(roles)
        if meta["upload"]:
            binary = {"schema": {"type": "string", "format": "binary", "minLength": 1}}  # an empty file is refused
            content: dict[str, Any] = {m: binary for m in meta["upload"] if m != "multipart/form-data"}
            if "multipart/form-data" in meta["upload"]:  # wx.uploadFile: one file field
                content["multipart/form-data"] = {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary", "minLength": 1}},
                        "required": ["file"],
                        "additionalProperties": False,  # the one file: other parts make the upload ambiguous
                    }
                }
            operation["requestBody"] = {"required": True, "content": content}
        if meta["request"] is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema(meta["request"], "validation")}},
            }
        paths.setdefault(path, {})[method] = operation
    _say_no_control_characters(paths)  # the parameters, whose schemas are copied out of their models

    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{NAME} API",
            "version": VERSION,
            "description": "分页：列表接口统一使用 ?page=&page_size=，返回 {items,total,page,page_size}。"
            "错误：统一为 {error:{code,message,details?,request_id}}。",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


class OpenApiHandler(BaseHandler):
    uses_database = False

    @public
    @api("OpenAPI 3.1 接口文档", tags=["system"])
    async def get(self) -> None:
        self.write_json(self.settings["openapi"])


default_handlers = [(r"/api/openapi.json", OpenApiHandler)]
