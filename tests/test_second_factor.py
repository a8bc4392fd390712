"""等保 身份鉴别: administrators confirm a TOTP code after the SMS code before their admin grants count; recovery
codes work once each; wrong codes lock; a new device is told by SMS; idle staff sessions end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp

from notify.outbox import OUTBOX
from server.core.context import Context
from server.people.sessions import SessionService
from server.people.users import UserService
from tests.test_login_sms import last_code
from tests.town import Town, resident_case


async def sms_login(api, ctx: Context, phone: str, device_token: str | None = None) -> dict[str, Any]:
    ctx.clock.set(ctx.clock.now() + timedelta(minutes=2))  # past the one-code-a-minute limit
    asked = {"phone": phone} | ({"device_token": device_token} if device_token else {})
    assert (await api.post("/api/auth/sms/send", asked)).status == 202
    body = {"phone": phone, "code": last_code(ctx)} | ({"device_token": device_token} if device_token else {})
    answer = await api.post("/api/auth/sms/verify", body, headers={"User-Agent": "Chrome/126 Windows"})
    assert answer.status == 200, answer.json
    return dict(answer.json)


def now_code(ctx: Context, secret: str, steps: int = 0) -> str:
    return str(pyotp.TOTP(secret).at(ctx.clock.now() + timedelta(seconds=30 * steps)))


async def test_an_admin_without_the_second_factor_has_only_the_other_grants(api, ctx: Context, town: Town) -> None:
    ctx.clock.freeze()
    case = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    office = town.people["office"]
    login = await sms_login(api, ctx, office.phone)
    token = login["access_token"]
    assert login["second_factor_required"] is True
    user_id = str(town.people["mediator_b"].user["_id"])
    grant = {"role": "supervisor", "org_id": town.id("测试镇")}
    assert (await api.post(f"/api/users/{user_id}/grants", grant, token=token)).status == 403
    assert (
        await api.get(
            f"/api/cases/{case.json['id']}?reveal=true&reason=%E6%A0%B8%E5%AE%9E%E8%81%94%E7%B3%BB%E6%96%B9%E5%BC%8F",
            token=token,
        )
    ).status in (403, 404)
    assert [r["role"] for r in (await api.get("/api/auth/token", token=token)).json["grants"]] == []

    enrolled = await api.post("/api/auth/second-factor/enrol", token=token)
    assert enrolled.status == 201, enrolled.json
    secret, codes = enrolled.json["secret"], enrolled.json["recovery_codes"]
    assert enrolled.json["otpauth_uri"].startswith("otpauth://totp/")
    assert "<svg" in enrolled.json["qr_svg"]
    assert len(set(codes)) == 10
    stored = (await ctx.db["users"].find_one({"_id": office.user["_id"]}))["totp"]
    assert secret not in str(stored)
    assert not set(codes) & set(map(str, stored["recovery"]))

    wrong = await api.post("/api/auth/second-factor", {"code": "000000"}, token=token)
    assert wrong.status == 422
    used = now_code(ctx, secret)
    confirmed = await api.post("/api/auth/second-factor", {"code": used}, token=token)
    assert confirmed.status == 200, confirmed.json
    assert confirmed.json["second_factor_required"] is False
    full = confirmed.json["access_token"]
    assert (await api.post(f"/api/users/{user_id}/grants", grant, token=full)).status == 200
    assert (
        await api.get(
            f"/api/cases/{case.json['id']}?reveal=true&reason=%E6%A0%B8%E5%AE%9E%E8%81%94%E7%B3%BB%E6%96%B9%E5%BC%8F",
            token=full,
        )
    ).status == 200
    # The session keeps it: a refresh gives all the grants again.
    refreshed = await api.post("/api/auth/refresh", {"refresh_token": confirmed.json["refresh_token"]})
    assert refreshed.json["second_factor_required"] is False

    # The same code, in the same half-minute, on another session: refused (a code is good once).
    other = await SessionService(ctx).start(await UserService(ctx).get(office.user["_id"]), method="test")
    replay = await api.post("/api/auth/second-factor", {"code": used}, token=other.access_token)
    assert replay.status == 422
    # A new sign-in asks again; a recovery code works once.
    again = await sms_login(api, ctx, office.phone)
    recovered = await api.post("/api/auth/second-factor", {"recovery_code": codes[0]}, token=again["access_token"])
    assert recovered.status == 200
    third = await sms_login(api, ctx, office.phone)
    spent = await api.post("/api/auth/second-factor", {"recovery_code": codes[0]}, token=third["access_token"])
    assert spent.status == 422
    assert (await api.post("/api/auth/second-factor/enrol", token=third["access_token"])).status == 409
    actions = [r["action"] async for r in ctx.db["audit_log"].find({"target_id": office.user["_id"]})]
    assert {"auth.second_factor_enrol", "auth.recovery_code_used", "auth.second_factor_failed"} <= set(actions)


async def test_wrong_codes_lock_the_second_factor_for_a_while(api, ctx: Context, town: Town) -> None:
    ctx.clock.freeze()
    county = town.people["county"]
    login = await sms_login(api, ctx, county.phone)
    token = login["access_token"]
    secret = (await api.post("/api/auth/second-factor/enrol", token=token)).json["secret"]
    for _ in range(ctx.config.login.second_factor_max_failures):
        assert (await api.post("/api/auth/second-factor", {"code": "123456"}, token=token)).status == 422
    locked = await api.post("/api/auth/second-factor", {"code": now_code(ctx, secret)}, token=token)
    assert locked.status == 429  # even the right code, while locked
    ctx.clock.set(ctx.clock.now() + timedelta(minutes=ctx.config.login.second_factor_lock_minutes, seconds=1))
    assert (await api.post("/api/auth/second-factor", {"code": now_code(ctx, secret)}, token=token)).status == 200
    locks = await ctx.db["audit_log"].count_documents({"action": "auth.second_factor_locked"})
    assert locks == 1


async def test_other_roles_need_no_second_factor(api, ctx: Context, town: Town) -> None:
    ctx.clock.freeze()
    login = await sms_login(api, ctx, town.people["mediator_a"].phone)
    assert login["second_factor_required"] is False
    assert (await api.get("/api/cases/inbox", token=login["access_token"])).status == 200
    assert (await api.post("/api/auth/second-factor/enrol", token=login["access_token"])).status == 403
    ctx.config.login.second_factor_roles = ["town_admin", "county_admin", "mediator"]  # the config may list more
    listed = await sms_login(api, ctx, town.people["mediator_a"].phone)
    assert listed["second_factor_required"] is True


async def test_a_new_device_on_an_admin_account_is_told_by_sms(api, ctx: Context, town: Town) -> None:
    ctx.clock.freeze()
    office = town.people["office"]
    first = await sms_login(api, ctx, office.phone)
    told = await ctx.db[OUTBOX].find({"event": "admin_new_device"}).to_list(None)
    assert len(told) == 1
    assert told[0]["user_id"] == office.user["_id"]
    assert told[0]["urgent"] is True
    assert "新设备" in told[0]["text"]
    assert "Chrome" in told[0]["text"]
    await sms_login(api, ctx, office.phone, device_token=first["device_token"])  # the same device again
    assert await ctx.db[OUTBOX].count_documents({"event": "admin_new_device"}) == 1
    await sms_login(api, ctx, town.people["mediator_a"].phone)  # not an admin account
    assert await ctx.db[OUTBOX].count_documents({"event": "admin_new_device"}) == 1


async def test_an_idle_staff_session_ends(api, ctx: Context, town: Town) -> None:
    ctx.clock.freeze()
    staff = await sms_login(api, ctx, town.people["mediator_a"].phone)
    resident = await sms_login(api, ctx, town.people["resident_a"].phone)
    ctx.clock.set(ctx.clock.now() + timedelta(minutes=ctx.config.login.staff_idle_minutes + 1))
    ended = await api.post("/api/auth/refresh", {"refresh_token": staff["refresh_token"]})
    assert ended.status == 401
    assert ended.json["error"]["code"] == "session_idle"
    assert (await api.post("/api/auth/refresh", {"refresh_token": resident["refresh_token"]})).status == 200


async def test_a_lost_authenticator_is_reset_by_another_admin(api, ctx: Context, town: Town) -> None:
    ctx.clock.freeze()
    office = town.people["office"]
    login = await sms_login(api, ctx, office.phone)
    secret = (await api.post("/api/auth/second-factor/enrol", token=login["access_token"])).json["secret"]
    assert (
        await api.post("/api/auth/second-factor", {"code": now_code(ctx, secret)}, token=login["access_token"])
    ).status == 200
    own = f"/api/users/{office.user['_id']}/second-factor/reset"
    assert (await api.post(own, token=office.token)).status == 403  # not one's own
    assert (await api.post(own, token=town.people["mediator_a"].token)).status == 403
    reset = await api.post(own, token=town.people["county"].token)
    assert reset.status == 200, reset.json
    assert (await api.get("/api/me", token=login["access_token"])).status == 401  # its sessions ended
    again = await sms_login(api, ctx, office.phone)
    assert (await api.post("/api/auth/second-factor/enrol", token=again["access_token"])).status == 201
    assert await ctx.db["audit_log"].count_documents({"action": "user.second_factor_reset"}) == 1
