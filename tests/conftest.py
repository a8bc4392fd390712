"""Shared fixtures.

- `config`: a valid `Config` with test secrets. The database is the in-process emulation, or the real
  MongoDB named by the `MONGODB_URI` environment variable, with a fresh database per test either way.
- `ctx`: the application context on that database, indexes ensured, senders recording into lists.
- `server`: the real application listening on a free loopback port; `server.base_url`.
- `api`: an HTTP client for that server (Tornado's real `AsyncHTTPClient`). Every response it returns has
  been checked for the invariants every endpoint keeps: security headers, a request id, and on errors the
  envelope `{"error": {"code", "message", "request_id"}}` matching the `X-Request-Id` header.
- `org_tree`: a small county → town → village → grid → micro-grid tree with a town office center.
- `login`: makes a user with given grants and returns an `Account` with tokens from a real login session.
- `extra_handlers`: routes a test adds to the application (override the fixture in a test module).
- `town`: a county with committees, a town with its centers and two villages, and a person of every role
  (`tests/town.py`); `other_town`: 第二镇 beside it, with a village, center staff and an admin.
- `fake_wechat`, `fake_sms`: fake WeChat and Aliyun SMS servers on loopback (`tests/fakes.py`); a module
  aims the application at them by overriding `wechat_base_url` or `config`.
- Helpers: `context_for(config, senders)` (a context whose test database is dropped afterwards),
  `memory_config_file(tmp_path)` (a config file for a subprocess), `insert_households(ctx, micro_grid, n)`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from bson import ObjectId
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from notify.base import Senders, SendResult, SmsMessage, WechatMessage
from server.app import Server, make_app, open_context
from server.core import memdb
from server.core.config import Config, build_config
from server.core.context import Context
from server.core.query_shapes import Recorder
from server.orgs.tree import OrgService
from server.people.sessions import SessionService, TokenPair
from server.people.users import UserService, grant_doc
from tests.fakes import FakeAliyunSms, FakeWechat, wechat_config
from tests.town import Town, add_second_town, build_town

TEST_ENV = {
    "SYGZ_AUTH__JWT_KEYS": "t1:" + "A" * 43,
    "SYGZ_CRYPTO__KEYS": "c1:" + "B" * 43,
    "SYGZ_CRYPTO__HASH_KEY": "C" * 43,
}
SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy")


def env_for_tests(**overrides: str) -> dict[str, str]:
    env = dict(TEST_ENV)
    env["SYGZ_MONGODB__URI"] = os.environ.get("MONGODB_URI", "memory://")
    env["SYGZ_MONGODB__DATABASE"] = f"sanyuan_test_{uuid.uuid4().hex[:12]}"
    env.update(overrides)
    return env


@pytest.fixture(scope="session", autouse=True)
def query_shapes() -> Recorder:
    """Every query the suite sends to the emulation, by shape, for tests/test_zz_index_use.py."""
    memdb.RECORDER = memdb.RECORDER or Recorder()
    return memdb.RECORDER


@pytest.fixture
def wechat_base_url() -> str:
    """Where the WeChat client points; modules that talk to WeChat override this with a fake server."""
    return "http://127.0.0.1:9"


@pytest.fixture
def config(wechat_base_url: str, tmp_path: Path) -> Config:
    # As deployed behind a reverse proxy: the client address comes from X-Real-Ip.
    raw = {
        "wechat": wechat_config(wechat_base_url),
        "http": {"xheaders": True},
        "plates": {"storage_dir": str(tmp_path / "files")},
    }
    return build_config(raw, source="tests", environ=env_for_tests()).config


class RecordingSender:
    """Records what it is asked to send; as an SMS sender it also answers the dispatcher's reconcile."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, message: SmsMessage | WechatMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(ok=True, provider_id=f"rec-{len(self.sent)}")

    async def was_sent(self, phone: str, day: str, out_id: str) -> bool | None:
        return any(getattr(m, "out_id", None) == out_id for m in self.sent)


def sms_sent(ctx: Context) -> list[SmsMessage]:
    """The SMS the context's recording sender was asked to send."""
    assert isinstance(ctx.senders.sms, RecordingSender)
    return ctx.senders.sms.sent


@contextlib.asynccontextmanager
async def context_for(config: Config, senders: Senders | None = None) -> AsyncIterator[Context]:
    """A context on the test database, which is dropped afterwards when it is a real MongoDB."""
    context = await open_context(config, senders=senders)
    try:
        yield context
    finally:
        if not config.mongodb.uri.startswith("memory://"):
            await context.client.drop_database(config.mongodb.database)
        await context.close()


@pytest.fixture
async def ctx(config: Config) -> AsyncIterator[Context]:
    async with context_for(config, Senders(sms=RecordingSender(), wechat=RecordingSender())) as context:
        yield context


@pytest.fixture
async def fake_wechat() -> AsyncIterator[FakeWechat]:
    fake = FakeWechat()
    fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_sms() -> AsyncIterator[FakeAliyunSms]:
    fake = FakeAliyunSms()
    fake.start()
    yield fake
    await fake.stop()


def memory_config_file(tmp_path: Path, extra: str = "") -> Path:
    """A config file for a subprocess: in-memory database, test secrets, plus `extra` YAML."""
    path = tmp_path / "config.yaml"
    path.write_text(
        "mongodb: {uri: 'memory://'}\n"
        f"auth: {{jwt_keys: 'k:{'A' * 43}'}}\n"
        f"crypto: {{keys: 'c:{'B' * 43}', hash_key: '{'C' * 43}'}}\n" + extra,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def extra_handlers() -> list[tuple[Any, ...]]:
    return []


@pytest.fixture
async def server(ctx: Context, extra_handlers: list[tuple[Any, ...]]) -> AsyncIterator[Server]:
    app = make_app(ctx, extra_handlers)
    app.settings["check_rows"] = True  # every list page read is checked against its row model (write_rows)
    srv = Server(ctx, app)
    srv.listen(0, "127.0.0.1")
    yield srv
    srv.http.stop()
    await srv.http.close_all_connections()


@dataclass
class Response:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str:
        return self.json["error"]["code"]


# Health answers 503 with its own body, for load balancers and monitoring, not with the error envelope; the
# Open311 door answers errors in the spec's own format (tests/test_open311.py checks it).
ENVELOPE_EXEMPT = ("/api/health",)
OWN_ERROR_FORMAT = "/open311/"


def check_invariants(response: HTTPResponse) -> None:
    for header in SECURITY_HEADERS:
        assert response.headers.get(header), f"missing security header {header}"
    assert "Server" not in response.headers
    dated = parsedate_to_datetime(response.headers["Date"]).timestamp()  # made once a second (BaseHandler.clear)
    assert time.time() - 600 <= dated <= time.time()
    request_id = response.headers.get("X-Request-Id")
    assert request_id
    path = urlsplit(response.effective_url).path
    if response.code >= 400 and path not in ENVELOPE_EXEMPT and not path.startswith(OWN_ERROR_FORMAT):
        assert response.headers["Content-Type"].startswith("application/json")
        body = json.loads(response.body)
        assert set(body) == {"error"}
        error = body["error"]
        assert set(error) <= {"code", "message", "details", "request_id"}
        assert error["code"]
        assert error["message"]
        assert error["request_id"] == request_id


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = AsyncHTTPClient(force_instance=True)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        all_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body)
            all_headers.setdefault("Content-Type", "application/json")
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        response = await self.client.fetch(
            self.base_url + path, method=method, body=body, headers=all_headers, raise_error=False
        )
        check_invariants(response)
        return Response(response.code, response.headers, response.body)

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Response:
        return await self.request("POST", path, json_body=json_body, **kwargs)

    async def put(self, path: str, json_body: Any = None, **kwargs: Any) -> Response:
        return await self.request("PUT", path, json_body=json_body, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Response:
        return await self.request("DELETE", path, **kwargs)


@pytest.fixture
async def api(server: Server) -> AsyncIterator[Api]:
    client = Api(server.base_url)
    yield client
    client.client.close()


@dataclass
class OrgTree:
    county: dict[str, Any]
    town: dict[str, Any]
    office: dict[str, Any]
    village: dict[str, Any]
    other_village: dict[str, Any]
    grid: dict[str, Any]
    micro_grid: dict[str, Any]


@pytest.fixture
async def org_tree(ctx: Context) -> OrgTree:
    now = ctx.clock.now()
    county = await OrgService(ctx).create(name="测试县", kind="county", parent_id=None, now=now)
    town = await OrgService(ctx).create(name="测试镇", kind="town", parent_id=county["_id"], now=now)
    office = await OrgService(ctx).create(
        name="三源共治办公室", kind="center", parent_id=town["_id"], now=now, center_type="office"
    )
    village = await OrgService(ctx).create(name="甲村", kind="village", parent_id=town["_id"], now=now)
    other = await OrgService(ctx).create(name="乙村", kind="village", parent_id=town["_id"], now=now)
    grid = await OrgService(ctx).create(name="甲村第1网格", kind="grid", parent_id=village["_id"], now=now)
    micro = await OrgService(ctx).create(name="甲村第1网格第1微网格", kind="micro_grid", parent_id=grid["_id"], now=now)
    return OrgTree(county, town, office, village, other, grid, micro)


async def insert_households(ctx: Context, micro_grid: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """`count` bare households (甲村1组1号, 2号, …) in `micro_grid`, written straight to the database."""
    households = [
        {
            "_id": ObjectId(),
            "micro_grid_id": micro_grid["_id"],
            "org_path": micro_grid["path"],
            "address": f"甲村1组{n + 1}号",
            "members": [],
            "tags": [],
            "qr_token": f"token-{uuid.uuid4().hex}",
            "created_at": ctx.clock.now(),
        }
        for n in range(count)
    ]
    await ctx.db["households"].insert_many(households)
    return households


@dataclass
class Account:
    user: dict[str, Any]
    tokens: TokenPair
    phone: str

    @property
    def id(self) -> str:
        return str(self.user["_id"])

    @property
    def token(self) -> str:
        return self.tokens.access_token


@pytest.fixture
def login(ctx: Context) -> Callable[..., Any]:
    """`await login(("town_admin", org_id), name=...)`: a new user with those grants, logged in."""
    counter = itertools.count(1)

    async def make(
        *grants: tuple[str, ObjectId | None] | tuple[str, ObjectId | None, str], name: str = "测试用户"
    ) -> Account:
        phone = f"137{uuid.uuid4().int % 10**8:08d}"
        user = await UserService(ctx).create(
            name=name, phone=phone, now=ctx.clock.now(), grants=[grant_doc(*g) for g in grants]
        )
        # A test account stands for a whole login: its second factor (where its roles need one) is confirmed.
        tokens = await SessionService(ctx).start(
            user, method="test", user_agent=f"pytest/{next(counter)}", second_factor=True
        )
        return Account(user=user, tokens=tokens, phone=phone)

    return make


@pytest.fixture
async def town(ctx: Context, login: Callable[..., Any]) -> Town:
    return await build_town(ctx, login)


@pytest.fixture
async def other_town(ctx: Context, login: Callable[..., Any], town: Town) -> dict[str, Any]:
    return await add_second_town(ctx, login, town)
