"""Warnings (`warnings`) and the office's daily 研判 (`briefings`), kept by rounds of the warnings job.

A round: every open case at high or critical risk has its warning (one per case and level: the case's own
notices have told the office and the unit already, at the moment of the change); group-dispute clusters —
one respondent (a contractor, an employer, a neighbour) named by several complainants in open cases of a
town within the window — are raised as one 群体性纠纷预警 with their cases, whose risk then counts the
cluster; a critical warning nobody has handled within the configured hours goes to the county; and once a
day, after `briefing_at`, each town's office gets the 研判: new high-risk cases and disputes, clusters,
repeats, overdue cases and households with concerns due — in full in the app, and counts only (no names)
by SMS. Staff acknowledge and handle a warning with a note (audited).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from notify.inbox import InboxService
from notify.outbox import enqueue, inbox_message, message_base, new_delivery
from server.cases.repository import CaseRepository
from server.cases.risk import RiskService
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, NotFound
from server.core.scope import in_org_scope, org_scope_filter
from server.orgs.tree import OrgService
from server.people.users import UserService
from server.prevention.disputes import DisputeService
from server.prevention.household_file import HouseholdFiles

if TYPE_CHECKING:
    from server.core.context import Context

WARNINGS = "warnings"
BRIEFINGS = "briefings"
indexes.declare(
    WARNINGS,
    IndexModel([("key", ASCENDING)], name="key", unique=True),
    IndexModel([("org_path", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="scope_created_id"),
    IndexModel([("state", ASCENDING), ("level", ASCENDING), ("created_at", ASCENDING)], name="state_level_created"),
    IndexModel([("town_id", ASCENDING), ("kind", ASCENDING), ("state", ASCENDING)], name="town_kind_state"),
)
indexes.declare(BRIEFINGS, IndexModel([("town_id", ASCENDING), ("day", ASCENDING)], name="town_day", unique=True))
OFFICE_ROLES = ("town_admin",)
LEVEL_WORDS = {"medium": "中", "high": "高", "critical": "极高"}


def clusters(cases: list[dict[str, Any]], least: int) -> dict[str, list[dict[str, Any]]]:
    """What several cases complain about, by at least `least` different complainants (a phone's hash, else a
    name, tells complainants apart): the same respondent (a contractor, an employer) or the same place (the
    respondent's address: a project, a site). The object in words → its cases."""
    by_object: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in cases:
        respondents = [p for p in case["parties"] if p["role"] == "respondent"]
        named = {p["name"].strip() for p in respondents if p.get("name")}
        places = {f"地点：{p['address'].strip()}" for p in respondents if p.get("address")}
        for thing in named | places:
            by_object[thing].append(case)
    found = {}
    for thing, about in by_object.items():
        complainants = {
            p.get("phone_hash") or p["name"] for c in about for p in c["parties"] if p["role"] == "applicant"
        }
        if len(about) > 1 and len(complainants) >= least:  # one case of many parties is scored on its own
            found[thing] = sorted(about, key=lambda c: c["created_at"])
    return found


class WarningService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._warnings = ctx.db[WARNINGS]
        self._briefings = ctx.db[BRIEFINGS]
        self._cases = CaseRepository(ctx.db)

    # ---- staff ---------------------------------------------------------------------------------------------
    async def search(
        self, principal: Principal, *, kind: str | None, level: str | None, state: str | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        query = org_scope_filter(principal, "warning.view")
        query |= {k: v for k, v in (("kind", kind), ("level", level), ("state", state)) if v}
        total = await self._warnings.count_documents(query)
        cursor = self._warnings.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return await cursor.skip(skip).limit(limit).to_list(None), total

    async def get(self, principal: Principal, warning_id: ObjectId) -> dict[str, Any]:
        warning = await self._warnings.find_one({"_id": warning_id})
        if warning is None or not in_org_scope(principal, warning["org_path"], "warning.view"):
            raise NotFound("找不到该预警")
        return warning

    async def respond(self, principal: Principal, warning_id: ObjectId, to: str, note: str) -> dict[str, Any]:
        """Acknowledge (签收) or handle (处置) a warning, with a note; a handled warning is done."""
        warning = await self.get(principal, warning_id)
        if not in_org_scope(principal, warning["org_path"], "warning.handle"):
            raise NotFound("找不到该预警")
        allowed = {"acknowledged": ("open",), "handled": ("open", "acknowledged")}[to]
        now = self._ctx.clock.now()
        entry = {"to": to, "note": note, "by": ObjectId(principal.user_id), "at": now}
        updated = await self._warnings.find_one_and_update(
            {"_id": warning_id, "state": {"$in": list(allowed)}},
            {"$set": {"state": to, "updated_at": now}, "$push": {"responses": entry}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise Conflict("该预警已处置" if warning["state"] == "handled" else "该预警已签收", code="warning_state")
        await self._ctx.audit.record_for(principal, f"warning.{to}", WARNINGS, warning_id, now, {"note": note})
        return updated

    # ---- the rounds ----------------------------------------------------------------------------------------
    async def _raise(self, key: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """A new warning under `key`, or None if it exists (it is kept up to date by the caller)."""
        now = self._ctx.clock.now()
        doc = {"_id": ObjectId(), "key": key, "state": "open", "responses": [], "escalated_at": None}
        doc |= fields | {"created_at": now, "updated_at": now}
        try:
            await self._warnings.insert_one(doc)
        except DuplicateKeyError:
            return None
        return doc

    async def risk_round(self) -> int:
        """A warning for every open case at high or critical risk (one per case and level)."""
        raised = 0
        for case in await self._cases.at_risk(("high", "critical")):
            title = f"{LEVEL_WORDS[case['risk']]}风险矛盾纠纷 {case['number']}"
            fields = {
                "kind": "risk",
                "level": case["risk"],
                "town_id": case.get("town_id"),
                "org_path": case["org_path"],
                "case_ids": [case["_id"]],
                "title": title,
                "reasons": case.get("risk_reasons") or [],
            }
            raised += await self._raise(f"risk:{case['_id']}:{case['risk']}", fields) is not None
        return raised

    async def cluster_round(self) -> int:
        """群体性纠纷预警: in each town, the respondents named by enough complainants in its open cases."""
        config, now, raised = self._ctx.config.prevention, self._ctx.clock.now(), 0
        since = now - timedelta(days=config.cluster_window_days)
        for town in await OrgService(self._ctx).of_kind("town"):
            recent = await self._cases.open_since(town["_id"], since)
            for respondent, cases in clusters(recent, config.cluster_min_complainants).items():
                fields = {
                    "kind": "cluster",
                    "level": "high",
                    "town_id": town["_id"],
                    "org_path": town["path"],
                    "case_ids": [c["_id"] for c in cases],
                    "title": f"群体性纠纷预警：{len(cases)} 件纠纷针对「{respondent}」",
                    "reasons": [f"{config.cluster_window_days} 天内多名群众针对同一对象"],
                }
                key = f"cluster:{town['_id']}:{respondent}"
                made = await self._raise(key, fields)
                warning = made or await self._warnings.find_one_and_update(
                    {"key": key},
                    {"$set": {"case_ids": fields["case_ids"], "title": fields["title"], "updated_at": now}},
                )
                raised += made is not None
                joined = [c["_id"] for c in cases if c.get("cluster_id") != warning["_id"]]
                if joined:
                    await self._cases.set_cluster(joined, warning["_id"])
                    await RiskService(self._ctx).reassess_all(joined, None)
        return raised

    async def escalation_round(self) -> int:
        """A critical warning nobody handled in time goes to the county's admins."""
        hours = self._ctx.config.prevention.critical_escalation_hours
        now = self._ctx.clock.now()
        query = {"state": "open", "level": "critical", "created_at": {"$lt": now - timedelta(hours=hours)}}
        escalated = 0
        for warning in await self._warnings.find(query).to_list(None):
            moved = await self._warnings.update_one(
                {"_id": warning["_id"], "escalated_at": None}, {"$set": {"escalated_at": now, "updated_at": now}}
            )
            if not moved.modified_count:
                continue
            county = warning["org_path"][0]
            text = f"{warning['title']}已超过 {hours:g} 小时未处置，请县级督促处置。"
            for admin in await UserService(self._ctx).active_with_role_at(("county_admin",), [county]):
                await self._tell(warning, "warning_escalated", text, admin, f"escalated:{warning['_id']}")
            escalated += 1
        return escalated

    async def _tell(
        self, about: dict[str, Any], event: str, text: str, user: dict[str, Any], key: str, sms: bool = False
    ) -> None:
        base = message_base(about["_id"], event, about["org_path"], text, self._ctx.clock.now(), about.get("params"))
        await InboxService(self._ctx).put(inbox_message(base, f"{key}:{user['_id']}", user["_id"]))
        if sms and user.get("phone_enc"):
            summary = base | {"text": about["sms"]}
            await enqueue(
                self._ctx, [new_delivery(summary, f"{key}:{user['_id']}", "sms", user["_id"], to_enc=user["phone_enc"])]
            )

    async def briefing_round(self) -> int:
        """The day's 研判 for each town whose office has not had it yet, once the hour has come."""
        now = self._ctx.clock.now()
        local = now.astimezone(self._ctx.tz)
        at = time.fromisoformat(self._ctx.config.prevention.briefing_at)
        if local.time() < at:
            return 0
        day = local.date().isoformat()
        sent = 0
        for town in await OrgService(self._ctx).of_kind("town"):
            if await self._briefings.find_one({"town_id": town["_id"], "day": day}, {"_id": 1}):
                continue  # out already: not composed again every round of the day
            briefing = await self.compose(town, now)
            try:
                await self._briefings.insert_one(
                    {"_id": ObjectId(), "town_id": town["_id"], "day": day, **briefing, "created_at": now}
                )
            except DuplicateKeyError:
                continue  # today's is out already (another process, or an earlier round)
            about = {"_id": town["_id"], "org_path": town["path"], "params": briefing["counts"], "sms": briefing["sms"]}
            for user in await UserService(self._ctx).active_with_role_at(OFFICE_ROLES, [town["_id"]]):
                await self._tell(
                    about, "daily_briefing", briefing["text"], user, f"briefing:{town['_id']}:{day}", sms=True
                )
            sent += 1
        return sent

    async def compose(self, town: dict[str, Any], now: datetime) -> dict[str, Any]:
        """What the office should look at this morning, in full (numbers only, no names) and as counts."""
        day_ago = now - timedelta(days=1)
        risky = [c for c in await self._cases.at_risk(("high", "critical"), town["_id"]) if c["created_at"] >= day_ago]
        disputes = await DisputeService(self._ctx).opened_since(town["_id"], day_ago)
        town_clusters = await self._warnings.find({"town_id": town["_id"], "kind": "cluster"}).to_list(None)
        open_clusters = [w for w in town_clusters if w["state"] != "handled" or w["created_at"] >= day_ago]
        overdue = await self._cases.most_urgent(town["_id"], {"next_due": {"$lt": now}}, 20)
        repeats = [c for c in await self._cases.open_since(town["_id"], day_ago) if c.get("link_suggestions")]
        local_end = datetime.combine(now.astimezone(self._ctx.tz).date() + timedelta(days=1), time(), self._ctx.tz)
        concerns = await HouseholdFiles(self._ctx).due_in(town["_id"], local_end)
        counts = {
            "high_risk": len(risky),
            "disputes": len(disputes),
            "clusters": len(open_clusters),
            "repeats": len(repeats),
            "overdue": len(overdue),
            "concerns": len(concerns),
        }
        lines = [f"{town['name']} {now.astimezone(self._ctx.tz).date().isoformat()} 矛盾纠纷研判"]
        lines.append(f"一、新增高风险案件 {len(risky)} 件：" + "、".join(c["number"] for c in risky))
        lines.append(f"二、新关联的一件事 {len(disputes)} 件")
        lines.append(f"三、群体性纠纷预警 {len(open_clusters)} 起：" + "；".join(w["title"] for w in open_clusters))
        lines.append(f"四、疑似重复或关联的新案件 {len(repeats)} 件：" + "、".join(c["number"] for c in repeats))
        lines.append(f"五、超期案件 {len(overdue)} 件：" + "、".join(c["number"] for c in overdue))
        lines.append(f"六、到期的住户关注事项 {len(concerns)} 项")
        sms = (
            f"今日研判：新增高风险{counts['high_risk']}件，群体性预警{counts['clusters']}起，"
            f"超期{counts['overdue']}件，关注事项{counts['concerns']}项，详见平台。"
        )
        return {"counts": counts, "text": "\n".join(lines), "sms": sms, "case_ids": [c["_id"] for c in risky + overdue]}

    async def latest_briefing(self, principal: Principal, town_id: ObjectId | None) -> dict[str, Any]:
        """A town's latest 研判 (default: the caller's own town)."""
        orgs = OrgService(self._ctx)
        if town_id is None:
            home = await orgs.home(principal, "warning.view", ("town",))
            if home is None:
                raise NotFound("请指定镇")
            town_id = home["_id"]
        await orgs.get_in_scope(principal, town_id, "warning.view")
        found = await self._briefings.find({"town_id": town_id}).sort([("day", DESCENDING)]).limit(1).to_list(None)
        if not found:
            raise NotFound("还没有研判")
        return found[0]


async def scan(ctx: Context) -> int:
    """A round of the warnings job: risk warnings, clusters, escalations, the daily 研判."""
    service = WarningService(ctx)
    return (
        await service.risk_round()
        + await service.cluster_round()
        + await service.escalation_round()
        + await service.briefing_round()
    )
