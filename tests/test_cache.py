"""The org tree and the settings are cached in each process; a change made through one process is seen by
another within `mongodb.cache_check_seconds`, and at once by the process that made it.

As in `test_revocation`, a second complete server instance on the same database stands in for a second
process (its own context, so its own caches); both clocks are frozen and moved by hand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.test_revocation import Process, two  # noqa: F401 - the fixture
from tests.test_settings import DEADLINES, put


def check_interval_passes(*processes: Process) -> None:
    for process in processes:
        process.ctx.clock.advance(timedelta(seconds=process.ctx.config.mongodb.cache_check_seconds))


def grant_names(answer: Any) -> set[str]:
    return {scope["name"] for scope in answer.json["scopes"]}


async def test_a_renamed_unit_reaches_the_other_process_after_the_check_interval(two, town, other_town) -> None:  # noqa: F811
    a, b = two
    mediator, second_staff = town.people["mediator_a"].token, other_town["staff"].token
    assert grant_names(await b.api.get("/api/me", token=mediator)) == {"甲村调解室"}  # B holds the tree now
    renamed = await a.api.request(
        "PATCH",
        f"/api/orgs/{town.id('甲村调解室')}",
        json_body={"name": "甲村人民调解室"},
        token=town.people["office"].token,
    )
    assert renamed.status == 200, renamed.json
    assert grant_names(await a.api.get("/api/me", token=mediator)) == {"甲村人民调解室"}  # at once where changed
    assert grant_names(await b.api.get("/api/me", token=mediator)) == {"甲村调解室"}  # B has not looked yet
    check_interval_passes(a, b)
    assert grant_names(await b.api.get("/api/me", token=mediator)) == {"甲村人民调解室"}
    assert grant_names(await b.api.get("/api/me", token=second_staff)) == {"第二镇三源共治办公室"}  # untouched


async def test_a_towns_new_deadlines_reach_the_other_process_after_the_check_interval(two, town, other_town) -> None:  # noqa: F811
    a, b = two
    admin = other_town["admin"].token
    before = (await b.api.get("/api/settings/deadlines", token=admin)).json
    assert (before["source"], before["accept_hours"]) == ("default", 24)
    assert (await put(a.api, "/api/settings/deadlines", DEADLINES, admin)).status == 200
    assert (await a.api.get("/api/settings/deadlines", token=admin)).json["accept_hours"] == 6
    assert (await b.api.get("/api/settings/deadlines", token=admin)).json["accept_hours"] == 24
    check_interval_passes(a, b)
    after = (await b.api.get("/api/settings/deadlines", token=admin)).json
    assert (after["source"], after["accept_hours"]) == ("town", 6)
    first_town = (await b.api.get("/api/settings/deadlines", token=town.people["office"].token)).json
    assert (first_town["source"], first_town["accept_hours"]) == ("default", 24)  # the other town keeps its own


async def test_between_looks_a_process_reads_no_version(two, town) -> None:  # noqa: F811
    a, _ = two
    token = town.people["mediator_a"].token
    await a.api.get("/api/me", token=token)
    reads = a.ctx.caches.looks
    for _ in range(5):
        assert (await a.api.get("/api/me", token=token)).status == 200
    assert a.ctx.caches.looks == reads
    check_interval_passes(a)
    await a.api.get("/api/me", token=token)
    assert a.ctx.caches.looks == reads + 1
