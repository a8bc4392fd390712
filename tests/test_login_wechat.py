"""WeChat login and phone binding, against a fake WeChat server on loopback reached over real HTTP."""

from __future__ import annotations

import asyncio

import pytest

from server.core.context import Context
from server.people.users import UserService
from tests.fakes import FakeWechat


@pytest.fixture
def wechat_base_url(fake_wechat: FakeWechat) -> str:
    return fake_wechat.base_url


async def test_first_login_creates_a_resident_and_later_logins_find_it(api, ctx: Context) -> None:
    response = await api.post(
        "/api/auth/wechat", {"code": "ok-zhang"}, headers={"User-Agent": "MicroMessenger/8.0 miniProgram"}
    )
    assert response.status == 200
    first = response.json
    assert first["is_new"] is True
    assert first["phone_bound"] is False
    assert b"SESSION-KEY" not in response.body
    user = await ctx.db["users"].find_one({"openid": "o-zhang"})
    assert str(user["_id"]) == first["user_id"]
    assert [g["role"] for g in user["grants"]] == ["resident"]
    assert "session_key" not in str(user)

    second = (await api.post("/api/auth/wechat", {"code": "ok-zhang-again"})).json
    assert second["is_new"] is True  # a different openid: "zhang-again"
    third = (await api.post("/api/auth/wechat", {"code": "union-zhang"})).json
    assert third["is_new"] is False
    assert third["user_id"] == first["user_id"]

    me = await api.get("/api/me", token=first["access_token"])
    assert me.json["roles"][0]["role"] == "resident"


async def test_concurrent_first_logins_make_one_account(ctx: Context) -> None:
    results = await asyncio.gather(
        *(UserService(ctx).resident_by_openid("o-same", None, ctx.clock.now()) for _ in range(6))
    )
    assert len({str(user["_id"]) for user, _ in results}) == 1
    assert sum(is_new for _, is_new in results) == 1
    assert await ctx.db["users"].count_documents({"openid": "o-same"}) == 1


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("err40029", 401, "wechat_code_invalid"),  # a login whose credential WeChat refuses
        ("err40163", 401, "wechat_code_used"),
        ("err45011", 429, "wechat_rate_limited"),
        ("err40226", 403, "wechat_user_risky"),
        ("err-1", 503, "wechat_busy"),
        ("err99999", 503, "wechat_error"),
    ],
)
async def test_wechat_errors_become_clear_errors(api, ctx: Context, code: str, status: int, error: str) -> None:
    response = await api.post("/api/auth/wechat", {"code": code})
    assert response.status == status
    assert response.error_code == error
    assert await ctx.db["users"].count_documents({}) == 0


async def test_a_code_used_twice_is_refused(api) -> None:
    assert (await api.post("/api/auth/wechat", {"code": "ok-once"})).status == 200
    response = await api.post("/api/auth/wechat", {"code": "ok-once"})
    assert response.status == 401
    assert response.error_code == "wechat_code_used"


async def test_wechat_unreachable_is_503(api, fake_wechat: FakeWechat) -> None:
    await fake_wechat.stop()
    response = await api.post("/api/auth/wechat", {"code": "ok-x"})
    assert response.status == 503
    assert response.error_code == "wechat_unavailable"


async def login_resident(api, code: str) -> str:
    return (await api.post("/api/auth/wechat", {"code": code})).json["access_token"]


async def test_phone_binding_masks_the_phone_and_caches_the_token(api, ctx: Context, fake_wechat: FakeWechat) -> None:
    token = await login_resident(api, "ok-bind")
    fake_wechat.add_phone("p1", "13812345678")
    response = await api.post("/api/me/phone", {"code": "p1"}, token=token)
    assert response.status == 200
    assert response.json["phone"] == "138****5678"
    assert b"13812345678" not in response.body
    user = await UserService(ctx).by_phone("13812345678")
    assert user is not None
    assert "13812345678" not in str(user)
    stored = await ctx.db["wechat_tokens"].find_one({})
    assert "tok-" not in str(stored)  # the interface token is sealed at rest too

    fake_wechat.add_phone("p2", "13812345679")
    other = await login_resident(api, "ok-bind2")
    assert (await api.post("/api/me/phone", {"code": "p2"}, token=other)).status == 200
    assert fake_wechat.calls["stable_token"] == 1


async def test_token_renewal_is_single_flight(api, ctx: Context, fake_wechat: FakeWechat) -> None:
    tokens = [await login_resident(api, f"ok-c{i}") for i in range(8)]
    for i in range(8):
        fake_wechat.add_phone(f"pc{i}", f"1391234560{i}")
    responses = await asyncio.gather(
        *(api.post("/api/me/phone", {"code": f"pc{i}"}, token=t) for i, t in enumerate(tokens))
    )
    assert [r.status for r in responses] == [200] * 8
    assert fake_wechat.calls["stable_token"] == 1


async def test_a_rejected_token_is_renewed_once_and_the_call_retried(api, fake_wechat: FakeWechat) -> None:
    tokens = [await login_resident(api, f"ok-r{i}") for i in range(6)]
    fake_wechat.add_phone("warm", "13700000000")
    assert (await api.post("/api/me/phone", {"code": "warm"}, token=tokens[0])).status == 200
    fake_wechat.invalidate()  # e.g. another system renewed the token
    for i in range(1, 6):
        fake_wechat.add_phone(f"pr{i}", f"1370000000{i}")
    responses = await asyncio.gather(
        *(api.post("/api/me/phone", {"code": f"pr{i}"}, token=tokens[i]) for i in range(1, 6))
    )
    assert [r.status for r in responses] == [200] * 5
    assert fake_wechat.force_refreshes == 1
    assert fake_wechat.calls["stable_token"] == 2


async def test_binding_a_phone_that_belongs_to_another_account_is_409(api, ctx: Context, fake_wechat) -> None:
    await UserService(ctx).create(name="已有账号", phone="13812340000", now=ctx.clock.now())
    token = await login_resident(api, "ok-late")
    fake_wechat.add_phone("taken", "13812340000")
    response = await api.post("/api/me/phone", {"code": "taken"}, token=token)
    assert response.status == 409
    assert response.error_code == "phone_taken"


async def test_binding_with_a_bad_phone_code_is_400(api, fake_wechat) -> None:
    token = await login_resident(api, "ok-badcode")
    response = await api.post("/api/me/phone", {"code": "never-issued"}, token=token)
    assert response.status == 400
    assert response.error_code == "wechat_code_invalid"


async def test_wechat_not_configured_is_503(api, ctx: Context) -> None:
    ctx.wechat._config = ctx.config.wechat.model_copy(update={"appid": ""})
    response = await api.post("/api/auth/wechat", {"code": "ok-x"})
    assert response.status == 503
    assert response.error_code == "wechat_not_configured"
