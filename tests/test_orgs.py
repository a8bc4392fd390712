"""The org tree: scoped listing, upkeep by admins, and import from a YAML file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from server.core.context import Context
from server.orgs.tree import OrgService
from tests.conftest import memory_config_file

ROOT = Path(__file__).resolve().parent.parent


async def test_listing_is_limited_to_the_callers_subtree(api, login, org_tree) -> None:
    grid_worker = await login(("grid_worker", org_tree.grid["_id"]))
    response = await api.get("/api/orgs", token=grid_worker.token)
    assert response.status == 200
    assert [u["name"] for u in response.json["items"]] == ["甲村第1网格", "甲村第1网格第1微网格"]
    admin = await login(("town_admin", org_tree.town["_id"]))
    villages = await api.get("/api/orgs?kind=village", token=admin.token)
    assert [u["name"] for u in villages.json["items"]] == ["乙村", "甲村"]
    assert villages.json["total"] == 2


async def test_residents_cannot_list_orgs(api, login) -> None:
    resident = await login(("resident", None))
    assert (await api.get("/api/orgs", token=resident.token)).status == 403


async def test_admin_adds_units_inside_scope_only(api, login, org_tree) -> None:
    admin = await login(("town_admin", org_tree.town["_id"]))
    body = {"name": "甲村第2网格", "kind": "grid", "parent_id": str(org_tree.village["_id"]), "population": 350}
    response = await api.post("/api/orgs", body, token=admin.token)
    assert response.status == 201
    created = response.json
    assert created["path"] == [*(str(p) for p in org_tree.village["path"]), created["id"]]
    assert created["population"] == 350

    again = await api.post("/api/orgs", body, token=admin.token)
    assert again.status == 409
    assert again.error_code == "org_name_taken"

    wrong_parent = await api.post("/api/orgs", body | {"name": "x", "kind": "micro_grid"}, token=admin.token)
    assert (wrong_parent.status, wrong_parent.error_code) == (409, "org_parent_kind")  # the tree refuses it
    assert wrong_parent.json["error"]["details"] == [{"field": "parent_id", "message": "微网格不能设在该上级之下"}]

    outside = await api.post(
        "/api/orgs", body | {"parent_id": str(org_tree.county["_id"]), "kind": "town"}, token=admin.token
    )
    assert outside.status == 404  # the county is above this admin: invisible


async def test_village_admin_role_cannot_be_used_by_a_mediator(api, login, org_tree) -> None:
    mediator = await login(("mediator", org_tree.village["_id"]))
    body = {"name": "x", "kind": "grid", "parent_id": str(org_tree.village["_id"])}
    assert (await api.post("/api/orgs", body, token=mediator.token)).status == 403


async def test_rename_update_population_and_delete_rules(api, ctx: Context, login, org_tree) -> None:
    admin = await login(("town_admin", org_tree.town["_id"]))
    path = f"/api/orgs/{org_tree.other_village['_id']}"
    response = await api.request("PATCH", path, json_body={"population": 2380}, token=admin.token)
    assert response.json["population"] == 2380
    assert (await api.delete(f"/api/orgs/{org_tree.village['_id']}", token=admin.token)).error_code == "org_not_empty"
    assert (await api.delete(path, token=admin.token)).status == 204
    assert await ctx.db["org_units"].find_one({"_id": org_tree.other_village["_id"]}) is None


async def test_import_tree_is_idempotent(ctx: Context) -> None:
    spec = yaml.safe_load((ROOT / "scripts/examples/town.yaml").read_text(encoding="utf-8"))
    first = await OrgService(ctx).import_tree(spec, None, ctx.clock.now())
    assert first == {"created": 15, "existing": 0}
    assert await OrgService(ctx).import_tree(spec, None, ctx.clock.now()) == {"created": 0, "existing": 15}
    town = await ctx.db["org_units"].find_one({"name": "青山镇"})
    assert town["population"] == 21500
    micro = await ctx.db["org_units"].find_one({"name": "溪口村第1网格第2微网格"})
    assert [
        u["kind"] for u in await ctx.db["org_units"].find({"_id": {"$in": micro["path"]}}).sort("depth").to_list(None)
    ] == [
        "county",
        "town",
        "village",
        "grid",
        "micro_grid",
    ]


def test_import_cli(tmp_path: Path) -> None:
    config = memory_config_file(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "scripts.import_orgs", "scripts/examples/town.yaml", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "新建 15 个单元" in result.stdout
