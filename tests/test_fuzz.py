"""Schemathesis over the whole API document, as every role: no 5xx, no answer outside the document, and no
request the document allows refused for its shape.

The run is deterministic (a fixed seed, no database of past examples), so that CI sees the same requests
every time. By default it runs as the four roles whose writes differ most (town admin, resident, police
liaison, grid worker), two at a time, with 2 examples an operation: about a minute. `make fuzz` runs every
role of a town and the other town's admin with 5 (`FUZZ_ROLES=all`, `FUZZ_EXAMPLES`), about ten minutes.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.fakes import FakeWechat

ROOT = Path(__file__).resolve().parent.parent
# Operations that would end the fuzzing caller's own session (or account) part-way: tested on their own elsewhere
# (tests/test_auth.py, tests/test_rights.py).
EXCLUDED = ["/api/auth/logout", "/api/me/sessions/{session_id}", "/api/me/close"]


@pytest.fixture
def wechat_base_url(fake_wechat: FakeWechat) -> str:
    return fake_wechat.base_url


async def fuzz(base_url: str, token: str, report: Path) -> tuple[int, str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(ROOT / "tests" / "schemathesis.toml"),
        "run",
        f"{base_url}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        os.environ.get("FUZZ_EXAMPLES", "2"),
        "--phases",
        os.environ.get("FUZZ_PHASES", "examples,coverage,fuzzing,stateful"),
        "--seed",
        "20261129",
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--max-failures",
        "50",
        "--warnings",
        "off",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        *(arg for path in EXCLUDED for arg in ("--exclude-path", path)),
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env=os.environ | {"SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


DEFAULT_ROLES = ("office", "resident", "police", "grid_a")


@pytest.mark.subprocess
async def test_every_role_finds_the_api_as_documented(api, server, town, other_town, tmp_path) -> None:
    roles = {"resident": town.people["resident_a"], **{k: v for k, v in town.people.items() if "resident" not in k}}
    roles["other_town_admin"] = other_town["admin"]
    wanted = os.environ.get("FUZZ_ROLES", ",".join(DEFAULT_ROLES))
    if wanted != "all":
        roles = {k: v for k, v in roles.items() if k in wanted.split(",")}
    slots = asyncio.Semaphore(2)  # one schemathesis process a core; the server shares them

    async def run(name: str, token: str) -> tuple[str, int, str]:
        async with slots:
            code, output = await fuzz(server.base_url, token, tmp_path / f"{name}.xml")
        (tmp_path / f"{name}.txt").write_text(output, encoding="utf-8")
        return name, code, output

    results = await asyncio.gather(*(run(name, account.token) for name, account in roles.items()))
    failures = {name: output[-4000:] for name, code, output in results if code != 0}
    assert len(results) == len(roles) >= 4
    assert not failures, "\n\n".join(f"== {who} ==\n{out}" for who, out in failures.items())
