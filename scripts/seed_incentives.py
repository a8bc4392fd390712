"""The demo town's incentive side (called by `scripts.seed_demo`): the roster with social forces, last year's
star rating confirmed (one 金牌调解员), last month's 以案定补 statement locked and this month's open, two
experts with one answered and one pending consultation. Made through the same services as real work: the
cases behind the stars and the subsidies are registered, mediated, reviewed and followed up by the demo's
people at dates in the past.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from server.cases.service import CaseService
from server.core.auth import Principal
from server.core.context import Context
from server.mediators.consultations import ConsultationService
from server.mediators.profiles import Experts, Roster
from server.mediators.ratings import RatingService
from server.mediators.subsidies import SubsidyService

Who = Callable[[str], Awaitable[Principal]]

SOCIAL_FORCES = [
    ("张德厚", "五老", ["neighbour", "family"]),
    ("李红梅", "党员干部", ["family"]),
    ("周光明", "人大代表", ["land"]),
    ("钱守义", "乡贤", ["neighbour", "land"]),
    ("孙小燕", "志愿者", ["other"]),
]
DIFFICULTY_CYCLE = ["ordinary", "complex", "simple", "major", "ordinary"]
# The cases made here: last year's 30 + 5, last month's 4, this month's 2, and one in mediation for the experts.
CASES = 30 + 5 + 4 + 2 + 1


async def closed_case(
    ctx: Context, who: Who, village_id: ObjectId, room_id: ObjectId, mediator: str, at: datetime, n: int
) -> dict[str, Any]:
    """A case registered at `at`, mediated to an agreement by `mediator` within the day, reviewed and
    followed up satisfied (every second one judicially confirmed)."""
    service, real_now = CaseService(ctx), ctx.clock.now()
    try:
        ctx.clock.set(at)
        data = {
            "channel": "miniprogram",
            "category": ["neighbour", "family", "land", "debt"][n % 4],
            "description": "历年调解案件：双方经调解达成协议并已履行。",
            "parties": [{"role": "applicant", "name": "何秀兰"}, {"role": "respondent", "name": "罗建军"}],
            "village_id": str(village_id),
            "consent_contact": False,
            "confirm_new": True,  # the same words for every case of the past
        }
        case = await service.create(await who("resident"), data)
        mediator_id = (await who(mediator)).user_id
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("town_admin", "assign", {"org_id": str(room_id), "mediator_ids": [mediator_id]}),
            (mediator, "accept", {}),
            (
                mediator,
                "conclude",
                {
                    "outcome": "agreement",
                    "difficulty": DIFFICULTY_CYCLE[n % 5],
                    "agreement": {
                        "parties": ["何秀兰", "罗建军"],
                        "terms": ["按调解方案履行"],
                        "performance_deadline": (at + timedelta(days=10)).date(),
                    },
                },
            ),
            ("town_admin", "review_pass", {}),
            ("town_admin", "follow_up_satisfied", {}),
        ]
        for hours, (actor, action, body) in enumerate(steps, start=1):
            ctx.clock.set(at + timedelta(hours=hours))
            if action == "review_pass" and n % 2 == 0:
                await service.set_judicial_confirmation(await who(mediator), case["_id"], True)
            case = await service.act(await who(actor), case["_id"], action, body)
        return case
    finally:
        ctx.clock.set(real_now)


async def seed_incentives(
    ctx: Context, who: Who, town: dict[str, Any], villages: dict[str, ObjectId], rooms: dict[str, ObjectId]
) -> str:
    now, tz = ctx.clock.now(), ctx.tz
    local = now.astimezone(tz)
    last_year = local.year - 1
    this_month = local.replace(day=1, hour=10, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=10)

    # The work behind the numbers: last year's cases (王桂兰 many, 魏国平 a few), last month's and this month's.
    for n in range(30):  # a busy village mediator's year: enough for five stars under the default scheme
        at = datetime(last_year, 1 + n % 11, 3 + n % 25, 9, tzinfo=tz)
        await closed_case(ctx, who, villages["东风村"], rooms["东风村"], "mediator", at, n)
    for n in range(5):
        at = datetime(last_year, 4 + n, 12, 9, tzinfo=tz)
        await closed_case(ctx, who, villages["红旗村"], rooms["红旗村"], "room_红旗村", at, n + 1)
    for n in range(4):
        await closed_case(ctx, who, villages["东风村"], rooms["东风村"], "mediator", last_month + timedelta(days=n), n)
    this_month_at = max(this_month, now - timedelta(hours=6))
    for n in range(2):
        await closed_case(ctx, who, villages["东风村"], rooms["东风村"], "mediator", this_month_at, n + 3)

    # The roster: the mediators' profiles filled in, and the social forces who sit in sessions.
    office, county = await who("town_admin"), await who("county_admin")
    roster = Roster(ctx)
    demo_mediator = await roster.mine(await who("mediator"))
    changes = {
        "kind": "full_time",
        "specialties": ["neighbour", "family"],
        "certificate": "TJY-2019-0317",
        "training_hours": 96,
        "tier": "village",
    }
    await roster.change(office, "mediator.manage", demo_mediator["_id"], changes)
    for name, force, specialties in SOCIAL_FORCES:
        fields = {
            "name": name,
            "force": force,
            "kind": None,
            "specialties": specialties,
            "org_ids": [villages["东风村"]],
            "tier": "village",
            "certificate": None,
            "training_hours": 8,
            "status": "active",
        }
        await roster.add(office, "mediator.manage", fields)

    # Last year's stars: computed, proposed by the office, confirmed by the county; 金牌 for the five-star.
    ratings = RatingService(ctx)
    run, _ = await ratings.run(office, town["_id"], str(last_year))
    run = await ratings.propose(office, run["_id"], [])
    run = await ratings.confirm(county, run["_id"], [])
    for result in run["results"]:
        if result["level"] == 5:
            await roster.grant_gold(county, result["profile_id"], str(last_year), "年度调解成功率、满意率全镇第一")

    # 以案定补: last month approved and locked, this month open.
    subsidies = SubsidyService(ctx)
    locked, _ = await subsidies.build(office, town["_id"], last_month.strftime("%Y-%m"))
    await subsidies.approve(office, locked["_id"])
    await subsidies.confirm(county, locked["_id"])
    await subsidies.build(office, town["_id"], this_month.strftime("%Y-%m"))

    # Two experts (the county's and the town center's), one answered consultation and one pending.
    experts = {
        p["name"]: p for p in (await Experts(ctx).search(office, "expert.view", {}, org_id=None, skip=0, limit=10))[0]
    }
    await Experts(ctx).change(
        county,
        "expert.manage",
        experts["吴明"]["_id"],
        {"field": "law", "organisation": "示范县律师协会", "title": "律师"},
    )
    await Experts(ctx).change(
        county,
        "expert.manage",
        experts["叶心怡"]["_id"],
        {"field": "psychology", "organisation": "示范镇卫生院", "title": "心理咨询师"},
    )
    mediator = await who("mediator")
    open_case = await _case_in_mediation(ctx, who, villages["东风村"], rooms["东风村"])
    consultations = ConsultationService(ctx)
    asked = await consultations.request(
        mediator,
        open_case,
        expert_id=experts["吴明"]["_id"],
        question="宅基地边界以哪份证据为准？",
        attachment_ids=[],
        deadline=now + timedelta(days=3),
        session_id=None,
    )
    await consultations.answer(
        await who("expert"), asked["_id"], "以不动产登记簿为准；无登记的，参考历史审批文件和四邻指界。"
    )
    await consultations.request(
        mediator,
        open_case,
        expert_id=experts["叶心怡"]["_id"],
        question="一方当事人情绪激动，如何稳妥开展调解？",
        attachment_ids=[],
        deadline=now + timedelta(days=2),
        session_id=None,
    )
    return (
        f"调解名册 {len(SOCIAL_FORCES)} 名社会力量；{last_year} 年度星级已确认；以案定补结算单 2 份；专家咨询 2 件"
        f"（据另外 {CASES} 件案件）。"
    )


async def _case_in_mediation(ctx: Context, who: Who, village_id: ObjectId, room_id: ObjectId) -> ObjectId:
    service = CaseService(ctx)
    data = {
        "channel": "miniprogram",
        "category": "land",
        "description": "宅基地边界争议，双方各执一份证明。",
        "parties": [{"role": "applicant", "name": "郭长林"}, {"role": "respondent", "name": "林玉梅"}],
        "village_id": str(village_id),
        "consent_contact": False,
    }
    case = await service.create(await who("resident"), data)
    mediator = await who("mediator")
    await service.act(
        await who("town_admin"), case["_id"], "assign", {"org_id": str(room_id), "mediator_ids": [mediator.user_id]}
    )
    await service.act(mediator, case["_id"], "accept", {})
    return ObjectId(case["_id"])
