"""Start-up and shutdown: the demo listens where asked; SIGTERM lets requests in flight finish."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from handlers.base import BaseHandler, api, public
from scripts.seed_demo import DEMO_USERS
from server.app import Server
from tests.conftest import memory_config_file

ROOT = Path(__file__).resolve().parent.parent


class SlowHandler(BaseHandler):
    @public
    @api("慢请求（测试用）")
    async def get(self) -> None:
        await asyncio.sleep(0.3)
        self.write_json({"finished": True})


@pytest.fixture
def extra_handlers() -> list[tuple[Any, ...]]:
    return [(r"/api/test/slow", SlowHandler)]


async def test_shutdown_finishes_requests_in_flight_and_refuses_new_ones(server: Server) -> None:
    client = AsyncHTTPClient(force_instance=True)
    try:
        slow = asyncio.ensure_future(client.fetch(server.base_url + "/api/test/slow", raise_error=False))
        for _ in range(100):
            if server.ctx.inflight:
                break
            await asyncio.sleep(0.01)
        assert server.ctx.inflight == 1
        await server.shutdown()
        response = await slow
        assert response.code == 200
        assert response.body == b'{"finished": true}'
        assert server.ctx.inflight == 0
        with pytest.raises(ConnectionRefusedError):
            await client.fetch(server.base_url + "/api/health")
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post_json(url: str, body: dict[str, Any], token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(  # noqa: S310 - a loopback URL the test built
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get_json(url: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


@pytest.mark.subprocess
def test_demo_serves_lets_every_role_log_in_and_stops_cleanly(tmp_path: Path) -> None:
    """`--demo --port N` listens on N; each seeded role logs in with the SMS code printed on the console;
    SIGTERM ends the process cleanly."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYGZ_")}
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "--demo", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    console: list[str] = []
    tokens: dict[str, str] = {}
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout or []:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def console_line(pattern: str) -> re.Match[str]:
        while True:
            line = lines.get(timeout=15)
            console.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def code_sent_to(phone: str) -> str:
        return console_line(rf"发往 {phone[:3]}\*{{4}}{phone[-4:]}：您的登录验证码是 (\d{{6}})").group(1)

    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=2) as response:  # noqa: S310
                    status = response.status
            except OSError:
                assert process.poll() is None, stderr_path.read_text()
                time.sleep(0.2)
        assert status == 200
        for spec in DEMO_USERS:
            assert post_json(f"{base}/api/auth/sms/send", {"phone": spec["phone"]})[0] == 202
            code = code_sent_to(spec["phone"])
            status, login = post_json(f"{base}/api/auth/sms/verify", {"phone": spec["phone"], "code": code})
            assert status == 200, login
            me = get_json(f"{base}/api/me", login["access_token"])
            assert me["name"] == spec["name"]
            assert [r["role"] for r in me["roles"]] == [spec["role"]]
            tokens[spec["key"]] = login["access_token"]
        # The dispatcher runs inside the demo server: an assignment texts the mediator on the console.
        village = next(o for o in get_json(f"{base}/api/orgs?kind=village", tokens["town_admin"])["items"])
        case = {
            "category": "neighbour",
            "description": "楼道里堆放杂物，邻居多次沟通无果。",
            "parties": [{"role": "applicant", "name": "张秀英"}, {"role": "respondent", "name": "王建国"}],
            "village_id": village["id"],
        }
        status, created = post_json(f"{base}/api/cases", case, tokens["resident"])
        assert status == 201, created
        status, _ = post_json(f"{base}/api/cases/{created['id']}/actions/assign", {}, tokens["town_admin"])
        assert status == 200
        console_line(rf"【短信·演示】发往 .*：您有一件新的矛盾纠纷待签收：{created['number']}")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        if process.stdout:
            process.stdout.close()
    text = "".join(console + list(lines.queue))
    assert "演示模式" in text
    assert "退出即全部丢失" in text
    assert "13900000005" in text  # the demo accounts are printed for people to log in with
    assert "shutdown complete" in stderr_path.read_text()


@pytest.mark.subprocess
def test_the_notification_worker_runs_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = memory_config_file(tmp_path, "notify: {poll_seconds: 0.2}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYGZ_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "notify.worker", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        started = False
        assert process.stderr is not None
        while time.monotonic() < deadline and not started:
            line = process.stderr.readline()
            started = "notification worker started" in line
        assert started
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "notification worker stopped" in err
