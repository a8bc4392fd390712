"""The OpenAPI document: generated from the routes, complete, and valid OpenAPI 3.1."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from tornado.web import Application

from handlers import all_handlers
from handlers.base import BaseHandler, public
from handlers.openapi import UndocumentedRoute, build_openapi, handler_methods, openapi_path
from server.app import make_app


async def test_document_is_valid_openapi_3_1(api) -> None:
    response = await api.get("/api/openapi.json")
    assert response.status == 200
    document = response.json
    assert document["openapi"] == "3.1.0"
    validate(document)


async def test_every_route_and_method_is_documented(api) -> None:
    document = (await api.get("/api/openapi.json")).json
    expected = set()
    elsewhere = set()
    for pattern, handler, *_ in all_handlers():
        path, _ = openapi_path(pattern)
        found = {(path, method) for method in handler_methods(handler)}
        if handler.documented_elsewhere:  # the Open311 door: its standard documents it (tests/test_open311.py)
            elsewhere |= found
        else:
            expected |= found
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == expected
    assert ("/open311/v2/requests.{fmt}", "post") in elsewhere
    assert ("/api/me/sessions/{session_id}", "delete") in documented


async def test_operations_describe_auth_bodies_and_errors(api) -> None:
    paths = (await api.get("/api/openapi.json")).json["paths"]
    refresh = paths["/api/auth/refresh"]["post"]
    assert refresh["security"] == []
    assert refresh["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RefreshIn"}
    assert {"200", "413", "415", "422", "default"} <= set(refresh["responses"])
    me = paths["/api/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    assert "401" in me["responses"]
    sessions = paths["/api/me/sessions"]["get"]
    assert [(p["name"], p["in"]) for p in sessions["parameters"]] == [("page", "query"), ("page_size", "query")]


def test_path_templates_from_route_patterns() -> None:
    assert openapi_path(r"/api/cases/(?P<case_id>[0-9a-f]{24})/events/(?P<n>\d+)$") == (
        "/api/cases/{case_id}/events/{n}",
        ["case_id", "n"],
    )
    assert openapi_path(r"/api/x/(?P<t>(?:[a-z]+|[0-9]+))") == ("/api/x/{t}", ["t"])


def test_an_undocumented_route_stops_the_build(ctx) -> None:
    class Undocumented(BaseHandler):
        @public
        async def get(self) -> None:
            self.write_json({})

    app = Application([(r"/api/undocumented", Undocumented)])
    with pytest.raises(UndocumentedRoute, match=r"Undocumented\.get"):
        build_openapi(app.wildcard_router.rules)
    with pytest.raises(UndocumentedRoute):
        make_app(ctx, [(r"/api/undocumented", Undocumented)])


async def test_every_bound_and_string_says_what_the_server_accepts(api) -> None:
    """Bounds are JSON Schema's keywords (pydantic leaves `ge`/`le` where it cannot place them, which no
    client reads), and every string states its pattern, format or values (control characters are refused)."""
    document = (await api.get("/api/openapi.json")).json
    stray: list[str] = []
    free: list[str] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            stray.extend(f"{where}/{k}" for k in ("ge", "le", "gt", "lt") if k in node)
            if node.get("type") == "string" and not node.keys() & {"pattern", "format", "enum", "const"}:
                free.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}[{index}]")

    walk(document["paths"], "paths")
    walk(document["components"], "components")
    assert not stray, stray[:5]
    assert not free, free[:5]
