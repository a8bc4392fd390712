"""The demo town's open doors (called by `scripts.seed_demo`): published 普法 articles for the county, the town
and a village, a 典型案例 made from a closed case, a 先进典型 with the mediator's consent, one article handed
out on a visit, and a partner system (the county 12345 hotline) with a key and one request it handed over.
Made through the same services as real work, by the demo's people.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta
from typing import Any

from bson import ObjectId

from server.cases.open311 import Open311
from server.cases.repository import CaseRepository
from server.core.auth import Principal
from server.core.context import Context
from server.core.errors import ValidationFailed
from server.mediators.profiles import Roster
from server.people.partners import PartnerService
from server.places.households import HouseholdService
from server.places.visits import VisitService
from server.publicity.articles import ArticleService

Who = Callable[[str], Awaitable[Principal]]
CASES = 1  # the request the hotline handed over

ARTICLES = [
    (
        "county_admin",
        "county",
        {
            "kind": "policy",
            "title": "一图读懂“三源共治”",
            "summary": "警源、诉源、访源矛盾纠纷，在家门口就能找到人调解。",
            "body": "<p>群众遇到矛盾纠纷，可通过小程序、网格员、镇三源共治办公室反映，"
            "由村、镇、县三级调解组织依法免费调解。</p>",
            "categories": [],
        },
    ),
    (
        "town_admin",
        "town",
        {
            "kind": "law",
            "title": "宅基地纠纷怎么办？",
            "summary": "界址不清先协商，协商不成找村调解室。",
            "body": "<h3>先看证</h3><p>以宅基地使用权证和村里的审批资料为准。</p>"
            "<h3>再协商</h3><p>协商不成，可向村调解室申请人民调解，不收费。</p>",
            "categories": ["land", "neighbour"],
        },
    ),
    (
        "town_admin",
        "village",
        {
            "kind": "notice",
            "title": "东风村调解室值班安排",
            "summary": "每周二、周五上午，村委会一楼。",
            "body": "<p>东风村调解室每周二、周五上午在村委会一楼值班，群众可直接前来反映。</p>",
            "categories": [],
        },
    ),
]


async def seed_publicity(ctx: Context, who: Who, town: dict[str, Any], village_id: ObjectId) -> tuple[str, str]:
    """Seed; return the summary and the partner's api_key (shown once, as to an admin)."""
    articles, office, county = ArticleService(ctx), await who("town_admin"), await who("county_admin")
    scopes = {"county": str(town["path"][0]), "town": str(town["_id"]), "village": str(village_id)}

    async def publish(by: Principal, article: dict[str, Any]) -> dict[str, Any]:
        await articles.act(by, article["_id"], "submit", None)
        return await articles.act(by, article["_id"], "publish", None)

    made = []
    for author, scope, data in ARTICLES:
        by = county if author == "county_admin" else office
        made.append(await publish(by, await articles.create(by, data | {"scope_org_id": scopes[scope]})))

    # 典型案例: the latest case closed by agreement, its details replaced; the office writes its meaning.
    stories = 0
    now = ctx.clock.now()
    cases = CaseRepository(ctx.db)
    closed = await cases.closed_in(town["_id"], now - timedelta(days=400), now + timedelta(days=1))
    agreed = [c for c in closed if (c.get("outcome") or {}).get("type") == "agreement"]
    latest = await cases.get(max(c["_id"] for c in agreed)) if agreed else None
    if latest is not None:
        story = await articles.case_story(office, latest, scopes["town"])
        meaning = story["body"].replace("（请填写本案的典型意义）", "矛盾纠纷早发现、早调解，邻里和睦胜过对簿公堂。")
        story = await articles.update(office, story["_id"], {"body": meaning})
        try:
            await publish(office, story)
            stories = 1
        except ValidationFailed:  # the case's own words named someone: it stays a draft for the office
            pass

    # 先进典型: the 东风村 mediator agrees to be publicised.
    mediator = await who("mediator")
    profile = await Roster(ctx).set_publicity_consent(mediator, True)
    await publish(office, await articles.exemplar(office, profile["_id"], scopes["town"]))

    # A grid worker hands the 宅基地 article out on a 政策宣传到户 visit.
    worker = await who("grid_worker")
    visits = VisitService(ctx)
    household = await _first_household_of(ctx, worker)
    if household is not None:
        visit = {
            "client_id": "demo-policy-visit-1",
            "household_id": household,
            "purposes": ["policy"],
            "visited_at": now.astimezone(UTC),
            "article_ids": [made[1]["_id"]],
        }
        await visits.record(worker, visit, articles.check_for_visit)

    # The county 12345 hotline hands a dispute over through Open311.
    partner, key = await PartnerService(ctx).register(
        office,
        {
            "name": "县12345政务服务热线",
            "kind": "hotline",
            "town_ids": [str(town["_id"])],
            "abilities": ["submit", "read_own", "read_public"],
            "contact": "热线值班长 0571-12345",
        },
    )
    form = {
        "service_code": ["labour"],
        "description": ["来电反映：在镇上厂里做工三个月，工资一直没结，老板说年底再说。"],
        "last_name": ["周"],
        "first_name": ["师傅"],
        "attribute[village]": [str(village_id)],
        "attribute[external_ref]": ["12345-20261129-0031"],
        "attribute[consent_contact]": ["no"],
    }
    await Open311(ctx).submit(partner, town, form)
    summary = (
        f"宣传文章 {len(made) + stories + 1} 篇已发布（普法、通知、政策解读、典型案例 {stories} 篇、先进典型 1 篇）；"
        "对接系统 1 个（县12345热线，经 Open311 转来 1 件）。"
    )
    return summary, key


async def _first_household_of(ctx: Context, worker: Principal) -> ObjectId | None:
    """A household in the grid worker's own grid."""
    roots = [ObjectId(o) for o in worker.orgs_with("visit.record")]
    found = await HouseholdService(ctx).under(roots, ("_id",))
    return found[0]["_id"] if found else None
