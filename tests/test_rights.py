"""个人信息保护法: the privacy notice and its acceptance by version; a person's own data, as JSON and PDF, with
nothing of other people."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pypdfium2
import pytest
from bson import ObjectId

from notify.outbox import Relay
from server.core import indexes
from server.core.context import Context
from tests.test_access_matrix import png
from tests.test_assessment import handled
from tests.test_mediators import AGREEMENT, act
from tests.town import Town, build_twin_town, inbox_texts, resident_case


async def test_a_new_notice_version_asks_again(api, ctx: Context, town: Town) -> None:
    resident = town.people["resident_a"].token
    notice = await api.get("/api/privacy-notice")  # no account needed to read it
    assert notice.status == 200
    assert "隐私政策" in notice.json["text"]
    version = notice.json["version"]
    assert (await api.get("/api/me", token=resident)).json["privacy_consent_needed"] is True
    stale = await api.post("/api/me/privacy-consent", {"version": "2020-01"}, token=resident)
    assert stale.status == 409
    assert stale.json["error"]["code"] == "notice_outdated"
    accepted = await api.post("/api/me/privacy-consent", {"version": version}, token=resident)
    assert accepted.status == 200
    assert accepted.json["privacy_consent_needed"] is False
    ctx.config.privacy.notice_version = "2027-01"  # the town publishes a new notice
    assert (await api.get("/api/me", token=resident)).json["privacy_consent_needed"] is True
    await api.post("/api/me/privacy-consent", {"version": "2027-01"}, token=resident)
    data = (await api.get("/api/me/data", token=resident)).json
    assert [c["version"] for c in data["consents"]["privacy_notice"]] == [version, "2027-01"]
    assert await ctx.db["audit_log"].count_documents({"action": "user.privacy_consent"}) == 2


async def test_my_data_is_everything_about_me_and_nothing_of_others(api, ctx: Context, town: Town) -> None:
    me, other = town.people["resident_a"], town.people["resident_b"]
    mine = await api.post("/api/cases", resident_case(town), token=me.token)
    theirs = await api.post(
        "/api/cases", resident_case(town, description="另一位居民反映的纠纷，与我无关。"), token=other.token
    )
    grid = town.people["grid_a"].token
    household = await api.post(
        "/api/households",
        {
            "micro_grid_id": town.id("甲村微网格"),
            "address": "甲村5组8号",
            "members": [
                {"name": "本人", "relation": "户主", "phone": me.phone},
                {"name": "钱七", "relation": "配偶", "phone": "13912340000", "id_number": "11010519491231002X"},
            ],
        },
        token=grid,
    )
    assert household.status == 201, household.json
    prefs = await api.put("/api/me/preferences", {"wechat": True, "sms_consent": True}, token=me.token)
    assert prefs.status == 200

    data = await api.get("/api/me/data", token=me.token)
    assert data.status == 200
    text = json.dumps(data.json, ensure_ascii=False)
    assert [c["number"] for c in data.json["cases"]] == [mine.json["number"]]
    assert theirs.json["number"] not in text
    assert data.json["cases"][0]["timeline"]
    assert data.json["cases"][0]["description"]
    assert [h["address"] for h in data.json["households"]] == ["甲村5组8号"]
    assert {"name": "钱七", "relation": "配偶"} in data.json["households"][0]["members"]
    assert "13912340000" not in text
    assert "11010519491231002X" not in text
    assert "1391234" not in text
    assert me.phone not in text
    assert data.json["account"]["phone"] == me.phone[:3] + "****" + me.phone[-4:]
    assert data.json["consents"]["sms"]["given"] is True
    assert data.json["devices"]
    assert await ctx.db["audit_log"].count_documents({"action": "user.data_export"}) == 1

    pdf = await api.get("/api/me/data/pdf", token=me.token)
    assert pdf.headers["Content-Type"] == "application/pdf"
    document = pypdfium2.PdfDocument(pdf.body)
    printed = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    assert mine.json["number"] in printed
    assert "甲村5组8号" in printed
    assert theirs.json["number"] not in printed


async def household_of(api, town: Town, phone: str, address: str = "甲村6组1号") -> str:
    made = await api.post(
        "/api/households",
        {
            "micro_grid_id": town.id("甲村微网格"),
            "address": address,
            "members": [{"name": "王五", "relation": "户主", "phone": phone}],
        },
        token=town.people["grid_a"].token,
    )
    assert made.status == 201, made.json
    return str(made.json["id"])


async def test_closing_an_account_erases_what_nothing_needs_and_keeps_what_the_law_does(
    api, ctx: Context, town: Town
) -> None:
    me = town.people["resident_a"]
    await household_of(api, town, me.phone)
    draft = await api.post("/api/cases", resident_case(town, draft=True), token=me.token)
    kept_open = await api.post("/api/cases", resident_case(town), token=me.token)
    agreed_id = await handled(api, ctx, town, "甲村", "mediator_a", AGREEMENT, True)
    told = resident_case(town, description="我是张三，电话 13812345678，邻居占了我家的路。")
    refused = await api.post("/api/cases", told, token=me.token)
    photo = await api.post(
        f"/api/cases/{refused.json['id']}/attachments",
        body=png(),
        token=me.token,
        headers={"Content-Type": "image/png"},
    )
    stored_key = (await ctx.db["cases"].find_one({"_id": ObjectId(refused.json["id"])}))["attachments"][0]["key"]
    assert photo.status == 201
    await act(api, town, "office", refused.json["id"], "reject", reason="不属于人民调解受理范围")
    await Relay(ctx).run_once()
    assert await ctx.db["inbox"].count_documents({"user_id": me.user["_id"]}) > 0
    phone_hash = me.user["phone_hash"]

    assert (await api.post("/api/me/close", {"confirm": True}, token=town.people["office"].token)).status == 403
    closed = await api.post("/api/me/close", {"confirm": True}, token=me.token)
    assert closed.status == 200, closed.json
    agreed = await ctx.db["cases"].find_one({"_id": ObjectId(agreed_id)})
    assert closed.json["drafts_deleted"] == 1
    assert closed.json["cases_anonymised"] == [refused.json["number"]]
    assert closed.json["cases_kept_open"] == [kept_open.json["number"]]
    assert closed.json["cases_kept_agreement"] == [agreed["number"]]
    assert await ctx.db["cases"].find_one({"_id": ObjectId(draft.json["id"])}) is None
    gone = await ctx.db["cases"].find_one({"_id": ObjectId(refused.json["id"])})
    assert gone["resident_id"] is None
    assert gone["attachments"] == []
    applicant = gone["parties"][0]
    assert applicant["name"] == "已注销用户"
    assert "phone_hash" not in applicant
    assert "phone_enc" not in applicant
    assert "张三" not in gone["description"]
    assert "13812345678" not in gone["description"]
    with pytest.raises(FileNotFoundError):
        ctx.storage.get(stored_key)
    assert await ctx.db["inbox"].count_documents({"user_id": me.user["_id"]}) == 0
    assert (await api.get("/api/me", token=me.token)).status == 401  # every session ended
    account = await ctx.db["users"].find_one({"_id": me.user["_id"]})
    assert account["name"] == "已注销用户"
    assert account["active"] is False
    assert not {"phone_hash", "phone_enc", "openid", "prefs"} & set(account)

    # The phone is left only where the README says: the cases kept, and the town's household register.
    kept = {ObjectId(kept_open.json["id"]), ObjectId(agreed_id)}
    indexes.load_all()
    for name in indexes.declared():  # every collection the platform has
        async for doc in ctx.db[name].find({}):
            if phone_hash in json.dumps(doc, default=str, ensure_ascii=False):
                assert (name == "cases" and doc["_id"] in kept) or name == "households", (name, doc["_id"])
    assert await ctx.db["audit_log"].count_documents({"action": "user.closed"}) == 1


async def test_a_correction_request_goes_to_the_grid_worker_and_comes_back(
    api, ctx: Context, town: Town, login
) -> None:
    twin = await build_twin_town(ctx, login, town)
    me = town.people["resident_a"]
    household = await household_of(api, town, me.phone)
    elsewhere = await household_of(api, town, "13700009999", address="甲村6组2号")
    refused = await api.post(
        "/api/me/corrections", {"household_id": elsewhere, "text": "户主电话已变更"}, token=me.token
    )
    assert refused.status == 404
    asked = await api.post("/api/me/corrections", {"household_id": household, "text": "户主电话已变更"}, token=me.token)
    assert asked.status == 201, asked.json
    due = datetime.fromisoformat(asked.json["due_on"])
    assert due - ctx.clock.now() > timedelta(days=ctx.config.privacy.correction_days - 1)
    grid = town.people["grid_a"].token
    assert any("更正申请" in t for t in await inbox_texts(api, grid))
    assert not any("更正申请" in t for t in await inbox_texts(api, twin.people["grid_a"].token))  # not theirs
    file = (await api.get(f"/api/households/{household}/file", token=grid)).json
    note = next(n for n in file["notes"] if "更正申请" in n["text"])
    done = await api.post(
        f"/api/households/{household}/notes/{note['id']}/done", {"text": "已核实并更正电话"}, token=grid
    )
    assert done.status == 200, done.json
    assert "您的住户信息更正申请已处理：已核实并更正电话" in await inbox_texts(api, me.token)
    actions = [r["action"] async for r in ctx.db["audit_log"].find({"target_type": "household"})]
    assert {"household.correction_request", "household.correction_done"} <= set(actions)
