"""A small but complete town for case tests: centers, committees, two villages with rooms, and people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.core.context import Context
from server.orgs.tree import OrgService


def town_spec(name: str = "测试镇", prefix: str = "") -> dict[str, Any]:
    """A town with its six centers and two villages, each with a mediation room and a micro-grid; `prefix`
    keeps the names of a second town's units apart from the first's."""
    return {
        "name": name,
        "kind": "town",
        "children": [
            *(
                {"name": f"{prefix}{t}中心", "kind": "center", "center_type": t}
                for t in ("office", "police", "court", "petition", "legal", "mediation")
            ),
            *(
                {
                    "name": f"{prefix}{village}",
                    "kind": "village",
                    "children": [
                        {"name": f"{prefix}{village}调解室", "kind": "mediation_room"},
                        {
                            "name": f"{prefix}{village}网格",
                            "kind": "grid",
                            "children": [{"name": f"{prefix}{village}微网格", "kind": "micro_grid"}],
                        },
                    ],
                }
                for village in ("甲村", "乙村")
            ),
        ],
    }


SPEC = [
    {
        "name": "测试县",
        "kind": "county",
        "children": [
            {"name": "县婚姻家庭调委会", "kind": "committee", "committee_type": "family"},
            {"name": "县医疗纠纷调委会", "kind": "committee", "committee_type": "medical"},
            town_spec(),
        ],
    }
]

# The people of a town, by role; `county` and `family` work at the county, above every town.
TOWN_PEOPLE = (
    "resident_a",
    "resident_b",
    "office",
    "mediator_a",
    "mediator_b",
    "center",
    "police",
    "court",
    "grid_a",
    "supervisor",
    "walk_in",
    "expert",
)


@dataclass
class Town:
    units: dict[str, dict[str, Any]]
    people: dict[str, Any]  # name → Account

    def id(self, name: str) -> str:
        return str(self.units[name]["_id"])


async def build_town(ctx: Context, login: Any) -> Town:
    await OrgService(ctx).import_tree(SPEC, None, ctx.clock.now())
    return await _people_of(ctx, login, "测试镇", "")


async def build_twin_town(ctx: Context, login: Any, town: Town) -> Town:
    """第二镇, shaped like 测试镇 (units named 二甲村, 二office中心, …) in the same county, with every town role."""
    await OrgService(ctx).import_tree([town_spec("第二镇", "二")], town.units["测试县"]["_id"], ctx.clock.now())
    return await _people_of(ctx, login, "第二镇", "二")


async def _people_of(ctx: Context, login: Any, town_name: str, prefix: str) -> Town:
    units = {u["name"]: u for u in await ctx.db["org_units"].find({}).to_list(None)}

    def at(name: str) -> Any:
        return units[name if name in ("测试县", "县婚姻家庭调委会", town_name) else prefix + name]["_id"]

    grants: dict[str, list[tuple[Any, ...]]] = {
        "resident_a": [("resident", None)],
        "resident_b": [("resident", None)],
        "office": [("town_admin", at(town_name))],
        "county": [("county_admin", at("测试县"))],
        "mediator_a": [("mediator", at("甲村调解室"))],
        "mediator_b": [("mediator", at("乙村调解室"))],
        "center": [("center_staff", at("mediation中心")), ("mediator", at("mediation中心"))],
        "family": [("mediator", at("县婚姻家庭调委会"))],
        "police": [("liaison", at("police中心"), "police")],
        "court": [("liaison", at("court中心"), "court")],
        "grid_a": [("grid_worker", at("甲村网格"))],
        "supervisor": [("supervisor", at(town_name))],
        "walk_in": [("center_staff", at("office中心"))],
        "expert": [("expert", at("mediation中心"))],  # the town center's consulting expert (咨询专家库)
    }
    if prefix:  # the county's people exist once
        grants = {who: g for who, g in grants.items() if who in TOWN_PEOPLE}
    people = {name: await login(*g, name=f"{prefix}{name}") for name, g in grants.items()}
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
        # The same resident reports the same words again and again here; the duplicate check has its own test.
        "confirm_new": True,
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


async def register_household(api: Any, micro_grid_id: str, address: str, head: str, token: str) -> dict[str, Any]:
    """A household registered over the API with its head as the one member; the created household."""
    made = await api.post(
        "/api/households",
        {"micro_grid_id": micro_grid_id, "address": address, "members": [{"name": head, "relation": "户主"}]},
        token=token,
    )
    assert made.status == 201, made.json
    return dict(made.json)


async def inbox_texts(api: Any, token: str) -> list[str]:
    """The texts of a person's in-app messages, newest first."""
    return [m["text"] for m in (await api.get("/api/notifications?page_size=100", token=token)).json["items"]]


async def warning_rounds(ctx: Context) -> None:
    """One round of the warnings job, as the server runs it (deadlines, consultations, notices, prevention)."""
    from server.app import WARNING_SCANS
    from server.cases.warnings import WarningsJob

    await WarningsJob(ctx, 60, scans=WARNING_SCANS).run_once()
