"""The HTTP core: JSON in and out, the error envelope, headers, limits, logging."""

from __future__ import annotations

import gzip
import json
import logging
import re
from typing import Any

import pytest

from handlers.base import BaseHandler, api, public
from server.app import Server, make_app
from server.core.context import Context
from tests.conftest import Api


class BoomHandler(BaseHandler):
    @public
    @api("总是出错（测试用）")
    async def get(self) -> None:
        raise RuntimeError("internal detail 13812345678 /srv/secret.py")


@pytest.fixture
def extra_handlers() -> list[tuple[Any, ...]]:
    return [(r"/api/test/boom", BoomHandler)]


async def test_health_reports_database(api) -> None:
    response = await api.get("/api/health")
    assert response.status == 200
    body = response.json
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["demo"] is False


async def test_health_is_503_when_database_unreachable(api, ctx: Context) -> None:
    class DownDatabase:
        def __getitem__(self, name: str) -> Any:
            return ctx.db[name]

        async def command(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            raise ConnectionError("down")

    real, ctx.db = ctx.db, DownDatabase()
    try:
        response = await api.get("/api/health")
    finally:
        ctx.db = real
    assert response.status == 503
    assert response.json["database"] == "unreachable"


async def test_version_is_public(api) -> None:
    response = await api.get("/api/version")
    assert response.status == 200
    assert set(response.json) == {"name", "version", "api"}


async def test_unknown_route_is_json_404_for_any_method(api) -> None:
    for method in ("GET", "POST", "DELETE"):
        response = await api.request(method, "/api/no/such/thing")
        assert response.status == 404
        assert response.error_code == "no_such_route"


async def test_unsupported_method_is_405_envelope(api) -> None:
    response = await api.delete("/api/health")
    assert response.status == 405
    assert response.error_code == "method_not_allowed"


async def test_bad_json_is_400(api) -> None:
    response = await api.post(
        "/api/auth/refresh", body=b'{"refresh_token": ', headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert response.error_code == "invalid_json"


async def test_non_utf8_body_is_400(api) -> None:
    response = await api.post("/api/auth/refresh", body=b"\xff\xfe{}", headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert response.error_code == "invalid_json"


async def test_wrong_content_type_is_415(api) -> None:
    response = await api.post(
        "/api/auth/refresh", body=b"refresh_token=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 415
    assert response.error_code == "unsupported_media_type"


async def test_json_with_charset_is_accepted(api) -> None:
    response = await api.post(
        "/api/auth/refresh",
        body=b'{"refresh_token": "x"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status == 422  # parsed and validated: the token is too short
    assert response.json["error"]["details"] == [{"field": "refresh_token", "message": "内容太短（至少 16 个字）"}]


async def test_oversize_body_is_413(api, ctx: Context) -> None:
    limit = ctx.config.http.max_json_body
    big = '{"refresh_token": "%s"}' % ("x" * limit)
    response = await api.post("/api/auth/refresh", body=big, headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert response.error_code == "payload_too_large"
    assert response.json["error"]["details"] == {"limit_bytes": limit}


async def test_body_at_the_limit_is_read(api, ctx: Context) -> None:
    limit = ctx.config.http.max_json_body
    padding = limit - len('{"refresh_token": ""}')
    response = await api.post(
        "/api/auth/refresh",
        body='{"refresh_token": "%s"}' % ("y" * padding),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 422  # not 413: validation saw it and found the token too long
    assert response.json["error"]["details"][0]["field"] == "refresh_token"


async def test_validation_names_missing_and_unknown_fields(api) -> None:
    response = await api.post("/api/auth/refresh", {"refresh_tokn": "abc"})
    assert response.status == 422
    assert response.error_code == "validation_failed"
    assert sorted(response.json["error"]["details"], key=lambda d: d["field"]) == [
        {"field": "refresh_token", "message": "必填"},
        {"field": "refresh_tokn", "message": "不认识的字段"},
    ]


async def test_json_array_instead_of_object_is_422(api) -> None:
    response = await api.post("/api/auth/refresh", ["refresh_token"])
    assert response.status == 422
    assert response.json["error"]["details"][0]["field"] == "body"


async def test_unexpected_error_is_500_without_internals(api, caplog) -> None:
    caplog.set_level(logging.ERROR)
    response = await api.get("/api/test/boom")
    assert response.status == 500
    error = response.json["error"]
    assert error["code"] == "internal_error"
    assert b"internal detail" not in response.body
    assert b"secret.py" not in response.body
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert error["request_id"] in logged


async def test_request_id_from_proxy_is_kept_when_well_formed(api) -> None:
    response = await api.get("/api/health", headers={"X-Request-Id": "lb-0123456789"})
    assert response.headers["X-Request-Id"] == "lb-0123456789"
    response = await api.get("/api/health", headers={"X-Request-Id": "bad id <script>"})
    assert response.headers["X-Request-Id"] != "bad id <script>"
    made = {(await api.get("/api/health")).headers["X-Request-Id"] for _ in range(20)}
    assert len(made) == 20  # our own: a new one for each request
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in made)


async def test_every_response_carries_security_headers(api, ctx: Context) -> None:
    for path in ("/api/version", "/api/no/such", "/api/me"):  # an answer, a 404, a 401
        response = await api.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert response.headers["Cache-Control"] == "no-store", path
        assert "Etag" not in response.headers, path  # nothing may keep the answer: nothing to revalidate
        assert "Strict-Transport-Security" not in response.headers, path  # `http.hsts` is off by default
    ctx.config.http.hsts = True
    server = Server(ctx, make_app(ctx))
    server.listen(0, "127.0.0.1")
    behind_tls = Api(server.base_url)
    try:
        response = await behind_tls.get("/api/version")
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        assert response.headers["X-Frame-Options"] == "DENY"
    finally:
        server.http.stop()
        behind_tls.client.close()
        ctx.config.http.hsts = False


async def test_access_log_scrubs_secrets_and_personal_data(api, caplog) -> None:
    caplog.set_level(logging.INFO, logger="sanyuan.access")
    await api.get("/api/no/such?phone=13812345678&code=654321&id=110101199003071234&q=%E5%BC%A0")
    await api.get("/api/me", headers={"Authorization": "Bearer abc.def.ghi"})
    lines = [r.getMessage() for r in caplog.records if r.name == "sanyuan.access"]
    assert len(lines) == 2
    text = "\n".join(lines)
    assert "13812345678" not in text
    assert "654321" not in text
    assert "110101199003071234" not in text
    assert "phone=***" in text
    assert "code=***" in text
    assert lines[0].startswith("404 GET /api/no/such?")
    assert "(-@127.0.0.1)" in lines[0]
    assert lines[1].startswith("401 GET /api/me")


async def test_answers_are_gzipped_for_clients_that_ask(api) -> None:
    url = f"{api.base_url}/api/openapi.json"
    asked = await api.client.fetch(url, headers={"Accept-Encoding": "gzip"}, decompress_response=False)
    assert asked.headers["Content-Encoding"] == "gzip"
    assert asked.headers["Vary"] == "Accept-Encoding"
    document = json.loads(gzip.decompress(asked.body))
    assert document["openapi"].startswith("3.1")
    plain = await api.client.fetch(url, decompress_response=False)
    assert "Content-Encoding" not in plain.headers
    assert json.loads(plain.body) == document
    assert len(asked.body) * 3 < len(plain.body)
