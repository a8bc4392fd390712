"""Start-up and shutdown: the demo listens where asked; SIGTERM lets requests in flight finish."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient

from handlers.base import BaseHandler, api, public
from server.app import Server

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


@pytest.mark.subprocess
def test_demo_listens_on_the_given_port_and_stops_cleanly_on_sigterm() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYGZ_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                    status = response.status
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                time.sleep(0.2)
        assert status == 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "演示模式" in out
    assert "退出即全部丢失" in out
    assert "13900000005" in out  # the demo accounts are printed for people to log in with
    assert "shutdown complete" in err
