"""Staff upkeep: admins create accounts and grant roles within their scope; every change is audited."""

from __future__ import annotations

from bson import ObjectId

from server.core.context import Context
from server.orgs.tree import OrgService


async def new_staff(api, admin, org_id, role="mediator", phone="13600000001", name="王调解"):
    body = {"name": name, "phone": phone, "grants": [{"role": role, "org_id": str(org_id)}]}
    return await api.post("/api/users", body, token=admin.token)


async def test_admin_creates_staff_with_masked_phone_and_audit(api, ctx: Context, login, org_tree) -> None:
    admin = await login(("town_admin", org_tree.town["_id"]))
    response = await new_staff(api, admin, org_tree.village["_id"])
    assert response.status == 201
    user = response.json
    assert user["phone"] == "136****0001"
    assert user["grants"] == [
        {
            "role": "mediator",
            "role_name": "调解员",
            "org": {"id": str(org_tree.village["_id"]), "name": "甲村", "kind": "village"},
            "liaison_for": None,
        }
    ]
    audit = await ctx.audit.for_target("user", ObjectId(user["id"]))
    assert [(a["action"], a["actor_id"]) for a in audit] == [("user.create", admin.user["_id"])]
    assert (await new_staff(api, admin, org_tree.village["_id"], name="重复")).error_code == "phone_taken"


async def test_town_admin_cannot_grant_county_admin_or_outside_the_town(api, login, org_tree, ctx: Context) -> None:
    admin = await login(("town_admin", org_tree.town["_id"]))
    response = await new_staff(api, admin, org_tree.town["_id"], role="county_admin")
    assert response.status == 403
    assert response.error_code == "role_not_grantable"
    response = await new_staff(api, admin, org_tree.county["_id"], role="mediator")
    assert response.status == 404
    county_admin = await login(("county_admin", org_tree.county["_id"]))
    assert (await new_staff(api, county_admin, org_tree.town["_id"], role="county_admin")).status == 201


async def test_liaisons_must_say_which_source(api, login, org_tree) -> None:
    admin = await login(("town_admin", org_tree.town["_id"]))
    response = await new_staff(api, admin, org_tree.office["_id"], role="liaison")
    assert response.status == 422
    assert response.json["error"]["details"][0]["field"] == "liaison_for"


async def test_search_by_name_and_by_phone_within_scope(api, login, org_tree, ctx: Context) -> None:
    admin = await login(("town_admin", org_tree.town["_id"]))
    await new_staff(api, admin, org_tree.village["_id"], phone="13600000001", name="王调解")
    await new_staff(api, admin, org_tree.grid["_id"], role="grid_worker", phone="13600000002", name="李网格")
    outsider_town = await OrgService(ctx).create(
        name="别的镇", kind="town", parent_id=org_tree.county["_id"], now=ctx.clock.now()
    )
    await login(("mediator", outsider_town["_id"]), name="王外镇")

    by_name = await api.get("/api/users?name=王", token=admin.token)
    assert [u["name"] for u in by_name.json["items"]] == ["王调解"]
    by_phone = await api.get("/api/users?phone=136%200000%200002", token=admin.token)
    assert [u["name"] for u in by_phone.json["items"]] == ["李网格"]
    by_role = await api.get("/api/users?role=grid_worker", token=admin.token)
    assert [u["name"] for u in by_role.json["items"]] == ["李网格"]
    bad = await api.get("/api/users?phone=123", token=admin.token)
    assert bad.status == 422


async def test_grant_and_revoke_are_audited_and_reach_the_token(api, ctx: Context, login, org_tree) -> None:
    admin = await login(("town_admin", org_tree.town["_id"]))
    user_id = (await new_staff(api, admin, org_tree.village["_id"])).json["id"]
    grant = {"role": "grid_worker", "org_id": str(org_tree.grid["_id"])}
    response = await api.post(f"/api/users/{user_id}/grants", grant, token=admin.token)
    assert [g["role"] for g in response.json["grants"]] == ["mediator", "grid_worker"]
    assert (await api.post(f"/api/users/{user_id}/grants", grant, token=admin.token)).error_code == "grant_exists"
    response = await api.post(
        f"/api/users/{user_id}/grants/revoke",
        {"role": "mediator", "org_id": str(org_tree.village["_id"])},
        token=admin.token,
    )
    assert [g["role"] for g in response.json["grants"]] == ["grid_worker"]
    audit = await ctx.audit.for_target("user", ObjectId(user_id))
    assert sorted(a["action"] for a in audit) == ["user.create", "user.grant", "user.revoke"]


async def test_deactivation_ends_every_session(api, ctx: Context, login, org_tree) -> None:
    admin = await login(("town_admin", org_tree.town["_id"]))
    worker = await login(("grid_worker", org_tree.grid["_id"]))
    response = await api.post(f"/api/users/{worker.id}/deactivate", token=admin.token)
    assert response.status == 200
    assert response.json["active"] is False
    refresh = await api.post("/api/auth/refresh", {"refresh_token": worker.tokens.refresh_token})
    assert refresh.status == 401
    assert (await api.get("/api/me", token=worker.token)).status == 401
    assert (await api.post(f"/api/users/{admin.id}/deactivate", token=admin.token)).error_code == "cannot_change_self"
    response = await api.post(f"/api/users/{worker.id}/activate", token=admin.token)
    assert response.json["active"] is True
    actions = [a["action"] for a in await ctx.audit.for_target("user", worker.user["_id"])]
    assert actions == ["user.activate", "user.deactivate"]


async def test_a_resident_who_becomes_staff_keeps_their_account(api, ctx: Context, login, org_tree) -> None:
    resident = await login(("resident", None))
    admin = await login(("town_admin", org_tree.town["_id"]))
    response = await new_staff(
        api, admin, org_tree.grid["_id"], role="grid_worker", phone=resident.phone, name="新网格员"
    )
    assert response.status == 200
    assert response.json["id"] == resident.id
    assert [g["role"] for g in response.json["grants"]] == ["resident", "grid_worker"]


async def test_other_roles_cannot_manage_staff(api, login, org_tree) -> None:
    mediator = await login(("mediator", org_tree.village["_id"]))
    assert (await api.get("/api/users", token=mediator.token)).status == 403
    assert (await new_staff(api, mediator, org_tree.village["_id"])).status == 403


async def test_a_bad_phone_is_a_named_error(api, login, org_tree) -> None:
    admin = await login(("town_admin", org_tree.town["_id"]))
    response = await new_staff(api, admin, org_tree.village["_id"], phone="00000000000")
    assert response.status == 422
    assert response.json["error"]["details"] == [{"field": "phone", "message": "手机号格式不正确"}]
