"""The Open311 GeoReport v2 door (handlers/open311.py serves it under `/open311/v2/`): the case categories as
services, a partner system's request as a case, and cases as service requests — as much of them as the
caller may see.

What each caller sees of a request (the README says the same):
- anyone, and a partner reading requests it did not submit (`read_public`): what a civic map shows — the
  service, the status and its note, the dates, the unit responsible and the village. Never a description,
  a household, a person, an address or a position, for disputes are private.
- a partner reading its own requests (`read_own`): the same, with the description, address and position it
  sent itself.
A partner reads and submits only in its own towns; `open311.public_reads: false` closes reading to anyone
without a key.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.cases.intake import Intake
from server.cases.model import Case, status_label
from server.cases.repository import CaseRepository
from server.core.auth import Principal
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.core.vocabulary import CATEGORIES, OPEN_STATES
from server.orgs.tree import OrgService
from server.people.partners import PartnerService

if TYPE_CHECKING:
    from server.core.context import Context

# Every category is a service; its description and keywords help a partner's staff pick one.
SERVICE_TEXT: dict[str, tuple[str, str]] = {
    "neighbour": ("相邻关系、噪音、通行、采光、排水等邻里之间的纠纷", "邻里,相邻,噪音,通行,排水"),
    "land": ("土地承包、宅基地、山林、土地流转等纠纷", "土地,宅基地,承包,山林,流转"),
    "family": ("婚姻、赡养、抚养、继承等家庭纠纷", "婚姻,赡养,抚养,继承,家庭"),
    "labour": ("拖欠工资、工伤、劳动合同等劳动纠纷", "工资,欠薪,工伤,劳动合同"),
    "property": ("物业服务、房屋租赁等纠纷", "物业,租赁,房屋"),
    "traffic": ("交通事故损害赔偿纠纷", "交通事故,赔偿"),
    "medical": ("医患之间的医疗纠纷", "医疗,医患"),
    "consumer": ("商品质量、服务等消费纠纷", "消费,质量,退款"),
    "debt": ("借款、欠款等债务纠纷", "借款,欠款,债务"),
    "environment": ("噪声、废水、废气等环境污染纠纷", "污染,废水,废气,噪声"),
    "other": ("不属于以上类别的矛盾纠纷", "其他"),
}
assert set(SERVICE_TEXT) == set(CATEGORIES), "every category is described as a service"

GROUP = "矛盾纠纷调解"
SERVICE_NOTICE = "依法调解，不收取任何费用；调解不成的，可依法申请仲裁或提起诉讼。"
UNNAMED = "未具名"
MAX_PARTIES = 1000
YES_NO = [{"key": "yes", "name": "同意"}, {"key": "no", "name": "不同意"}]
_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_]{1,40})\](\[\])?$")
# Only these parameters mean something in a request; an unknown one is refused by name.
REQUEST_FIELDS = frozenset(
    {
        "api_key",
        "jurisdiction_id",
        "service_code",
        "lat",
        "long",
        "address_string",
        "address_id",
        "email",
        "device_id",
        "account_id",
        "first_name",
        "last_name",
        "phone",
        "description",
        "media_url",
    }
)


def w3c(moment: datetime | None, tz: Any) -> str | None:
    """A W3C date-time with its zone, to the second, as the spec asks (`2026-11-29T09:30:00+08:00`)."""
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment else None


def services() -> list[dict[str, Any]]:
    """GET services: the categories, each with a definition (`metadata`: the attributes below)."""
    return [
        {
            "service_code": code,
            "service_name": name,
            "description": SERVICE_TEXT[code][0],
            "metadata": True,
            "type": "realtime",
            "keywords": SERVICE_TEXT[code][1],
            "group": GROUP,
        }
        for code, name in CATEGORIES.items()
    ]


def definition(code: str, villages: list[dict[str, Any]]) -> dict[str, Any]:
    """GET services/{code}: what a request of this service may carry besides the standard fields."""
    if code not in CATEGORIES:
        raise NotFound("找不到该服务类型")
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": "village",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "纠纷发生的村（社区）；也可用 address_id 给出，或在 address_string 中写明村名",
                "order": 1,
                "description": "纠纷发生地",
                "values": [{"key": str(v["_id"]), "name": v["name"]} for v in villages],
            },
            {
                "variable": True,
                "code": "party_count",
                "datatype": "number",
                "required": False,
                "datatype_description": f"1 至 {MAX_PARTIES} 的整数",
                "order": 2,
                "description": "涉及的当事人人数（人数多时会提高风险等级）",
                "values": [],
            },
            {
                "variable": True,
                "code": "respondent",
                "datatype": "string",
                "required": False,
                "datatype_description": "不超过 30 个字",
                "order": 3,
                "description": "被申请人（对方当事人）姓名或单位名称",
                "values": [],
            },
            {
                "variable": True,
                "code": "consent_contact",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "yes 或 no",
                "order": 4,
                "description": "申请人是否同意调解组织通过短信联系",
                "values": YES_NO,
            },
            {
                "variable": True,
                "code": "external_ref",
                "datatype": "string",
                "required": False,
                "datatype_description": "不超过 60 个字；同一编号再次提交不会重复登记，返回原来的请求",
                "order": 5,
                "description": "贵系统中的事件编号",
                "values": [],
            },
        ],
    }


ATTRIBUTE_CODES = ("village", "party_count", "respondent", "consent_contact", "external_ref")


@dataclass(frozen=True)
class Filters:
    """GET requests' parameters, as the spec defines them."""

    codes: list[str]
    start: datetime | None
    end: datetime | None
    statuses: list[str]


def partner_principal(partner: dict[str, Any]) -> Principal:
    """Who a partner's request is registered by: the partner itself (its id stands where a user's would)."""
    return Principal(user_id=str(partner["_id"]), session_id="open311", grants=(), expires_at=math.inf)


class Open311:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._cases = CaseRepository(ctx.db)
        self._orgs = OrgService(ctx)
        self._partners = PartnerService(ctx)

    # ---- who is asking ----------------------------------------------------------------------------
    async def caller(self, api_key: str | None, ability: str | None, address: str) -> dict[str, Any] | None:
        """The partner whose key this is (a wrong, replaced or revoked key is refused), counted against its
        rate limit; None for a caller without a key, where the door lets one in (`open311.public_reads`),
        counted by its address."""
        if not api_key:
            if ability == "submit":
                raise Forbidden("提交请求须提供有效的 api_key", code="api_key_required")
            if not self._ctx.config.open311.public_reads:
                raise Forbidden("查询须提供有效的 api_key", code="api_key_required")
            await self._partners.count_call(f"ip:{address}")
            return None
        partner = await self._partners.by_key(api_key)
        if partner is None:
            raise Forbidden("api_key 无效或已停用", code="api_key_invalid")
        await self._partners.count_call(str(partner["_id"]))
        if ability is not None and ability not in partner["abilities"]:
            raise Forbidden("该 api_key 没有此项权限", code="ability_missing")
        return partner

    async def town(self, partner: dict[str, Any] | None, jurisdiction_id: str | None) -> dict[str, Any]:
        """The town a call is about: `jurisdiction_id`, which may be left out only where it can mean one town."""
        allowed = partner["town_ids"] if partner else None
        if jurisdiction_id:
            unit = await self._orgs.find(ObjectId(jurisdiction_id)) if ObjectId.is_valid(jurisdiction_id) else None
            if unit is None or unit["kind"] != "town" or (allowed is not None and unit["_id"] not in allowed):
                raise NotFound("找不到该辖区（jurisdiction_id）")
            return unit
        towns = [t for t in await self._orgs.of_kind("town") if allowed is None or t["_id"] in allowed]
        if len(towns) != 1:
            raise ValidationFailed(details=[{"field": "jurisdiction_id", "message": "本平台服务多个乡镇，请填写辖区"}])
        return towns[0]

    async def villages(self, town: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted(await self._orgs.of_kind("village", under=town["_id"]), key=lambda v: v["name"])

    # ---- POST requests ----------------------------------------------------------------------------
    async def submit(
        self, partner: dict[str, Any], town: dict[str, Any], form: dict[str, list[str]]
    ) -> tuple[Case, bool]:
        """A partner's request as a case (channel `partner`), routed like any other; the case and whether it
        is new (a request sent again with the same `external_ref` gives back the first one)."""
        values, attributes = self._read_form(form)
        errors: list[dict[str, str]] = []
        code = values.get("service_code", "")
        if code not in CATEGORIES:
            errors.append({"field": "service_code", "message": "未知的服务类型"})
        village = await self._place(town, values, attributes, errors)
        data = self._case_input(values, attributes, errors)
        if errors:
            raise ValidationFailed(details=errors)
        assert village is not None
        data |= {"category": code, "village_id": str(village["_id"]), "channel": "partner"}
        if data.get("external_ref"):
            earlier = await self._cases.by_external_key(f"partner:{partner['_id']}:{data['external_ref']}")
            if earlier is not None:
                return earlier, False
        data["open311_token"] = secrets.token_urlsafe(16)
        try:
            case = await Intake(self._ctx).create(partner_principal(partner), data, partner=partner)
        except ValidationFailed as exc:  # named as the partner named it: `phone`, not `parties.0.phone`
            raise ValidationFailed(details=[d | {"field": spec_name(d["field"])} for d in exc.details or []]) from exc
        except Conflict as exc:  # the same reference sent twice at once: the first one stands
            earlier_id = (exc.details or {}).get("case_id") if isinstance(exc.details, dict) else None
            earlier = await self._cases.get(ObjectId(earlier_id)) if earlier_id else None
            if earlier is None:
                raise
            return earlier, False
        return case, True

    @staticmethod
    def _read_form(form: dict[str, list[str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
        values: dict[str, str] = {}
        attributes: dict[str, list[str]] = {}
        unknown = []
        for name, given in form.items():
            match = _ATTRIBUTE.match(name)
            if match:
                attributes.setdefault(match.group(1), []).extend(given)
            elif name in REQUEST_FIELDS:
                values[name] = given[-1].strip()
            else:
                unknown.append(name)
        strange = [code for code in attributes if code not in ATTRIBUTE_CODES]
        if unknown or strange:
            fields = [*unknown, *(f"attribute[{code}]" for code in strange)]
            raise ValidationFailed(details=[{"field": f, "message": "不认识的参数"} for f in sorted(fields)])
        return values, attributes

    async def _place(
        self,
        town: dict[str, Any],
        values: dict[str, str],
        attributes: dict[str, list[str]],
        errors: list[dict[str, str]],
    ) -> dict[str, Any] | None:
        """The village of a request: `attribute[village]`, else `address_id` (a village's id), else the one
        village of the town that `address_string` names. `lat`/`long` are kept, not used to place it."""
        villages = await self.villages(town)
        by_id = {str(v["_id"]): v for v in villages}
        given = (
            ("attribute[village]", (attributes.get("village") or [""])[-1]),
            ("address_id", values.get("address_id")),
        )
        for field, wanted in given:
            if wanted:
                if wanted not in by_id:
                    errors.append({"field": field, "message": "不是本辖区的村（社区）"})
                    return None
                return by_id[wanted]
        address = values.get("address_string", "")
        named = [v for v in villages if v["name"] and v["name"] in address]
        if len(named) == 1:
            return named[0]
        has_position = bool(values.get("lat") or values.get("long"))
        message = (
            "无法从地址确定村（社区），请用 attribute[village] 选择"
            if address or has_position
            else "请给出纠纷发生地：attribute[village]、address_id 或写明村名的 address_string"
        )
        errors.append({"field": "attribute[village]", "message": message})
        return None

    def _case_input(
        self, values: dict[str, str], attributes: dict[str, list[str]], errors: list[dict[str, str]]
    ) -> dict[str, Any]:
        """The case's input from the request's fields; what is wrong goes into `errors` by parameter name."""
        respondent = ((attributes.get("respondent") or [""])[-1]).strip()
        name = (values.get("last_name", "") + values.get("first_name", "")).strip() or UNNAMED
        applicant: dict[str, Any] = {"role": "applicant", "name": name[:30], "phone": values.get("phone") or None}
        if values.get("address_string"):
            applicant["address"] = values["address_string"][:100]
        parties = [applicant]
        if respondent:
            parties.append({"role": "respondent", "name": respondent})
        data: dict[str, Any] = {"description": values.get("description", ""), "parties": parties}
        gps = self._position(values, errors)
        if gps:
            data["gps"] = gps
        consent = (attributes.get("consent_contact") or ["no"])[-1]
        if consent not in ("yes", "no"):
            errors.append({"field": "attribute[consent_contact]", "message": "只能是 yes 或 no"})
        data["consent_contact"] = consent == "yes"
        count = (attributes.get("party_count") or [""])[-1]
        if count:
            if not count.isdigit() or not 1 <= int(count) <= MAX_PARTIES:
                errors.append({"field": "attribute[party_count]", "message": f"请填写 1 至 {MAX_PARTIES} 的整数"})
            else:
                data["reported_parties"] = int(count)
        ref = (attributes.get("external_ref") or [""])[-1].strip()
        if ref:
            data["external_ref"] = ref
            data["received_at"] = self._ctx.clock.now()
        if not values.get("description"):
            errors.append({"field": "description", "message": "请描述纠纷情况"})
        return data

    @staticmethod
    def _position(values: dict[str, str], errors: list[dict[str, str]]) -> dict[str, float] | None:
        lat, lng = values.get("lat", ""), values.get("long", "")
        if not lat and not lng:
            return None
        try:
            point = {"lat": float(lat), "lng": float(lng)}
        except ValueError:
            errors.append({"field": "lat" if lat else "long", "message": "lat 和 long 须同时给出，且为数字"})
            return None
        if not (-90 <= point["lat"] <= 90 and -180 <= point["lng"] <= 180) or not all(
            map(math.isfinite, point.values())
        ):
            errors.append({"field": "lat", "message": "坐标超出范围（WGS84）"})
            return None
        return point

    # ---- GET requests -----------------------------------------------------------------------------
    async def search(self, partner: dict[str, Any] | None, town: dict[str, Any], filters: Filters) -> list[Case]:
        """The requests of a town a caller may list, newest first, by date, service and status within the spec's
        span and limit."""
        config = self._ctx.config.open311
        mine_only = partner is not None and "read_public" not in partner["abilities"]
        now = self._ctx.clock.now()
        end = filters.end or now
        start = filters.start or end - timedelta(days=config.list_days)
        if start > end:
            raise ValidationFailed(details=[{"field": "start_date", "message": "开始时间不能晚于结束时间"}])
        if end - start > timedelta(days=config.list_days):
            raise ValidationFailed(
                details=[{"field": "end_date", "message": f"时间跨度不能超过 {config.list_days} 天"}]
            )
        extra: dict[str, Any] = {"state": {"$in": states_of(filters.statuses)}}
        if filters.codes:
            extra["category"] = {"$in": filters.codes}
        if mine_only:
            assert partner is not None
            extra["partner_id"] = partner["_id"]
        return await self._cases.in_town_between(town["_id"], start, end, extra, config.list_limit)

    async def by_numbers(self, partner: dict[str, Any] | None, numbers: list[str]) -> list[Case]:
        """The requests with these ids that the caller may see (one it may not is left out, as if it did not
        exist), in the order asked."""
        mine_only = partner is not None and "read_public" not in partner["abilities"]
        found = {c["number"]: c for c in await self._cases.by_numbers(numbers[: self._ctx.config.open311.list_limit])}
        return [found[n] for n in dict.fromkeys(numbers) if n in found and self._listable(found[n], partner, mine_only)]

    async def one(self, partner: dict[str, Any] | None, number: str) -> Case:
        found = await self.by_numbers(partner, [number])
        if not found:
            raise NotFound("找不到该请求")
        return found[0]

    async def token(self, token: str) -> Case:
        case = await self._cases.by_open311_token(token)
        if case is None:
            raise NotFound("找不到该令牌")
        return case

    @staticmethod
    def _listable(case: Case, partner: dict[str, Any] | None, mine_only: bool) -> bool:
        if case["state"] == "draft":
            return False
        if partner is not None and case.get("town_id") not in partner["town_ids"]:
            return False
        return not mine_only or case.get("partner_id") == (partner or {}).get("_id")

    # ---- what a request looks like ----------------------------------------------------------------
    async def views(self, cases: list[Case], partner_id: ObjectId | None) -> list[dict[str, Any]]:
        """The cases as service requests, each showing what this caller may see (the module's docstring)."""
        unit_ids = {u for c in cases for u in (c.get("assigned_org_id"), c.get("village_id"), c.get("town_id")) if u}
        units = await self._orgs.by_ids(list(unit_ids))
        return [request_view(case, units, partner_id, self._ctx.tz) for case in cases]


# A case's input fields as the Open311 parameters that filled them.
SPEC_NAMES = {
    "category": "service_code",
    "parties.0.name": "first_name",
    "parties.0.phone": "phone",
    "parties.0.address": "address_string",
    "parties.1.name": "attribute[respondent]",
    "external_ref": "attribute[external_ref]",
    "village_id": "attribute[village]",
}


def spec_name(field: str) -> str:
    return SPEC_NAMES.get(field, field)


def states_of(statuses: list[str]) -> list[str]:
    """Open311's `open`/`closed` as our states (a draft is never listed)."""
    wanted = set(statuses or ("open", "closed"))
    states: list[str] = [s for s in OPEN_STATES if s != "draft"] if "open" in wanted else []
    return states + (["closed", "rejected"] if "closed" in wanted else [])


def request_view(
    case: Case, units: dict[ObjectId, dict[str, Any]], partner_id: ObjectId | None, tz: Any
) -> dict[str, Any]:
    """One service request: the public fields, and for the partner that sent it what it sent."""

    def name(unit_id: ObjectId | None) -> str | None:
        return units[unit_id]["name"] if unit_id in units else None

    own = partner_id is not None and case.get("partner_id") == partner_id
    closed = case["state"] in ("closed", "rejected")
    town = name(case.get("town_id"))
    agency = name(case.get("assigned_org_id")) or (f"{town}三源共治办公室" if town else None)
    conclude = (case.get("deadlines") or {}).get("conclude") or {}
    applicant: dict[str, Any] = next((p for p in case.get("parties") or [] if p["role"] == "applicant"), {})
    gps = case.get("gps") or {}
    place = "，".join(n for n in (name(case.get("village_id")), town) if n)
    return {
        "service_request_id": case["number"],
        "status": "closed" if closed else "open",
        "status_notes": status_label(case),
        "service_name": CATEGORIES.get(case["category"], case["category"]),
        "service_code": case["category"],
        "description": case["description"] if own else None,
        "agency_responsible": agency,
        "service_notice": SERVICE_NOTICE,
        "requested_datetime": w3c(case["created_at"], tz),
        "updated_datetime": w3c(case.get("closed_at") if closed and case.get("closed_at") else case["updated_at"], tz),
        "expected_datetime": None if closed else w3c(conclude.get("due"), tz),
        "address": (applicant.get("address") or place) if own else place,
        "address_id": str(case["village_id"]) if case.get("village_id") else None,
        "zipcode": None,
        "lat": gps.get("lat") if own else None,
        "long": gps.get("lng") if own else None,
        "media_url": None,
    }
