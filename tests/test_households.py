"""The household register: scoped access, masking and audited reveal, plates and scans."""

from __future__ import annotations

import logging
import re

import pytest
from bson import ObjectId

from server.core.context import Context
from server.orgs.tree import OrgService
from server.people.users import UserService
from server.places.plates import plate_url, qr_png, qr_svg
from tests.conftest import sms_sent

PHONE, ID_NUMBER = "13812345678", "11010519491231002X"


def household_body(micro_grid_id, address="甲村1组8号", phone=PHONE, id_number=ID_NUMBER):
    return {
        "micro_grid_id": str(micro_grid_id),
        "address": address,
        "members": [
            {
                "name": "张大山",
                "relation": "户主",
                "phone": phone,
                "id_number": id_number,
                "gender": "男",
                "birth_year": 1949,
            },
            {"name": "李秀梅", "relation": "配偶"},
        ],
        "tags": ["独居老人"],
    }


@pytest.fixture
async def worker(login, org_tree):
    return await login(("grid_worker", org_tree.grid["_id"]), name="李网格")


@pytest.fixture
async def household(api, worker, org_tree) -> dict:
    response = await api.post("/api/households", household_body(org_tree.micro_grid["_id"]), token=worker.token)
    assert response.status == 201
    return response.json


async def test_registering_masks_numbers_and_stores_none_in_clear(api, ctx: Context, household, caplog) -> None:
    head = household["members"][0]
    assert (head["phone"], head["id_number"]) == ("138****5678", "110***********002X")
    assert household["revealed"] is False
    stored = await ctx.db["households"].find_one({"_id": ObjectId(household["id"])})
    assert PHONE not in str(stored)
    assert ID_NUMBER not in str(stored)
    assert stored["members"][0]["phone_hash"] == ctx.cipher.lookup_hash(PHONE, "phone")


async def test_bad_numbers_are_named(api, worker, org_tree) -> None:
    body = household_body(org_tree.micro_grid["_id"], phone="12345", id_number="110105194912310021")
    response = await api.post("/api/households", body, token=worker.token)
    assert response.status == 422
    assert [d["field"] for d in response.json["error"]["details"]] == ["members.0.phone"]
    body = household_body(org_tree.micro_grid["_id"], id_number="110105194912310021")
    response = await api.post("/api/households", body, token=worker.token)
    assert response.json["error"]["details"] == [{"field": "members.0.id_number", "message": "身份证号码不正确"}]


async def test_households_go_under_micro_grids_in_scope(api, worker, login, org_tree) -> None:
    response = await api.post("/api/households", household_body(org_tree.grid["_id"]), token=worker.token)
    assert response.status == 422
    other = await login(("grid_worker", org_tree.other_village["_id"]))
    response = await api.post("/api/households", household_body(org_tree.micro_grid["_id"]), token=other.token)
    assert response.status == 404


# The access matrix: one test per rule.
async def test_a_resident_cannot_read_another_household(api, login, household) -> None:
    resident = await login(("resident", None))
    response = await api.get(f"/api/households/{household['id']}", token=resident.token)
    assert response.status == 404


async def test_a_resident_can_read_their_own_household(api, ctx: Context, login, household) -> None:
    resident = await login(("resident", None))
    await UserService(ctx).set_phone(resident.user["_id"], PHONE, ctx.clock.now())
    response = await api.get(f"/api/households/{household['id']}", token=resident.token)
    assert response.status == 200
    assert response.json["members"][0]["phone"] == "138****5678"


async def test_a_grid_worker_outside_the_grid_cannot_read_it(api, ctx: Context, login, org_tree, household) -> None:
    other_grid = await OrgService(ctx).create(
        name="乙村第1网格", kind="grid", parent_id=org_tree.other_village["_id"], now=ctx.clock.now()
    )
    outsider = await login(("grid_worker", other_grid["_id"]))
    response = await api.get(f"/api/households/{household['id']}", token=outsider.token)
    assert response.status == 404
    assert response.error_code == "not_found"


async def test_a_town_admin_can_read_it(api, login, org_tree, household) -> None:
    admin = await login(("town_admin", org_tree.town["_id"]))
    response = await api.get(f"/api/households/{household['id']}", token=admin.token)
    assert response.status == 200
    assert response.json["address"] == "甲村1组8号"


async def test_reveal_is_for_those_who_need_it_and_is_audited(
    api, ctx: Context, login, worker, org_tree, household
) -> None:
    response = await api.get(
        f"/api/households/{household['id']}?reveal=true&reason=%E6%A0%B8%E5%AE%9E%E8%81%94%E7%B3%BB%E6%96%B9%E5%BC%8F",
        token=worker.token,
    )
    assert response.status == 200
    head = response.json["members"][0]
    assert (head["phone"], head["id_number"], response.json["revealed"]) == (PHONE, ID_NUMBER, True)
    audit = await ctx.audit.for_target("household", ObjectId(household["id"]))
    assert (audit[0]["action"], audit[0]["actor_id"]) == ("household.reveal", worker.user["_id"])
    mediator = await login(("mediator", org_tree.village["_id"]))
    assert (await api.get(f"/api/households/{household['id']}", token=mediator.token)).status == 200
    response = await api.get(
        f"/api/households/{household['id']}?reveal=true&reason=%E6%A0%B8%E5%AE%9E%E8%81%94%E7%B3%BB%E6%96%B9%E5%BC%8F",
        token=mediator.token,
    )
    assert response.status == 403
    assert response.error_code == "reveal_forbidden"


async def test_search_by_phone_tag_and_address(api, worker, org_tree, household) -> None:
    await api.post(
        "/api/households",
        household_body(org_tree.micro_grid["_id"], "甲村2组1号", "13900001111", None),
        token=worker.token,
    )
    by_phone = await api.get("/api/households?phone=13812345678", token=worker.token)
    assert [h["address"] for h in by_phone.json["items"]] == ["甲村1组8号"]
    by_address = await api.get("/api/households?address=2组", token=worker.token)
    assert [h["address"] for h in by_address.json["items"]] == ["甲村2组1号"]
    by_tag = await api.get("/api/households?tag=独居老人", token=worker.token)
    assert by_tag.json["total"] == 2


async def test_members_are_added_and_removed_with_audit(api, ctx: Context, worker, household) -> None:
    path = f"/api/households/{household['id']}/members"
    response = await api.post(path, {"name": "张小山", "relation": "子女", "phone": "13700001234"}, token=worker.token)
    assert [m["name"] for m in response.json["members"]] == ["张大山", "李秀梅", "张小山"]
    member_id = response.json["members"][2]["id"]
    response = await api.delete(f"{path}/{member_id}", token=worker.token)
    assert [m["name"] for m in response.json["members"]] == ["张大山", "李秀梅"]
    actions = [a["action"] for a in await ctx.audit.for_target("household", ObjectId(household["id"]))]
    assert sorted(actions) == ["household.create", "household.member_add", "household.member_remove"]


async def test_plate_qr_holds_only_the_url(api, ctx: Context, worker, household) -> None:
    token = (await ctx.db["households"].find_one({"_id": ObjectId(household["id"])}))["qr_token"]
    url = plate_url(ctx.config.plates.url_prefix, token)
    assert re.fullmatch(r"https://[^/]+/h/[\w-]{22}", url)
    png = await api.get(f"/api/households/{household['id']}/qr", token=worker.token)
    assert png.headers["Content-Type"] == "image/png"
    assert png.body == qr_png(url)
    svg = await api.get(f"/api/households/{household['id']}/qr?format=svg", token=worker.token)
    assert svg.headers["Content-Type"] == "image/svg+xml"
    assert svg.body == qr_svg(url)
    assert b"13812345678" not in png.body + svg.body


async def test_replacing_a_plate_retires_the_old_one(api, ctx: Context, worker, household) -> None:
    old = (await ctx.db["households"].find_one({"_id": ObjectId(household["id"])}))["qr_token"]
    assert (await api.get(f"/api/scan/{old}", token=worker.token)).status == 200
    assert (await api.post(f"/api/households/{household['id']}/qr/replace", token=worker.token)).status == 200
    new = (await ctx.db["households"].find_one({"_id": ObjectId(household["id"])}))["qr_token"]
    assert new != old
    response = await api.get(f"/api/scan/{old}", token=worker.token)
    assert response.status == 410
    assert response.error_code == "plate_replaced"
    assert (await api.get(f"/api/scan/{new}", token=worker.token)).status == 200


async def test_scan_gives_each_person_what_they_need(api, ctx: Context, login, org_tree, worker, household) -> None:
    token = (await ctx.db["households"].find_one({"_id": ObjectId(household["id"])}))["qr_token"]
    staff = (await api.get(f"/api/scan/{token}", token=worker.token)).json
    assert staff["view"] == "staff"
    assert staff["household_id"] == household["id"]
    assert staff["household"]["members"][0]["phone"] == "138****5678"
    assert staff["village"]["name"] == "甲村"

    resident = await login(("resident", None))
    response = await api.get(f"/api/scan/{token}", token=resident.token)
    assert response.json == {
        "view": "resident",
        "village": {"id": str(org_tree.village["_id"]), "name": "甲村"},
        "micro_grid": {"id": str(org_tree.micro_grid["_id"]), "name": "甲村第1网格第1微网格"},
        "address": "甲村*组*号",
        "household_id": None,
        "household": None,
        "recent_visits": [],
        "open_cases": [],
        "file_url": None,
    }

    outsider = await login(("mediator", org_tree.other_village["_id"]))
    unknown = await api.get("/api/scan/AAAAAAAAAAAAAAAAAAAAAA", token=outsider.token)
    hidden = await api.get(f"/api/scan/{token}", token=outsider.token)
    assert (hidden.status, hidden.error_code) == (unknown.status, unknown.error_code) == (404, "plate_unknown")
    assert (await api.get(f"/api/scan/{token}")).status == 401


async def test_no_phone_or_id_number_in_logs_or_tokens(api, ctx: Context, login, org_tree, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    worker = await login(("grid_worker", org_tree.grid["_id"]))
    created = await api.post("/api/households", household_body(org_tree.micro_grid["_id"]), token=worker.token)
    await api.get(
        f"/api/households/{created.json['id']}?reveal=true&reason=%E6%A0%B8%E5%AE%9E%E8%81%94%E7%B3%BB%E6%96%B9%E5%BC%8F",
        token=worker.token,
    )
    await api.get(f"/api/households?phone={PHONE}", token=worker.token)
    await api.post("/api/auth/sms/send", {"phone": PHONE})
    login_code = sms_sent(ctx)[-1].params["code"]
    verified = await api.post("/api/auth/sms/verify", {"phone": PHONE, "code": login_code})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert PHONE not in logged
    assert ID_NUMBER not in logged
    tokens = verified.json["access_token"] + verified.json["refresh_token"]
    import jwt

    assert PHONE not in str(jwt.decode(verified.json["access_token"], options={"verify_signature": False}))
    assert PHONE not in tokens


async def test_address_and_tags_can_be_corrected(api, ctx: Context, worker, household) -> None:
    path = f"/api/households/{household['id']}"
    response = await api.request(
        "PATCH", path, json_body={"address": "甲村1组8号之一", "tags": ["低保户"]}, token=worker.token
    )
    assert (response.json["address"], response.json["tags"]) == ("甲村1组8号之一", ["低保户"])
    audit = await ctx.audit.for_target("household", ObjectId(household["id"]))
    assert audit[0]["action"] == "household.update"
    assert audit[0]["details"] == {"fields": ["address", "tags"]}
