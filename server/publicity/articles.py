"""普法宣传 and 先进典型: articles the town publishes to residents in the mini-program.

An article has a kind (普法知识, 通知公告, 典型案例, 先进典型, 政策解读), a scope (the county, a town or a village:
who reads it), dispute categories as tags, and rich text kept as a safe subset of HTML — cleaned on the way in
by nh3 (the Rust `ammonia` sanitiser), so a script typed or pasted into it never reaches a reader. The office
drafts (`article.draft`); an admin reviews and publishes it (审核发布, `article.publish`), returns it, later
unpublishes or archives it; every step is on the article's history and in the audit log.

Residents read the published articles of their village, town and county without an account; an article
counts its reads (a number, never who read it). A grid worker names the articles handed out on a 政策宣传到户
visit, so the town sees which households each article reached.

典型案例 are made from closed cases with every personal detail replaced (`anonymise`); a story that still
holds a party's name, address or a number pattern cannot be submitted or published (`personal_details`).
先进典型 are made from a mediator's profile, only with the mediator's consent.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import nh3
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from server.cases.files import store_upload
from server.cases.model import Case
from server.cases.repository import CaseRepository
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.core.identity import unseal
from server.core.scope import granted_orgs, in_org_scope
from server.core.vocabulary import CATEGORIES, OUTCOME_LABELS
from server.mediators.profiles import Roster
from server.orgs.tree import OrgService
from server.places.visits import VisitService

if TYPE_CHECKING:
    from server.core.context import Context

COLLECTION = "articles"

indexes.declare(
    COLLECTION,
    # The residents' feed: the published articles of a village, its town and county, newest first.
    IndexModel(
        [("scope_org_id", ASCENDING), ("state", ASCENDING), ("published_at", DESCENDING), ("_id", DESCENDING)],
        name="feed",
    ),
    # Staff: articles for their units and those above them, and the editorial queue of their scope.
    IndexModel(
        [("scope_org_id", ASCENDING), ("state", ASCENDING), ("updated_at", DESCENDING), ("_id", DESCENDING)],
        name="scope_unit_state_updated",
    ),
    IndexModel(
        [("scope_path", ASCENDING), ("state", ASCENDING), ("updated_at", DESCENDING), ("_id", DESCENDING)],
        name="scope_state_updated",
    ),
    IndexModel([("exemplar_profile_id", ASCENDING), ("state", ASCENDING)], name="exemplar_state", sparse=True),
)

SCOPE_KINDS = ("county", "town", "village")
# The rich text residents may be shown: structure and emphasis, links (http/https only) and tables.
TAGS = {
    "p", "br", "h2", "h3", "h4", "strong", "b", "em", "i", "u", "s", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "hr", "span",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
COVER_TYPES = ("image/jpeg", "image/png", "image/webp")

# (from states, to state, capability, a reason is required)
STEPS: dict[str, tuple[tuple[str, ...], str, str, bool]] = {
    "submit": (("draft", "unpublished"), "in_review", "article.draft", False),
    "return": (("in_review",), "draft", "article.publish", True),
    "publish": (("in_review",), "published", "article.publish", False),
    "unpublish": (("published",), "unpublished", "article.publish", True),
    "archive": (("draft", "unpublished"), "archived", "article.publish", False),
}
STEP_LABELS = {
    "submit": "提交审核",
    "return": "退回修改",
    "publish": "审核发布",
    "unpublish": "撤下",
    "archive": "归档",
}
EDITABLE = ("draft", "unpublished")

# Number patterns that have no place in a case story: mobile and landline numbers, ID numbers, any long
# run of digits (an account, a plate, a house number written out).
NUMBER_PATTERNS = (  # longest first: an ID number is masked whole before a phone could match inside it
    re.compile(r"\d{17}[\dXx]"),
    re.compile(r"1[3-9]\d{9}"),
    re.compile(r"0\d{2,3}-?\d{7,8}"),
    re.compile(r"\d{6,}"),
)
ANONYMOUS = "某"


def clean_html(text: str) -> str:
    """The safe subset of `text`: scripts, handlers, styles, frames and non-web links are removed."""
    return nh3.clean(
        text,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def plain_text(rich: str) -> str:
    return html.unescape(nh3.clean(rich, tags=set()))


def personal_details(texts: dict[str, str], names: Iterable[str], addresses: Iterable[str]) -> list[dict[str, str]]:
    """Where a case story still holds a party's name or address or a number pattern, by field."""
    problems = []
    names = [n for n in names if len(n) >= 2 and n != ANONYMOUS]
    addresses = [a for a in addresses if len(a) >= 4]
    for field, text in texts.items():
        plain = plain_text(text) if field == "body" else text
        found = [f"当事人姓名「{n}」" for n in names if n in plain]
        found += [f"当事人住址「{a}」" for a in addresses if a in plain]
        if any(p.search(plain) for p in NUMBER_PATTERNS):
            found.append("电话、身份证号等号码")
        if found:
            problems.append({"field": field, "message": "仍含个人信息：" + "、".join(found) + "，请替换后再提交"})
    return problems


def alias(name: str) -> str:
    """How a story names a party: 张三 → 张某; an organisation or a longer name → 某某."""
    return name[0] + ANONYMOUS if 2 <= len(name) <= 3 else ANONYMOUS * 2


def anonymise(text: str, parties: list[dict[str, Any]]) -> str:
    """`text` with the parties' names and addresses replaced and every number pattern masked."""
    for party in sorted(parties, key=lambda p: -len(p.get("name") or "")):
        if party.get("name"):
            text = text.replace(party["name"], alias(party["name"]))
        if party.get("address"):
            text = text.replace(party["address"], "某处")
    for pattern in NUMBER_PATTERNS:
        text = pattern.sub("××", text)
    return text


class ArticleService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._articles = ctx.db[COLLECTION]
        self._orgs = OrgService(ctx)

    # ---- writing ----------------------------------------------------------------------------------
    async def create(self, principal: Principal, data: dict[str, Any], **origin: Any) -> dict[str, Any]:
        """A draft in a scope the caller writes for (`origin`: the case or profile a story is made from)."""
        scope = await self._scope(principal, data["scope_org_id"])
        now = self._ctx.clock.now()
        article = {
            "_id": ObjectId(),
            "kind": data["kind"],
            "title": data["title"],
            "summary": data.get("summary") or "",
            "body": clean_html(data.get("body") or ""),
            "categories": sorted(set(data.get("categories") or [])),
            "scope_org_id": scope["_id"],
            "scope_path": scope["path"],
            "scope_kind": scope["kind"],
            "cover": None,
            "state": "draft",
            "version": 1,
            "reads": 0,
            "history": [self._entry(principal, "create", now)],
            "created_by": ObjectId(principal.user_id),
            "created_at": now,
            "updated_at": now,
            "published_at": None,
            **origin,
        }
        await self._articles.insert_one(article)
        await self._audit(principal, "create", article, now)
        return article

    async def update(self, principal: Principal, article_id: ObjectId, changes: dict[str, Any]) -> dict[str, Any]:
        article = await self._editable(principal, article_id)
        update: dict[str, Any] = {k: v for k, v in changes.items() if k in ("title", "summary", "kind")}
        if "body" in changes:
            update["body"] = clean_html(changes["body"])
        if "categories" in changes:
            update["categories"] = sorted(set(changes["categories"]))
        if "scope_org_id" in changes:
            scope = await self._scope(principal, changes["scope_org_id"])
            update |= {"scope_org_id": scope["_id"], "scope_path": scope["path"], "scope_kind": scope["kind"]}
        return await self._write(principal, article, update, "edit")

    async def set_cover(self, principal: Principal, article_id: ObjectId, data: bytes) -> dict[str, Any]:
        """The cover image, through the attachment pipeline: checked, re-encoded, its metadata (EXIF) gone."""
        article = await self._editable(principal, article_id)
        refused = "封面须为 JPEG、PNG 或 WebP 图片"
        record = await store_upload(
            self._ctx, f"articles/{article['_id']}", data, ObjectId(principal.user_id), COVER_TYPES, refused
        )
        return await self._write(principal, article, {"cover": record}, "cover")

    async def act(self, principal: Principal, article_id: ObjectId, step: str, reason: str | None) -> dict[str, Any]:
        """One step of the review: submit, return, publish, unpublish, archive. A step the article's state
        does not allow is a conflict; a case story still holding personal details is not submitted or
        published."""
        if step not in STEPS:
            raise NotFound("没有这个操作")
        sources, target, capability, needs_reason = STEPS[step]
        article = await self._in_scope(principal, article_id, capability)
        if article["state"] not in sources:
            raise Conflict(
                f"文章当前状态不能{STEP_LABELS[step]}",
                code="invalid_transition",
                details={"state": article["state"], "step": step},
            )
        if needs_reason and not (reason or "").strip():
            raise ValidationFailed(details=[{"field": "reason", "message": "请填写原因"}])
        if target in ("in_review", "published"):
            await self._check_publishable(article)
        update: dict[str, Any] = {"state": target}
        if target == "published":
            update |= {"published_at": self._ctx.clock.now(), "published_by": ObjectId(principal.user_id)}
        return await self._write(principal, article, update, step, reason, expect_state=article["state"])

    async def case_story(self, principal: Principal, case: Case, scope_org_id: str) -> dict[str, Any]:
        """A 典型案例 drafted from a closed case, its personal details already replaced: the office finishes
        the text (典型意义) before submitting it."""
        if case["state"] != "closed" or not case.get("outcome"):
            raise Conflict("只有已办结的案件可以编写为典型案例", code="case_not_closed")
        parties = case["parties"]
        outcome = case["outcome"]
        facts = (outcome.get("agreement") or {}).get("facts") or case["description"]
        result = OUTCOME_LABELS.get(outcome["type"], "")
        category = CATEGORIES.get(case["category"], "")
        body = "".join(
            f"<h3>{heading}</h3><p>{html.escape(anonymise(text, parties))}</p>"
            for heading, text in (
                ("基本案情", case["description"]),
                ("调解过程", facts if facts != case["description"] else (outcome.get("note") or "")),
                ("调解结果", result),
                ("典型意义", "（请填写本案的典型意义）"),
            )
            if text
        )
        data = {
            "kind": "case_story",
            "title": f"{category}调解典型案例",
            "summary": anonymise(f"一起{category}经人民调解{result}。", parties),
            "body": body,
            "categories": [case["category"]],
            "scope_org_id": scope_org_id,
        }
        return await self.create(principal, data, from_case_id=case["_id"])

    async def exemplar(self, principal: Principal, profile_id: ObjectId, scope_org_id: str) -> dict[str, Any]:
        """A 先进典型 drafted from a mediator's profile: only with their consent to be publicised."""
        profile = await Roster(self._ctx).get(principal, profile_id, "mediator.view")
        if not (profile.get("publicity_consent") or {}).get("given"):
            raise Conflict("该调解员尚未同意公开宣传，请先征得本人同意", code="no_publicity_consent")
        units = await self._orgs.by_ids(profile.get("org_ids") or [])
        unit_names = "、".join(u["name"] for u in units.values())
        honours = [f"{g['period']} 年度金牌调解员" for g in profile.get("gold") or []]
        star = profile.get("star") or {}
        if star.get("level"):
            honours.append(f"{star.get('period', '')} 年度{star['level']}星调解员")
        specialties = "、".join(CATEGORIES.get(s, s) for s in profile.get("specialties") or [])
        lines = [
            f"{profile['name']}，{unit_names}调解员。",
            f"擅长调解{specialties}。" if specialties else "",
            f"获得荣誉：{'；'.join(honours)}。" if honours else "",
            "（请补充其调解工作事迹）",
        ]
        data = {
            "kind": "exemplar",
            "title": f"身边的好调解员：{profile['name']}",
            "summary": f"{unit_names}的{profile['name']}扎根基层化解矛盾纠纷。",
            "body": "".join(f"<p>{html.escape(line)}</p>" for line in lines if line),
            "categories": list(profile.get("specialties") or []),
            "scope_org_id": scope_org_id,
        }
        return await self.create(principal, data, exemplar_profile_id=profile_id)

    async def withdraw_exemplars(self, principal: Principal, profile_id: ObjectId) -> int:
        """The mediator withdrew their consent: every published article about them comes down at once."""
        withdrawn = 0
        for article in await self._articles.find({"exemplar_profile_id": profile_id, "state": "published"}).to_list(
            None
        ):
            await self._write(
                principal, article, {"state": "unpublished"}, "unpublish", "本人撤回宣传同意", expect_state="published"
            )
            withdrawn += 1
        return withdrawn

    # ---- reading ----------------------------------------------------------------------------------
    async def get(self, principal: Principal, article_id: ObjectId) -> dict[str, Any]:
        """An article as staff see it: a published one if it is for their units or above them; any other
        state only for the editors of its scope."""
        article = await self._articles.find_one({"_id": article_id})
        if article is None or not await self._visible(principal, article):
            raise NotFound("找不到该文章")
        return article

    async def search(
        self, principal: Principal, *, state: str, kind: str | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        query: dict[str, Any] = {"state": state}
        if state == "published":
            units = await self._reading_units(principal)
            above = sorted({o for unit in units.values() for o in unit["path"]})
            query["$or"] = [{"scope_org_id": {"$in": above}}, {"scope_path": {"$in": list(units)}}]
        else:
            if not principal.can("article.draft"):
                raise Forbidden("只有编辑人员可以查看未发布的文章")
            query["scope_path"] = {"$in": granted_orgs(principal, "article.draft")}
        if kind:
            query["kind"] = kind
        order = [("updated_at", DESCENDING), ("_id", DESCENDING)]
        found = await self._articles.find(query).sort(order).skip(skip).limit(limit).to_list(None)
        return found, await self._articles.count_documents(query)

    async def feed(
        self, org_id: ObjectId, *, kind: str | None, category: str | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """What residents of a village (or a town) read: the published articles for it, its town and county."""
        unit = await self._orgs.find(org_id)
        if unit is None or unit["kind"] not in ("village", "town", "county"):
            raise NotFound("找不到该村（社区）或乡镇")
        query: dict[str, Any] = {"scope_org_id": {"$in": unit["path"]}, "state": "published"}
        if kind:
            query["kind"] = kind
        if category:
            query["categories"] = category
        order = [("published_at", DESCENDING), ("_id", DESCENDING)]
        found = await self._articles.find(query).sort(order).skip(skip).limit(limit).to_list(None)
        return found, await self._articles.count_documents(query)

    async def read(self, article_id: ObjectId) -> dict[str, Any]:
        """A published article opened by a reader: its read count goes up by one (nothing about who)."""
        article = await self._articles.find_one_and_update(
            {"_id": article_id, "state": "published"}, {"$inc": {"reads": 1}}, return_document=ReturnDocument.AFTER
        )
        if article is None:
            raise NotFound("找不到该文章")
        return dict(article)

    async def related(self, article: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        """Other published articles for the same place on the same kinds of dispute, newest first."""
        if not article["categories"]:
            return []
        query = {
            "scope_org_id": {"$in": article["scope_path"]},
            "state": "published",
            "categories": {"$in": article["categories"]},
            "_id": {"$ne": article["_id"]},
        }
        order = [("published_at", DESCENDING), ("_id", DESCENDING)]
        return await self._articles.find(query).sort(order).limit(limit).to_list(None)

    async def for_case(self, case: Case, limit: int) -> list[dict[str, Any]]:
        """Articles for the place a dispute arose in, on its kind of dispute: what a resident reporting it reads."""
        query = {"scope_org_id": {"$in": case["location_path"]}, "state": "published", "categories": case["category"]}
        order = [("published_at", DESCENDING), ("_id", DESCENDING)]
        return await self._articles.find(query).sort(order).limit(limit).to_list(None)

    async def cover(self, principal: Principal | None, article_id: ObjectId) -> tuple[bytes, str]:
        article = await self._articles.find_one({"_id": article_id})
        if article is None or not article.get("cover"):
            raise NotFound("找不到该封面")
        if article["state"] != "published" and (principal is None or not await self._visible(principal, article)):
            raise NotFound("找不到该封面")
        data = await self._ctx.in_thread(self._ctx.storage.get, article["cover"]["key"])
        return data, article["cover"]["content_type"]

    async def reach(self, principal: Principal, article_id: ObjectId) -> dict[str, int]:
        """How far an article went: its reads, and the visits and households it reached in the caller's area."""
        article = await self.get(principal, article_id)
        roots = granted_orgs(principal, "article.view")
        return {"reads": article.get("reads", 0), **await VisitService(self._ctx).reach(article["_id"], roots)}

    async def published_for(self, article_ids: list[ObjectId], path: list[ObjectId]) -> list[dict[str, Any]]:
        """Of `article_ids`, those published for a place with this org path (a household's)."""
        found = await self._articles.find(
            {"_id": {"$in": article_ids}}, {"state": 1, "scope_org_id": 1, "title": 1}
        ).to_list(None)
        return [a for a in found if a["state"] == "published" and a["scope_org_id"] in path]

    async def check_for_visit(self, article_ids: list[ObjectId], household: dict[str, Any]) -> None:
        """The articles a grid worker hands out on a visit: published, and for the household's place."""
        ok = {a["_id"] for a in await self.published_for(article_ids, household["org_path"])}
        missing = [str(a) for a in article_ids if a not in ok]
        if missing:
            message = "文章未发布或不适用于该住户所在地：" + "、".join(missing)
            raise ValidationFailed(details=[{"field": "article_ids", "message": message}])

    # ---- helpers ----------------------------------------------------------------------------------
    async def _scope(self, principal: Principal, org_id: str) -> dict[str, Any]:
        unit = await self._orgs.find(ObjectId(org_id)) if ObjectId.is_valid(org_id) else None
        if unit is None or unit["kind"] not in SCOPE_KINDS:
            raise ValidationFailed(details=[{"field": "scope_org_id", "message": "请选择县、乡镇或村（社区）"}])
        if not in_org_scope(principal, unit["path"], "article.draft"):
            raise ValidationFailed(details=[{"field": "scope_org_id", "message": "只能为本人管辖范围发布文章"}])
        return unit

    async def _visible(self, principal: Principal, article: dict[str, Any]) -> bool:
        if in_org_scope(principal, article["scope_path"], "article.draft"):
            return True
        if article["state"] != "published" or not principal.can("article.view"):
            return False
        units = await self._reading_units(principal)
        return any(article["scope_org_id"] in unit["path"] for unit in units.values()) or in_org_scope(
            principal, article["scope_path"], "article.view"
        )

    async def _reading_units(self, principal: Principal) -> dict[ObjectId, dict[str, Any]]:
        """The units where the caller reads articles: what is published for them, above or below, is theirs."""
        return await self._orgs.by_ids(granted_orgs(principal, "article.view"))

    async def _in_scope(self, principal: Principal, article_id: ObjectId, capability: str) -> dict[str, Any]:
        article = await self.get(principal, article_id)
        if not in_org_scope(principal, article["scope_path"], capability):
            raise Forbidden("您不能对该文章进行此操作")
        return article

    async def _editable(self, principal: Principal, article_id: ObjectId) -> dict[str, Any]:
        article = await self._in_scope(principal, article_id, "article.draft")
        if article["state"] not in EDITABLE:
            raise Conflict("文章审核中或已发布，不能修改；请先撤下或退回", code="article_locked")
        return article

    async def _check_publishable(self, article: dict[str, Any]) -> None:
        if not plain_text(article["body"]).strip():
            raise ValidationFailed(details=[{"field": "body", "message": "正文不能为空"}])
        if article["kind"] != "case_story":
            return
        names: list[str] = []
        addresses: list[str] = []
        if article.get("from_case_id"):
            case = await CaseRepository(self._ctx.db).get(article["from_case_id"])
            for party in (case or {}).get("parties") or []:
                names.append(party.get("name") or "")
                addresses.append(party.get("address") or "")
                addresses.extend(v for v in unseal(self._ctx.cipher, party) if v)  # the phone, the ID number
        texts = {"title": article["title"], "summary": article["summary"], "body": article["body"]}
        problems = personal_details(texts, names, addresses)
        if problems:
            raise ValidationFailed("典型案例仍含个人信息，不能提交或发布", code="personal_details", details=problems)

    async def _write(
        self,
        principal: Principal,
        article: dict[str, Any],
        update: dict[str, Any],
        action: str,
        note: str | None = None,
        *,
        expect_state: str | None = None,
    ) -> dict[str, Any]:
        now = self._ctx.clock.now()
        guard = {"_id": article["_id"], "version": article["version"]}
        if expect_state:
            guard["state"] = expect_state
        updated = await self._articles.find_one_and_update(
            guard,
            {
                "$set": {**update, "updated_at": now},
                "$inc": {"version": 1},
                "$push": {"history": self._entry(principal, action, now, note)},
            },
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise Conflict("文章已被他人修改，请刷新后再试", code="article_version_conflict")
        await self._audit(principal, action, updated, now, note)
        return dict(updated)

    @staticmethod
    def _entry(principal: Principal, action: str, at: datetime, note: str | None = None) -> dict[str, Any]:
        return {"action": action, "by": ObjectId(principal.user_id), "at": at, "note": note}

    async def _audit(
        self, principal: Principal, action: str, article: dict[str, Any], at: datetime, note: str | None = None
    ) -> None:
        details = {"title": article["title"], "state": article["state"], **({"note": note} if note else {})}
        await self._ctx.audit.record_for(principal, f"article.{action}", "article", article["_id"], at, details)
