"""The demo town's assessment side (called by `scripts.seed_demo`): two years of monthly statistics from the
three sources (declining, with one month up), the county's published scheme with last quarter's scores of the
town's villages and of the county's towns, a spot check of this year's closed cases with its calls recorded
(one contradicts the record), and an inspection that raised a supervision notice still open. Made through
the same services as real work, by the demo's own people.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bson import ObjectId

from scripts.seed_incentives import closed_case
from server.assessment.periods import current_month, parse_period, quarter_period
from server.assessment.runs import RunService, SchemeService
from server.assessment.scoring import DEFAULT_SCHEME
from server.assessment.spot_checks import SpotCheckService
from server.assessment.statistics import SourceStatistics
from server.assessment.supervision import SupervisionService
from server.core.auth import Principal
from server.core.context import Context

Who = Callable[[str], Awaitable[Principal]]

# This year's months, newest last: police calls fall, with one month up; the other sources fall more gently.
# Last year's same months were higher by a quarter, so 同比 shows the fall.
POLICE_CALLS = [38, 36, 35, 33, 32, 30, 41, 29, 27, 26, 24, 22]
CIVIL_FILINGS = [21, 20, 20, 19, 18, 18, 17, 17, 16, 15, 15, 14]
# Each village's share of the town's police calls, and how much higher its calls were a year before: the
# villages fall at different speeds (东风村 fastest, 清河社区 up), so last quarter's scores rank them.
VILLAGE_CALLS = {"东风村": (0.35, 1.5), "红旗村": (0.3, 1.1), "清河社区": (0.2, 0.95), "柳树湾村": (0.15, 1.3)}
# Last quarter's closed cases per village, so its figures have something to count.
QUARTER_CASES = {"东风村": 3, "红旗村": 2, "清河社区": 2, "柳树湾村": 1}
CASES = sum(QUARTER_CASES.values())
PETITIONS = [(9, 2), (9, 1), (8, 1), (8, 1), (7, 1), (7, 0), (6, 1), (6, 0), (5, 0), (5, 0), (4, 0), (4, 0)]


async def seed_assessment(
    ctx: Context, who: Who, town: dict[str, Any], villages: dict[str, ObjectId], rooms: dict[str, ObjectId]
) -> str:
    now = ctx.clock.now()
    month = current_month(now, ctx.tz)
    months = [month.previous()]
    while len(months) < 12:
        months.insert(0, months[0].previous())
    statistics = SourceStatistics(ctx)
    police, court, petition = await who("liaison_police"), await who("liaison_court"), await who("liaison_petition")
    for n, period in enumerate(months):
        for age, factor in ((period, 1.0), (period.year_before(), 1.25)):
            label = age.label
            await statistics.enter(
                police, town["_id"], label, "police", {"dispute_calls": round(POLICE_CALLS[n] * factor)}
            )
            await statistics.enter(
                court, town["_id"], label, "court", {"civil_filings": round(CIVIL_FILINGS[n] * factor)}
            )
            petitions, irregular = PETITIONS[n]
            counts = {"petitions": round(petitions * factor), "irregular_petitions": irregular}
            await statistics.enter(petition, town["_id"], label, "petition", counts)
        for village, (share, before) in VILLAGE_CALLS.items():
            for age, factor in ((period, share), (period.year_before(), share * before)):
                counts = {"dispute_calls": round(POLICE_CALLS[n] * factor)}
                await statistics.enter(police, villages[village], age.label, "police", counts)

    # The county's scheme for last quarter's year, and last quarter scored: the villages by the town, the
    # towns by the county.
    quarter = quarter_period(month.first, ctx.tz).previous()
    for village, count in QUARTER_CASES.items():
        mediator = "mediator" if village == "东风村" else f"room_{village}"
        for n in range(count):
            at = quarter.start + timedelta(days=20 * n + 5, hours=2)
            await closed_case(ctx, who, villages[village], rooms[village], mediator, at, n)
    county, office = await who("county_admin"), await who("town_admin")
    schemes = SchemeService(ctx)
    await schemes.save(county, town["path"][0], quarter.first.year, DEFAULT_SCHEME)
    runs = RunService(ctx)
    by_village, _ = await runs.run(office, town["_id"], quarter)
    await runs.run(county, town["path"][0], quarter)

    # 抽查回访 of the last half year's closed cases: three confirmed, one where the resident says otherwise.
    supervisor = await who("supervisor")
    checks = SpotCheckService(ctx)
    today = now.astimezone(ctx.tz).date()
    half_year = parse_period(f"{(today - timedelta(days=180)).isoformat()}..{today.isoformat()}", ctx.tz)
    check = await checks.draw(supervisor, town["_id"], half_year, size=4, share=None, seed=2026)
    _, items = await checks.get(supervisor, check["_id"])
    for n, item in enumerate(items):
        result: dict[str, Any] = {"reached": True, "confirms_outcome": True, "satisfied": True, "note": ""}
        if n == len(items) - 1:
            result = {
                "reached": True,
                "confirms_outcome": False,
                "satisfied": False,
                "note": "当事人称对方尚未履行协议",
            }
        await checks.record(supervisor, check["_id"], item["case_id"], result)

    # 明察暗访 found a problem in 东风村; the notice it raised waits for the rectification.
    supervision = SupervisionService(ctx)
    inspection = await supervision.inspect(
        supervisor,
        {
            "kind": "unannounced",
            "unit_id": villages["东风村"],
            "date": (now - timedelta(days=3)).astimezone(ctx.tz).date(),
            "findings": ["调解室值班表未公示", "三件调解案件缺少回访记录"],
        },
    )
    await supervision.issue(
        supervisor,
        {
            "unit_id": villages["东风村"],
            "finding": "暗访发现：调解室值班表未公示，三件调解案件缺少回访记录。",
            "evidence": "暗访照片两张、台账复印件",
            "deadline": now + timedelta(days=7),
            "case_ids": [],
            "inspection_id": inspection["_id"],
        },
    )
    top = by_village["units"][0]
    return (
        f"三源月度统计 24 个月；{quarter.label} 考核：{top['name']}第一（{top['total']} 分）；"
        f"抽查回访 {len(items)} 件（1 件与记录不符）；督查通报 1 件待整改。"
    )
