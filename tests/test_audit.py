"""等保 安全审计: a hash-chained audit log that shows a deleted or edited record, kept and archived without a break,
read by the 安全审计员 alone; what it records (logins, grants, changes of state, exports)."""

from __future__ import annotations

import asyncio
import io
import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from bson import ObjectId
from openpyxl import load_workbook

from scripts.archive_audit import archive, read_archive
from scripts.verify_audit import check
from server.core.audit import COLLECTION, AuditLog, Tip, chain_hash
from server.core.context import Context
from tests.test_login_sms import last_code, send
from tests.test_mediators import act
from tests.town import Town, register_household, resident_case


async def some_records(ctx: Context, count: int) -> None:
    for n in range(count):
        await ctx.audit.record(
            action="test.step",
            actor_id=ObjectId(),
            target_type="case",
            target_id=ObjectId(),
            at=ctx.clock.now(),
            details={"n": n, "when": ctx.clock.now(), "ids": [ObjectId()], "text": "说明"},
        )


async def test_the_chain_holds_and_names_the_first_broken_link(ctx: Context) -> None:
    await some_records(ctx, 6)
    log = AuditLog(ctx.db)
    ok, lines = await check(log, None, None)
    assert ok, lines
    assert "检查了 6 条记录" in lines[0]
    assert "最新为第 6 条" in lines[0]
    records = await ctx.db[COLLECTION].find({}).sort("seq", 1).to_list(None)
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert all(r["hash"] == chain_hash(r) for r in records)  # read back, the same canonical form

    # An edited record no longer matches its hash.
    await ctx.db[COLLECTION].update_one({"seq": 4}, {"$set": {"details.n": 40}})
    ok, lines = await check(log, None, None)
    assert not ok
    assert "第 4 条记录" in lines[1]
    assert "已被修改" in lines[1]
    await ctx.db[COLLECTION].update_one({"seq": 4}, {"$set": {"details.n": 3}})
    assert (await check(log, None, None))[0]

    # A deleted one leaves a gap; one put back in its place with a new hash does not link.
    removed = await ctx.db[COLLECTION].find_one({"seq": 3})
    await ctx.db[COLLECTION].delete_one({"seq": 3})
    ok, lines = await check(log, None, None)
    assert not ok
    assert "第 3 条记录缺失" in lines[1]
    forged = removed | {"details": {"n": 99}}
    forged["hash"] = chain_hash(forged)
    await ctx.db[COLLECTION].insert_one(forged)
    ok, lines = await check(log, None, None)
    assert not ok
    assert "第 4 条记录" in lines[1]
    assert "不相连" in lines[1]
    ok, lines = await check(log, 5, None)  # a range after the damage still verifies
    assert ok, lines


async def test_writers_in_two_processes_and_at_once_keep_one_chain(ctx: Context) -> None:
    """Each process starts from the head it last wrote; one that another process has moved past is refused
    by the unique number and reads the head again. Appends at once in one process take turns."""
    here, there = AuditLog(ctx.db, Tip()), AuditLog(ctx.db, Tip())  # two processes' logs on one database

    async def append(log: AuditLog, n: int) -> None:
        await log.record(
            action="test.step",
            actor_id=None,
            target_type="case",
            target_id=ObjectId(),
            at=ctx.clock.now(),
            details={"n": n},
        )

    await append(here, 1)
    await append(there, 2)  # `there` knows no head: reads it (1)
    await append(here, 3)  # `here` last wrote 1: its number 2 is taken, so it reads the head (2) and writes 3
    await asyncio.gather(*(append(log, n) for n, log in enumerate([here, there] * 5, start=4)))
    records = await ctx.db[COLLECTION].find({}).sort("seq", 1).to_list(None)
    assert [r["seq"] for r in records] == list(range(1, 14))
    assert [r["details"]["n"] for r in records[:3]] == [1, 2, 3]
    assert all(r["prev_hash"] == before["hash"] for before, r in itertools.pairwise(records))
    ok, lines = await check(AuditLog(ctx.db), None, None)
    assert ok, lines


async def test_old_records_are_archived_and_the_rest_still_verifies(ctx: Context, tmp_path: Path) -> None:
    ctx.config.audit.archive_dir = str(tmp_path / "archive")
    start = ctx.clock.now()
    ctx.clock.set(start - timedelta(days=400))
    await some_records(ctx, 4)
    ctx.clock.set(start - timedelta(days=100))  # inside the year kept
    await some_records(ctx, 2)
    ctx.clock.set(start)
    log = AuditLog(ctx.db)
    said = await archive(log, ctx.config, start)
    assert "第 1–4 条共 4 条" in said
    assert await ctx.db[COLLECTION].count_documents({}) == 2
    ok, lines = await check(log, None, None)
    assert ok, lines
    assert "自第 5 条起检查了 2 条" in lines[0]
    [file] = list((tmp_path / "archive").iterdir())
    kept = read_archive(file)
    assert [r["seq"] for r in kept] == [1, 2, 3, 4]
    assert all(r["hash"] == chain_hash(r) for r in kept)
    await some_records(ctx, 1)  # the chain goes on from the archive's end
    assert (await check(log, None, None))[0]
    # Nothing inside the retention period is ever archived, whatever date is asked for.
    assert "没有" in await archive(log, ctx.config, start, before=start)


async def test_a_broken_chain_is_not_archived(ctx: Context, tmp_path: Path) -> None:
    ctx.config.audit.archive_dir = str(tmp_path)
    start = ctx.clock.now()
    ctx.clock.set(start - timedelta(days=400))
    await some_records(ctx, 3)
    ctx.clock.set(start)
    await some_records(ctx, 1)
    await ctx.db[COLLECTION].update_one({"seq": 2}, {"$set": {"action": "test.hidden"}})
    with pytest.raises(SystemExit, match="链条断裂"):
        await archive(AuditLog(ctx.db), ctx.config, start)
    assert await ctx.db[COLLECTION].count_documents({}) == 4


async def test_only_the_auditor_reads_the_log(api, ctx: Context, town: Town, login) -> None:
    county = town.people["county"].token
    auditor = await login(("auditor", town.units["测试县"]["_id"]), name="审计员")
    await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    found = await api.get("/api/audit?action=case.state", token=auditor.token)
    assert found.status == 200
    assert found.json["total"] == 1
    assert found.json["items"][0]["details"]["to"] == "registered"
    assert found.json["items"][0]["hash"]
    for who in ("office", "county", "supervisor", "mediator_a", "resident_a"):
        assert (await api.get("/api/audit", token=town.people[who].token)).status == 403, who
    for path in ("/api/cases", "/api/households", "/api/orgs", "/api/settings/deadlines", "/api/articles"):
        assert (await api.get(path, token=auditor.token)).status == 403, path

    exported = await api.get("/api/audit/export?target_type=case", token=auditor.token)
    assert exported.status == 200
    sheet = load_workbook(io.BytesIO(exported.body)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert [row[3] for row in rows] == ["case.state"]
    again = await api.get("/api/audit?action=audit.export", token=auditor.token)
    assert again.json["items"][0]["actor_id"] == str(auditor.user["_id"])  # the export is itself on the log

    # The auditor sits at the county, granted by the county; nobody grants a role to themselves.
    user_id = str(town.people["mediator_b"].user["_id"])
    at_town = await api.post(
        f"/api/users/{user_id}/grants", {"role": "auditor", "org_id": town.id("测试镇")}, token=county
    )
    assert at_town.status == 422
    by_town = await api.post(
        f"/api/users/{user_id}/grants",
        {"role": "auditor", "org_id": town.id("测试县")},
        token=town.people["office"].token,
    )
    assert by_town.status in (403, 404)
    own = str(town.people["county"].user["_id"])
    selfish = await api.post(
        f"/api/users/{own}/grants", {"role": "supervisor", "org_id": town.id("测试县")}, token=county
    )
    assert selfish.status == 403
    assert selfish.json["error"]["code"] == "cannot_grant_self"
    granted = await api.post(
        f"/api/users/{user_id}/grants", {"role": "supervisor", "org_id": town.id("测试镇")}, token=county
    )
    assert granted.status == 200
    grants = await api.get(f"/api/audit?action=user.grant&target_type=user&target_id={user_id}", token=auditor.token)
    assert grants.json["total"] == 1


async def test_logins_changes_of_state_and_exports_are_recorded(api, ctx: Context, town: Town) -> None:
    office = town.people["office"]
    await send(api, office.phone)
    wrong = await api.post("/api/auth/sms/verify", {"phone": office.phone, "code": "000000"})
    assert wrong.status == 401
    await send(api, office.phone)
    assert (await api.post("/api/auth/sms/verify", {"phone": office.phone, "code": last_code(ctx)})).status == 200
    case = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    await act(api, town, "office", case.json["id"], "assign")
    await api.get(f"/api/households/{await household_id(api, town)}/qr?format=png", token=office.token)

    records = await ctx.db[COLLECTION].find({}).sort("seq", 1).to_list(None)
    actions = [(r["action"], r["target_type"]) for r in records]
    assert ("auth.login_failed", "user") in actions
    assert ("auth.login", "session") in actions
    states = [r for r in records if r["action"] == "case.state"]
    assert [(r["details"]["from"], r["details"]["to"]) for r in states] == [
        (None, "registered"),
        ("registered", "assigned"),
    ]
    stored = await ctx.db["cases"].find_one({"_id": ObjectId(case.json["id"])})
    assert [r["details"]["timeline_id"] for r in states] == [e["id"] for e in stored["timeline"]]
    assert ("export.household", "household") in actions
    failed = next(r for r in records if r["action"] == "auth.login_failed")
    assert failed["actor_id"] == office.user["_id"]
    assert office.phone not in str(failed)


async def household_id(api, town: Town) -> str:
    made = await register_household(api, town.id("甲村微网格"), "甲村9组9号", "赵九", town.people["grid_a"].token)
    return str(made["id"])
