"""The one owner of the `cases` and `counters` collections: their indexes, their filters, their writes.

Everything else in the system reads and writes cases through `CaseRepository`, so the document's shape and
the queries that need an index are visible in one file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from server.cases.model import Case
from server.core import indexes
from server.core.db import Database
from server.core.vocabulary import OPEN_STATES

COLLECTION = "cases"
# The dates the assessment counts a unit's cases by (server/assessment/figures.py), each with its index.
FIGURE_DATES = {
    "created_at": "created",
    "accepted_at": "accepted",
    "concluded_at": "concluded",
    "followed_up_at": "followed_up",
    "closed_at": "closed",
}
COUNTERS = "counters"

indexes.declare(
    COLLECTION,
    IndexModel([("number", ASCENDING)], name="number", unique=True),
    IndexModel([("external_key", ASCENDING)], name="external_key", unique=True, sparse=True),
    # One case per Idempotency-Key, even if a retry takes over from a first attempt that is still running.
    IndexModel([("idempotency_key", ASCENDING)], name="idempotency_key", unique=True, sparse=True),
    # The queue: a scope (and maybe a state, a source, a category…) by nearest deadline, then age.
    IndexModel([("org_path", ASCENDING), ("next_due", ASCENDING), ("created_at", ASCENDING)], name="scope_due"),
    IndexModel(
        [("org_path", ASCENDING), ("state", ASCENDING), ("next_due", ASCENDING), ("created_at", ASCENDING)],
        name="scope_state_due_created",
    ),
    IndexModel(  # a liaison's queue: their source in their town
        [("source", ASCENDING), ("town_id", ASCENDING), ("next_due", ASCENDING), ("created_at", ASCENDING)],
        name="source_town_due",
    ),
    IndexModel([("org_path", ASCENDING), ("created_at", DESCENDING)], name="scope_created"),
    IndexModel([("resident_id", ASCENDING), ("created_at", DESCENDING)], name="resident_created"),
    IndexModel([("source", ASCENDING), ("town_id", ASCENDING), ("created_at", DESCENDING)], name="source_town"),
    IndexModel([("assigned_org_id", ASCENDING), ("state", ASCENDING)], name="assigned_state"),
    IndexModel([("mediator_ids", ASCENDING), ("state", ASCENDING)], name="mediator_state"),
    IndexModel([("state", ASCENDING), ("next_due", ASCENDING)], name="state_due"),
    IndexModel(
        [("household_id", ASCENDING), ("state", ASCENDING), ("created_at", DESCENDING)], name="household_state_created"
    ),
    IndexModel([("parties.phone_hash", ASCENDING)], name="party_phone"),
    IndexModel([("notifications.status", ASCENDING)], name="notification_status"),  # the outbox relay's query
    # The mediators' figures: a town's cases concluded (star ratings) or closed (subsidies) in a period, a
    # mediator's cases concluded this year, the sessions a roster member sat in.
    IndexModel([("town_id", ASCENDING), ("concluded_at", ASCENDING)], name="town_concluded"),
    IndexModel([("town_id", ASCENDING), ("closed_at", ASCENDING)], name="town_closed"),
    IndexModel([("mediator_ids", ASCENDING), ("concluded_at", ASCENDING)], name="mediator_concluded"),
    IndexModel([("sessions.roster_ids", ASCENDING), ("created_at", ASCENDING)], name="roster_sessions"),
    # The assessment's figures: a unit's cases (where the dispute arose) by the date a figure counts them,
    # and its open cases now; `_id` last, so a figure's list of cases pages in a stable order.
    *(
        IndexModel([("location_path", ASCENDING), (field, ASCENDING), ("_id", ASCENDING)], name=f"location_{name}")
        for field, name in FIGURE_DATES.items()
    ),
    IndexModel(
        [("location_path", ASCENDING), ("state", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
        name="location_state_created",
    ),
    # 一件事: earlier cases sharing a party (by the keyed hashes), or in the same village (respondent, address);
    # the members of a dispute; a town's recent cases (群体性 clusters).
    IndexModel([("parties.phone_hash", ASCENDING), ("created_at", ASCENDING)], name="party_phone_created"),
    IndexModel([("parties.id_hash", ASCENDING), ("created_at", ASCENDING)], name="party_id_created"),
    IndexModel(
        [("parties.name", ASCENDING), ("village_id", ASCENDING), ("created_at", ASCENDING)], name="party_name_village"
    ),
    IndexModel([("parties.address", ASCENDING), ("created_at", ASCENDING)], name="party_address_created"),
    IndexModel([("dispute_id", ASCENDING), ("created_at", ASCENDING)], name="dispute_created", sparse=True),
    IndexModel([("town_id", ASCENDING), ("created_at", ASCENDING)], name="town_created"),
    IndexModel([("household_id", ASCENDING), ("created_at", ASCENDING)], name="household_created", sparse=True),
    IndexModel([("risk", ASCENDING), ("state", ASCENDING)], name="risk_state"),  # the warnings' scan
    # The Open311 door: a submission's token (GET tokens/{token}).
    IndexModel([("open311_token", ASCENDING)], name="open311_token", unique=True, sparse=True),
)
indexes.declare(COUNTERS)

# What a row of a list reads, and only that (a real server sends less, the emulation copies less): a staff
# row (`schemas.cases.case_row`) and a resident's (`resident_case_row`).
STAFF_ROW_PROJECTION = dict.fromkeys(
    (
        "number",
        "state",
        "category",
        "source",
        "tier",
        "risk",
        "assigned_org_id",
        "next_due",
        "warnings",
        "supervised",
        "suspended",
        "outcome",
        "created_at",
    ),
    1,
)
RESIDENT_ROW_PROJECTION = dict.fromkeys(
    ("number", "state", "category", "suspended", "outcome", "description", "created_at", "updated_at"), 1
)
# Either row's fields: what the other lists of cases read (a figure's cases, risks, a unit's most urgent).
LIST_PROJECTION = STAFF_ROW_PROJECTION | RESIDENT_ROW_PROJECTION
# The warnings scan watches every state whose deadlines still run.
WATCHED_STATES = ("registered", "assigned", "in_mediation", "concluded", "follow_up")
# What the outbox relay needs of a case to address and word a notice.
RELAY_PROJECTION = {
    "notifications": 1,
    "number": 1,
    "category": 1,
    "outcome": 1,
    "resident_id": 1,
    "parties": 1,
    "consent_contact": 1,
    "mediator_ids": 1,
    "assigned_org_id": 1,
    "town_id": 1,
    "org_path": 1,
    "channel": 1,
    "registered_by": 1,
    "external_ref": 1,
}

# What the mediators' figures, ratings and subsidies read of a case.
FACTS_PROJECTION = dict.fromkeys(
    (
        "number",
        "state",
        "mediator_ids",
        "assigned_org_id",
        "outcome",
        "concluded_at",
        "closed_at",
        "reviewed_at",
        "on_time",
        "satisfied",
        "rating",
        "difficulty",
        "judicial_confirmation",
        "complaints",
    ),
    1,
)
OPEN_FOR_MEDIATORS = ("assigned", "in_mediation")
# Of the earlier cases sharing only a respondent's name, how many (the newest) a link suggestion compares.
NAME_CANDIDATES = 50
# What a link suggestion compares of an earlier case.
CANDIDATE_PROJECTION = dict.fromkeys(
    (
        "number",
        "state",
        "category",
        "source",
        "parties",
        "household_id",
        "village_id",
        "town_id",
        "dispute_id",
        "created_at",
        "org_path",
        "mediator_ids",
        "resident_id",
    ),
    1,
)

Sort = list[tuple[str, int]]
BY_DEADLINE: Sort = [("next_due", ASCENDING), ("created_at", ASCENDING)]
NEWEST_FIRST: Sort = [("created_at", DESCENDING)]


class CaseRepository:
    def __init__(self, db: Database) -> None:
        self._cases = db[COLLECTION]
        self._counters = db[COUNTERS]

    async def get(self, case_id: ObjectId) -> Case | None:
        case: Case | None = await self._cases.find_one({"_id": case_id})
        return case

    async def by_idempotency_key(self, key: str) -> Case | None:
        case: Case | None = await self._cases.find_one({"idempotency_key": key})
        return case

    async def by_external_key(self, key: str) -> Case | None:
        return await self._cases.find_one({"external_key": key})

    async def by_numbers(self, numbers: list[str]) -> list[Case]:
        return await self._cases.find({"number": {"$in": numbers}}).to_list(None)

    async def by_open311_token(self, token: str) -> Case | None:
        return await self._cases.find_one({"open311_token": token}, {"number": 1, "open311_token": 1})

    async def in_town_between(
        self, town_id: ObjectId, start: datetime, end: datetime, extra: dict[str, Any], limit: int
    ) -> list[Case]:
        """A town's cases registered between `start` and `end` (newest first), narrowed by `extra`."""
        query = {"town_id": town_id, "created_at": {"$gte": start, "$lte": end}, **extra}
        return await self._cases.find(query).sort("created_at", DESCENDING).limit(limit).to_list(None)

    async def of_resident(self, resident_id: ObjectId, limit: int = 10_000) -> list[Case]:
        """Every case a resident reported (closing an account goes through each)."""
        fields = {"number": 1, "state": 1, "outcome": 1, "parties": 1, "description": 1, "attachments": 1}
        cursor = self._cases.find({"resident_id": resident_id}, fields).sort(NEWEST_FIRST).limit(limit)
        return await cursor.to_list(None)

    async def delete_draft(self, case_id: ObjectId) -> bool:
        """A draft was never submitted: nobody else saw it, and nothing keeps it."""
        return bool((await self._cases.delete_one({"_id": case_id, "state": "draft"})).deleted_count)

    async def anonymise(self, case_id: ObjectId, changes: dict[str, Any]) -> None:
        """Replace what identifies a resident in a finished case (their account is closed)."""
        await self._cases.update_one({"_id": case_id, "state": {"$in": ["closed", "rejected"]}}, {"$set": changes})

    async def id_by_external_key(self, key: str) -> ObjectId | None:
        found = await self._cases.find_one({"external_key": key}, {"_id": 1})
        return found["_id"] if found else None

    async def insert(self, case: Case) -> None:
        await self._cases.insert_one(case)

    async def next_number(self, day: str) -> str:
        """The day's next case number, gap-free: a counter per day, incremented atomically."""
        counter = await self._counters.find_one_and_update(
            {"_id": f"case:{day}"}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return f"SY-{day}-{counter['seq']:04d}"

    async def update_versioned(self, case: Case, update: dict[str, Any], *, state: str | None = None) -> Case | None:
        """Apply `update` if the case is still at the version (and state) the caller read; None if not."""
        query: dict[str, Any] = {"_id": case["_id"], "version": case["version"]}
        if state is not None:
            query["state"] = state
        update = {**update, "$inc": {"version": 1}}
        updated: Case | None = await self._cases.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        return updated

    async def append(self, case: Case, update: dict[str, Any]) -> Case | None:
        """Apply an append (a session, information, an attachment) if the case is still in the state the caller
        saw; other appends in between are no conflict. None if the state changed."""
        update = {**update, "$inc": {"version": 1}}
        updated: Case | None = await self._cases.find_one_and_update(
            {"_id": case["_id"], "state": case["state"]}, update, return_document=ReturnDocument.AFTER
        )
        return updated

    async def page(
        self, query: dict[str, Any], *, sort: Sort, skip: int, limit: int, projection: dict[str, int]
    ) -> tuple[list[Case], int]:
        total = await self._cases.count_documents(query)
        cursor = self._cases.find(query, projection).sort(sort).skip(skip).limit(limit)
        return await cursor.to_list(None), total

    async def open_for_household(self, household_id: ObjectId, limit: int) -> list[Case]:
        query = {"household_id": household_id, "state": {"$in": list(OPEN_STATES)}}
        cursor = self._cases.find(query, {"number": 1, "state": 1, "category": 1, "created_at": 1})
        return await cursor.sort("created_at", DESCENDING).limit(limit).to_list(None)

    # ---- for the warnings scan ---------------------------------------------------------------------------
    def with_running_deadlines(self) -> AsyncIterator[Case]:
        return self._cases.find(
            {"state": {"$in": list(WATCHED_STATES)}, "next_due": {"$ne": None}, "suspended": None},
            {"deadlines": 1, "warnings": 1, "tier": 1, "assigned_org_id": 1, "mediator_ids": 1, "town_id": 1},
        )

    async def raise_warning(
        self, case_id: ObjectId, name: str, current: str | None, changes: dict[str, Any], push: dict[str, Any]
    ) -> bool:
        """Set a warning level if the case still has the level the scan saw: a warning is raised once."""
        result = await self._cases.update_one(
            {"_id": case_id, f"warnings.{name}": current if current else {"$exists": False}},
            {"$set": changes, "$inc": {"version": 1}, "$push": push},
        )
        return bool(result.modified_count)

    # ---- for the outbox relay -----------------------------------------------------------------------------
    def with_pending_notices(self, limit: int) -> AsyncIterator[Case]:
        return self._cases.find({"notifications.status": "pending"}, RELAY_PROJECTION).limit(limit)

    async def mark_relayed(self, case_id: ObjectId, notice_id: ObjectId) -> None:
        await self._cases.update_one(
            {"_id": case_id, "notifications.id": notice_id}, {"$set": {"notifications.$.status": "relayed"}}
        )

    # ---- for the mediators' figures ------------------------------------------------------------------------
    async def reviewed_concluded_in(self, town_id: ObjectId, start: datetime, end: datetime) -> list[Case]:
        """A town's cases concluded in [start, end) that passed review (a star rating's basis)."""
        query = {"town_id": town_id, "concluded_at": {"$gte": start, "$lt": end}, "reviewed_at": {"$ne": None}}
        return await self._cases.find(query, FACTS_PROJECTION).to_list(None)

    async def closed_after_follow_up_in(self, town_id: ObjectId, start: datetime, end: datetime) -> list[Case]:
        """A town's cases closed in [start, end) after review and a satisfied follow-up (以案定补's basis),
        in the order they closed."""
        query = {
            "town_id": town_id,
            "closed_at": {"$gte": start, "$lt": end},
            "state": "closed",
            "reviewed_at": {"$ne": None},
            "satisfied": True,
        }
        found = await self._cases.find(query, FACTS_PROJECTION).to_list(None)
        return sorted(found, key=lambda case: (case["closed_at"], case["number"]))

    async def of_mediators(self, user_ids: list[ObjectId], since: datetime) -> tuple[list[Case], list[Case]]:
        """The mediators' open cases, and their cases concluded since `since`."""
        open_cases = self._cases.find(
            {"mediator_ids": {"$in": user_ids}, "state": {"$in": list(OPEN_FOR_MEDIATORS)}}, {"mediator_ids": 1}
        )
        concluded = self._cases.find(
            {"mediator_ids": {"$in": user_ids}, "concluded_at": {"$gte": since}}, FACTS_PROJECTION
        )
        return await open_cases.to_list(None), await concluded.to_list(None)

    async def sessions_with(self, roster_ids: list[ObjectId], since: datetime) -> list[Case]:
        """Cases (since `since`) with a session that named any of the roster entries."""
        query = {"sessions.roster_ids": {"$in": roster_ids}, "created_at": {"$gte": since}}
        return await self._cases.find(query, {"sessions": 1}).to_list(None)

    async def note(self, case_id: ObjectId, update: dict[str, Any]) -> Case | None:
        """Add to a case's record whatever its state (an expert's request or opinion, which waits for nothing)."""
        updated: Case | None = await self._cases.find_one_and_update(
            {"_id": case_id}, {**update, "$inc": {"version": 1}}, return_document=ReturnDocument.AFTER
        )
        return updated

    async def note_on_session(self, case: Case, session_id: ObjectId, field: str, item: dict[str, Any]) -> None:
        """Add `item` to a list of one of the case's sessions (an expert's opinion on the session record).
        Sessions are only ever appended, so the position read stays right; the filter checks it anyway."""
        index = next(i for i, s in enumerate(case["sessions"]) if s["id"] == session_id)
        await self._cases.update_one(
            {"_id": case["_id"], f"sessions.{index}.id": session_id},
            {"$push": {f"sessions.{index}.{field}": item}, "$inc": {"version": 1}},
        )

    # ---- for the assessment's figures (one aggregation each) ----------------------------------------------
    async def count_with(
        self, match: dict[str, Any], hit: dict[str, Any] | None, fields: list[str], average: Any = None
    ) -> dict[str, Any]:
        """How many cases `match` finds (`total`), how many of them `hit` also finds (`hits`), and the mean
        of the `average` expression over them (`mean`): one aggregation, reading `fields` only."""
        facets: dict[str, Any] = {"all": [{"$group": {"_id": None, "n": {"$sum": 1}, "mean": {"$avg": average}}}]}
        if hit is not None:
            facets["hit"] = [{"$match": hit}, {"$count": "n"}]
        pipeline = [{"$match": match}, {"$project": dict.fromkeys(fields or ["_id"], 1)}, {"$facet": facets}]
        found = (await (await self._cases.aggregate(pipeline)).to_list(None))[0]
        total = found["all"][0] if found["all"] else {"n": 0, "mean": None}
        hits = found["hit"][0]["n"] if found.get("hit") else 0
        return {"total": total["n"], "hits": hits if hit is not None else None, "mean": total["mean"]}

    async def count_by(self, match: dict[str, Any], field: str, *, each: bool = False) -> dict[Any, int]:
        """How many cases `match` finds for each value of `field` (`each`: an array field, every item counted)."""
        top = field.split(".")[0]
        pipeline: list[dict[str, Any]] = [{"$match": match}, {"$project": {top: 1}}]
        if each:
            pipeline.append({"$unwind": f"${field}"})
        pipeline.append({"$group": {"_id": f"${field}", "n": {"$sum": 1}}})
        return {row["_id"]: row["n"] async for row in await self._cases.aggregate(pipeline)}

    async def listed(self, match: dict[str, Any], order: str, *, skip: int, limit: int) -> tuple[list[Case], int]:
        """A page of the cases `match` finds, as list rows, in `order` (then id), and how many there are."""
        total = await self._cases.count_documents(match)
        sort = [(order, ASCENDING), ("_id", ASCENDING)] if order != "_id" else [("_id", ASCENDING)]
        cursor = self._cases.find(match, LIST_PROJECTION).sort(sort)
        return await cursor.skip(skip).limit(limit).to_list(None), total

    async def most_urgent(self, unit_id: ObjectId, extra: dict[str, Any], limit: int) -> list[Case]:
        """The unit's open cases matching `extra`, nearest (or longest passed) deadline first."""
        query = {"org_path": unit_id, "state": {"$in": list(WATCHED_STATES)}, **extra}
        cursor = self._cases.find(query, LIST_PROJECTION).sort(BY_DEADLINE)
        return await cursor.limit(limit).to_list(None)

    # ---- 一件事 ----------------------------------------------------------------------------------------------
    async def link_candidates(self, case: Case, since: datetime) -> list[Case]:
        """Cases open now or registered since `since` that share with `case` a party's phone or ID number (by
        hash), the household, a respondent (by name) in the same village, or an address: one indexed read each,
        each returning only what matches; every case once. Of the cases sharing only a name (a common name
        recurs in a village), the `NAME_CANDIDATES` newest: a name alone scores at most 5 and `links.rank`
        shows the newest of equal scores first, and a run of submissions naming the same person costs a
        registration the same whatever the town's history."""
        recent = [{"created_at": {"$gte": since}}, {"state": {"$in": list(WATCHED_STATES)}}]
        parties = case.get("parties") or []

        def values(field: str, role: str | None = None) -> list[Any]:
            """The parties' values of `field` (of those in `role` only, if given)."""
            return sorted({p[field] for p in parties if p.get(field) and (role is None or p.get("role") == role)})

        queries: list[dict[str, Any]] = []
        for field in ("phone_hash", "id_hash", "address"):
            if values(field):
                queries.append({f"parties.{field}": {"$in": values(field)}, "$or": recent})
        if case.get("household_id"):
            queries.append({"household_id": case["household_id"], "$or": recent})
        cursors = [self._cases.find(query, CANDIDATE_PROJECTION) for query in queries]
        if case.get("village_id") and (names := values("name", "respondent")):
            # Only the same respondent counts (`links.Marks`): a respondent's name, among respondents.
            respondents = {"$elemMatch": {"role": "respondent", "name": {"$in": names}}}
            query = {"parties": respondents, "village_id": case["village_id"], "$or": recent}
            newest = self._cases.find(query, CANDIDATE_PROJECTION).sort("created_at", DESCENDING)
            cursors.append(newest.limit(NAME_CANDIDATES))
        found: dict[ObjectId, Case] = {}
        for cursor in cursors:
            for case in await cursor.to_list(None):
                found[case["_id"]] = case
        return list(found.values())

    async def join_dispute(self, case_id: ObjectId, was: ObjectId | None, dispute_id: ObjectId | None) -> bool:
        """Move a case into a dispute (or out of one: None), if it is still where it was read: two people
        linking at once cannot both move it."""
        role = "member" if dispute_id else None
        result = await self._cases.update_one(
            {"_id": case_id, "dispute_id": was}, {"$set": {"dispute_id": dispute_id, "dispute_role": role}}
        )
        return bool(result.modified_count)

    async def dispute_members(self, dispute_ids: list[ObjectId]) -> list[Case]:
        """The cases of the disputes, oldest first (whole: their timelines make the dispute's)."""
        query = {"dispute_id": {"$in": dispute_ids}}
        return await self._cases.find(query).sort([("created_at", ASCENDING)]).to_list(None)

    async def set_lead(self, dispute_id: ObjectId, lead_id: ObjectId) -> None:
        """The lead of a dispute (its unit handles it); the others are members."""
        await self._cases.update_many(
            {"dispute_id": dispute_id, "dispute_role": "lead", "_id": {"$ne": lead_id}},
            {"$set": {"dispute_role": "member"}},
        )
        await self._cases.update_one({"_id": lead_id, "dispute_id": dispute_id}, {"$set": {"dispute_role": "lead"}})

    async def sharing(self, case: Case, since: datetime) -> int:
        """How many other cases registered since `since` share a party (by hash) or the household."""
        phones = sorted({p["phone_hash"] for p in case.get("parties", []) if p.get("phone_hash")})
        ids = sorted({p["id_hash"] for p in case.get("parties", []) if p.get("id_hash")})
        queries: list[dict[str, Any]] = []
        if phones:
            queries.append({"parties.phone_hash": {"$in": phones}, "created_at": {"$gte": since}})
        if ids:
            queries.append({"parties.id_hash": {"$in": ids}, "created_at": {"$gte": since}})
        if case.get("household_id"):
            queries.append({"household_id": case["household_id"], "created_at": {"$gte": since}})
        found: set[ObjectId] = set()
        for query in queries:
            found |= {c["_id"] for c in await self._cases.find(query, {"_id": 1}).to_list(None)}
        return len(found - {case["_id"]})

    async def of_household(self, household_id: ObjectId, phones: list[str], ids: list[str], limit: int) -> list[Case]:
        """The cases about a household: registered at it, or with one of its members as a party (by hash);
        newest first, as list rows with their dispute and parties' hashes (one indexed read each)."""
        queries: list[dict[str, Any]] = [{"household_id": household_id}]
        if phones:
            queries.append({"parties.phone_hash": {"$in": phones}})
        if ids:
            queries.append({"parties.id_hash": {"$in": ids}})
        fields = LIST_PROJECTION | dict.fromkeys(
            ("dispute_id", "org_path", "mediator_ids", "resident_id", "town_id"), 1
        )
        found: dict[ObjectId, Case] = {}
        for query in queries:
            cursor = self._cases.find(query, fields).sort([("created_at", DESCENDING)]).limit(limit)
            found |= {c["_id"]: c for c in await cursor.to_list(None)}
        return sorted(found.values(), key=lambda c: c["created_at"], reverse=True)[:limit]

    async def at_risk(self, levels: tuple[str, ...], town_id: ObjectId | None = None) -> list[Case]:
        """Open cases at one of the risk `levels` (of a town), as list rows with their reasons."""
        query: dict[str, Any] = {"risk": {"$in": list(levels)}, "state": {"$in": list(WATCHED_STATES)}}
        if town_id is not None:
            query["town_id"] = town_id
        fields = LIST_PROJECTION | dict.fromkeys(("risk_reasons", "org_path", "town_id"), 1)
        return await self._cases.find(query, fields).to_list(None)

    async def open_since(self, town_id: ObjectId, since: datetime) -> list[Case]:
        """A town's cases registered since `since` and still open: their parties, cluster and suggestions."""
        query = {"town_id": town_id, "created_at": {"$gte": since}, "state": {"$in": list(WATCHED_STATES)}}
        fields = dict.fromkeys(("number", "parties", "created_at", "cluster_id", "link_suggestions"), 1)
        return await self._cases.find(query, fields).to_list(None)

    async def set_cluster(self, case_ids: list[ObjectId], cluster_id: ObjectId) -> None:
        await self._cases.update_many({"_id": {"$in": case_ids}}, {"$set": {"cluster_id": cluster_id}})

    async def of_resident_since(self, resident_id: ObjectId, since: datetime) -> list[Case]:
        """A resident's cases registered since `since` (a second submission of the same complaint)."""
        query = {"resident_id": resident_id, "created_at": {"$gte": since}}
        fields = {"number": 1, "category": 1, "village_id": 1, "description": 1, "state": 1}
        return await self._cases.find(query, fields).to_list(None)

    async def closed_in(self, unit_id: ObjectId, start: datetime, end: datetime) -> list[Case]:
        """The cases of a unit closed (办结) in [start, end): a spot check's population."""
        query = {"location_path": unit_id, "closed_at": {"$gte": start, "$lt": end}, "state": "closed"}
        fields = {"number": 1, "village_id": 1, "outcome": 1, "location_path": 1, "satisfied": 1}
        return await self._cases.find(query, fields).to_list(None)

    # ---- for the demo seed ---------------------------------------------------------------------------------
    async def summaries(self) -> list[Case]:
        """Every case's number and scope (what the demo's message history refers to)."""
        return await self._cases.find({}, {"number": 1, "org_path": 1}).to_list(None)

    async def mark_all_notices(self, status: str) -> None:
        """Mark every recorded notice `status` (the demo's history was "delivered" long ago)."""
        async for case in self._cases.find({}, {"notifications": 1}):
            marked = [n | {"status": status} for n in case["notifications"]]
            await self._cases.update_one({"_id": case["_id"]}, {"$set": {"notifications": marked}})
