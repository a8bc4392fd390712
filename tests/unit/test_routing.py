"""The literal routes found by one lookup go where Tornado's own routing sends them: every route's path (and
near misses) through both, the same handler with the same arguments."""

from __future__ import annotations

from typing import Any

from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine
from tornado.routing import PathMatches
from tornado.web import Application, RequestHandler

from handlers import all_handlers
from handlers.base import NotFoundHandler
from server.app import LiteralFirst

ID = "0123456789abcdef01234567"


def probes(rules: list[Any]) -> list[str]:
    """A path for every route (its literal path, or its pattern with an id in each group), and near misses."""
    paths: list[str] = []
    for rule in rules:
        matcher = rule.matcher
        assert isinstance(matcher, PathMatches)
        if matcher._path is None:  # not reversible: an expression we cannot fill in
            continue
        path = matcher.reverse(*[ID] * (matcher._group_count or 0))
        assert path is not None
        paths += [path, path + "/", path.rstrip("/") + "x", path.replace("/api/", "/API/")]
    return [*paths, "/", "/api", "/api/", "/api/openapiXjson", "/console/", "/nothing"]


def chosen(app: Application, path: str) -> tuple[Any, ...]:
    delegate: Any = app.find_handler(
        HTTPServerRequest(start_line=RequestStartLine("GET", path, "HTTP/1.1"), headers=HTTPHeaders(Host="localhost"))
    )
    return delegate.handler_class, delegate.handler_kwargs, delegate.path_args, delegate.path_kwargs


def test_every_path_goes_where_tornado_sends_it() -> None:
    routes = all_handlers()
    ours = LiteralFirst(routes, default_handler_class=NotFoundHandler)
    tornados = Application(routes, default_handler_class=NotFoundHandler)
    assert len(ours.literal) > 50  # most of the API is literal paths
    checked = probes(tornados.wildcard_router.rules)
    assert len(checked) > 400
    for path in checked:
        assert chosen(ours, path) == chosen(tornados, path), path


def test_a_literal_route_an_earlier_expression_takes_is_left_to_tornado() -> None:
    class Any_(RequestHandler):
        pass

    class Literal(RequestHandler):
        pass

    routes = [(r"/api/things/([^/]+)", Any_), (r"/api/things/mine", Literal), (r"/api/other", Literal)]
    app = LiteralFirst(routes)
    assert set(app.literal) == {"/api/other"}
    assert chosen(app, "/api/things/mine")[0] is Any_  # as Tornado does: the first route that matches
    assert chosen(app, "/api/other")[0] is Literal


def test_host_specific_routes_leave_every_path_to_tornado() -> None:
    class Here(RequestHandler):
        pass

    class There(RequestHandler):
        pass

    app = LiteralFirst([(r"/api/other", Here)])
    app.add_handlers(r"other\.example", [(r"/api/other", There)])
    request = HTTPServerRequest(
        start_line=RequestStartLine("GET", "/api/other", "HTTP/1.1"), headers=HTTPHeaders(Host="other.example")
    )
    delegate: Any = app.find_handler(request)
    assert delegate.handler_class is There  # as Tornado does: the host's own routes first
