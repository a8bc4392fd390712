"""The demo town's early-warning side (called by `scripts.seed_demo`): a quarrel that came in as a 110 call
and then as a petition, linked into one dispute; a pair the platform suggests but nobody has linked; six
workers against one contractor (a group-dispute cluster); a household with a repeat history and a concern
due today; and today's warnings. Made through the same services as real work, by the demo's people.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bson import ObjectId

from server.cases.service import CaseService
from server.core.auth import Principal
from server.core.context import Context
from server.prevention.disputes import DisputeService
from server.prevention.household_file import HouseholdFiles
from server.prevention.warnings import WarningService

Who = Callable[[str], Awaitable[Principal]]
CONTRACTOR = "陈建华（包工头）"
WORKERS = 6
CASES = 2 + 2 + WORKERS + 3  # the dispute's two, the suggested pair, the workers', the household's three


async def seed_prevention(ctx: Context, who: Who, villages: dict[str, ObjectId], household: dict[str, Any]) -> str:
    service, real_now = CaseService(ctx), ctx.clock.now()

    async def register(by: str, days_ago: float, **data: Any) -> dict[str, Any]:
        ctx.clock.set(real_now - timedelta(days=days_ago))
        body = {"consent_contact": False, "confirm_new": True} | data
        return await service.create(await who(by), body)

    try:
        # 一件事: a 110 call ten days ago, a petition about the same neighbours today.
        quarrel = {
            "category": "neighbour",
            "parties": [
                {"role": "applicant", "name": "马秀兰", "phone": "13700001001"},
                {"role": "respondent", "name": "刘大勇"},
            ],
            "village_id": str(villages["红旗村"]),
        }
        call = await register(
            "liaison_police",
            10,
            channel="police_referral",
            description="110 接警：邻居刘大勇在共用过道堆放建材，双方发生推搡。",
            external_ref="110-20261119-0087",
            received_at=real_now - timedelta(days=10),
            **quarrel,
        )
        petition = await register(
            "liaison_petition",
            0.2,
            channel="petition_referral",
            description="来信反映：邻居长期占用过道，报警后仍未解决，要求上级处理。",
            external_ref="XF-2026-0412",
            received_at=real_now - timedelta(hours=5),
            **quarrel,
        )
        await DisputeService(ctx).link(
            await who("town_admin"), petition["_id"], call["_id"], "同一邻里纠纷：先报警后信访"
        )

        # Suggested, not linked: a land quarrel and a neighbour quarrel naming the same respondent in 清河社区.
        near = {"village_id": str(villages["清河社区"])}
        await register(
            "resident",
            20,
            channel="miniprogram",
            category="land",
            description="周家翻建房屋占了我家宅基地半米，多次协商无果。",
            parties=[{"role": "applicant", "name": "吴春燕"}, {"role": "respondent", "name": "周德福"}],
            **near,
        )
        await register(
            "resident",
            1,
            channel="miniprogram",
            category="neighbour",
            description="周德福家施工堵了排水沟，雨天我家院子积水。",
            parties=[{"role": "applicant", "name": "何建平"}, {"role": "respondent", "name": "周德福"}],
            **near,
        )

        # 群体性: six workers, one contractor, wages three months overdue.
        for n in range(WORKERS):
            await register(
                "resident",
                3 - n * 0.4,
                channel="miniprogram",
                category="labour",
                description=f"在{CONTRACTOR}的工地干了三个月，工资一直拖欠，第{n + 1}次讨要仍未支付。",
                parties=[
                    {"role": "applicant", "name": f"工人{'甲乙丙丁戊己'[n]}", "phone": f"1370000{2001 + n}"},
                    {"role": "respondent", "name": CONTRACTOR},
                ],
                village_id=str(villages["柳树湾村"]),
            )

        # A household with a repeat history: three quarrels found on visits over the months, a concern due.
        for days, text in (
            (120, "与邻居因鸡鸭散养进菜地争吵"),
            (45, "与邻居因排水问题再次发生口角"),
            (2, "与邻居因围墙高度再起争执，情绪激动"),
        ):
            await register(
                "grid_worker",
                days,
                channel="grid_visit",
                category="neighbour",
                description=f"走访发现：{text}。",
                parties=[{"role": "applicant", "name": "孙玉芬"}, {"role": "respondent", "name": "邻居赵家"}],
                household_id=str(household["_id"]),
            )
    finally:
        ctx.clock.set(real_now)
    await HouseholdFiles(ctx).add_note(
        await who("grid_worker"),
        household["_id"],
        "户主与邻居矛盾反复，情绪不稳，每周上门看看",
        real_now.astimezone(ctx.tz).date(),
    )
    warnings = WarningService(ctx)
    raised = await warnings.risk_round() + await warnings.cluster_round()
    return f"一件事 1 起（110 与信访）；群体性纠纷预警（{WORKERS} 名工人）；今日预警 {raised} 条。"
