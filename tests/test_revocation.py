"""A revoked session is refused by every server process, not only by the one that revoked it.

Two server processes share nothing but the database. `memory://` is per process, so the default suite runs
two complete server instances in one process on one in-memory database: each has its own token service,
verified-token cache and revoked list, exactly what a second process would have, and they meet only in the
`sessions` collection. The services' clock is frozen and moved by hand, so that "within the check interval"
is a fact of the test, not a race. With `MONGODB_URI` set, the last test runs two real `python -m server`
processes on that database.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from server.app import Server, make_app, open_context
from server.core.config import Config, build_config
from server.core.context import Context
from server.people.sessions import SessionService
from server.people.users import UserService, grant_doc
from tests.conftest import Api, RecordingSender, env_for_tests, memory_config_file
from tests.test_lifecycle import free_port, post_json

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Process:
    """One server instance: what a separate process would hold."""

    ctx: Context
    server: Server
    api: Api


async def start_instance(ctx: Context) -> Process:
    server = Server(ctx, make_app(ctx))
    server.listen(0, "127.0.0.1")
    return Process(ctx, server, Api(server.base_url))


@pytest.fixture
async def two(ctx: Context, server: Server, api: Api) -> AsyncIterator[tuple[Process, Process]]:
    """Process A (the suite's server) and process B on the same database, both clocks frozen at one time."""
    ctx.clock.freeze()
    other_ctx = Context(
        config=ctx.config,
        client=ctx.client,
        db=ctx.db,
        senders=type(ctx.senders)(sms=RecordingSender(), wechat=RecordingSender()),
    )
    other_ctx.clock.set(ctx.clock.now())
    other_ctx.clock.freeze()
    b = await start_instance(other_ctx)
    yield Process(ctx, server, api), b
    b.server.http.stop()
    await b.server.http.close_all_connections()
    b.api.client.close()


def interval(process: Process) -> timedelta:
    return timedelta(seconds=process.ctx.config.auth.revocation_check_seconds)


def check_interval_passes(a: Process, b: Process) -> None:
    for process in (a, b):
        process.ctx.clock.advance(interval(process))


async def test_logout_on_one_process_is_refused_on_the_other_after_the_check_interval(two, town) -> None:
    a, b = two
    token = town.people["office"].token
    assert (await b.api.get("/api/me", token=token)).status == 200  # B has verified and cached the token

    assert (await a.api.post("/api/auth/logout", token=token)).status == 204
    assert (await a.api.get("/api/me", token=token)).error_code == "session_revoked"  # at once where revoked
    # Within the interval B has not read the sessions again: this is the only window the design leaves.
    assert (await b.api.get("/api/me", token=token)).status == 200

    check_interval_passes(a, b)
    refused = await b.api.get("/api/me", token=token)
    assert (refused.status, refused.error_code) == (401, "session_revoked")
    # Everyone else's tokens still work on B.
    assert (await b.api.get("/api/me", token=town.people["mediator_a"].token)).status == 200


async def test_deactivation_on_one_process_is_refused_on_the_other(two, town, other_town) -> None:
    a, b = two
    victim = town.people["mediator_a"]
    second_town_staff = other_town["staff"].token
    assert (await b.api.get("/api/me", token=victim.token)).status == 200
    done = await a.api.post(f"/api/users/{victim.user['_id']}/deactivate", token=town.people["office"].token)
    assert done.status == 200, done.json

    check_interval_passes(a, b)
    assert (await b.api.get("/api/me", token=victim.token)).error_code == "session_revoked"
    assert (await b.api.get("/api/me", token=second_town_staff)).status == 200  # the other town is untouched


async def test_refresh_token_reuse_on_one_process_ends_the_session_on_the_other(two, town) -> None:
    a, b = two
    account = town.people["grid_a"]
    first = await a.api.post("/api/auth/refresh", {"refresh_token": account.tokens.refresh_token})
    assert first.status == 200
    fresh_access = first.json["access_token"]
    assert (await b.api.get("/api/me", token=fresh_access)).status == 200

    replayed = await a.api.post("/api/auth/refresh", {"refresh_token": account.tokens.refresh_token})
    assert replayed.error_code == "refresh_reused"
    check_interval_passes(a, b)
    assert (await b.api.get("/api/me", token=fresh_access)).error_code == "session_revoked"


async def test_a_process_started_after_the_revocation_refuses_the_token_from_its_first_request(
    ctx: Context, api: Api, server: Server, town
) -> None:
    token = town.people["office"].token
    assert (await api.post("/api/auth/logout", token=token)).status == 204
    late = Context(config=ctx.config, client=ctx.client, db=ctx.db, senders=ctx.senders)
    b = await start_instance(late)
    try:
        assert (await b.api.get("/api/me", token=token)).error_code == "session_revoked"
    finally:
        b.server.http.stop()
        b.api.client.close()


async def test_reading_revocations_looks_back_past_the_last_read_and_reads_each_session_once(ctx, town) -> None:
    ctx.clock.freeze()
    sessions = SessionService(ctx)
    assert await sessions.catch_up_revocations() == 0
    # Another process, its clock 10 s behind ours, revokes a session "before" our last read.
    await ctx.db["sessions"].update_one(
        {"user_id": town.people["court"].user["_id"]}, {"$set": {"revoked_at": ctx.clock.now() - timedelta(seconds=10)}}
    )
    ctx.clock.advance(timedelta(seconds=2))
    assert await sessions.catch_up_revocations() == 1
    police = town.people["police"]
    assert ctx.tokens.verify(police.token).user_id == str(police.user["_id"])  # others unaffected
    with pytest.raises(Exception, match="已退出登录"):
        ctx.tokens.verify(town.people["court"].token)


# ---- the same with two real processes, on a real MongoDB (opt-in) -----------------------------------------


def get_status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.subprocess
@pytest.mark.skipif(not os.environ.get("MONGODB_URI"), reason="two processes share a database only on a real MongoDB")
def test_two_real_processes_on_one_mongodb(tmp_path: Path) -> None:
    env = os.environ | env_for_tests()  # MONGODB_URI, with a fresh database for this test
    config = build_config({}, source="tests", environ=env).config
    token = asyncio.run(_resident_token(config))
    config_file = memory_config_file(tmp_path)  # secrets only; the environment names the database
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "server", "--config", str(config_file), "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        a, b = (f"http://127.0.0.1:{p}" for p in ports)
        _wait_until(lambda: get_status(f"{a}/api/me", token) == 200 and get_status(f"{b}/api/me", token) == 200)
        assert post_json(f"{a}/api/auth/logout", {}, token)[0] == 204
        revoked_at = time.monotonic()
        _wait_until(lambda: get_status(f"{b}/api/me", token) == 401, timeout=5)
        assert time.monotonic() - revoked_at < 5
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)
        asyncio.run(_drop(config))


async def _resident_token(config: Config) -> str:
    ctx = await open_context(config)
    try:
        user = await UserService(ctx).create(
            name="两进程测试", phone="13700000001", now=ctx.clock.now(), grants=[grant_doc("resident", None)]
        )
        return (await SessionService(ctx).start(user, method="test")).access_token
    finally:
        await ctx.close()


async def _drop(config: Config) -> None:
    ctx = await open_context(config)
    await ctx.client.drop_database(config.mongodb.database)
    await ctx.close()


def _wait_until(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.1)
