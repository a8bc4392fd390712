"""普法宣传 and 先进典型: the office drafts, an admin reviews and publishes, residents read without an account,
grid workers hand articles out on visits; case stories keep nobody's details; exemplars need consent."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from PIL import Image

from server.core.context import Context
from server.publicity.articles import anonymise, personal_details
from tests.files import one_page_pdf
from tests.test_assessment import handled
from tests.test_cases_support import photo_with_gps
from tests.test_mediators import AGREEMENT
from tests.town import Town, build_twin_town, register_household

LAW = {
    "kind": "law",
    "title": "宅基地纠纷怎么办",
    "summary": "宅基地界址不清时，先协商，再找村调解室。",
    "body": '<p onclick="steal()">先协商<script>alert(1)</script><a href="javascript:alert(1)">点我</a>'
    '<a href="https://flk.npc.gov.cn">国家法律法规数据库</a><iframe src="https://x"></iframe>'
    "<img src=x onerror=alert(1)></p>",
    "categories": ["land"],
}


async def draft(api, town: Town, who: str = "office", scope: str = "测试镇", **overrides: Any) -> dict[str, Any]:
    made = await api.post(
        "/api/articles", LAW | {"scope_org_id": town.id(scope)} | overrides, token=town.people[who].token
    )
    assert made.status == 201, made.json
    return dict(made.json)


async def step(api, town: Town, who: str, article_id: str, name: str, reason: str | None = None) -> Any:
    body = {"reason": reason} if reason else {}
    return await api.post(f"/api/articles/{article_id}/actions/{name}", body, token=town.people[who].token)


async def published(api, town: Town, who: str = "office", **overrides: Any) -> dict[str, Any]:
    article = await draft(api, town, who, **overrides)
    assert (await step(api, town, who, article["id"], "submit")).status == 200
    answer = await step(api, town, who, article["id"], "publish")
    assert answer.status == 200, answer.json
    return dict(answer.json)


async def test_scripts_are_removed_on_the_way_in(api, town: Town) -> None:
    article = await draft(api, town)
    body = article["body"]
    for bad in ("<script", "onclick", "javascript:", "<iframe", "onerror", "alert(1)"):
        assert bad not in body, bad
    assert '<a href="https://flk.npc.gov.cn" rel="noopener noreferrer">国家法律法规数据库</a>' in body
    assert "先协商" in body
    edited = await api.put(
        f"/api/articles/{article['id']}",
        {"body": "<p>新正文<svg onload=alert(1)></svg></p>"},
        token=town.people["office"].token,
    )
    assert edited.json["body"] == "<p>新正文</p>"


async def test_draft_review_publish_unpublish_each_step_audited(api, ctx: Context, town: Town) -> None:
    desk = town.people["walk_in"]  # center staff of the town's office: drafts, does not publish
    article = await draft(api, town, who="walk_in")
    aid = article["id"]
    assert (await step(api, town, "office", aid, "publish")).status == 409  # not submitted yet
    assert (await step(api, town, "walk_in", aid, "submit")).status == 200
    locked = await api.put(f"/api/articles/{aid}", {"title": "改标题"}, token=desk.token)
    assert locked.status == 409
    assert locked.json["error"]["code"] == "article_locked"
    assert (await step(api, town, "walk_in", aid, "publish")).status == 403
    assert (await step(api, town, "office", aid, "return")).status == 422  # a return says why
    assert (await step(api, town, "office", aid, "return", "请补充法律依据")).status == 200
    assert (await api.put(f"/api/articles/{aid}", {"summary": "补充了依据"}, token=desk.token)).status == 200
    assert (await step(api, town, "walk_in", aid, "submit")).status == 200
    answer = await step(api, town, "office", aid, "publish")
    assert answer.status == 200
    assert answer.json["state"] == "published"
    assert answer.json["published_at"]
    assert (await step(api, town, "office", aid, "unpublish", "政策调整")).status == 200
    assert (await step(api, town, "office", aid, "archive")).status == 200
    assert (await step(api, town, "office", aid, "submit")).status == 409  # archived is final
    history = [h["action"] for h in answer.json["history"]]
    assert history == ["create", "submit", "return", "edit", "submit", "publish"]
    trail = [r["action"] for r in await ctx.audit.for_target("article", ObjectId(aid))]
    assert trail == [
        "article.archive",
        "article.unpublish",
        "article.publish",
        "article.submit",
        "article.edit",
        "article.return",
        "article.submit",
        "article.create",
    ]


async def test_residents_read_their_places_feed_cached_with_an_etag(api, ctx: Context, town: Town, login) -> None:
    twin = await build_twin_town(ctx, login, town)
    ours = await published(api, town)
    village = await published(api, town, scope="甲村", title="甲村通知", kind="notice", categories=[])
    county = await published(api, town, who="county", scope="测试县", title="全县政策解读", kind="policy")
    await draft(api, town, title="还是草稿")
    theirs = await published(api, twin, scope="第二镇", title="第二镇普法")

    async def feed(place: str, query: str = "") -> list[str]:
        answer = await api.get(f"/api/feed?org_id={place}{query}")  # no account needed
        assert answer.status == 200, answer.json
        return [item["id"] for item in answer.json["items"]]

    assert set(await feed(town.id("甲村"))) == {ours["id"], village["id"], county["id"]}
    assert set(await feed(town.id("乙村"))) == {ours["id"], county["id"]}
    assert set(await feed(twin.id("二甲村"))) == {theirs["id"], county["id"]}
    assert await feed(town.id("甲村"), "&category=land") == [county["id"], ours["id"]]  # newest first
    assert await feed(town.id("甲村"), "&kind=notice") == [village["id"]]

    first = await api.get(f"/api/feed?org_id={town.id('甲村')}")
    assert first.headers["Cache-Control"] == "public, max-age=60"
    assert first.headers["Etag"]
    again = await api.get(f"/api/feed?org_id={town.id('甲村')}", headers={"If-None-Match": first.headers["Etag"]})
    assert again.status == 304
    newer = await published(api, town, title="新文章")
    changed = await api.get(f"/api/feed?org_id={town.id('甲村')}", headers={"If-None-Match": first.headers["Etag"]})
    assert changed.status == 200

    opened = await api.get(f"/api/feed/{ours['id']}")
    assert opened.json["body"] == ours["body"]
    related = [r["id"] for r in opened.json["related"]]
    assert related == [newer["id"], county["id"]]  # the same kind of dispute for the same place, newest first
    await api.get(f"/api/feed/{ours['id']}")
    reach = await api.get(f"/api/articles/{ours['id']}/reach", token=town.people["office"].token)
    assert reach.json["reads"] == 2
    stored = await ctx.db["articles"].find_one({"_id": ObjectId(ours["id"])})
    assert set(stored) >= {"reads"}
    assert "readers" not in stored
    drafts = await api.get("/api/articles?state=draft", token=town.people["office"].token)
    assert (await api.get(f"/api/feed/{drafts.json['items'][0]['id']}")).status == 404
    # Staff: the other town's article is not theirs; a grid worker sees what to hand out in 甲村.
    assert (await api.get(f"/api/articles/{theirs['id']}", token=town.people["office"].token)).status == 404
    listed = await api.get("/api/articles", token=town.people["grid_a"].token)
    assert {i["id"] for i in listed.json["items"]} >= {ours["id"], village["id"], county["id"]}
    assert theirs["id"] not in {i["id"] for i in listed.json["items"]}
    assert (await api.get("/api/articles?state=draft", token=town.people["grid_a"].token)).status == 403


async def test_a_resident_sees_articles_on_the_kind_of_dispute_they_reported(api, town: Town) -> None:
    land = await published(api, town, categories=["land"])
    await published(api, town, title="婚姻家庭知识", categories=["family"])
    resident = town.people["resident_a"].token
    case = await api.post(
        "/api/cases",
        {
            "channel": "miniprogram",
            "category": "land",
            "description": "宅基地界址有争议，邻居砌墙占地。",
            "parties": [{"role": "applicant", "name": "王五"}],
            "village_id": town.id("甲村"),
            "confirm_new": True,
        },
        token=resident,
    )
    related = await api.get(f"/api/cases/{case.json['id']}/articles", token=resident)
    assert [a["id"] for a in related.json["items"]] == [land["id"]]
    assert (
        await api.get(f"/api/cases/{case.json['id']}/articles", token=town.people["resident_b"].token)
    ).status == 404


async def test_a_grid_worker_names_the_articles_handed_out_on_a_visit(api, town: Town) -> None:
    worker = town.people["grid_a"].token
    household = await register_household(api, town.id("甲村微网格"), "甲村3组15号", "王五", worker)
    article = await published(api, town)
    elsewhere = await published(api, town, scope="乙村", title="乙村通知")
    not_yet = await draft(api, town, title="草稿")

    def visit(client_id: str, articles: list[str], purposes: tuple[str, ...] = ("policy",)) -> dict[str, Any]:
        return {
            "client_id": client_id,
            "household_id": household["id"],
            "purposes": list(purposes),
            "visited_at": datetime.now(UTC).isoformat(),
            "article_ids": articles,
        }

    done = await api.post("/api/visits", visit("visit-0001", [article["id"]]), token=worker)
    assert done.status == 201, done.json
    assert done.json["article_ids"] == [article["id"]]
    for client_id, articles, purposes in (
        ("visit-0002", [not_yet["id"]], ("policy",)),
        ("visit-0003", [elsewhere["id"]], ("policy",)),  # for another village
        ("visit-0004", [article["id"]], ("safety",)),  # handed out, but not a 政策宣传 visit
    ):
        refused = await api.post("/api/visits", visit(client_id, articles, purposes), token=worker)
        assert refused.status == 422, refused.json
        assert refused.json["error"]["details"][0]["field"] == "article_ids", refused.json
    again = await api.post("/api/visits", visit("visit-0005", [article["id"]]), token=worker)
    assert again.status == 201
    reach = await api.get(f"/api/articles/{article['id']}/reach", token=town.people["office"].token)
    assert (reach.json["visits"], reach.json["households"]) == (2, 1)


async def test_a_case_story_keeps_nobodys_details(api, ctx: Context, town: Town) -> None:
    case_id = await handled(api, ctx, town, "甲村", "mediator_a", AGREEMENT, True)
    office = town.people["office"].token
    assert (await api.get(f"/api/cases/{case_id}", token=office)).json["state"] == "closed"
    made = await api.post(
        "/api/articles/case-story", {"case_id": case_id, "scope_org_id": town.id("测试镇")}, token=office
    )
    assert made.status == 201, made.json
    story = made.json
    assert story["kind"] == "case_story"
    assert story["categories"] == ["family"]
    text = story["title"] + story["summary"] + story["body"]
    assert "张三" not in text
    assert "李四" not in text
    assert "13812345678" not in text
    assert "<h3>基本案情</h3><p>邻居家装修堵住了我家出入的通道" in story["body"]  # the facts, told again
    assert "（请填写本案的典型意义）" in story["body"]  # what the office adds before it may be submitted

    async def try_submit(body: str) -> Any:
        edited = await api.put(f"/api/articles/{story['id']}", {"body": body}, token=office)
        assert edited.status == 200
        return await step(api, town, "office", story["id"], "submit")

    for leak, found in (
        ("<p>张三与邻居李某发生纠纷。</p>", "张三"),
        ("<p>联系电话 138 1234 5678 已删除，另有 13912345678。</p>", "号码"),
        ("<p>身份证 330102199001011234。</p>", "号码"),
    ):
        refused = await try_submit(leak)
        assert refused.status == 422, refused.json
        assert refused.json["error"]["code"] == "personal_details", refused.json
        assert refused.json["error"]["details"][0]["field"] == "body"
        assert found in refused.json["error"]["details"][0]["message"]
    title = await api.put(f"/api/articles/{story['id']}", {"title": "李四家的纠纷"}, token=office)
    assert title.status == 200
    refused = await try_submit("<p>张某与邻居李某因通道发生纠纷，经调解达成协议。</p>")
    assert refused.status == 422
    assert refused.json["error"]["details"][0]["field"] == "title"
    await api.put(f"/api/articles/{story['id']}", {"title": "一起邻里通道纠纷的调解"}, token=office)
    assert (await step(api, town, "office", story["id"], "submit")).status == 200
    assert (await step(api, town, "office", story["id"], "publish")).status == 200
    open_case = await api.post(
        "/api/cases",
        {
            "channel": "walk_in",
            "category": "land",
            "description": "来访反映土地问题。",
            "parties": [{"role": "applicant", "name": "赵六"}],
            "village_id": town.id("甲村"),
        },
        token=town.people["walk_in"].token,
    )
    refused = await api.post(
        "/api/articles/case-story", {"case_id": open_case.json["id"], "scope_org_id": town.id("测试镇")}, token=office
    )
    assert refused.status == 409
    assert refused.json["error"]["code"] == "case_not_closed"


async def test_an_exemplar_needs_the_mediators_consent(api, ctx: Context, town: Town) -> None:
    office, mediator = town.people["office"].token, town.people["mediator_a"].token
    profile = (await api.get("/api/mediators/me", token=mediator)).json
    assert profile["publicity_consent"] is False
    body = {"mediator_id": profile["id"], "scope_org_id": town.id("测试镇")}
    refused = await api.post("/api/articles/exemplar", body, token=office)
    assert refused.status == 409
    assert refused.json["error"]["code"] == "no_publicity_consent"
    consented = await api.put("/api/mediators/me/publicity-consent", {"given": True}, token=mediator)
    assert consented.status == 200
    assert consented.json["publicity_consent"] is True
    made = await api.post("/api/articles/exemplar", body, token=office)
    assert made.status == 201
    assert made.json["kind"] == "exemplar"
    assert "mediator_a" in made.json["body"]
    assert (await step(api, town, "office", made.json["id"], "submit")).status == 200
    assert (await step(api, town, "office", made.json["id"], "publish")).status == 200
    assert made.json["id"] in [a["id"] for a in (await api.get(f"/api/feed?org_id={town.id('甲村')}")).json["items"]]
    # Consent withdrawn: the article comes down at once.
    await api.put("/api/mediators/me/publicity-consent", {"given": False}, token=mediator)
    assert made.json["id"] not in [
        a["id"] for a in (await api.get(f"/api/feed?org_id={town.id('甲村')}")).json["items"]
    ]
    actions = [r["action"] for r in await ctx.audit.for_target("roster", ObjectId(profile["id"]))]
    assert actions.count("roster.publicity_consent") == 2


async def test_a_cover_goes_through_the_attachment_pipeline(api, town: Town) -> None:
    article = await draft(api, town)
    office = town.people["office"].token
    uploaded = await api.put(
        f"/api/articles/{article['id']}/cover",
        body=photo_with_gps(),
        token=office,
        headers={"Content-Type": "image/jpeg"},
    )
    assert uploaded.status == 200, uploaded.json
    url = uploaded.json["cover_url"]
    assert (await api.get(url)).status == 404  # not published yet: not for the public
    refused = await api.put(
        f"/api/articles/{article['id']}/cover",
        body=one_page_pdf(),
        token=office,
        headers={"Content-Type": "application/pdf"},
    )
    assert refused.status == 415
    await step(api, town, "office", article["id"], "submit")
    await step(api, town, "office", article["id"], "publish")
    cover = await api.get(url)
    image = Image.open(io.BytesIO(cover.body))
    assert cover.headers["Content-Type"] == "image/jpeg"
    assert not image.getexif()
    assert b"PhoneMaker" not in cover.body


def test_anonymise_replaces_names_addresses_and_numbers() -> None:
    parties = [
        {"role": "applicant", "name": "张三", "address": "甲村3组15号"},
        {"role": "respondent", "name": "欧阳明月"},
        {"role": "respondent", "name": "某建筑公司"},
    ]
    told = "张三与欧阳明月、某建筑公司因通道争执；张三住甲村3组15号，电话13812345678，身份证330102199001011234。"
    assert anonymise(told, parties) == "张某与某某、某某因通道争执；张某住某处，电话××，身份证××。"
    names, addresses = [p["name"] for p in parties], ["甲村3组15号"]
    assert personal_details({"summary": anonymise(told, parties)}, names, addresses) == []
    found = personal_details({"summary": told, "title": "一起纠纷"}, names, addresses)
    assert [p["field"] for p in found] == ["summary"]
    assert "张三" in found[0]["message"]
    assert "甲村3组15号" in found[0]["message"]
    assert "号码" in found[0]["message"]
