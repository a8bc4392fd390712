"""The auth core: access tokens, refresh rotation and reuse detection, logout, roles and scopes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from bson import ObjectId

from handlers.base import BaseHandler, api, requires
from server.core.auth import Grant, Principal, TokenCache
from server.core.context import Context
from server.core.errors import Unauthenticated
from server.core.permissions import capabilities_of
from server.people.sessions import SessionService

TEST_KEY = "A" * 43  # the test jwt key from conftest, as configured (base64)


class AdminOnlyHandler(BaseHandler):
    @requires("org.edit")  # held by town and county admins only
    @api("仅管理员（测试用）")
    async def get(self) -> None:
        self.write_json({"ok": True, "user": self.caller.user_id})


@pytest.fixture
def extra_handlers() -> list[tuple[Any, ...]]:
    return [(r"/api/test/admin-only", AdminOnlyHandler)]


def signing_key(ctx: Context) -> bytes:
    return ctx.config.auth.keyring["t1"]


def forge(ctx: Context, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ctx.config.auth.issuer,
        "aud": ctx.config.auth.audience,
        "sub": str(ObjectId()),
        "sid": str(ObjectId()),
        "roles": [["town_admin", str(ObjectId()), None]],
        "iat": now,
        "exp": now + 600,
        "jti": "j1",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, signing_key(ctx), algorithm="HS256", headers={"kid": "t1"})


async def test_me_without_token_is_401(api) -> None:
    response = await api.get("/api/me")
    assert response.status == 401
    assert response.error_code == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_me_returns_profile_roles_and_scopes_with_masked_phone(api, login, org_tree) -> None:
    account = await login(("town_admin", org_tree.town["_id"]), ("mediator", org_tree.village["_id"]), name="刘海燕")
    response = await api.get("/api/me", token=account.token)
    assert response.status == 200
    town, village = org_tree.town, org_tree.village
    assert response.json == {
        "id": account.id,
        "name": "刘海燕",
        "phone": f"{account.phone[:3]}****{account.phone[-4:]}",
        "roles": [
            {
                "role": "town_admin",
                "role_name": "镇三源共治办公室",
                "org": {"id": str(town["_id"]), "name": "测试镇", "kind": "town"},
                "liaison_for": None,
                "capabilities": capabilities_of("town_admin"),
            },
            {
                "role": "mediator",
                "role_name": "调解员",
                "org": {"id": str(village["_id"]), "name": "甲村", "kind": "village"},
                "liaison_for": None,
                "capabilities": capabilities_of("mediator"),
            },
        ],
        "scopes": [  # broadest first
            {"id": str(town["_id"]), "name": "测试镇", "kind": "town"},
            {"id": str(village["_id"]), "name": "甲村", "kind": "village"},
        ],
        "session_id": account.tokens.session_id,
        "privacy_consent_needed": True,  # the mini-program asks before anything else (tests/test_rights.py)
    }
    assert account.phone.encode() not in response.body
    # what a client shows follows the capability table: an office assigns, a mediator takes the inbox
    admin, mediator = (set(r["capabilities"]) for r in response.json["roles"])
    assert "case.administer" in admin
    assert "case.administer" not in mediator
    assert "case.inbox" in mediator
    assert "case.inbox" not in admin


async def test_access_token_carries_no_personal_data(ctx: Context, login, org_tree) -> None:
    account = await login(("grid_worker", org_tree.grid["_id"]), name="李建国")
    claims = jwt.decode(account.token, options={"verify_signature": False})
    assert set(claims) == {"iss", "aud", "sub", "sid", "roles", "iat", "exp", "jti"}
    assert claims["roles"] == [["grid_worker", str(org_tree.grid["_id"]), None]]
    assert jwt.get_unverified_header(account.token)["kid"] == "t1"
    text = account.token + str(claims)
    assert account.phone not in text
    assert "李建国" not in text


async def test_the_token_endpoint_reads_the_callers_own_token(api, login, org_tree) -> None:
    account = await login(("liaison", org_tree.town["_id"], "police"), name="杨晓明")
    other = await login(("grid_worker", org_tree.grid["_id"]), name="李建国")
    answer = await api.get("/api/auth/token", token=account.token)
    claims = jwt.decode(account.token, options={"verify_signature": False})
    assert answer.status == 200
    assert answer.json == {
        "user_id": account.id,
        "session_id": account.tokens.session_id,
        "grants": [{"role": "liaison", "org_id": str(org_tree.town["_id"]), "liaison_for": "police"}],
        "expires_at": datetime.fromtimestamp(claims["exp"], UTC).isoformat().replace("+00:00", "Z"),
    }
    assert (await api.get("/api/auth/token", token=other.token)).json["user_id"] == other.id
    assert (await api.get("/api/auth/token")).status == 401


async def test_expired_token_is_401_token_expired(api, ctx: Context) -> None:
    an_hour_ago = int(time.time()) - 3600
    response = await api.get("/api/me", token=forge(ctx, iat=an_hour_ago, exp=an_hour_ago + 900))
    assert response.status == 401
    assert response.error_code == "token_expired"


@pytest.mark.parametrize(
    ("overrides", "case"),
    [
        ({"aud": "some-other-api"}, "wrong audience"),
        ({"iss": "someone-else"}, "wrong issuer"),
        ({"jti": None}, "missing jti"),
        ({"sid": None}, "missing session"),
        ({"roles": [["emperor", None, None]]}, "unknown role"),
    ],
)
async def test_bad_claims_are_401_token_invalid(api, ctx: Context, overrides: dict[str, Any], case: str) -> None:
    response = await api.get("/api/me", token=forge(ctx, **overrides))
    assert response.status == 401, case
    assert response.error_code == "token_invalid", case


async def test_wrong_key_unknown_kid_and_none_alg_are_rejected(api, ctx: Context) -> None:
    good = forge(ctx)
    claims = jwt.decode(good, options={"verify_signature": False})
    tokens = [
        jwt.encode(claims, b"x" * 32, algorithm="HS256", headers={"kid": "t1"}),
        jwt.encode(claims, signing_key(ctx), algorithm="HS256", headers={"kid": "other"}),
        jwt.encode(claims, "", algorithm="none", headers={"kid": "t1"}),
        good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "not-a-jwt",
    ]
    for token in tokens:
        response = await api.get("/api/me", token=token)
        assert response.status == 401
        assert response.error_code == "token_invalid"


async def test_rotated_keys_verify_old_tokens_and_sign_with_the_first(ctx: Context, login, org_tree) -> None:
    from server.core.auth import TokenService

    account = await login(("town_admin", org_tree.town["_id"]))
    rotated = ctx.config.auth.model_copy(update={"jwt_keys": "t2:" + "D" * 43 + ",t1:" + TEST_KEY})
    service = TokenService(rotated)
    assert service.verify(account.token).user_id == account.id
    new_token, _ = service.mint_access(account.id, "s", [Grant("resident")])
    assert jwt.get_unverified_header(new_token)["kid"] == "t2"
    with pytest.raises(Unauthenticated):
        ctx.tokens.verify(new_token)  # the old service does not know t2


async def test_role_check_forbids_other_roles(api, login, org_tree) -> None:
    mediator = await login(("mediator", org_tree.village["_id"]))
    response = await api.get("/api/test/admin-only", token=mediator.token)
    assert response.status == 403
    assert response.error_code == "forbidden"
    admin = await login(("town_admin", org_tree.town["_id"]))
    response = await api.get("/api/test/admin-only", token=admin.token)
    assert response.status == 200
    assert response.json == {"ok": True, "user": admin.id}


async def test_refresh_rotates_and_reuse_revokes_the_whole_chain(api, ctx: Context, login, org_tree) -> None:
    account = await login(("grid_worker", org_tree.grid["_id"]))
    first = account.tokens.refresh_token

    response = await api.post("/api/auth/refresh", {"refresh_token": first})
    assert response.status == 200
    second = response.json
    assert set(second) == {
        "access_token",
        "token_type",
        "expires_at",
        "refresh_token",
        "refresh_expires_at",
        "second_factor_required",
    }
    assert second["refresh_token"] != first
    assert (await api.get("/api/me", token=second["access_token"])).status == 200

    response = await api.post("/api/auth/refresh", {"refresh_token": second["refresh_token"]})
    assert response.status == 200
    third = response.json

    # The first token again: it leaked. Everything in the session stops working.
    response = await api.post("/api/auth/refresh", {"refresh_token": first})
    assert response.status == 401
    assert response.error_code == "refresh_reused"
    response = await api.post("/api/auth/refresh", {"refresh_token": third["refresh_token"]})
    assert response.status == 401
    assert response.error_code == "session_revoked"
    response = await api.get("/api/me", token=third["access_token"])
    assert response.status == 401
    assert response.error_code == "session_revoked"

    audit = await ctx.audit.for_target("session", ObjectId(account.tokens.session_id))
    assert [entry["action"] for entry in audit] == ["auth.refresh_reuse", "auth.login"]  # newest first


async def test_refresh_with_unknown_or_expired_token(api, ctx: Context, login, org_tree) -> None:
    response = await api.post("/api/auth/refresh", {"refresh_token": "x" * 43})
    assert response.status == 401
    assert response.error_code == "refresh_invalid"
    account = await login(("grid_worker", org_tree.grid["_id"]))
    ctx.clock.advance(timedelta(days=ctx.config.auth.refresh_ttl_days, seconds=1))
    response = await api.post("/api/auth/refresh", {"refresh_token": account.tokens.refresh_token})
    assert response.status == 401
    assert response.error_code == "refresh_expired"


async def test_refresh_for_a_deactivated_user_is_refused(api, ctx: Context, login, org_tree) -> None:
    account = await login(("mediator", org_tree.village["_id"]))
    await ctx.db["users"].update_one({"_id": account.user["_id"]}, {"$set": {"active": False}})
    response = await api.post("/api/auth/refresh", {"refresh_token": account.tokens.refresh_token})
    assert response.status == 401
    assert response.error_code == "user_inactive"


async def test_refresh_picks_up_changed_grants(api, ctx: Context, login, org_tree) -> None:
    account = await login(("mediator", org_tree.village["_id"]))
    await ctx.db["users"].update_one(
        {"_id": account.user["_id"]}, {"$set": {"grants": [{"role": "town_admin", "org_id": org_tree.town["_id"]}]}}
    )
    response = await api.post("/api/auth/refresh", {"refresh_token": account.tokens.refresh_token})
    claims = jwt.decode(response.json["access_token"], options={"verify_signature": False})
    assert claims["roles"] == [["town_admin", str(org_tree.town["_id"]), None]]


async def test_refresh_works_with_a_stale_access_token_attached(api, login, org_tree) -> None:
    account = await login(("grid_worker", org_tree.grid["_id"]))
    response = await api.post(
        "/api/auth/refresh", {"refresh_token": account.tokens.refresh_token}, token="stale.token.here"
    )
    assert response.status == 200


async def test_logout_revokes_refresh_and_access(api, login, org_tree) -> None:
    account = await login(("grid_worker", org_tree.grid["_id"]))
    response = await api.post("/api/auth/logout", token=account.token)
    assert response.status == 204
    assert response.body == b""
    response = await api.get("/api/me", token=account.token)
    assert response.status == 401
    assert response.error_code == "session_revoked"
    response = await api.post("/api/auth/refresh", {"refresh_token": account.tokens.refresh_token})
    assert response.status == 401
    assert response.error_code == "session_revoked"


async def test_logout_requires_a_token(api) -> None:
    response = await api.post("/api/auth/logout")
    assert response.status == 401


async def test_sessions_are_paginated_and_revocable(api, ctx: Context, login, org_tree) -> None:
    account = await login(("grid_worker", org_tree.grid["_id"]))
    for _ in range(2):
        await SessionService(ctx).start(account.user, method="sms", user_agent="微信/8.0")
    response = await api.get("/api/me/sessions?page_size=2", token=account.token)
    assert response.status == 200
    page = response.json
    assert (page["total"], page["page"], page["page_size"], len(page["items"])) == (3, 1, 2, 2)
    response = await api.get("/api/me/sessions?page=2&page_size=2", token=account.token)
    last = response.json["items"]
    assert len(last) == 1
    assert last[0]["current"] is True  # the oldest session is the one this token belongs to
    other = page["items"][0]["id"]
    assert (await api.delete(f"/api/me/sessions/{other}", token=account.token)).status == 204
    assert (await api.get("/api/me/sessions", token=account.token)).json["total"] == 2


async def test_sessions_page_size_is_bounded(api, login, org_tree) -> None:
    account = await login(("grid_worker", org_tree.grid["_id"]))
    response = await api.get("/api/me/sessions?page_size=500&page=0", token=account.token)
    assert response.status == 422
    assert response.json["error"]["details"] == [
        {"field": "page", "message": "不能小于 1"},
        {"field": "page_size", "message": "不能大于 100"},
    ]


async def test_cannot_revoke_someone_elses_session(api, login, org_tree) -> None:
    mine = await login(("grid_worker", org_tree.grid["_id"]))
    theirs = await login(("grid_worker", org_tree.grid["_id"]))
    for target in (theirs.tokens.session_id, "not-an-id"):
        response = await api.delete(f"/api/me/sessions/{target}", token=mine.token)
        assert response.status == 404
    assert (await api.get("/api/me", token=theirs.token)).status == 200


def test_token_cache_is_bounded_and_never_serves_expired_entries() -> None:
    cache = TokenCache(maxsize=2)
    now = time.time()
    alive = Principal("u1", "s1", (), expires_at=now + 60)
    cache.put("a", alive)
    cache.put("b", Principal("u2", "s2", (), expires_at=now + 60))
    assert cache.get("a", now) is alive  # "a" is now the most recently used
    cache.put("c", Principal("u3", "s3", (), expires_at=now + 60))
    assert len(cache) == 2
    assert cache.get("b", now) is None  # evicted as least recently used
    assert cache.get("a", now + 61) is None  # past exp: dropped, not served
    assert len(cache) == 1


async def test_verified_tokens_are_cached(ctx: Context, login, org_tree) -> None:
    account = await login(("grid_worker", org_tree.grid["_id"]))
    first = ctx.tokens.verify(account.token)
    assert ctx.tokens.verify(account.token) is first


async def test_a_person_sets_their_name(api, login) -> None:
    resident = await login(("resident", None), name="微信用户")
    response = await api.request("PATCH", "/api/me", json_body={"name": "张秀英"}, token=resident.token)
    assert response.json["name"] == "张秀英"
    assert (await api.request("PATCH", "/api/me", json_body={"name": ""}, token=resident.token)).status == 422


def test_an_unknown_capability_is_refused_when_the_handler_is_defined() -> None:
    with pytest.raises(ValueError, match=r"unknown capability 'case\.asign'"):

        class Typo(BaseHandler):
            @requires("case.asign")
            async def get(self) -> None: ...
