"""Grid visits: idempotent on the phone's id, batches that survive bad items, listings and coverage."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from server.core.context import Context
from tests.conftest import insert_households
from tests.town import register_household


@pytest.fixture
async def worker(login, org_tree):
    return await login(("grid_worker", org_tree.grid["_id"]), name="李网格")


def visit(household: dict, **overrides):
    body = {
        "client_id": uuid.uuid4().hex,
        "household_id": str(household["_id"]),
        "purposes": ["policy", "dispute_check"],
        "notes": "宣传了调解政策",
        "gps": {"lat": 30.27, "lng": 120.15, "accuracy_m": 12},
        "visited_at": datetime.now(UTC).isoformat(),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def test_a_visit_sent_twice_is_recorded_once(api, ctx: Context, worker, org_tree) -> None:
    (household,) = await insert_households(ctx, org_tree.micro_grid, 1)
    body = visit(household)
    first = await api.post("/api/visits", body, token=worker.token)
    assert first.status == 201
    again = await api.post("/api/visits", body, token=worker.token)
    assert again.status == 200
    assert again.json == first.json
    assert await ctx.db["visits"].count_documents({}) == 1
    changed = await api.post("/api/visits", body | {"notes": "别的内容"}, token=worker.token)
    assert changed.status == 422
    assert changed.error_code == "client_id_reused"


async def test_a_visit_by_scanned_plate(api, ctx: Context, worker, org_tree) -> None:
    (household,) = await insert_households(ctx, org_tree.micro_grid, 1)
    body = visit(household, household_id=None, qr_token=household["qr_token"])
    response = await api.post("/api/visits", body, token=worker.token)
    assert response.status == 201
    assert response.json["household_id"] == str(household["_id"])
    assert response.json["purposes"] == ["dispute_check", "policy"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"purposes": ["sightseeing"]}, "purposes"),
        ({"visited_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat()}, "visited_at"),
        ({"visited_at": (datetime.now(UTC) - timedelta(days=40)).isoformat()}, "visited_at"),
        ({"visited_at": "2026-11-28T10:00:00"}, "visited_at"),  # no time zone
        ({"gps": {"lat": 130, "lng": 0}}, "gps.lat"),
        ({"household_id": None}, "body"),
    ],
)
async def test_bad_visits_name_the_field(api, ctx: Context, worker, org_tree, change, field) -> None:
    (household,) = await insert_households(ctx, org_tree.micro_grid, 1)
    response = await api.post("/api/visits", visit(household, **change), token=worker.token)
    assert response.status == 422
    assert response.json["error"]["details"][0]["field"] == field


async def test_visits_outside_the_grid_are_refused(api, ctx: Context, login, org_tree) -> None:
    (household,) = await insert_households(ctx, org_tree.micro_grid, 1)
    outsider = await login(("grid_worker", org_tree.other_village["_id"]))
    response = await api.post("/api/visits", visit(household), token=outsider.token)
    assert response.status == 404


async def test_a_batch_survives_bad_items(api, ctx: Context, worker, org_tree) -> None:
    first, second = await insert_households(ctx, org_tree.micro_grid, 2)
    done_before = visit(first)
    await api.post("/api/visits", done_before, token=worker.token)
    items = [
        visit(first),
        visit(second, purposes=["sightseeing"]),
        done_before,
        visit(second, household_id=None, qr_token="no-such-token-here"),
    ]
    response = await api.post("/api/visits/batch", {"visits": items}, token=worker.token)
    assert response.status == 200
    results = response.json["results"]
    assert [r["status"] for r in results] == ["created", "error", "duplicate", "error"]
    assert results[1]["error"]["details"][0]["field"] == "purposes"
    assert results[3]["error"]["code"] == "plate_unknown"
    assert [r["client_id"] for r in results] == [i["client_id"] for i in items]
    assert await ctx.db["visits"].count_documents({}) == 2


async def test_listing_by_household_worker_and_period(api, ctx: Context, worker, org_tree) -> None:
    first, second = await insert_households(ctx, org_tree.micro_grid, 2)
    now = datetime.now(UTC)
    for household, days_ago in ((first, 1), (first, 3), (second, 2)):
        body = visit(household, visited_at=(now - timedelta(days=days_ago)).isoformat())
        assert (await api.post("/api/visits", body, token=worker.token)).status == 201
    by_household = await api.get(f"/api/visits?household_id={first['_id']}", token=worker.token)
    assert by_household.json["total"] == 2
    since = (now - timedelta(days=2, hours=12)).isoformat().replace("+00:00", "Z")
    recent = await api.get(f"/api/visits?visitor_id={worker.id}&since={since}", token=worker.token)
    assert [v["household_id"] for v in recent.json["items"]] == [str(first["_id"]), str(second["_id"])]


async def test_coverage_lists_households_not_visited_this_month(api, ctx: Context, worker, org_tree) -> None:
    households = await insert_households(ctx, org_tree.micro_grid, 4)
    ctx.clock.set(datetime(2026, 11, 20, 4, 0, tzinfo=UTC))
    await api.post("/api/visits", visit(households[0], visited_at="2026-11-19T09:00:00+08:00"), token=worker.token)
    await api.post("/api/visits", visit(households[1], visited_at="2026-10-31T23:30:00+08:00"), token=worker.token)
    # 2026-11-01 00:10 in the town is still October 31 in UTC: it counts for November.
    await api.post("/api/visits", visit(households[2], visited_at="2026-11-01T00:10:00+08:00"), token=worker.token)
    response = await api.get(f"/api/visits/coverage?org_id={org_tree.micro_grid['_id']}", token=worker.token)
    assert response.status == 200
    body = response.json
    assert (body["month"], body["households"], body["visited"], body["total"]) == ("2026-11", 4, 2, 2)
    assert [h["address"] for h in body["not_visited"]] == ["甲村1组2号", "甲村1组4号"]
    by_worker = await api.get(f"/api/visits/coverage?grid_worker_id={worker.id}&month=2026-10", token=worker.token)
    assert [h["address"] for h in by_worker.json["not_visited"]] == ["甲村1组1号", "甲村1组3号", "甲村1组4号"]


async def test_an_impossible_month_is_a_named_error(api, worker, org_tree) -> None:
    response = await api.get(
        f"/api/visits/coverage?org_id={org_tree.micro_grid['_id']}&month=0000-01", token=worker.token
    )
    assert response.status == 422
    assert response.json["error"]["details"][0]["field"] == "month"


async def test_coverage_defaults_to_the_callers_area_and_intersects_a_grid_worker_with_it(
    api, town, other_town
) -> None:
    grid = town.people["grid_a"]
    await register_household(api, town.id("甲村微网格"), "甲村2组1号", "孙七", grid.token)

    def households(answer) -> int:
        assert answer.status == 200, answer.json
        return answer.json["households"]

    office = town.people["office"].token
    assert households(await api.get("/api/visits/coverage", token=grid.token)) == 1  # their own grid
    assert households(await api.get("/api/visits/coverage", token=office)) == 1  # the whole town
    by_worker = f"/api/visits/coverage?grid_worker_id={grid.id}"
    assert households(await api.get(by_worker, token=office)) == 1
    assert households(await api.get(f"{by_worker}&org_id={town.id('乙村')}", token=office)) == 0  # no overlap
    # Another town's admin learns nothing of this grid worker's households.
    assert households(await api.get(by_worker, token=other_town["admin"].token)) == 0
    assert households(await api.get("/api/visits/coverage", token=other_town["admin"].token)) == 0
