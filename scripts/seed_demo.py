"""Seed the demo town: `python -m scripts.seed_demo [--config FILE]` (also run by `python -m server --demo`).

The org tree (示范县 → 示范镇 with its 一办五中心 and the county committees → 4 villages with mediation rooms
→ grids → micro-grids), 288 households with members, and one user of every role. Everything is generated
from a fixed seed with stable ids, so running it twice changes nothing: a town that is already there is
left alone and only the demo accounts are printed again.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bson import ObjectId

from notify.inbox import InboxService
from notify.outbox import enqueue, inbox_message, new_delivery
from scripts.seed_assessment import seed_assessment
from scripts.seed_incentives import seed_incentives
from scripts.seed_prevention import seed_prevention
from scripts.seed_publicity import seed_publicity
from server.cases.repository import CaseRepository
from server.cases.service import CaseService
from server.core.auth import Principal
from server.core.clock import to_millis
from server.core.context import Context
from server.core.pii import id_check_digit
from server.orgs.tree import CENTER_TYPES, OrgService
from server.people.sessions import SessionService
from server.people.users import ROLE_NAMES, UserService, grant_doc
from server.places.households import HouseholdService, member_doc, new_household
from server.places.visits import VisitService

SEED = 20261128
TOWN_CODE = "demo-town"

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈姚卢"
MALE_GIVEN = [
    "建国",
    "志强",
    "海涛",
    "国平",
    "文斌",
    "永刚",
    "德明",
    "卫东",
    "俊杰",
    "浩然",
    "宇轩",
    "子豪",
    "振华",
    "立新",
    "春生",
    "长林",
    "明亮",
    "家乐",
]
FEMALE_GIVEN = [
    "秀英",
    "桂兰",
    "玉梅",
    "丽华",
    "海燕",
    "红霞",
    "淑珍",
    "春梅",
    "晓燕",
    "雨桐",
    "欣怡",
    "梓涵",
    "美玲",
    "凤英",
    "翠兰",
    "静怡",
    "佳琪",
    "秋菊",
]
VILLAGES = [("东风村", "村"), ("红旗村", "村"), ("清河社区", "社区"), ("柳树湾村", "村")]
# `--demo-size town` adds these: 24 villages, as a real town has.
MORE_VILLAGES = [
    (name, "社区" if name.endswith("社区") else "村")
    for name in [
        "杨柳村",
        "石桥村",
        "新塘村",
        "桃源村",
        "双溪村",
        "白沙村",
        "前进村",
        "长青村",
        "南山村",
        "北岗村",
        "龙泉村",
        "枫林村",
        "三星村",
        "和平社区",
        "金桥村",
        "马鞍村",
        "青龙村",
        "大坪村",
        "荷花村",
        "五里社区",
    ]
]
COMMITTEES = {
    "medical": "医疗纠纷人民调解委员会",
    "labour": "劳动争议人民调解委员会",
    "traffic": "道路交通事故人民调解委员会",
    "property": "物业纠纷人民调解委员会",
    "family": "婚姻家庭纠纷人民调解委员会",
    "consumer": "消费纠纷人民调解委员会",
}
STREETS = ["幸福路", "和平街", "建设路", "清河路"]
TAGS = ["独居老人", "低保户", "重点关注", "退役军人", "留守儿童", "残疾人"]
REGION_CODE = "330782"  # the area prefix used for demo ID numbers
GRIDS_PER_VILLAGE = 2
MICRO_GRIDS_PER_GRID = 3


@dataclass(frozen=True)
class Size:
    """How much the demo holds. `demo`: enough to try every screen. `town`: a real town's records, for
    trying the platform at the size it runs at (`python -m server --demo --demo-size town`)."""

    villages: tuple[tuple[str, str], ...]
    households_per_micro_grid: int
    history_cases: int = 0  # over the last two years, each taken as far as its age allows
    visits: int = 0  # over the last year
    messages: int = 0  # SMS sent and in-app messages, over the last year


SIZES = {
    "demo": Size(tuple(VILLAGES), 12),
    "town": Size(tuple(VILLAGES + MORE_VILLAGES), 21, history_cases=2000, visits=20000, messages=12000),
}


def demo_id(*parts: str) -> ObjectId:
    """Stable ids, so a second seeding finds the same documents."""
    return ObjectId(hashlib.sha256(":".join(("demo", *parts)).encode()).hexdigest()[:24])


def fake_id_number(rng: random.Random, born: date, male: bool) -> str:
    order = rng.randrange(0, 50) * 2 + (1 if male else 0)
    first17 = f"{REGION_CODE}{born:%Y%m%d}{rng.randrange(0, 10)}{order:02d}"
    return first17 + id_check_digit(first17)


def fake_phone(rng: random.Random) -> str:
    return f"1{rng.choice('3578')}{rng.randrange(0, 10)}{rng.randrange(0, 10**8):08d}"


def person(rng: random.Random, surname: str, male: bool) -> str:
    return surname + rng.choice(MALE_GIVEN if male else FEMALE_GIVEN)


DEMO_USERS: list[dict[str, Any]] = [
    {"key": "resident", "name": "张秀英", "phone": "13900000001", "role": "resident", "org": None},
    {
        "key": "grid_worker",
        "name": "李建国",
        "phone": "13900000002",
        "role": "grid_worker",
        "org": ("grid", "东风村", "1"),
    },
    {"key": "mediator", "name": "王桂兰", "phone": "13900000003", "role": "mediator", "org": ("room", "东风村")},
    {
        "key": "center_staff",
        "name": "赵志强",
        "phone": "13900000004",
        "role": "center_staff",
        "org": ("center", "mediation"),
    },
    {"key": "town_admin", "name": "刘海燕", "phone": "13900000005", "role": "town_admin", "org": ("town",)},
    {"key": "county_admin", "name": "陈卫东", "phone": "13900000006", "role": "county_admin", "org": ("county",)},
    {
        "key": "liaison_police",
        "name": "杨晓明",
        "phone": "13900000007",
        "role": "liaison",
        "org": ("center", "police"),
        "liaison_for": "police",
    },
    {
        "key": "liaison_court",
        "name": "黄丽华",
        "phone": "13900000008",
        "role": "liaison",
        "org": ("center", "court"),
        "liaison_for": "court",
    },
    {
        "key": "liaison_petition",
        "name": "周建军",
        "phone": "13900000009",
        "role": "liaison",
        "org": ("center", "petition"),
        "liaison_for": "petition",
    },
    {"key": "expert", "name": "吴明", "phone": "13900000010", "role": "expert", "org": ("county",)},
    {"key": "supervisor", "name": "孙立新", "phone": "13900000011", "role": "supervisor", "org": ("town",)},
    {"key": "auditor", "name": "钱审计", "phone": "13900000012", "role": "auditor", "org": ("county",)},
]


def _on_duty(key: str, name: str, phone: str, role: str, org: tuple[str, ...]) -> dict[str, Any]:
    return {"key": key, "name": name, "phone": phone, "role": role, "org": org}


# Someone on duty at every unit a case can be routed or escalated to, so every demo case can be accepted.
ON_DUTY: list[dict[str, Any]] = [
    *(
        _on_duty(f"staff_{center}", name, f"139000001{n:02d}", "center_staff", ("center", center))
        for n, (center, name) in enumerate(
            [
                ("office", "郑春梅"),
                ("police", "冯立新"),
                ("court", "曹玉梅"),
                ("petition", "彭长林"),
                ("legal", "田丽华"),
            ]
        )
    ),
    _on_duty("county_center", "袁振华", "13900000120", "mediator", ("county_center",)),
    _on_duty("expert_town", "叶心怡", "13900000150", "expert", ("center", "mediation")),
    *(
        _on_duty(f"committee_{kind}", name, f"139000001{30 + n}", "mediator", ("committee", kind))
        for n, (kind, name) in enumerate(
            zip(COMMITTEES, ["董明亮", "潘凤英", "蒋永刚", "蔡晓燕", "余德明", "杜翠兰"], strict=True)
        )
    ),
    *(
        _on_duty(f"room_{village}", name, f"139000001{40 + n}", "mediator", ("room", village))
        for n, (village, name) in enumerate(
            zip([v for v, _ in VILLAGES[1:]], ["魏国平", "苏静怡", "吕文斌"], strict=True)
        )
    ),
]


def org_key_id(key: tuple[str, ...]) -> ObjectId:
    return demo_id("org", *key)


async def _build_orgs(ctx: Context, villages: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """Create the tree; return the micro-grids with their village for household generation."""
    orgs = OrgService(ctx)
    now = ctx.clock.now()
    county = await orgs.create(
        name="示范县", kind="county", parent_id=None, now=now, code="demo-county", _id=org_key_id(("county",))
    )
    for committee, name in COMMITTEES.items():
        await orgs.create(
            name=f"示范县{name}",
            kind="committee",
            parent_id=county["_id"],
            now=now,
            committee_type=committee,
            _id=org_key_id(("committee", committee)),
        )
    await orgs.create(
        name="示范县矛盾纠纷调解中心",
        kind="center",
        parent_id=county["_id"],
        now=now,
        center_type="mediation",
        _id=org_key_id(("county_center",)),
    )
    town = await orgs.create(
        name="示范镇", kind="town", parent_id=county["_id"], now=now, code=TOWN_CODE, _id=org_key_id(("town",))
    )
    for center, name in CENTER_TYPES.items():
        await orgs.create(
            name=f"示范镇{name}",
            kind="center",
            parent_id=town["_id"],
            now=now,
            center_type=center,
            _id=org_key_id(("center", center)),
        )
    micro_grids = []
    for village_name, _ in villages:
        village = await orgs.create(
            name=village_name, kind="village", parent_id=town["_id"], now=now, _id=org_key_id(("village", village_name))
        )
        await orgs.create(
            name=f"{village_name}矛盾纠纷调解室",
            kind="mediation_room",
            parent_id=village["_id"],
            now=now,
            _id=org_key_id(("room", village_name)),
        )
        for g in range(1, GRIDS_PER_VILLAGE + 1):
            grid = await orgs.create(
                name=f"{village_name}第{g}网格",
                kind="grid",
                parent_id=village["_id"],
                now=now,
                _id=org_key_id(("grid", village_name, str(g))),
            )
            for m in range(1, MICRO_GRIDS_PER_GRID + 1):
                micro = await orgs.create(
                    name=f"{village_name}第{g}网格第{m}微网格",
                    kind="micro_grid",
                    parent_id=grid["_id"],
                    now=now,
                    _id=org_key_id(("micro", village_name, str(g), str(m))),
                )
                kind = dict(villages)[village_name]
                micro_grids.append({"unit": micro, "village": village_name, "kind": kind, "grid": g, "micro": m})
    return micro_grids


def _household(ctx: Context, rng: random.Random, slot: dict[str, Any], number: int) -> dict[str, Any]:
    village, kind = slot["village"], slot["kind"]
    if kind == "社区":
        street = STREETS[slot["grid"] % len(STREETS)]
        building = slot["micro"] * 10 + number // 4
        room = f"{rng.randrange(1, 7)}0{rng.randrange(1, 4)}"
        address = f"示范镇{village}{street}{building}号{number % 4 + 1}单元{room}室"
    else:
        address = f"示范镇{village}{slot['grid'] * 3 + slot['micro'] - 3}组{number + 1}号"
    surname = rng.choice(SURNAMES)
    today = date(2026, 11, 28)
    head_male = rng.random() < 0.7
    head_age = rng.randrange(28, 86)
    members: list[dict[str, Any]] = []

    def add(name: str, relation: str, male: bool, age: int) -> None:
        born = today - timedelta(days=age * 365 + rng.randrange(0, 365))
        phone = fake_phone(rng) if 16 <= age <= 80 else None
        id_number = fake_id_number(rng, born, male)
        gender = "男" if male else "女"
        members.append(
            member_doc(
                ctx.cipher,
                name=name,
                relation=relation,
                phone=phone,
                id_number=id_number,
                gender=gender,
                birth_year=born.year,
            )
        )

    add(person(rng, surname, head_male), "户主", head_male, head_age)
    alone = head_age >= 70 and rng.random() < 0.35
    if not alone:
        if rng.random() < 0.85:
            add(
                person(rng, rng.choice(SURNAMES), not head_male),
                "配偶",
                not head_male,
                max(22, head_age + rng.randrange(-5, 4)),
            )
        if head_age < 60:
            for _ in range(rng.randrange(0, 3)):
                child_male = rng.random() < 0.5
                add(person(rng, surname, child_male), "子女", child_male, rng.randrange(1, max(2, head_age - 20)))
        elif rng.random() < 0.4:
            add(person(rng, surname, True), "子女", True, head_age - rng.randrange(24, 32))
    tags = ["独居老人"] if alone else []
    tags += [t for t in rng.sample(TAGS[1:], k=rng.choice([0, 0, 0, 1, 1, 2]))]
    return new_household(
        _id=demo_id("household", str(slot["unit"]["_id"]), str(number)),
        micro_grid=slot["unit"],
        address=address,
        members=members,
        tags=tags,
        now=ctx.clock.now(),
        created_by=None,
    )


async def _roll_up_population(ctx: Context) -> None:
    """Each unit's population is the number of registered residents under it."""
    orgs = OrgService(ctx)
    for org_id, population in (await HouseholdService(ctx).residents_per_unit()).items():
        await orgs.set_population(org_id, population)


def town_staff(size: Size) -> list[dict[str, Any]]:
    """Beyond the demo's villages: a mediator in every village's room and a grid worker in every grid."""
    rng, staff = random.Random(SEED + 1), []
    for n, (village, _) in enumerate(size.villages):
        if (village, _) not in VILLAGES:
            name = person(rng, rng.choice(SURNAMES), rng.random() < 0.5)
            staff.append(_on_duty(f"room_{village}", name, f"1390002{n:04d}", "mediator", ("room", village)))
        for g in range(1, GRIDS_PER_VILLAGE + 1):
            if (village, g) != ("东风村", 1):  # the demo's own grid worker
                name = person(rng, rng.choice(SURNAMES), rng.random() < 0.5)
                staff.append(
                    _on_duty(
                        f"grid_{village}_{g}", name, f"1390003{n:02d}{g:02d}", "grid_worker", ("grid", village, str(g))
                    )
                )
    return staff if size.history_cases else []


async def _create_users(ctx: Context, size: Size) -> None:
    for spec in [*DEMO_USERS, *ON_DUTY, *town_staff(size)]:
        org_id = org_key_id(spec["org"]) if spec["org"] else None
        await UserService(ctx).create(
            name=spec["name"],
            phone=spec["phone"],
            now=ctx.clock.now(),
            grants=[grant_doc(spec["role"], org_id, spec.get("liaison_for"))],
            _id=demo_id("user", spec["key"]),
        )


DEMO_CASES: list[dict[str, Any]] = [
    # (who registers, days ago, the case, then the actions taken by whom)
    {
        "by": "resident",
        "days": 0,
        "category": "neighbour",
        "draft": True,
        "text": "楼上漏水把我家天花板泡坏了，想先写好再提交。",
        "steps": [],
    },
    {
        "by": "resident",
        "days": 1,
        "category": "neighbour",
        "text": "邻居在公共楼道堆放杂物，多次沟通无果，影响通行和消防安全。",
        "steps": [],
    },
    {
        "by": "resident",
        "days": 0,
        "category": "land",
        "text": "宅基地边界争议，对方扬言要拿刀砍人，情绪激动。",
        "steps": [],
    },
    {
        "by": "liaison_police",
        "days": 2,
        "category": "neighbour",
        "ref": "JQ20261126001",
        "text": "110 警情：两户因停车位争吵推搡，民警现场劝离，转交调解。",
        "steps": [],
    },
    {
        "by": "resident",
        "days": 2,
        "category": "family",
        "text": "赡养老人费用分摊，兄弟三人意见不一。",
        "steps": [("town_admin", "assign", {})],
    },
    {
        "by": "grid_worker",
        "days": 3,
        "category": "debt",
        "text": "走访发现：村民借款两万元到期未还，双方关系紧张。",
        "steps": [("town_admin", "assign", {})],
    },
    {
        "by": "resident",
        "days": 6,
        "category": "property",
        "text": "租客拖欠三个月房租，拒绝搬离。",
        "steps": [("town_admin", "assign", {}), ("mediator", "accept", {})],
    },
    {
        "by": "resident",
        "days": 9,
        "category": "neighbour",
        "text": "邻居装修噪音持续到深夜，影响老人休息。",
        "steps": [
            ("town_admin", "assign", {}),
            ("mediator", "accept", {}),
            ("town_admin", "supervise", {"reason": "群众反映强烈，挂牌督办", "deadline_days": 5}),
        ],
    },
    {
        "by": "resident",
        "days": 10,
        "category": "labour",
        "text": "在镇上工地打工，包工头拖欠工资八千元。",
        "steps": [
            ("town_admin", "assign", {"org": ("center", "mediation"), "tier": "town"}),
            ("center_staff", "accept", {}),
            ("center_staff", "suspend_request", {"reason": "包工头外出，待其返回"}),
            ("town_admin", "suspend_approve", {}),
        ],
    },
    {
        "by": "resident",
        "days": 12,
        "category": "neighbour",
        "text": "相邻两户因排水沟改道发生争执。",
        "steps": [
            ("town_admin", "assign", {}),
            ("mediator", "accept", {}),
            ("mediator", "conclude", {"agreement": True}),
        ],
    },
    {
        "by": "resident",
        "days": 13,
        "category": "family",
        "text": "离婚后子女探视时间发生争议。",
        "steps": [
            ("town_admin", "assign", {}),
            ("mediator", "accept", {}),
            ("mediator", "conclude", {"agreement": True}),
            ("town_admin", "review_pass", {}),
        ],
    },
    {
        "by": "resident",
        "days": 14,
        "category": "debt",
        "text": "朋友借款一万元两年未还。",
        "steps": [
            ("town_admin", "assign", {}),
            ("mediator", "accept", {}),
            ("mediator", "conclude", {"agreement": True}),
            ("town_admin", "review_pass", {}),
            ("town_admin", "follow_up_satisfied", {}),
        ],
    },
    {
        "by": "resident",
        "days": 8,
        "category": "other",
        "text": "要求调解与邻村的历史遗留问题，已进入诉讼程序。",
        "steps": [("town_admin", "reject", {"reason": "该纠纷已进入诉讼程序，不属于人民调解受理范围"})],
    },
]


async def _principal(ctx: Context, user: dict[str, Any]) -> Principal:
    """The user as a signed-in caller, with the grants a token would carry."""
    grants = await SessionService(ctx).grants_for(user)
    return Principal(str(user["_id"]), "seed", tuple(grants), expires_at=float("inf"))


async def _seed_cases(ctx: Context) -> int:
    """Cases in every state, dated over the last two weeks, made through the same service as real ones."""
    users = {spec["key"]: await UserService(ctx).get(demo_id("user", spec["key"])) for spec in DEMO_USERS}
    village = org_key_id(("village", "东风村"))
    (household, *_) = await HouseholdService(ctx).under([org_key_id(("grid", "东风村", "1"))], ("_id",))
    service = CaseService(ctx)
    real_now = ctx.clock.now()
    try:
        for spec in DEMO_CASES:
            ctx.clock.set(real_now - timedelta(days=spec["days"], hours=3))
            channel = {"resident": "miniprogram", "grid_worker": "grid_visit", "liaison_police": "police_referral"}[
                spec["by"]
            ]
            data: dict[str, Any] = {
                "channel": channel,
                "category": spec["category"],
                "description": spec["text"],
                "parties": [
                    {"role": "applicant", "name": "张秀英", "phone": "13900000001"},
                    {"role": "respondent", "name": "王建国"},
                ],
                "village_id": str(village),
                "draft": spec.get("draft", False),
                "consent_contact": True,
            }
            if channel == "grid_visit":
                data["household_id"] = str(household["_id"])
            if spec.get("ref"):
                data |= {"external_ref": spec["ref"], "received_at": ctx.clock.now()}
            case = await service.create(await _principal(ctx, users[spec["by"]]), data)
            for hours, (who, action, options) in enumerate(spec["steps"], start=1):
                ctx.clock.set(real_now - timedelta(days=spec["days"]) + timedelta(hours=hours))
                body: dict[str, Any] = {"reason": options.get("reason")}
                if "org" in options:
                    body |= {"org_id": str(org_key_id(options["org"])), "tier": options["tier"]}
                if options.get("agreement"):
                    body |= {
                        "outcome": "agreement",
                        "agreement": {
                            "parties": ["张秀英", "王建国"],
                            "facts": spec["text"],
                            "terms": ["双方同意按调解方案处理", "今后如有分歧先行协商"],
                            "performance_deadline": (real_now + timedelta(days=15)).date(),
                        },
                    }
                if "deadline_days" in options:
                    body["deadline"] = real_now + timedelta(days=options["deadline_days"])
                case = await service.act(await _principal(ctx, users[who]), case["_id"], action, body)
    finally:
        ctx.clock.set(real_now)
    # What these cases caused was delivered long ago; the demo's console should show only what happens now.
    await CaseRepository(ctx.db).mark_all_notices("seeded")
    await UserService(ctx).set_prefs(
        demo_id("user", "resident"), {"wechat": True, "sms_consent": True, "sms_consent_at": real_now}
    )
    return len(DEMO_CASES)


def demo_people(ctx: Context) -> Callable[[str], Awaitable[Principal]]:
    """A demo account, by its key, as a signed-in caller."""

    async def who(key: str) -> Principal:
        return await _principal(ctx, await UserService(ctx).get(demo_id("user", key)))

    return who


async def _demo_places(ctx: Context) -> tuple[dict[str, Any], dict[str, ObjectId], dict[str, ObjectId]]:
    """The demo town, and its first four villages and their mediation rooms by name."""
    town = await OrgService(ctx).find_unit(code=TOWN_CODE)
    assert town is not None
    villages = {v: org_key_id(("village", v)) for v, _ in VILLAGES}
    return town, villages, {v: org_key_id(("room", v)) for v, _ in VILLAGES}


async def _seed_incentives(ctx: Context) -> str:
    summary = await seed_incentives(ctx, demo_people(ctx), *await _demo_places(ctx))
    await CaseRepository(ctx.db).mark_all_notices("seeded")
    return summary


async def _seed_prevention(ctx: Context) -> str:
    _, villages, _ = await _demo_places(ctx)
    (household, *_) = await HouseholdService(ctx).under([org_key_id(("grid", "东风村", "1"))], ("_id",))
    summary = await seed_prevention(ctx, demo_people(ctx), villages, household)
    await CaseRepository(ctx.db).mark_all_notices("seeded")
    return summary


async def _seed_publicity(ctx: Context) -> tuple[str, str]:
    town, villages, _ = await _demo_places(ctx)
    summary, key = await seed_publicity(ctx, demo_people(ctx), town, villages["东风村"])
    await CaseRepository(ctx.db).mark_all_notices("seeded")
    return summary, key


async def _seed_assessment(ctx: Context) -> str:
    summary = await seed_assessment(ctx, demo_people(ctx), *await _demo_places(ctx))
    await CaseRepository(ctx.db).mark_all_notices("seeded")
    return summary


async def seed_demo_town(ctx: Context, size: str = "demo") -> list[str]:
    """Seed once; return the lines to show a person (the demo accounts)."""
    chosen = SIZES[size]
    if await OrgService(ctx).find_unit(code=TOWN_CODE) is None:
        rng = random.Random(SEED)
        slots = await _build_orgs(ctx, chosen.villages)
        households = [_household(ctx, rng, slot, n) for slot in slots for n in range(chosen.households_per_micro_grid)]
        await HouseholdService(ctx).insert(households)
        await _roll_up_population(ctx)
        await _create_users(ctx, chosen)
        cases = await _seed_cases(ctx)
        incentives = await _seed_incentives(ctx)
        if chosen.history_cases:
            cases += await _seed_history(ctx, chosen, households)
        summary = f"已生成示范镇：{len(slots)} 个微网格，{len(households)} 户，{cases} 件矛盾纠纷。"
        if chosen.visits:
            visits, messages = await _seed_visits(ctx, chosen, households), await _seed_messages(ctx, chosen)
            summary += f"另有 {visits} 条走访记录、{messages} 条消息。"
        summary += incentives + await _seed_assessment(ctx) + await _seed_prevention(ctx)
        publicity, key = await _seed_publicity(ctx)
        summary += publicity
        doors = [f"Open311 对接（/open311/v2/）：县12345热线的 api_key 为 {key}（只显示这一次）"]
    else:
        summary, doors = "示范镇已存在，未重复生成。", []
    lines = [summary, *doors, "演示账号（用手机号 + 短信验证码登录；演示模式下验证码打印在本控制台）："]
    for spec in DEMO_USERS:
        role = ROLE_NAMES[spec["role"]] + (f"（{spec['liaison_for']}）" if spec.get("liaison_for") else "")
        lines.append(f"  {role:<12}{spec['name']:<6}{spec['phone']}")
    on_duty = len(ON_DUTY) + len(town_staff(chosen))
    lines.append(f"  另有 {on_duty} 名各中心、专业调委会、县调解中心、各村调解室的值班人员和网格员（13900000100 起）")
    return lines


# How far a history case went, by its age in days: (older than, the steps taken).
HISTORY_STEPS = [
    (30, ["assign", "accept", "conclude", "review_pass", "follow_up_satisfied"]),
    (12, ["assign", "accept", "conclude", "review_pass"]),
    (6, ["assign", "accept", "conclude"]),
    (2, ["assign", "accept"]),
    (1, ["assign"]),
    (-1, []),
]
HISTORY_CATEGORIES = ["neighbour", "family", "land", "debt", "property", "labour", "other"]
CHANNEL_OF = {"resident": "miniprogram", "grid_worker": "grid_visit", "liaison_police": "police_referral"}
MEDIATING = ("mediator", "center_staff")


def grid_worker_id(village: str, grid: str) -> ObjectId:
    return demo_id("user", "grid_worker" if (village, grid) == ("东风村", "1") else f"grid_{village}_{grid}")


async def _seed_history(ctx: Context, size: Size, households: list[dict[str, Any]]) -> int:
    """Two years of cases through the same service as real ones: registered by residents, grid workers (on
    a visit) and the police liaison, in every village, each taken as far as its age allows."""
    rng, service, real_now = random.Random(SEED + 2), CaseService(ctx), ctx.clock.now()
    people = {
        key: await _principal(ctx, await UserService(ctx).get(demo_id("user", key)))
        for key in ("resident", "town_admin", "liaison_police")
    }
    try:
        for n in range(size.history_cases):
            age = rng.uniform(0, 730) ** 1.3 / 730**0.3  # more recent cases than old ones
            ctx.clock.set(real_now - timedelta(days=age))
            village, _ = rng.choice(size.villages)
            by = rng.choices(["resident", "grid_worker", "liaison_police"], weights=[5, 3, 2])[0]
            data: dict[str, Any] = {
                "channel": CHANNEL_OF[by],
                "category": rng.choice(HISTORY_CATEGORIES),
                "description": f"历史纠纷（第 {n + 1} 件）：{village}村民之间发生矛盾，请求调解。",
                "parties": [
                    {"role": "applicant", "name": person(rng, rng.choice(SURNAMES), rng.random() < 0.5)},
                    {"role": "respondent", "name": person(rng, rng.choice(SURNAMES), rng.random() < 0.5)},
                ],
                "village_id": str(org_key_id(("village", village))),
                "consent_contact": False,
                "confirm_new": True,  # the history repeats its few phrasings
            }
            principal = people["resident"] if by == "resident" else people["liaison_police"]
            if by == "grid_worker":
                grid = str(rng.randrange(1, GRIDS_PER_VILLAGE + 1))
                principal = await _principal(ctx, await UserService(ctx).get(grid_worker_id(village, grid)))
                micro_grid = org_key_id(("micro", village, grid, str(rng.randrange(1, MICRO_GRIDS_PER_GRID + 1))))
                data["household_id"] = str(
                    rng.choice([h for h in households if h["micro_grid_id"] == micro_grid])["_id"]
                )
            if by == "liaison_police":
                data |= {"external_ref": f"JQ{n:08d}", "received_at": ctx.clock.now()}
            case = await service.create(principal, data)
            steps = next(steps for older, steps in HISTORY_STEPS if age > older)
            for hours, action in enumerate(steps, start=1):
                ctx.clock.set(real_now - timedelta(days=age) + timedelta(hours=hours * 5))
                actor = people["town_admin"] if action in ("assign", "review_pass", "follow_up_satisfied") else None
                if actor is None:
                    on_duty = await UserService(ctx).active_with_role_at(MEDIATING, case["assigned_org_id"])
                    actor = await _principal(ctx, on_duty[0])
                body: dict[str, Any] = {}
                if action == "conclude" and rng.random() < 0.15:
                    body = {"outcome": "failed_litigation", "note": "双方分歧较大，引导诉讼"}
                elif action == "conclude":
                    agreement = {
                        "parties": [p["name"] for p in data["parties"]],
                        "facts": data["description"],
                        "terms": ["双方同意按调解方案处理"],
                        "performance_deadline": (ctx.clock.now() + timedelta(days=15)).date(),
                    }
                    body = {"outcome": "agreement", "agreement": agreement}
                case = await service.act(actor, case["_id"], action, body)
    finally:
        ctx.clock.set(real_now)
    await CaseRepository(ctx.db).mark_all_notices("seeded")
    return size.history_cases


async def _seed_visits(ctx: Context, size: Size, households: list[dict[str, Any]]) -> int:
    """A year of 五个到户 visits, each by the grid worker of the household's grid, as the app records them."""
    rng, now = random.Random(SEED + 3), ctx.clock.now()
    purposes = list(ctx.config.town.visit_purposes)
    worker_of = {
        org_key_id(("grid", village, str(g))): grid_worker_id(village, str(g))
        for village, _ in size.villages
        for g in range(1, GRIDS_PER_VILLAGE + 1)
    }
    visits = []
    for n in range(size.visits):
        household = rng.choice(households)
        visited_at = now - timedelta(days=rng.uniform(0, 365))
        visitor = next(worker_of[unit] for unit in household["org_path"] if unit in worker_of)
        visits.append(
            {
                "_id": ObjectId(),
                "client_id": f"seed-{n}",
                "visitor_id": visitor,
                "household_id": household["_id"],
                "org_path": household["org_path"],
                "purposes": sorted(rng.sample(purposes, k=rng.randrange(1, 3))),
                "notes": "",
                "gps": None,
                "visited_at": to_millis(visited_at),
                "received_at": to_millis(visited_at),
                "fingerprint": "",
            }
        )
    await VisitService(ctx).insert_history(visits)
    return len(visits)


async def _seed_messages(ctx: Context, size: Size) -> int:
    """A year of notifications: SMS delivered to the units' staff and the in-app copies, about the history's
    cases, half of the in-app ones read."""
    rng, now = random.Random(SEED + 4), ctx.clock.now()
    cases = await CaseRepository(ctx.db).summaries()
    units = [org_key_id(("town",)), *(org_key_id(("room", village)) for village, _ in size.villages)]
    staff = await UserService(ctx).active_with_role_at(("town_admin", "mediator"), units)
    deliveries, inbox = [], []
    for n in range(size.messages // 2):
        case, user = cases[n % len(cases)], rng.choice(staff)
        at = now - timedelta(days=rng.uniform(0, 365))
        base = {
            "case_id": case["_id"],
            "notice_id": ObjectId(),
            "event": "case_assigned",
            "org_path": case["org_path"],
            "text": f"您有一件新的矛盾纠纷待签收：{case['number']}，请在期限内签收。",
            "params": {"number": case["number"], "category": ""},
            "urgent": False,
            "created_at": at,
        }
        key = f"seed:{n}:{user['_id']}"
        delivery = new_delivery(base, key, "sms", user["_id"], to_enc=user["phone_enc"])
        deliveries.append(delivery | {"status": "sent", "sent_at": at, "next_at": None, "attempts": 1})
        inbox.append(inbox_message(base, key, user["_id"]) | {"read_at": at if rng.random() < 0.5 else None})
    await enqueue(ctx, deliveries)
    await InboxService(ctx).put_history(inbox)
    return len(deliveries) + len(inbox)


async def _main(config_path: str | None, size: str) -> None:
    from server.app import open_context
    from server.core.config import load_config

    config = load_config(config_path).config
    ctx = await open_context(config)
    try:
        for line in await seed_demo_town(ctx, size):
            print(line)
    finally:
        await ctx.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="生成示范镇演示数据（可重复运行）")
    parser.add_argument("--config", help="配置文件（默认 config.yaml）")
    parser.add_argument("--size", choices=sorted(SIZES), default="demo", help="演示数据规模")
    arguments = parser.parse_args()
    asyncio.run(_main(arguments.config, arguments.size))
