"""Intake: registering a case from any channel, placing it, routing it, numbering it, storing it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from server.cases import policy
from server.cases.lifecycle import audit_state
from server.cases.links import rank, same_complaint, sharing
from server.cases.model import (
    REFERRAL_CHANNELS,
    Case,
    input_errors,
    new_case,
    notice,
    timeline_event,
)
from server.cases.repository import CaseRepository
from server.cases.risk import RISING, Facts, RiskService, rising_notices, score
from server.cases.routing import Routing, place_of
from server.core.auth import Principal
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.core.identity import seal
from server.core.pii import InvalidIdNumber, InvalidPhone, birth_date_and_sex, normalize_id_number
from server.core.vocabulary import CATEGORIES, CHANNEL_SOURCE, PARTNER_SOURCE
from server.orgs.tree import OrgService
from server.places.households import HouseholdService

if TYPE_CHECKING:
    from server.core.context import Context

PLACE_KINDS = ("village", "grid", "micro_grid")
REPEAT_WINDOW = timedelta(days=1)
PARTNER_FIELDS = ("open311_token", "reported_parties")  # what only a partner's request carries


class Intake:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._cases = CaseRepository(ctx.db)

    async def create(
        self,
        principal: Principal,
        data: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        partner: dict[str, Any] | None = None,
    ) -> Case:
        """Register a case. A partner system's request (`partner`, channel `partner`, see
        `server.cases.open311`) comes with a principal standing for the partner (`partner_principal`)."""
        now = self._ctx.clock.now()
        channel = data["channel"]
        self._check_channel(principal, channel, data, partner)
        errors = input_errors(data)
        try:
            parties = self._parties(data["parties"])
        except ValidationFailed as exc:
            errors.extend(exc.details or [])
        if errors:
            raise ValidationFailed(details=errors)
        if data["category"] not in CATEGORIES:
            raise ValidationFailed(details=[{"field": "category", "message": "未知的纠纷类别"}])
        location, household = await self._location(principal, data, partner)
        staff = channel not in ("miniprogram", "partner")
        source = PARTNER_SOURCE[partner["kind"]] if partner else CHANNEL_SOURCE[channel]
        referral: dict[str, Any] = {}
        if data.get("external_ref"):
            # A partner's references are its own: two partners may use the same one.
            issuer = f"partner:{partner['_id']}" if partner else source
            referral = {
                "external_ref": data["external_ref"],
                "external_key": f"{issuer}:{data['external_ref']}",
                "received_at": data.get("received_at"),
            }
        state = "draft" if data.get("draft") and channel == "miniprogram" else "registered"
        case = new_case(
            state=state,
            channel=channel,
            source=source,
            now=now,
            category=data["category"],
            description=data["description"],
            parties=parties,
            risk_given=data.get("risk") if staff else None,
            law_related=bool(data.get("law_related")) and staff,
            resident_id=ObjectId(principal.user_id) if channel == "miniprogram" else None,
            registered_by=ObjectId(principal.user_id),
            consent_contact=bool(data.get("consent_contact")),
            household_id=household["_id"] if household else None,
            visit_id=ObjectId(data["visit_id"]) if data.get("visit_id") else None,
            gps=data.get("gps"),
            village_id=location["village_id"],
            town_id=location["town_id"],
            micro_grid_id=location["micro_grid_id"],
            location_path=location["path"],
            town_path=location["town_path"],
            org_path=location["path"],
            **referral,
            **({"idempotency_key": idempotency_key} if idempotency_key else {}),
            **({"partner_id": partner["_id"], **{k: data[k] for k in PARTNER_FIELDS if k in data}} if partner else {}),
        )
        await self._score(case, household, now)  # before routing: a high risk goes straight to the town
        target, tier = await Routing(self._ctx).suggest(case)
        case["suggested"] = {"org_id": target["_id"], "org_name": target["name"], "tier": tier}
        first = "draft_saved" if case["state"] == "draft" else "submit"
        case["timeline"] = [
            timeline_event(ObjectId(principal.user_id), first, None, case["state"], None, now, public=True)
        ]
        if referral and await self._cases.id_by_external_key(case["external_key"]):
            raise await self._duplicate_referral(case)
        if channel == "miniprogram" and state == "registered" and not data.get("confirm_new"):
            await self._check_repeat(case, now)
        # Numbered last, once everything else is valid, so numbers have no gaps.
        case["number"] = await self._cases.next_number(now.astimezone(self._ctx.tz).strftime("%Y%m%d"))
        case["notifications"] = [] if case["state"] == "draft" else self._registration_notices(case, now)
        try:
            await self._cases.insert(case)
        except DuplicateKeyError as exc:
            if idempotency_key and (made := await self._cases.by_idempotency_key(idempotency_key)):
                return made  # a retry that took over from a slow first attempt: the first one's case stands
            if referral:  # registered concurrently; the unique index decides
                raise await self._duplicate_referral(case) from exc
            raise
        await audit_state(
            self._ctx, case["registered_by"], case | {"state": None}, case["state"], case["timeline"][0], now
        )
        return case

    async def _score(self, case: Case, household: dict[str, Any] | None, now: datetime) -> None:
        """The earlier cases that look like the same dispute, and the risk: one read of the candidates
        serves both (a repeat is a candidate sharing a party or the household within the rules' window)."""
        window = self._ctx.config.prevention.link_window_days
        candidates = await self._cases.link_candidates(case, now - timedelta(days=window))
        shares = sharing(case, candidates)
        if case["state"] == "registered":
            case["link_suggestions"] = [s.to_doc() for s in rank(case, candidates, shares)]
        risk = RiskService(self._ctx)
        rules = await risk.rules(case.get("town_id"))
        since = now - timedelta(days=rules["repeat"]["window_days"])
        repeats = sum(
            1
            for other in candidates
            if other["created_at"] >= since and {"phone", "id", "household"} & set(shares[other["_id"]])
        )
        tags = tuple((household or {}).get("tags") or ())
        case["risk_score"], case["risk"], case["risk_reasons"] = score(case, rules, Facts(repeats, 1, tags))

    async def _check_repeat(self, case: Case, now: datetime) -> None:
        """A resident who sends the same complaint again within a day is told it is registered already (and
        may still send it, saying it is another matter: `confirm_new`)."""
        for earlier in await self._cases.of_resident_since(case["resident_id"], now - REPEAT_WINDOW):
            if (
                earlier["state"] != "draft"
                and earlier["category"] == case["category"]
                and earlier.get("village_id") == case["village_id"]
                and same_complaint(earlier["description"], case["description"])
            ):
                raise Conflict(
                    f"您在一天内已经提交过这件纠纷（编号 {earlier['number']}），我们正在处理；"
                    "如果是另一件事，请确认后再提交",
                    code="duplicate_submission",
                    details={"case_id": str(earlier["_id"]), "number": earlier["number"]},
                )

    @staticmethod
    def _registration_notices(case: Case, now: datetime) -> list[dict[str, Any]]:
        """The office hears of every new case; a high risk (民转刑 words, many parties) alerts the office and
        the unit the rules send it to at once, urgently."""
        notices = [notice("case_registered", "office", now, case)]
        if case["risk"] in RISING:
            notices += rising_notices(case | {"mediator_ids": []}, case["risk"], now)
        return notices

    async def _duplicate_referral(self, case: Case) -> Conflict:
        existing = await self._cases.id_by_external_key(case["external_key"])
        return Conflict(
            "该编号的案件已经登记过",
            code="duplicate_referral",
            details={"case_id": str(existing) if existing else None},
        )

    def _check_channel(
        self, principal: Principal, channel: str, data: dict[str, Any], partner: dict[str, Any] | None
    ) -> None:
        if (channel == "partner") != (partner is not None):
            raise Forbidden("您不能以该渠道登记案件", code="channel_not_allowed")
        if partner is not None:
            return  # what a partner may do is the Open311 door's check (`server.cases.open311`)
        allowed = policy.may_register(principal, channel)
        if allowed and channel not in policy.CHANNEL_CAPABILITY:
            missing = [f for f in ("external_ref", "received_at") if not data.get(f)]
            if missing:
                raise ValidationFailed(details=[{"field": f, "message": "转来的案件必须填写"} for f in missing])
        if not allowed:
            raise Forbidden("您不能以该渠道登记案件", code="channel_not_allowed")
        if channel == "grid_visit" and not (data.get("household_id") or data.get("qr_token")):
            raise ValidationFailed(details=[{"field": "household_id", "message": "走访发现的纠纷须关联住户"}])

    async def _location(
        self, principal: Principal, data: dict[str, Any], partner: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        households, orgs = HouseholdService(self._ctx), OrgService(self._ctx)
        household = None
        if data.get("qr_token"):
            household = await households.by_qr_token(data["qr_token"])
        elif data.get("household_id"):
            household = await households.find(ObjectId(data["household_id"]))
            if household is None:
                raise NotFound("找不到该住户", details=[{"field": "household_id", "message": "找不到该住户"}])
        if household is not None:
            unit_id = household["micro_grid_id"]
        elif data.get("micro_grid_id") or data.get("village_id"):
            unit_id = ObjectId(data.get("micro_grid_id") or data["village_id"])
        else:
            raise ValidationFailed(details=[{"field": "village_id", "message": "请选择纠纷发生的村（社区）或扫描门牌"}])
        unit = await orgs.find(unit_id)
        if unit is None or unit["kind"] not in PLACE_KINDS:
            raise NotFound("找不到该村（社区）", details=[{"field": "village_id", "message": "找不到该村（社区）"}])
        if data["channel"] in ("grid_visit", "walk_in", "hotline") and not await self._may_register_at(principal, unit):
            raise NotFound("找不到该村（社区）")
        if data["channel"] in REFERRAL_CHANNELS and principal.liaison_towns().isdisjoint(unit["path"]):
            raise NotFound("找不到该村（社区）")  # a liaison hands over disputes of their own town only
        if partner is not None and set(partner["town_ids"]).isdisjoint(unit["path"]):
            raise NotFound("找不到该村（社区）", details=[{"field": "village_id", "message": "不在本系统对接的乡镇"}])
        units = await orgs.by_ids(unit["path"])
        village_id, town_id = place_of(unit, units)
        town_path = units[town_id]["path"] if town_id in units else []
        micro = unit["_id"] if unit["kind"] == "micro_grid" else None
        # The village's mediation room sees what happens in its village, so it can take its own cases.
        rooms = await orgs.mediation_rooms(village_id) if village_id else []
        return {
            "village_id": village_id,
            "town_id": town_id,
            "micro_grid_id": micro,
            "path": [*unit["path"], *rooms],
            "town_path": town_path,
        }, household

    async def _may_register_at(self, principal: Principal, unit: dict[str, Any]) -> bool:
        """Staff register cases in their own area; a town center's staff for the whole town."""
        grant_units = await OrgService(self._ctx).by_ids([ObjectId(o) for o in principal.orgs_with("case.view")])
        areas = {g["parent_id"] if g["kind"] == "center" else g["_id"] for g in grant_units.values()}
        return not areas.isdisjoint(unit["path"])

    def _parties(self, parties: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cipher, docs, errors = self._ctx.cipher, [], []
        for index, party in enumerate(parties):
            doc: dict[str, Any] = {"role": party["role"], "name": party["name"]}
            try:
                doc.update(seal(cipher, phone=party.get("phone"), id_number=party.get("id_number")))
            except (InvalidPhone, InvalidIdNumber) as exc:
                errors.append({"field": f"parties.{index}.{exc.field}", "message": str(exc)})
            doc.update(_identity(party))
            if party.get("address"):
                doc["address"] = party["address"].strip()
            docs.append(doc)
        if errors:
            raise ValidationFailed(details=errors)
        if not any(p["role"] == "applicant" for p in docs):
            raise ValidationFailed(details=[{"field": "parties", "message": "至少需要一名申请人"}])
        return docs


def _identity(party: dict[str, Any]) -> dict[str, Any]:
    """A party's sex and birth date: as a valid ID number says (it wins over what was typed beside it), else
    as given."""
    born, sex = party.get("birth_date"), party.get("sex")
    if isinstance(born, str):
        born = date.fromisoformat(born)
    try:
        number = normalize_id_number(party["id_number"]) if party.get("id_number") else None
    except InvalidIdNumber:
        number = None  # reported with the ID number's own field
    from_id = birth_date_and_sex(number) if number else None
    if from_id:
        born, sex = from_id
    fields: dict[str, Any] = {}
    if born:
        fields["birth_date"] = born.isoformat()
    if sex:
        fields["sex"] = sex
    return fields
