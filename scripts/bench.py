"""Benchmark: `python -m scripts.bench [--seconds 5] [--connections 16] [--repeat 3]`.

Measures every goal of the performance issue in one run and prints each against its goal; it asserts
nothing (the suite checks behaviour, never speed). README "Benchmark" lists the parts:
- the demo server and a bare Tornado app answering a small JSON object, each in its own process, driven by
  the same load (wrk if installed, else a small asyncio HTTP/1.1 keep-alive client of ours; POSTs always by
  the latter), each pair `--repeat` times: requests/second, p50/p99 and the median ratio to bare Tornado;
- a second demo server timing its loop's callbacks (`--loop-stats`) under the case flow submit → assign →
  accept → conclude and every scenario again; a third at `--demo-size town`: every list's p50 and a mixed load;
- the outbox: two dispatcher processes delivering `--outbox-messages` due SMS through the real Aliyun SDK to
  a loopback fake Aliyun (`tests/fakes.py`) in a third process, each message checked to arrive exactly once;
- star ratings and subsidies, the assessment's figures and link suggestions over 10,000 cases, in process;
- on its own (`--instructions`, needs valgrind): the instructions of a submission and of a queue page.
The demo runs on the in-process emulation (`server/core/memdb.py`): database-bound figures are its own; a
real MongoDB serves the same queries from the declared indexes.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float = math.nan  # the server's CPU time per request (all its threads), when its process was given


def process_cpu(pid: int | None) -> float:
    """The CPU seconds a process has used so far, all threads, user and system (Linux; NaN elsewhere). A
    request's CPU time varies less than requests per second with what else the machine is doing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, in clock ticks


@dataclass
class Scenario:
    name: str
    path: str
    headers: dict[str, str]
    method: str = "GET"
    body: dict[str, Any] | Callable[[], dict[str, Any]] | None = None  # a callable: a new body per request
    goal: float | None = None  # the ratio to bare Tornado it should reach


def settle(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait until a freshly started server has finished its start-up work (the demo's first deliveries and
    scans): until it uses under a tenth of a core for half a second, or `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = process_cpu(process.pid)
        time.sleep(0.5)
        if not process_cpu(process.pid) - before > 0.05:  # NaN (no /proc): nothing to wait for
            return


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early ({process.returncode}): {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL we built
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server not ready: {url}")


def serve_bare(port: int) -> None:
    """The baseline: Tornado answering a small JSON object, nothing else."""
    from tornado.web import Application, RequestHandler

    class Hello(RequestHandler):
        def get(self) -> None:
            self.write({"status": "ok"})

        def post(self) -> None:  # the same, after reading the JSON body (the submit scenario's baseline)
            self.set_status(201)
            self.write({"status": "ok", "fields": len(json.loads(self.request.body))})

    async def main() -> None:
        Application([(r"/.*", Hello)]).listen(port, address="127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(main())


async def _connection(
    port: int, request: Callable[[], bytes], stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request())
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            await reader.readexactly(int(match.group(1)) if match else 0)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 2"):
                errors.append(1)
    finally:
        writer.close()


async def _drive(port: int, scenario: Scenario, seconds: float, connections: int) -> tuple[list[float], int]:
    lines = [f"{scenario.method} {scenario.path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in scenario.headers.items()]
    body = scenario.body

    def compose(payload: bytes) -> bytes:
        extra = ["Content-Type: application/json", f"Content-Length: {len(payload)}"] if body is not None else []
        return ("\r\n".join(lines + extra) + "\r\n\r\n").encode() + payload

    if callable(body):
        request: Callable[[], bytes] = lambda: compose(json.dumps(body()).encode())  # noqa: E731
    else:
        fixed = compose(json.dumps(body).encode() if body is not None else b"")
        request = lambda: fixed  # noqa: E731
    latencies: list[float] = []
    errors: list[int] = []
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(_connection(port, request, stop_at, latencies, errors) for _ in range(connections)))
    return latencies, len(errors)


def load_asyncio(port: int, scenario: Scenario, seconds: float, connections: int, pid: int | None = None) -> Result:
    asyncio.run(_drive(port, scenario, min(1.0, seconds), connections))  # warm-up
    cpu, started = process_cpu(pid), time.perf_counter()
    latencies, errors = asyncio.run(_drive(port, scenario, seconds, connections))
    elapsed, cpu = time.perf_counter() - started, process_cpu(pid) - cpu
    quantiles = statistics.quantiles(latencies, n=100)
    return Result(
        len(latencies),
        errors,
        len(latencies) / elapsed,
        quantiles[49] * 1000,
        quantiles[98] * 1000,
        cpu / len(latencies) * 1e6,
    )


def _grab(pattern: str, text: str) -> str:
    """The first group of `pattern` in wrk's report; a report without it is an error worth seeing."""
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"wrk's report has no {pattern!r}:\n{text}")
    return found.group(1)


def _wrk_ms(text: str) -> float:
    value, unit = _grab(r"^([\d.]+)(?:us|ms|s)$", text), _grab(r"(us|ms|s)$", text)
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def load_wrk(port: int, scenario: Scenario, seconds: float, connections: int, pid: int | None = None) -> Result:
    headers = [part for key, value in scenario.headers.items() for part in ("-H", f"{key}: {value}")]
    url = f"http://127.0.0.1:{port}{scenario.path}"
    subprocess.run(
        ["wrk", "-t1", f"-c{connections}", "-d1s", *headers, url], capture_output=True, check=True
    )  # warm-up
    cpu = process_cpu(pid)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", *headers, url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = process_cpu(pid) - cpu
    requests = int(_grab(r"(\d+) requests in", out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(
        requests=requests,
        errors=int(errors.group(1)) if errors else 0,
        rps=float(_grab(r"Requests/sec:\s+([\d.]+)", out)),
        p50_ms=_wrk_ms(_grab(r"(?m)^\s+50%\s+(\S+)", out)),
        p99_ms=_wrk_ms(_grab(r"(?m)^\s+99%\s+(\S+)", out)),
        cpu_us=cpu / requests * 1e6,
    )


def demo_token(jwt_keys: str, key: str = "town_admin") -> str:
    """An access token for a demo user, signed with the key the demo server was given."""

    from scripts.seed_demo import DEMO_USERS, demo_id, org_key_id
    from server.core.auth import Grant, TokenService
    from server.core.config import AuthConfig

    spec = next(s for s in DEMO_USERS if s["key"] == key)
    org = str(org_key_id(spec["org"])) if spec["org"] else None
    tokens = TokenService(AuthConfig(jwt_keys=jwt_keys))
    token, _ = tokens.mint_access(
        str(demo_id("user", key)), "bench", [Grant(spec["role"], org, spec.get("liaison_for"))]
    )
    return token


async def _call(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    port: int,
    method: str,
    path: str,
    token: str,
    body: dict[str, Any],
) -> tuple[int, bytes]:
    payload = json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    writer.write(head.encode() + payload)
    answer = await reader.readuntil(b"\r\n\r\n")
    match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", answer)
    data = await reader.readexactly(int(match.group(1)) if match else 0)
    return int(answer.split(b" ", 2)[1]), data


async def _flows(port: int, tokens: dict[str, str], seconds: float, connections: int) -> tuple[int, int, list[float]]:
    """Each connection repeats submit → assign → accept → conclude; returns (flows, failures, flow times)."""
    stop_at = time.perf_counter() + seconds
    done: list[float] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                status, data = await _call(reader, writer, port, "POST", "/api/cases", tokens["resident"], submission())
                if status != 201:
                    failures += 1
                    continue
                case_id = json.loads(data)["id"]
                steps = [
                    ("town_admin", "assign", {}),
                    ("mediator", "accept", {}),
                    ("mediator", "conclude", {"outcome": "failed_litigation", "note": "引导诉讼"}),
                ]
                for who, action, body in steps:
                    status, _ = await _call(
                        reader, writer, port, "POST", f"/api/cases/{case_id}/actions/{action}", tokens[who], body
                    )
                    if status != 200:
                        failures += 1
                        break
                else:
                    done.append(time.perf_counter() - started)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return len(done), failures, done


def case_flow(port: int, jwt_keys: str, seconds: float, connections: int) -> None:
    tokens = {key: demo_token(jwt_keys, key) for key in ("resident", "town_admin", "mediator")}
    started = time.perf_counter()
    flows, failures, times = asyncio.run(_flows(port, tokens, seconds, connections))
    elapsed = time.perf_counter() - started
    p50 = statistics.median(times) * 1000 if times else float("nan")
    print(
        f"case flow (submit → assign → accept → conclude), {connections} connections: "
        f"{flows / elapsed:.1f} flows/s = {4 * flows / elapsed:.0f} requests/s, "
        f"p50 flow {p50:.1f} ms, failures {failures}"
    )


def serve_fake_aliyun() -> None:
    """The fake Aliyun in a process of its own: prints its endpoint, and on SIGTERM the OutIds it accepted."""
    from tests.fakes import FakeAliyunSms

    async def main() -> None:
        fake = FakeAliyunSms()
        fake.start()
        print(fake.endpoint, flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await fake.stop()
        print(json.dumps([m.get("OutId", "") for m in fake.sent]), flush=True)

    asyncio.run(main())


async def _outbox(
    count: int, endpoint: str, dispatchers: int = 2, first: int = 0, go: Any = None
) -> tuple[float, float, list[int]]:
    """`dispatchers` sharing one emulated database deliver `count` due SMS (numbered from `first`) through the
    real SDK to the fake Aliyun at `endpoint`; (started, finished) wall-clock times and how many each handled.
    `go`, when given, is awaited between queuing and sending."""
    from notify.outbox import Dispatcher, enqueue, new_delivery
    from server.app import open_context
    from server.core.config import build_config, new_secret
    from tests.fakes import sms_config

    secrets = {
        "SYGZ_AUTH__JWT_KEYS": f"b1:{new_secret()}",
        "SYGZ_CRYPTO__KEYS": f"c1:{new_secret()}",
        "SYGZ_CRYPTO__HASH_KEY": new_secret(),
        "SYGZ_MONGODB__URI": "memory://",
    }
    sms = sms_config(endpoint) | {"timeout_seconds": 10, "templates": {"case_assigned": "SMS_1"}}
    raw = {"sms": sms, "notify": {"quiet_hours": ""}, "log": {"level": "WARNING"}}
    ctx = await open_context(build_config(raw, source="bench", environ=secrets).config)
    try:
        now = ctx.clock.now()
        base: dict[str, Any] = {
            "case_id": None,
            "event": "case_assigned",
            "org_path": [],
            "urgent": False,
            "created_at": now,
        }
        await enqueue(
            ctx,
            [
                new_delivery(
                    base | {"text": f"基准 {n}", "params": {"number": f"SY-{n:05d}"}},
                    f"bench:{n}",
                    "sms",
                    None,
                    to_enc=ctx.cipher.encrypt(f"139{n:08d}", "phone"),
                )
                for n in range(first, first + count)
            ],
        )
        if go is not None:
            await go()
        started = time.time()
        split = await asyncio.gather(*(Dispatcher(ctx, holder=f"d{n}").run_once() for n in range(dispatchers)))
        return started, time.time(), list(split)
    finally:
        await ctx.close()


async def _demo_context() -> tuple[Any, dict[str, Any], Any]:
    """The demo town seeded in this process, on the emulation: the context, the town, and its office (a
    signed-in town admin)."""
    from scripts.seed_demo import TOWN_CODE, seed_demo_town
    from server.app import open_context
    from server.core.auth import Principal
    from server.core.config import build_config, new_secret
    from server.orgs.tree import OrgService
    from server.people.sessions import SessionService
    from server.people.users import UserService

    secrets = {
        "SYGZ_AUTH__JWT_KEYS": f"b1:{new_secret()}",
        "SYGZ_CRYPTO__KEYS": f"c1:{new_secret()}",
        "SYGZ_CRYPTO__HASH_KEY": new_secret(),
        "SYGZ_MONGODB__URI": "memory://",
    }
    ctx = await open_context(build_config({"log": {"level": "WARNING"}}, source="bench", environ=secrets).config)
    await seed_demo_town(ctx)
    town = await OrgService(ctx).find_unit(code=TOWN_CODE)
    assert town is not None
    admin = (await UserService(ctx).with_role_in("town_admin", [town["_id"]]))[0]
    office = Principal(str(admin["_id"]), "bench", tuple(await SessionService(ctx).grants_for(admin)), 1e18)
    return ctx, town, office


async def _assessment(count: int) -> None:
    """The assessment's figures of the demo town over one month with `count` more cases in it (written
    straight through the case repository, spread over the villages and the lifecycle), each figure timed
    once on the emulation; then the whole figures page and a run scoring the villages."""
    import random
    from datetime import datetime, timedelta

    from server.assessment.figures import BREAKDOWNS, CASE_FIGURES, FigureService
    from server.assessment.periods import month_period
    from server.assessment.runs import RunService
    from server.cases.model import new_case
    from server.cases.repository import CaseRepository
    from server.orgs.tree import OrgService

    ctx, town, office = await _demo_context()
    try:
        villages = await OrgService(ctx).of_kind("village", under=town["_id"])
        rng, year = random.Random(11), ctx.clock.now().astimezone(ctx.tz).year - 1
        start = datetime(year, 6, 1, tzinfo=ctx.tz)
        repository = CaseRepository(ctx.db)
        for n in range(count):
            village = villages[n % len(villages)]
            created = start + timedelta(minutes=rng.randrange(29 * 24 * 60))
            case = new_case(
                state=rng.choice(["in_mediation", "concluded", "closed", "closed", "closed"]),
                channel=rng.choice(["miniprogram", "grid_visit", "police_referral", "walk_in"]),
                source="grassroots",
                now=created,
                number=f"BENCH-{n:06d}",
                category=rng.choice(["neighbour", "family", "land", "debt"]),
                town_id=town["_id"],
                village_id=village["_id"],
                location_path=village["path"],
                org_path=village["path"],
                tier=rng.choice(["village", "village", "town", "county"]),
            )
            if case["state"] != "in_mediation":
                concluded = created + timedelta(days=rng.randrange(1, 15))
                case |= {
                    "accepted_at": created + timedelta(hours=5),
                    "accept_on_time": n % 9 != 0,
                    "concluded_at": concluded,
                    "on_time": n % 10 != 0,
                    "outcome": {"type": "agreement" if n % 4 else "failed_litigation", "at": concluded},
                }
            if case["state"] == "closed":
                case |= {"followed_up_at": case["concluded_at"] + timedelta(days=2), "satisfied": n % 12 != 0}
                case |= {"closed_at": case["followed_up_at"], "rating": {"stars": 3 + n % 3}}
            await repository.insert(case)
        period = month_period(start.date(), ctx.tz)
        figures = FigureService(ctx)
        print(f"assessment figures of the town over {period.label} with {count} cases in it (emulation, each once):")
        slowest = 0.0
        for figure in CASE_FIGURES:
            started = time.perf_counter()
            found = await figures.case_figure(figure, town["_id"], period, ctx.clock.now())
            elapsed = time.perf_counter() - started
            slowest = max(slowest, elapsed)
            print(f"  {figure.key:<24}{found['numerator']!s:>7} / {found['denominator']!s:<7}{elapsed * 1000:>8.0f} ms")
        for breakdown in BREAKDOWNS:
            started = time.perf_counter()
            rows = await figures.breakdown(breakdown.key, town["_id"], period)
            elapsed = time.perf_counter() - started
            slowest = max(slowest, elapsed)
            print(f"  by {breakdown.key:<21}{len(rows):>7} rows{'':<8}{elapsed * 1000:>8.0f} ms")
        print(f"  slowest figure {slowest * 1000:.0f} ms (goal < 1 s {'ok' if slowest < 1 else 'MISSED'})")
        started = time.perf_counter()
        every = await figures.all(town, period)
        print(f"  every figure of the page ({len(every)}) in {(time.perf_counter() - started) * 1000:.0f} ms")
        started = time.perf_counter()
        run, _ = await RunService(ctx).run(office, town["_id"], period)
        print(f"  a run scoring {len(run['units'])} villages in {(time.perf_counter() - started) * 1000:.0f} ms")
    finally:
        await ctx.close()


async def _links(count: int) -> None:
    """What a link suggestion adds to a submission: `count` cases of the demo town sharing phones (by their
    keyed hashes), households and villages with each other, then the candidates read and ranked for 200 new
    cases, each timed (the part of intake that finds the same dispute)."""
    import random
    import statistics
    from datetime import timedelta

    from server.cases.links import rank
    from server.cases.model import new_case
    from server.cases.repository import CaseRepository
    from server.orgs.tree import OrgService
    from server.places.households import HouseholdService

    ctx, town, _ = await _demo_context()
    try:
        villages = await OrgService(ctx).of_kind("village", under=town["_id"])
        homes = await HouseholdService(ctx).under([town["_id"]], ("_id", "org_path"))
        rng, now = random.Random(5), ctx.clock.now()
        phones = [ctx.cipher.lookup_hash(f"137{n:08d}", "phone") for n in range(count // 3)]
        repository = CaseRepository(ctx.db)

        def made(n: int) -> dict[str, Any]:
            village = rng.choice(villages)
            return new_case(
                state=rng.choice(["registered", "in_mediation", "closed"]),
                channel="miniprogram",
                source="grassroots",
                now=now - timedelta(days=rng.uniform(0, 400)),
                number=f"LINK-{n:06d}",
                category=rng.choice(["neighbour", "land", "family", "debt", "labour"]),
                parties=[
                    {"role": "applicant", "name": f"申请人{n % 500}", "phone_hash": rng.choice(phones)},
                    {"role": "respondent", "name": f"被申请人{n % 300}"},
                ],
                household_id=rng.choice(homes)["_id"] if n % 3 == 0 else None,
                village_id=village["_id"],
                town_id=town["_id"],
                location_path=village["path"],
                org_path=village["path"],
            )

        for n in range(count):
            await repository.insert(made(n))
        times, found = [], 0
        for n in range(200):
            case = made(count + n)
            started = time.perf_counter()
            candidates = await repository.link_candidates(
                case, now - timedelta(days=ctx.config.prevention.link_window_days)
            )
            found += len(rank(case, candidates))
            times.append(time.perf_counter() - started)
        times.sort()
        p50, p95 = statistics.median(times) * 1000, times[int(len(times) * 0.95)] * 1000
        print(f"link suggestions at intake, {count} cases in the town (emulation, 200 new cases):")
        print(f"  p50 {p50:.1f} ms, p95 {p95:.1f} ms, {found / 200:.1f} suggestions each (goal < 20 ms, real MongoDB)")
    finally:
        await ctx.close()


async def _incentives(count: int) -> None:
    """A star rating run and a monthly 以案定补 statement over `count` cases of the demo town, in process on
    the emulation: the cases are written straight through the case repository (concluded, reviewed,
    followed up and closed in one month of last year, by the town's mediators), then each is timed once."""
    import random
    from datetime import datetime, timedelta

    from server.cases.model import new_case
    from server.cases.repository import CaseRepository
    from server.mediators.ratings import RatingService
    from server.mediators.subsidies import SubsidyService
    from server.orgs.tree import OrgService
    from server.people.users import UserService

    ctx, town, office = await _demo_context()
    try:
        subtree = await OrgService(ctx).subtree_ids([town["_id"]])
        mediators = [u["_id"] for u in await UserService(ctx).with_role_in("mediator", subtree)]
        rng, year = random.Random(7), ctx.clock.now().astimezone(ctx.tz).year - 1
        month_start = datetime(year, 6, 1, tzinfo=ctx.tz)
        repository = CaseRepository(ctx.db)
        for n in range(count):
            closed = month_start + timedelta(minutes=rng.randrange(29 * 24 * 60))
            concluded = closed - timedelta(days=rng.randrange(1, 20))
            case = new_case(
                state="closed",
                channel="miniprogram",
                source="resident",
                now=concluded - timedelta(days=10),
                number=f"BENCH-{n:06d}",
                category="neighbour",
                town_id=town["_id"],
                org_path=town["path"],
                mediator_ids=rng.sample(mediators, 2 if n % 7 == 0 else 1),
                outcome={"type": "agreement" if n % 4 else "failed_litigation", "at": concluded},
                difficulty={"proposed": None, "confirmed": rng.choice(["simple", "ordinary", "complex", "major"])},
                on_time=n % 10 != 0,
                judicial_confirmation=n % 5 == 0,
            )
            # What the lifecycle adds on its way: concluded, reviewed, followed up satisfied, closed.
            case |= {"concluded_at": concluded, "reviewed_at": concluded + timedelta(days=1), "closed_at": closed}
            await repository.insert(case | {"satisfied": True})
        print(f"incentives over {count} cases of one town (in-process emulation, each timed once):")
        started = time.perf_counter()
        run, _ = await RatingService(ctx).run(office, None, f"{year}-H1")  # the year itself is seeded
        elapsed = time.perf_counter() - started
        goal = "ok" if elapsed < 2 else "MISSED"
        print(
            f"  star rating {year}-H1: {run['cases_counted']} cases, {len(run['results'])} mediators"
            f" in {elapsed * 1000:.0f} ms (goal < 2 s {goal})"
        )
        started = time.perf_counter()
        statement, _ = await SubsidyService(ctx).build(office, None, f"{year}-06")
        elapsed = time.perf_counter() - started
        goal = "ok" if elapsed < 2 else "MISSED"
        print(
            f"  statement {year}-06: {len(statement['lines'])} lines, {statement['totals']['total'] / 100:.2f} yuan"
            f" in {elapsed * 1000:.0f} ms (goal < 2 s {goal})"
        )
    finally:
        await ctx.close()


def outbox_process(count: int, first: int, endpoint: str) -> None:
    """One dispatcher process of the two-process run: queue, say "ready", wait for "go", print the times."""

    async def go() -> None:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    started, finished, (handled,) = asyncio.run(_outbox(count, endpoint, dispatchers=1, first=first, go=go))
    print(json.dumps({"started": started, "finished": finished, "handled": handled}), flush=True)


def outbox(count: int) -> None:
    """Two runs, the fake Aliyun in a process of its own in both (its work must not share the senders' core):
    - two dispatchers sharing one database, in one process (`memory://` is one process's database): every
      message must arrive exactly once, whichever dispatcher claims it;
    - two dispatcher processes, as `python -m notify.worker` runs them: the throughput. Without a MongoDB server
      each process has its own emulated database with half the messages; on a real one they would share."""
    from collections import Counter

    fake = subprocess.Popen(
        [sys.executable, "-m", "scripts.bench", "--serve-fake-aliyun"], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert fake.stdout is not None
        endpoint = fake.stdout.readline().strip()
        started, finished, split = asyncio.run(_outbox(count, endpoint))
        shared = count / (finished - started)
        half = count // 2
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "scripts.bench", "--outbox-process", str(first), str(half), endpoint],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for first in (count, count + half)
        ]
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise SystemExit("an outbox worker process failed to start")
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        times = [json.loads(worker.communicate(timeout=300)[0].strip().splitlines()[-1]) for worker in workers]
    finally:
        fake.send_signal(signal.SIGTERM)
        arrived, _ = fake.communicate(timeout=30)
    arrivals = Counter(json.loads(arrived.strip().splitlines()[-1]))
    once = sum(1 for n in arrivals.values() if n == 1)
    doubled = sum(1 for n in arrivals.values() if n > 1)
    elapsed = max(t["finished"] for t in times) - min(t["started"] for t in times)
    delivered = sum(t["handled"] for t in times)
    print(
        f"outbox, {count} due SMS, real SDK → fake Aliyun in its own process (goal ≥ 500 msg/s with two processes):\n"
        f"  two dispatcher processes: {delivered / elapsed:.0f} msg/s ({delivered} in {elapsed:.2f}s)\n"
        f"  two dispatchers sharing one database: {shared:.0f} msg/s, split {split}\n"
        f"  of {2 * count} sent: arrived once {once}, more than once {doubled}"
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("建国", "秀英", "桂兰", "志强", "海燕", "国平", "玉梅", "德明", "春华", "永红", "丽娟", "文军")
_submitted = itertools.count()


def submission() -> dict[str, Any]:
    """A resident's new dispute: the parties' names vary as a village's do (a name recurs now and then, so
    each submission's link candidates are a town's, not every earlier submission of the run)."""
    from scripts.seed_demo import org_key_id

    n = next(_submitted)
    names = [_SURNAMES[(n + k) % len(_SURNAMES)] + _GIVEN[(n // len(_SURNAMES) + 5 * k) % len(_GIVEN)] for k in (0, 1)]
    return {
        "category": "neighbour",
        "description": "基准测试：邻里之间因公共通道堆放杂物发生争执。",
        "parties": [{"role": "applicant", "name": names[0]}, {"role": "respondent", "name": names[1]}],
        "village_id": str(org_key_id(("village", "东风村"))),
        "confirm_new": True,  # the same words every time: past the duplicate check, as a resident may go
    }


def scenarios(tokens: dict[str, str]) -> list[Scenario]:
    """Each against bare Tornado, at the demo's default size (issue: the request path is lean)."""
    office, resident = bearer(tokens["town_admin"]), bearer(tokens["resident"])
    return [
        Scenario("GET /api/health", "/api/health", {}),
        Scenario("JWT only /api/auth/token", "/api/auth/token", office, goal=0.9),
        Scenario("GET /api/me", "/api/me", office, goal=0.55),
        Scenario("queue page (office)", "/api/cases?page_size=20", office, goal=0.5),
        Scenario("GET /api/cases/mine", "/api/cases/mine", resident, goal=0.5),
        Scenario("POST /api/cases", "/api/cases", resident, "POST", submission, goal=0.35),
    ]


def town_lists(tokens: dict[str, str]) -> list[Scenario]:
    """Every list a town's staff and residents read, at `--demo-size town` (goal: p50 ≤ 50 ms)."""
    office = bearer(tokens["town_admin"])
    return [
        Scenario("queue page (office)", "/api/cases?page_size=20", office),
        Scenario("queue, newest first", "/api/cases?page_size=20&sort=newest", office),
        Scenario("/api/cases/mine", "/api/cases/mine", bearer(tokens["resident"])),
        Scenario("/api/cases/inbox", "/api/cases/inbox", bearer(tokens["mediator"])),
        Scenario("coverage", "/api/visits/coverage", office),
        Scenario("visits", "/api/visits?page_size=20", office),
        Scenario("households", "/api/households?page_size=20", office),
        Scenario("notifications", "/api/notifications", office),
        Scenario("outbox (admin)", "/api/admin/outbox?page_size=20", office),
        Scenario("users", "/api/users?page_size=20", office),
        Scenario("org units", "/api/orgs?page_size=20", office),
    ]


def start_demo(
    env: dict[str, str], port: int, *extra: str, loop_stats: bool = True
) -> tuple[subprocess.Popen[bytes], Path]:
    """The demo server, with loop statistics unless told (they time every callback, which costs the server
    about a tenth of its speed); its log (the statistics are reported there at shutdown) goes to a file."""
    log = Path(tempfile.mkstemp(prefix="sanyuan-bench-", suffix=".log")[1])
    stats = ["--loop-stats"] if loop_stats else []
    command = [sys.executable, "-m", "server", "--demo", *stats, "--port", str(port), *extra]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=out, cwd=ROOT, env=env)
    return process, log


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def loop_report(log: Path) -> str:
    text = log.read_text(encoding="utf-8", errors="replace")
    reports = [line[line.index("loop callbacks") :] for line in text.splitlines() if "loop callbacks" in line]
    return reports[-1] if reports else "(no loop report)"


def default_size(env: dict[str, str], jwt_keys: str, seconds: float, connections: int) -> None:
    """A second demo server, timing its loop's callbacks: the case flow, then every scenario again."""
    port = free_port()
    demo, log = start_demo(env, port)
    try:
        wait_ready(f"http://127.0.0.1:{port}/api/health", demo)
        case_flow(port, jwt_keys, seconds, min(connections, 8))
        tokens = {key: demo_token(jwt_keys, key) for key in ("town_admin", "resident", "mediator")}
        for scenario in scenarios(tokens):
            asyncio.run(_drive(port, scenario, min(seconds, 1.0), connections))
    finally:
        stop(demo)
    print(f"at the default size, the case flow and every scenario again: {loop_report(log)}")
    log.unlink()


def town_size(env: dict[str, str], jwt_keys: str, seconds: float, load: Any) -> None:
    port = free_port()
    demo, log = start_demo(env, port, "--demo-size", "town")
    try:
        wait_ready(f"http://127.0.0.1:{port}/api/health", demo, timeout=300)
        settle(demo)
        tokens = {key: demo_token(jwt_keys, key) for key in ("town_admin", "resident", "mediator")}
        print("\nat --demo-size town (goal: every list p50 ≤ 50 ms, no loop callback over 50 ms CPU), 4 connections:")
        for scenario in town_lists(tokens):
            result = load(port, scenario, seconds, 4)
            verdict = "ok" if result.p50_ms <= 50 and not result.errors else "MISSED"
            print(
                f"  {scenario.name:<24}p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms  "
                f"errors {result.errors}  {verdict}"
            )
        mixed = [s for s in town_lists(tokens) if s.name in ("queue page (office)", "/api/cases/mine", "coverage")]
        mixed.append(Scenario("submit", "/api/cases", bearer(tokens["resident"]), "POST", submission))

        async def together() -> None:
            await asyncio.gather(*(_drive(port, scenario, seconds, 2) for scenario in mixed))

        asyncio.run(together())
        print(f"  then a mixed load for {seconds:g}s: queue pages, /mine, coverage and submits at once")
    finally:
        stop(demo)
    print(f"  {loop_report(log)}")
    log.unlink()


INSTRUCTION_RUNS = (("submission", 0), ("submission", 800), ("queue page", 0))  # (what, submissions before)


def instructions(count: int) -> None:
    """What one submission and one office queue page cost in instructions, counted by valgrind's callgrind
    in process on the emulation: the count moves by 1–4 % between runs whatever else the machine does, where
    CPU time moves by a third, so a change of a few per cent can be seen. Each figure is (the count of a run
    doing `count` operations − that of the same run doing none) / `count`; a submission also after 800
    earlier ones (the link candidates grow with the history of names). Not after more: from `OFF_LOOP_FROM`
    cases on the emulation's thread takes the work, and how often it hands work back depends on timing.
    Needs valgrind (`apt install valgrind`); about ten minutes."""
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed (apt install valgrind): skipped")
        return
    env = {**os.environ, "PYTHONHASHSEED": "0"}

    def start(what: str, before: int, operations: int, out: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "scripts.bench", "--instructions-run", what, str(before), str(operations)]
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        return subprocess.Popen(
            valgrind + command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
        )

    def collected(run: subprocess.Popen[str]) -> int:
        _, err = run.communicate()
        return int(_grab(r"Collected : (\d+)", err))

    print(f"instructions (callgrind, in process, {count} operations against none):")
    with tempfile.TemporaryDirectory() as scratch:
        for what, before in INSTRUCTION_RUNS:
            idle, busy = (start(what, before, n, f"{scratch}/{n}.out") for n in (0, count))  # the two cores
            each = (collected(busy) - collected(idle)) / count
            print(f"  {what:<12} after {before:>5} submissions: {each / 1e6:6.2f} million instructions each")


async def _instruction_run(what: str, before: int, count: int) -> None:
    """One run counted by `instructions`: the demo town, `before` submissions by its demo resident, then
    `count` more submissions or queue pages of the town office."""
    from schemas.cases import CaseIn
    from scripts.seed_demo import demo_people
    from server.cases.queries import CaseFilter
    from server.cases.service import CaseService

    ctx, _, office = await _demo_context()
    try:
        cases, resident = CaseService(ctx), await demo_people(ctx)("resident")

        async def submit() -> None:
            await cases.create(resident, CaseIn.model_validate(submission()).model_dump())

        async def page() -> None:
            await cases.search(office, CaseFilter(), sort="deadline", skip=0, limit=20)

        for _ in range(before):
            await submit()
        operation = submit if what == "submission" else page
        for _ in range(10):  # what a first read builds (maps, kept matches) is built in both runs
            await page()
        for _ in range(count):
            await operation()
    finally:
        await ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="三源共治平台基准测试（只测量，不断言）")
    parser.add_argument("--seconds", type=float, default=5.0, help="每个场景的压测时长")
    parser.add_argument("--connections", type=int, default=16, help="并发连接数")
    parser.add_argument("--repeat", type=int, default=3, help="每个对比场景的重复次数（取比值的中位数）")
    parser.add_argument("--client", choices=["auto", "wrk", "asyncio"], default="auto")
    parser.add_argument("--outbox-messages", type=int, default=1000, help="外发消息基准的短信条数（0 跳过）")
    parser.add_argument("--outbox", action="store_true", help="只运行外发消息基准")
    parser.add_argument("--incentive-cases", type=int, default=10000, help="星级评定与以案定补基准的案件数（0 跳过）")
    parser.add_argument("--incentives", action="store_true", help="只运行星级评定与以案定补基准")
    parser.add_argument("--assessment-cases", type=int, default=10000, help="考核指标基准的案件数（0 跳过）")
    parser.add_argument("--assessment", action="store_true", help="只运行考核指标基准")
    parser.add_argument("--link-cases", type=int, default=10000, help="关联建议基准的案件数（0 跳过）")
    parser.add_argument("--links", action="store_true", help="只运行关联建议基准")
    parser.add_argument("--no-town", dest="town", action="store_false", help="跳过镇级规模（--demo-size town）的测量")
    parser.add_argument(
        "--instructions", type=int, nargs="?", const=200, help="只统计登记与队列页的指令数（需 valgrind），可给次数"
    )
    parser.add_argument("--instructions-run", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-fake-aliyun", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--outbox-process", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.outbox_process:
        first, count, endpoint = args.outbox_process
        outbox_process(int(count), int(first), endpoint)
        return
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if args.serve_fake_aliyun:
        serve_fake_aliyun()
        return
    if args.outbox:
        outbox(args.outbox_messages)
        return
    if args.incentives:
        asyncio.run(_incentives(args.incentive_cases))
        return
    if args.assessment:
        asyncio.run(_assessment(args.assessment_cases))
        return
    if args.links:
        asyncio.run(_links(args.link_cases))
        return
    if args.instructions_run:
        what, before, count = args.instructions_run
        asyncio.run(_instruction_run(what, int(before), int(count)))
        return
    if args.instructions:
        instructions(args.instructions)
        return

    from server.core.config import new_secret

    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    load = load_wrk if use_wrk else load_asyncio
    jwt_keys = f"bench:{new_secret()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYGZ_")}
    env["SYGZ_AUTH__JWT_KEYS"] = jwt_keys
    env["SYGZ_LOG__LEVEL"] = "WARNING"  # an access log line per request would measure the terminal
    demo_port, bare_port = free_port(), free_port()
    demo, log = start_demo(env, demo_port, loop_stats=False)  # as deployed: the ratios
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": ROOT, "env": env}
    bare = subprocess.Popen([sys.executable, "-m", "scripts.bench", "--serve-bare", str(bare_port)], **quiet)
    try:
        wait_ready(f"http://127.0.0.1:{demo_port}/api/health", demo)
        wait_ready(f"http://127.0.0.1:{bare_port}/", bare)
        settle(demo)
        print(
            f"client: {'wrk' if use_wrk else 'asyncio (wrk not installed)'}, {args.connections} connections, "
            f"{args.seconds:g}s per run, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
        )
        header = (
            f"{'scenario':<28}{'server':<7}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>7}{'CPU µs/req':>12}"
            f"{'vs bare':>9}{'(CPU)':>7}"
        )
        print(header + "  goal (on req/s)")
        print("-" * (len(header) + 36))
        tokens = {key: demo_token(jwt_keys, key) for key in ("town_admin", "resident", "mediator")}
        for scenario in scenarios(tokens):
            # The same client for both (wrk sends only GETs); each pair `--repeat` times, alternately. Shown: the
            # pair with the median ratio of requests/second, the range of those ratios, and the ratio of the
            # median CPU times per request (what the server spends, whatever else the machine is doing).
            loader = load if scenario.method == "GET" else load_asyncio
            pairs = [
                (
                    loader(bare_port, scenario, args.seconds, args.connections, bare.pid),
                    loader(demo_port, scenario, args.seconds, args.connections, demo.pid),
                )
                for _ in range(args.repeat)
            ]
            pairs.sort(key=lambda pair: pair[1].rps / pair[0].rps)
            baseline, ours = pairs[len(pairs) // 2]
            ratios = [o.rps / b.rps for b, o in pairs]
            cpu = statistics.median(b.cpu_us for b, _ in pairs) / statistics.median(o.cpu_us for _, o in pairs)
            for label, result in (("bare", baseline), ("ours", ours)):
                line = (
                    f"{scenario.name:<28}{label:<7}{result.rps:>8.0f}{result.p50_ms:>9.2f}{result.p99_ms:>9.2f}"
                    f"{result.errors:>7}{result.cpu_us:>12.0f}"
                )
                if label == "ours":
                    line += f"{ratios[len(ratios) // 2]:>8.2f}x{cpu:>6.2f}x"
                    if scenario.goal:
                        verdict = "ok" if ratios[len(ratios) // 2] >= scenario.goal else "MISSED"
                        line += f"  ≥ {scenario.goal:.2f}x {verdict}"
                    if len(ratios) > 1:
                        line += f"  (runs {ratios[0]:.2f}–{ratios[-1]:.2f}x)"
                print(line)
    finally:
        for process in (demo, bare):
            stop(process)
    log.unlink()
    print()
    default_size(env, jwt_keys, args.seconds, args.connections)
    if args.town:
        town_size(env, jwt_keys, args.seconds, load)
    if args.outbox_messages:
        outbox(args.outbox_messages)
    if args.incentive_cases:
        asyncio.run(_incentives(args.incentive_cases))
    if args.assessment_cases:
        asyncio.run(_assessment(args.assessment_cases))
    if args.link_cases:
        asyncio.run(_links(args.link_cases))


if __name__ == "__main__":
    main()
