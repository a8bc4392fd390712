"""A person's own data (个人信息保护法 查阅复制权): everything the platform holds about them, in one answer.

The account and its consents (privacy notice versions, SMS), the households where their phone is a member
(each member shown by name and relation only: the others are not theirs to see in full), their cases with the
public timeline and the outcome, their messages and their signed-in devices. As JSON, and as a readable PDF.
Every export is audited. Nothing of other people: no other party's phone or ID, no staff names beyond the
units that handled a case.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from notify.inbox import InboxService
from server.cases.model import status_label
from server.cases.repository import NEWEST_FIRST, CaseRepository
from server.core.auth import Principal
from server.core.pdf import PageWriter, document_font
from server.core.pii import mask_numbers_in_text, mask_phone
from server.core.vocabulary import CATEGORIES, OUTCOME_LABELS
from server.orgs.tree import OrgService
from server.people.privacy import PrivacyService
from server.people.sessions import SessionService
from server.people.users import ROLE_NAMES, UserService
from server.places.households import HouseholdService

if TYPE_CHECKING:
    from server.core.context import Context

LIMIT = 500  # of each kind; a person with more asks the office
CASE_FIELDS = {
    f: 1
    for f in (
        "number", "category", "state", "outcome", "suspended", "description", "created_at", "village_id",
        "assigned_org_id", "timeline",
    )
}  # fmt: skip


class PersonalData:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def collect(self, principal: Principal) -> dict[str, Any]:
        ctx, user_id = self._ctx, ObjectId(principal.user_id)
        users = UserService(ctx)
        user = await users.get(user_id)
        phone = users.phone_of(user)
        prefs = {"sms_consent": False, "sms_consent_at": None} | (user.get("prefs") or {})
        households = (
            await HouseholdService(ctx).with_member_phone(ctx.cipher.lookup_hash(phone, "phone")) if phone else []
        )
        cases, _ = await CaseRepository(ctx.db).page(
            {"resident_id": user_id}, sort=NEWEST_FIRST, skip=0, limit=LIMIT, projection=CASE_FIELDS
        )
        messages, _, _ = await InboxService(ctx).list(user_id, unread_only=False, skip=0, limit=LIMIT)
        sessions, _ = await SessionService(ctx).list_active(user_id, skip=0, limit=LIMIT)
        units = await OrgService(ctx).by_ids(
            [u for c in cases for u in (c.get("assigned_org_id"), c.get("village_id")) if u]
            + [h["micro_grid_id"] for h in households]
        )

        def unit(org_id: ObjectId | None) -> str | None:
            return units[org_id]["name"] if org_id in units else None

        data = {
            "account": {
                "id": str(user["_id"]),
                "name": user["name"],
                "phone": mask_phone(phone) if phone else None,
                "roles": [ROLE_NAMES.get(g["role"], g["role"]) for g in user.get("grants") or []],
                "created_at": user.get("created_at"),
                "wechat_bound": bool(user.get("openid")),
            },
            "consents": {
                "privacy_notice": [
                    {"version": c["version"], "at": c["at"]} for c in user.get("privacy_consents") or []
                ],
                "privacy_notice_current": PrivacyService(ctx).version,
                "sms": {"given": bool(prefs["sms_consent"]), "at": prefs.get("sms_consent_at")},
            },
            "households": [
                {
                    "address": h["address"],
                    "micro_grid": unit(h["micro_grid_id"]),
                    "members": [{"name": m["name"], "relation": m.get("relation")} for m in h.get("members") or []],
                }
                for h in households
            ],
            "cases": [
                {
                    "number": c["number"],
                    "category": CATEGORIES.get(c["category"], c["category"]),
                    "status": status_label(c),
                    "description": mask_numbers_in_text(c["description"]),
                    "created_at": c["created_at"],
                    "village": unit(c.get("village_id")),
                    "handled_by": unit(c.get("assigned_org_id")),
                    "outcome": OUTCOME_LABELS.get((c.get("outcome") or {}).get("type", "")),
                    "timeline": [
                        {"at": e["at"], "what": e["action"], "note": mask_numbers_in_text(e.get("note") or "")}
                        for e in c.get("timeline") or []
                        if e.get("public")
                    ],
                }
                for c in cases
            ],
            "messages": [{"at": m["created_at"], "text": m["text"]} for m in messages],
            "devices": [
                {"signed_in": s["created_at"], "last_used": s["last_used_at"], "client": s["user_agent"]}
                for s in sessions
            ],
        }
        now = ctx.clock.now()
        await ctx.audit.record_for(principal, "user.data_export", "user", user_id, now, {"cases": len(cases)})
        return data


def render_personal_data(data: dict[str, Any], tz: Any) -> bytes:
    """The export as a readable A4 document (for printing or keeping)."""
    font = document_font()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, initialFontName=font)  # type: ignore[arg-type]
    canvas.setTitle("我的个人信息")
    w = PageWriter(canvas, font)

    def when(moment: Any) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else "—"

    account = data["account"]
    w.title("我在三源共治平台的个人信息")
    w.line(f"姓名：{account['name']}　手机号：{account['phone'] or '未绑定'}　注册时间：{when(account['created_at'])}")
    w.line(f"身份：{'、'.join(account['roles']) or '群众'}")
    consents = data["consents"]
    agreed = "；".join(f"{c['version']}（{when(c['at'])}）" for c in consents["privacy_notice"]) or "尚未同意"
    w.line(f"同意的隐私政策版本：{agreed}；当前版本 {consents['privacy_notice_current']}")
    sms = consents["sms"]
    w.line(f"短信通知：{'已同意' if sms['given'] else '未同意'}（{when(sms['at'])}）")
    w.line(f"住户（{len(data['households'])} 户）：", size=13)
    for h in data["households"]:
        members = "、".join(f"{m['name']}（{m['relation'] or '成员'}）" for m in h["members"])
        w.line(f"{h['address']}，{h['micro_grid'] or ''}：{members}", indent=12)
    w.line(f"我反映的矛盾纠纷（{len(data['cases'])} 件）：", size=13)
    for c in data["cases"]:
        w.line(f"{c['number']} {c['category']}，{c['status']}，{when(c['created_at'])}", indent=12)
        w.line(c["description"], indent=24, size=10)
        for entry in c["timeline"]:
            w.line(f"{when(entry['at'])} {entry['what']} {entry['note']}", indent=24, size=9)
    w.line(f"收到的消息（{len(data['messages'])} 条）：", size=13)
    for m in data["messages"]:
        w.line(f"{when(m['at'])} {m['text']}", indent=12, size=10)
    w.line(f"登录设备（{len(data['devices'])} 个）：", size=13)
    for d in data["devices"]:
        w.line(
            f"{when(d['signed_in'])} 登录，最近使用 {when(d['last_used'])}，{d['client'] or '未知'}", indent=12, size=10
        )
    canvas.save()
    return buffer.getvalue()
