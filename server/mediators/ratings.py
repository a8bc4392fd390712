"""Star ratings (星级评定, `rating_runs`): one run per town and period, computed from the cases, then approved.

A run reads the town's cases concluded in the period that passed review (one indexed read,
`town_id`+`concluded_at`), counts each mediator's indicators and scores them under the town's rating scheme
(a setting, versioned; the run keeps the scheme and its version). The town office proposes (changing a
computed level needs a reason), the county confirms (likewise), and the confirmed levels are published:
each mediator's profile shows the star and the mediator is told in the app. Running a period again while
its run is a draft recomputes it; once proposed or confirmed it changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from notify.inbox import InboxService
from notify.outbox import inbox_message, message_base
from server.cases.repository import CaseRepository
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, NotFound, ValidationFailed
from server.core.scope import in_org_scope, org_scope_filter
from server.mediators.profiles import Roster
from server.mediators.scoring import Tally, rate, tally
from server.mediators.terms import DEFAULT_SCHEME, DEFAULT_SUBSIDY, period_range, scheme_errors, subsidy_errors
from server.orgs.settings import Resolved, SettingsService

if TYPE_CHECKING:
    from server.core.context import Context

RATINGS = "rating_runs"
indexes.declare(
    RATINGS,
    IndexModel([("town_id", ASCENDING), ("period", ASCENDING)], name="town_period", unique=True),
    IndexModel([("org_path", ASCENDING), ("period", DESCENDING), ("_id", ASCENDING)], name="scope_period_id"),
)
# Live figures: an account's case figures, a social force's sessions; what does not apply is None.
NO_FIGURES: dict[str, Any] = dict.fromkeys(
    (
        "open",
        "concluded_this_year",
        "agreement_rate",
        "on_time_rate",
        "satisfaction",
        "average_rating",
        "sessions_this_year",
    )
)
STAR_WORDS = ("无星级", "一星", "二星", "三星", "四星", "五星")


class Schemes:
    """A town's rating scheme and subsidy rules (settings), with the version of the value in force."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._settings = SettingsService(ctx)

    async def resolved(self, key: str, town_id: ObjectId | None) -> Resolved:
        configured = self._ctx.config.mediators
        defaults = {
            "rating_scheme": configured.rating_scheme or DEFAULT_SCHEME,
            "subsidy_rules": configured.subsidy_rules or DEFAULT_SUBSIDY,
        }
        return await self._settings.resolve(key, town_id, defaults[key])

    async def rating(self, town_id: ObjectId | None) -> tuple[dict[str, Any], str]:
        found = await self.resolved("rating_scheme", town_id)
        return found.value, found.version

    async def subsidy(self, town_id: ObjectId | None) -> tuple[dict[str, Any], str]:
        found = await self.resolved("subsidy_rules", town_id)
        return found.value, found.version

    @staticmethod
    def check(key: str, value: dict[str, Any]) -> dict[str, Any]:
        errors = scheme_errors(value) if key == "rating_scheme" else subsidy_errors(value)
        if errors:
            raise ValidationFailed(details=errors)
        return value


async def town_for(ctx: Context, principal: Principal, town_id: ObjectId | None, capability: str) -> dict[str, Any]:
    """The town a run or a statement is for: the caller's own, or the one a county admin names."""
    place = await SettingsService(ctx).place_for(principal, town_id, capability)
    if place["kind"] != "town":
        raise ValidationFailed(details=[{"field": "town_id", "message": "请指定镇"}])
    return place


def year_start(now: datetime, ctx: Context) -> datetime:
    local = now.astimezone(ctx.tz)
    return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


async def live_figures(ctx: Context, profiles: list[dict[str, Any]]) -> dict[ObjectId, dict[str, Any]]:
    """Each profile's figures now: open cases, this year's concluded cases and their rates (two indexed reads
    for the accounts), and this year's sessions for roster members without an account (one read)."""
    since = year_start(ctx.clock.now(), ctx)
    cases = CaseRepository(ctx.db)
    accounts = {p["user_id"]: p["_id"] for p in profiles if p.get("user_id")}
    figures: dict[ObjectId, dict[str, Any]] = {}
    if accounts:
        open_cases, concluded = await cases.of_mediators(list(accounts), since)
        tallies = tally(concluded, DEFAULT_SCHEME["difficulty_weights"], only=set(accounts))
        open_count: dict[ObjectId, int] = {}
        for case in open_cases:
            for user_id in case["mediator_ids"]:
                open_count[user_id] = open_count.get(user_id, 0) + 1
        for user_id, profile_id in accounts.items():
            t = tallies.get(user_id, Tally())
            figures[profile_id] = NO_FIGURES | {
                "open": open_count.get(user_id, 0),
                "concluded_this_year": t.concluded,
                "agreement_rate": t.agreement_rate,
                "on_time_rate": t.on_time_rate,
                "satisfaction": t.satisfaction,
                "average_rating": t.average_rating,
            }
    others = [p["_id"] for p in profiles if not p.get("user_id")]
    if others:
        sessions: dict[ObjectId, int] = dict.fromkeys(others, 0)
        for case in await cases.sessions_with(others, since):
            for session in case.get("sessions") or []:
                for roster_id in session.get("roster_ids") or []:
                    if roster_id in sessions and session["at"] >= since:
                        sessions[roster_id] += 1
        for profile_id in others:
            figures[profile_id] = NO_FIGURES | {"sessions_this_year": sessions[profile_id]}
    return figures


class RatingService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._runs = ctx.db[RATINGS]
        self._roster = Roster(ctx)

    async def run(self, principal: Principal, town_id: ObjectId | None, period: str) -> tuple[dict[str, Any], bool]:
        """Compute (or recompute, while a draft) the town's run for `period`; (run, whether it is new)."""
        town = await town_for(self._ctx, principal, town_id, "rating.run")
        start, end = period_range(period, self._ctx.tz)
        existing = await self._runs.find_one({"town_id": town["_id"], "period": period})
        if existing is not None and existing["state"] != "draft":
            return existing, False  # a proposed or confirmed period stays as it was
        now = self._ctx.clock.now()
        scheme, version = await Schemes(self._ctx).rating(town["_id"])
        computed = await self.compute(town["_id"], start, end, scheme)
        fields = {
            "period": period,
            "start": start,
            "end": end,
            "scheme": scheme,
            "scheme_version": version,
            "state": "draft",
            **computed,
            "computed_at": now,
            "computed_by": ObjectId(principal.user_id),
        }
        if existing is None:
            run = {"_id": ObjectId(), "town_id": town["_id"], "org_path": town["path"], "version": 0, **fields}
            try:
                await self._runs.insert_one(run)
            except DuplicateKeyError:  # someone ran the same period at the same moment: theirs stands
                return await self._runs.find_one({"town_id": town["_id"], "period": period}), False
        else:
            run = await self._advance(existing, "draft", fields, "评定结果已被他人更新，请刷新后再试")
        await self._audit(principal, "rating.run", run, {"period": period, "cases": computed["cases_counted"]})
        return run, existing is None

    async def compute(
        self, town_id: ObjectId, start: datetime, end: datetime, scheme: dict[str, Any]
    ) -> dict[str, Any]:
        """Every roster mediator's indicators, score and computed level for a town and period."""
        cases = await CaseRepository(self._ctx.db).reviewed_concluded_in(town_id, start, end)
        profiles = [
            p for p in await self._roster.all_in(town_id, {}) if p.get("user_id") and p.get("status") != "retired"
        ]
        tallies = tally(cases, scheme["difficulty_weights"], only={p["user_id"] for p in profiles})
        results = []
        for profile in profiles:
            rated = rate(tallies.get(profile["user_id"], Tally()), scheme)
            results.append(
                {
                    "profile_id": profile["_id"],
                    "user_id": profile["user_id"],
                    "name": profile["name"],
                    "indicators": rated.indicators,
                    "points": rated.points,
                    "score": rated.score,
                    "computed": rated.level,
                    "note": rated.note,
                    "proposed": rated.level,
                    "proposed_reason": None,
                    "level": None,
                    "reason": None,
                }
            )
        return {"results": results, "cases_counted": len(cases)}

    async def search(
        self, principal: Principal, *, period: str | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        query = org_scope_filter(principal, "rating.view")
        if period:
            query["period"] = period
        total = await self._runs.count_documents(query)
        cursor = self._runs.find(query).sort([("period", DESCENDING), ("_id", ASCENDING)]).skip(skip).limit(limit)
        return await cursor.to_list(None), total

    async def get(self, principal: Principal, run_id: ObjectId, capability: str = "rating.view") -> dict[str, Any]:
        run = await self._runs.find_one({"_id": run_id})
        if run is None or not in_org_scope(principal, run["org_path"], capability):
            raise NotFound("找不到该星级评定")
        return run

    async def propose(self, principal: Principal, run_id: ObjectId, overrides: list[dict[str, Any]]) -> dict[str, Any]:
        """The town office proposes the levels (computed, or changed with a reason)."""
        run = await self.get(principal, run_id, "rating.run")
        if run["state"] != "draft":
            raise Conflict("该评定已提交，不能重复提交", code="rating_not_draft")
        results = self._overridden(run, overrides, "proposed", "proposed_reason", basis="computed")
        now = self._ctx.clock.now()
        fields = {
            "results": results,
            "state": "proposed",
            "proposed_by": ObjectId(principal.user_id),
            "proposed_at": now,
        }
        updated = await self._advance(run, "draft", fields, "该评定已提交，不能重复提交")
        await self._audit(principal, "rating.propose", run, {"overrides": self._said(overrides)})
        return updated

    async def send_back(self, principal: Principal, run_id: ObjectId, reason: str) -> dict[str, Any]:
        """The county returns a proposal to the town office (it becomes a draft again)."""
        run = await self.get(principal, run_id, "rating.confirm")
        if run["state"] != "proposed":
            raise Conflict("只有待县级确认的评定可以退回", code="rating_not_proposed")
        updated = await self._advance(
            run, "proposed", {"state": "draft", "returned_reason": reason}, "评定已被他人处理"
        )
        await self._audit(principal, "rating.return", run, {"reason": reason})
        return updated

    async def confirm(self, principal: Principal, run_id: ObjectId, overrides: list[dict[str, Any]]) -> dict[str, Any]:
        """The county confirms (changing a computed level needs a reason); the levels are published."""
        run = await self.get(principal, run_id, "rating.confirm")
        if run["state"] != "proposed":
            code = "rating_confirmed" if run["state"] == "confirmed" else "rating_not_proposed"
            raise Conflict(
                "该评定已确认，不能重复确认" if run["state"] == "confirmed" else "该评定尚未由镇提交", code=code
            )
        proposed = [r | {"level": r["proposed"], "reason": r["proposed_reason"]} for r in run["results"]]
        results = self._overridden(run | {"results": proposed}, overrides, "level", "reason", basis="computed")
        now = self._ctx.clock.now()
        fields = {
            "results": results,
            "state": "confirmed",
            "confirmed_by": ObjectId(principal.user_id),
            "confirmed_at": now,
        }
        updated = await self._advance(run, "proposed", fields, "该评定已确认，不能重复确认")
        await self._audit(principal, "rating.confirm", run, {"overrides": self._said(overrides)})
        await self._publish(updated, now)
        return updated

    def _overridden(
        self, run: dict[str, Any], overrides: list[dict[str, Any]], field: str, reason_field: str, *, basis: str
    ) -> list[dict[str, Any]]:
        results = [dict(r) for r in run["results"]]
        by_profile = {r["profile_id"]: r for r in results}
        errors = []
        for index, item in enumerate(overrides):
            result = by_profile.get(item["profile_id"])
            if result is None:
                errors.append({"field": f"overrides.{index}.profile_id", "message": "该调解员不在本次评定中"})
                continue
            reason = (item.get("reason") or "").strip()
            if item["level"] != result[basis] and not reason:
                errors.append({"field": f"overrides.{index}.reason", "message": "调整计算得出的星级须说明理由"})
            result[field], result[reason_field] = item["level"], reason or None
        if errors:
            raise ValidationFailed(details=errors)
        return results

    async def _advance(self, run: dict[str, Any], state: str, fields: dict[str, Any], conflict: str) -> dict[str, Any]:
        updated: dict[str, Any] | None = await self._runs.find_one_and_update(
            {"_id": run["_id"], "state": state, "version": run["version"]},
            {"$set": fields, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise Conflict(conflict, code="rating_changed")
        return updated

    async def _publish(self, run: dict[str, Any], now: datetime) -> None:
        """Each mediator's star becomes the confirmed level, and they are told in the app."""
        inbox = InboxService(self._ctx)
        for result in run["results"]:
            star = {"level": result["level"], "period": run["period"], "run_id": run["_id"], "at": now}
            await self._roster.set_fields(result["profile_id"], {"star": star})
            words = STAR_WORDS[result["level"] or 0]
            text = f"您的 {run['period']} 调解员星级评定结果已确认：{words}。"
            base = message_base(run["_id"], "rating_published", run["org_path"], text, now)
            await inbox.put(inbox_message(base, f"rating:{run['_id']}:{result['user_id']}", result["user_id"]))

    @staticmethod
    def _said(overrides: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"profile_id": o["profile_id"], "level": o["level"], "reason": o.get("reason")} for o in overrides]

    async def _audit(self, principal: Principal, action: str, run: dict[str, Any], details: dict[str, Any]) -> None:
        await self._ctx.audit.record_for(principal, action, RATINGS, run["_id"], self._ctx.clock.now(), details)
