"""Faults: the database going away under the server, its jobs and its start-up; nothing stuck or half-written."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from handlers.base import DRAIN_LIMIT
from notify.outbox import run_forever
from server.cases.warnings import WarningsJob
from server.core.context import Context
from server.core.outage import OutageWatch
from tests.conftest import memory_config_file
from tests.town import resident_case

ROOT = Path(__file__).resolve().parent.parent


class WatchedOutage(OutageWatch):
    """The process's outage watch, with events a test can wait on instead of polling."""

    def __init__(self) -> None:
        super().__init__()
        self.failed_thrice = asyncio.Event()
        self.recovered = asyncio.Event()

    def failed(self, error: BaseException, where: str) -> None:
        super().failed(error, where)
        if self.failures >= 3:
            self.failed_thrice.set()

    def ok(self) -> None:
        was_down = self.down
        super().ok()
        if was_down:
            self.recovered.set()


def outage(ctx: Context, error: BaseException | None) -> None:
    """Switch the in-process database off (an error every call raises) or on again (None)."""
    ctx.client.switch.error = error


async def test_requests_in_an_outage_answer_503_and_the_log_says_so_once(
    api, ctx: Context, town, caplog: pytest.LogCaptureFixture
) -> None:
    office, resident = town.people["office"], town.people["resident_a"]
    outage(ctx, AutoReconnect("connection refused"))
    caplog.set_level(logging.WARNING, logger="sanyuan")
    answers = [
        await api.get("/api/cases", token=office.token),
        await api.post("/api/cases", resident_case(town), token=resident.token),
        await api.get("/api/cases/mine", token=resident.token),
    ]
    for answer in answers:
        assert (answer.status, answer.error_code) == (503, "database_unavailable")
        assert answer.headers["Retry-After"] == "5"
    health = await api.get("/api/health")
    assert (health.status, health.json["database"]) == (503, "unreachable")
    outage(ctx, None)
    assert (await api.get("/api/cases", token=office.token)).status == 200
    assert (await api.get("/api/cases", token=office.token)).status == 200
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("sanyuan")]
    assert len([m for m in messages if m.startswith("database unreachable")]) == 1
    assert len([m for m in messages if m.startswith("database reachable again")]) == 1
    assert not [r for r in caplog.records if r.exc_info]  # no tracebacks
    # Nothing half-written: the refused submission made no case.
    assert (await api.get("/api/cases/mine", token=resident.token)).json["total"] == 0


async def test_the_jobs_ride_out_an_outage_and_catch_up(
    api, ctx: Context, town, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sanyuan")
    created = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    assert created.status == 201
    outage(ctx, ServerSelectionTimeoutError("no servers"))
    job = WarningsJob(ctx, interval=0.01)
    for _ in range(3):
        with pytest.raises(ServerSelectionTimeoutError):
            await job.run_once()
    outage(ctx, None)
    assert await job.run_once() == 0
    # The outbox loop, run for a few rounds down and then up: it delivers what waited, and logs the outage once.
    watch = ctx.outage = WatchedOutage()
    stop = asyncio.Event()
    outage(ctx, AutoReconnect("reset"))
    ctx.config.notify.poll_seconds = 0.01
    loop = asyncio.create_task(run_forever(ctx, stop))
    await asyncio.wait_for(watch.failed_thrice.wait(), timeout=120)  # generous: a busy machine is slow, not wrong
    outage(ctx, None)
    await asyncio.wait_for(watch.recovered.wait(), timeout=120)
    stop.set()
    await loop
    office_inbox = await api.get("/api/notifications", token=town.people["office"].token)
    assert office_inbox.json["items"][0]["event"] == "case_registered"
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.subprocess
@pytest.mark.parametrize("command", [["-m", "server"], ["-m", "notify.worker"]])
def test_start_up_without_the_database_says_so_in_one_line(tmp_path: Path, command: list[str]) -> None:
    config = memory_config_file(tmp_path)
    text = config.read_text(encoding="utf-8")
    unreachable = "mongodb://user:secret@127.0.0.1:9/?serverSelectionTimeoutMS=200"
    config.write_text(text.replace("memory://", unreachable), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, *command, "--config", str(config)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3
    assert "无法连接数据库" in done.stderr
    assert "Cannot reach the database at mongodb://user:***@127.0.0.1:9/" in done.stderr
    assert "secret" not in done.stderr
    assert "Traceback" not in done.stderr


async def test_a_key_a_dead_attempt_left_running_answers_with_its_case_after_the_lease(api, ctx: Context, town) -> None:
    resident = town.people["resident_a"]
    headers = {"Idempotency-Key": "report-7"}
    first = await api.post("/api/cases", resident_case(town), token=resident.token, headers=headers)
    assert first.status == 201
    # As if the process died (or the database went away) after making the case, before recording the answer.
    await ctx.db["idempotency_keys"].update_one({}, {"$set": {"state": "running"}, "$unset": {"status": 1, "body": 1}})
    retry = await api.post("/api/cases", resident_case(town), token=resident.token, headers=headers)
    assert (retry.status, retry.error_code) == (409, "idempotency_in_flight")  # still within the lease
    ctx.clock.advance(timedelta(seconds=61))
    retry = await api.post("/api/cases", resident_case(town), token=resident.token, headers=headers)
    assert (retry.status, retry.json["id"], retry.headers["Idempotent-Replayed"]) == (201, first.json["id"], "true")
    again = await api.post("/api/cases", resident_case(town), token=resident.token, headers=headers)
    assert (again.status, again.json["id"]) == (201, first.json["id"])
    assert (await api.get("/api/cases/mine", token=resident.token)).json["total"] == 1


async def test_a_key_a_failed_attempt_could_not_free_makes_the_case_once_after_the_lease(
    api, ctx: Context, town
) -> None:
    resident = town.people["resident_a"]
    headers = {"Idempotency-Key": "report-8"}
    first = await api.post("/api/cases", resident_case(town), token=resident.token, headers=headers)
    # As if the case's write had failed and freeing the key had failed too: a running key and no case.
    await ctx.db["cases"].delete_many({})
    await ctx.db["idempotency_keys"].update_one({}, {"$set": {"state": "running"}, "$unset": {"status": 1, "body": 1}})
    ctx.clock.advance(timedelta(seconds=61))
    retry = await api.post("/api/cases", resident_case(town), token=resident.token, headers=headers)
    assert retry.status == 201
    assert retry.json["id"] != first.json["id"]
    assert "Idempotent-Replayed" not in retry.headers
    replay = await api.post("/api/cases", resident_case(town), token=resident.token, headers=headers)
    assert (replay.json["id"], replay.headers["Idempotent-Replayed"]) == (retry.json["id"], "true")
    assert (await api.get("/api/cases/mine", token=resident.token)).json["total"] == 1


async def raw_exchange(server, request: bytes) -> bytes:
    """Send `request` as is and read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=120)  # EOF: the server closed the connection
    finally:
        writer.close()


async def one_response(reader: asyncio.StreamReader) -> bytes:
    """One HTTP response off a connection that stays open (keep-alive)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=120)
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    return head + await asyncio.wait_for(reader.readexactly(length), timeout=120)


async def keep_alive_exchange(server, request: bytes) -> tuple[bytes, bytes]:
    """Send `request`, read its one answer, then ask for the health check on the same connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request)
        await writer.drain()
        first = await one_response(reader)
        writer.write(b"GET /api/health HTTP/1.1\r\nHost: t\r\n\r\n")
        await writer.drain()
        return first, await one_response(reader)
    finally:
        writer.close()


def parse(response: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers["content-length"])
    assert len(body) == length  # one answer, nothing after it
    return int(status_line.split()[1]), headers, json.loads(body)


async def test_a_chunked_body_past_the_limit_is_read_and_dropped_then_refused(server, town) -> None:
    limit = 256 * 1024  # POST /api/cases
    token = town.people["resident_a"].token
    head = (
        "POST /api/cases HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = f"{limit + 1:x}\r\n".encode() + b" " * (limit + 1) + b"\r\n"
    answer, next_answer = await keep_alive_exchange(server, head.encode() + chunk + b"0\r\n\r\n")
    status, headers, body = parse(answer)
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    assert body["error"]["details"] == {"limit_bytes": limit}
    assert "connection" not in headers  # the whole body was read: the connection serves the next request
    assert parse(next_answer)[0] == 200


async def test_a_chunked_body_that_goes_on_past_the_drain_limit_is_cut_off_there(server, town) -> None:
    token = town.people["resident_a"].token
    head = (
        "POST /api/cases HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    # One chunk past the drain limit, never terminated: the server stops reading there and answers.
    size = DRAIN_LIMIT + 1
    status, headers, body = parse(await raw_exchange(server, head.encode() + f"{size:x}\r\n".encode() + b" " * size))
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    assert headers["connection"] == "close"


async def test_a_declared_length_past_the_drain_limit_is_refused_before_the_body(server, town) -> None:
    token = town.people["resident_a"].token
    request = (
        "POST /api/cases HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {DRAIN_LIMIT + 1}\r\n\r\n"
    ).encode()
    status, headers, body = parse(await raw_exchange(server, request))
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    assert headers["connection"] == "close"


async def test_a_client_that_sends_a_25_mib_upload_before_reading_gets_the_413(api, server, town) -> None:
    """The upload limit is 20 MiB; a phone sends all 25 MiB, then reads. It must read the envelope, not a reset."""
    case = (await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)).json
    size = 25 * 1024 * 1024
    head = (
        f"POST /api/cases/{case['id']}/attachments HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\n"
        f"Authorization: Bearer {town.people['resident_a'].token}\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(head)
        for _ in range(25):
            writer.write(b"\xff" * (1024 * 1024))
            await writer.drain()  # raised ConnectionResetError here before the body was drained
        status, _, body = parse(await one_response(reader))
    finally:
        writer.close()
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    assert body["error"]["details"] == {"limit_bytes": 20 * 1024 * 1024}


async def test_every_post_that_appends_honours_an_idempotency_key(api, ctx: Context, town) -> None:
    """A retried `/info`, session or attachment from a flaky network is recorded once and answered alike."""
    resident, office = town.people["resident_a"], town.people["office"]
    case_id = (await api.post("/api/cases", resident_case(town), token=resident.token)).json["id"]

    async def twice(path: str, json_body: Any, token: str, key: str, **kwargs: Any) -> tuple[Any, Any]:
        headers = {"Idempotency-Key": key, **kwargs.pop("headers", {})}
        first = await api.post(path, json_body, token=token, headers=headers, **kwargs)
        second = await api.post(path, json_body, token=token, headers=headers, **kwargs)
        assert first.status in (200, 201), (path, first.json)
        assert second.status == first.status, (path, second.json)
        assert second.headers["Idempotent-Replayed"] == "true"
        assert second.json == first.json
        return first, second

    await twice(f"/api/cases/{case_id}/info", {"text": "对方今天又把车堵在门口了"}, resident.token, "info-1")
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, "PNG")
    await twice(
        f"/api/cases/{case_id}/attachments",
        None,
        resident.token,
        "photo-1",
        body=png.getvalue(),
        headers={"Content-Type": "image/png"},
    )
    await api.post(f"/api/cases/{case_id}/actions/assign", {}, token=office.token)
    await api.post(f"/api/cases/{case_id}/actions/accept", {}, token=town.people["mediator_a"].token)
    session = {"at": "2026-11-28T02:00:00Z", "place": "村调解室", "mediators": ["王桂兰"], "notes": "双方到场"}
    await twice(f"/api/cases/{case_id}/sessions", session, town.people["mediator_a"].token, "session-1")
    case = await ctx.db["cases"].find_one({})
    assert case is not None
    assert [e["action"] for e in case["timeline"]].count("add_info") == 1
    assert len(case["attachments"]) == 1
    assert len(case["sessions"]) == 1
    # The same key with another body is refused, as for registration.
    other = await api.post(
        f"/api/cases/{case_id}/info", {"text": "另一件事"}, token=resident.token, headers={"Idempotency-Key": "info-1"}
    )
    assert (other.status, other.error_code) == (422, "idempotency_key_reused")


async def test_a_post_without_a_body_in_its_answer_records_it_too(api, ctx: Context, town) -> None:
    """Logout answers 204 with no body; with an Idempotency-Key that answer is recorded, not lost to an error."""
    account = town.people["office"]
    first = await api.post("/api/auth/logout", None, token=account.token, headers={"Idempotency-Key": "logout-1"})
    assert (first.status, first.body) == (204, b"")
    record = await ctx.db["idempotency_keys"].find_one({})
    assert record is not None
    assert (record["state"], record["status"], record["body"]) == ("done", 204, None)
