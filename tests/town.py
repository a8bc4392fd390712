"""A small but complete town for case tests: centers, committees, two villages with rooms, and people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.core.context import Context
from server.orgs.tree import OrgService

SPEC = [
    {
        "name": "测试县",
        "kind": "county",
        "children": [
            {"name": "县婚姻家庭调委会", "kind": "committee", "committee_type": "family"},
            {"name": "县医疗纠纷调委会", "kind": "committee", "committee_type": "medical"},
            {
                "name": "测试镇",
                "kind": "town",
                "children": [
                    *(
                        {"name": f"{t}中心", "kind": "center", "center_type": t}
                        for t in ("office", "police", "court", "petition", "legal", "mediation")
                    ),
                    *(
                        {
                            "name": village,
                            "kind": "village",
                            "children": [
                                {"name": f"{village}调解室", "kind": "mediation_room"},
                                {
                                    "name": f"{village}网格",
                                    "kind": "grid",
                                    "children": [{"name": f"{village}微网格", "kind": "micro_grid"}],
                                },
                            ],
                        }
                        for village in ("甲村", "乙村")
                    ),
                ],
            },
        ],
    }
]


@dataclass
class Town:
    units: dict[str, dict[str, Any]]
    people: dict[str, Any]  # name → Account

    def id(self, name: str) -> str:
        return str(self.units[name]["_id"])


async def build_town(ctx: Context, login: Any) -> Town:
    await OrgService(ctx).import_tree(SPEC, None, ctx.clock.now())
    units = {u["name"]: u for u in await ctx.db["org_units"].find({}).to_list(None)}

    def at(name: str) -> Any:
        return units[name]["_id"]

    grants: dict[str, list[tuple[Any, ...]]] = {
        "resident_a": [("resident", None)],
        "resident_b": [("resident", None)],
        "office": [("town_admin", at("测试镇"))],
        "county": [("county_admin", at("测试县"))],
        "mediator_a": [("mediator", at("甲村调解室"))],
        "mediator_b": [("mediator", at("乙村调解室"))],
        "center": [("center_staff", at("mediation中心")), ("mediator", at("mediation中心"))],
        "family": [("mediator", at("县婚姻家庭调委会"))],
        "police": [("liaison", at("police中心"), "police")],
        "court": [("liaison", at("court中心"), "court")],
        "grid_a": [("grid_worker", at("甲村网格"))],
        "supervisor": [("supervisor", at("测试镇"))],
        "walk_in": [("center_staff", at("office中心"))],
    }
    people = {name: await login(*g, name=name) for name, g in grants.items()}
    return Town(units, people)


def resident_case(town: Town, village: str = "甲村", **overrides: Any) -> dict[str, Any]:
    body = {
        "channel": "miniprogram",
        "category": "family",
        "description": "邻居家装修堵住了我家出入的通道，协商多次没有结果。",
        "parties": [
            {"role": "applicant", "name": "张三", "phone": "13812345678"},
            {"role": "respondent", "name": "李四"},
        ],
        "village_id": town.id(village),
        "consent_contact": True,
    }
    body.update(overrides)
    return body


async def add_second_town(ctx: Context, login: Any, town: Town) -> dict[str, Any]:
    """第二镇 in the same county, with a village, a center and its staff member, an admin and a resident's case."""
    orgs, now = OrgService(ctx), ctx.clock.now()
    second = await orgs.create(name="第二镇", kind="town", parent_id=town.units["测试县"]["_id"], now=now)
    center = await orgs.create(
        name="第二镇三源共治办公室", kind="center", parent_id=second["_id"], now=now, center_type="office"
    )
    village = await orgs.create(name="丙村", kind="village", parent_id=second["_id"], now=now)
    await orgs.create(name="丙村调解室", kind="mediation_room", parent_id=village["_id"], now=now)
    staff = await login(("center_staff", center["_id"]), name="第二镇中心人员")
    admin = await login(("town_admin", second["_id"]), name="第二镇管理员")
    return {"town": second, "village": village, "staff": staff, "admin": admin}
