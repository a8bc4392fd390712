"""The 人民调解协议书: what a valid one carries, read back from the PDF as text, with its font embedded."""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any

from pypdf import PdfReader

from server.core.context import Context
from server.core.pii import age_on, id_check_digit
from tests.test_cases_lifecycle import act
from tests.town import resident_case

ZHANG_ID = "11010119800101123" + id_check_digit("11010119800101123")  # born 1980-01-01, odd 17th digit: male
PARTIES = [
    {
        "role": "applicant",
        "name": "张三",
        "phone": "13812345678",
        "id_number": ZHANG_ID,
        "address": "测试镇甲村幸福路12号",
    },
    {"role": "respondent", "name": "李四", "sex": "female", "birth_date": "1975-06-30", "address": "测试镇甲村8号"},
]
AGREEMENT: dict[str, Any] = {
    "outcome": "agreement",
    "agreement": {
        "parties": ["张三", "李四", "王五"],
        "facts": "李四装修时占用张三家出入通道",
        "terms": ["李四于三日内清理通道", "双方今后友好相处"],
        "performance_deadline": "2026-12-31",
        "performance_method": "当面清理",
    },
}


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace("\n", "")


def embedded_fonts(pdf: bytes) -> list[tuple[str, bool]]:
    """(BaseFont, has an embedded font program) for every font the pages use."""
    found = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources: Any = page["/Resources"]
        for font in resources["/Font"].values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            described = descendants[0].get_object() if descendants else font
            descriptor = described.get("/FontDescriptor")
            program = descriptor and any(
                k in descriptor.get_object() for k in ("/FontFile", "/FontFile2", "/FontFile3")
            )
            found.append((str(font["/BaseFont"]), bool(program)))
    return found


async def concluded_case(api: Any, town: Any) -> dict[str, Any]:
    body = resident_case(town, parties=PARTIES)
    case = (await api.post("/api/cases", body, token=town.people["resident_a"].token)).json
    await act(api, town, "office", case["id"], "assign")
    await act(api, town, "mediator_a", case["id"], "accept")
    return await act(api, town, "mediator_a", case["id"], "conclude", **AGREEMENT)


async def test_the_original_carries_every_partys_particulars_and_the_village_committee(api, ctx: Context, town) -> None:
    case = await concluded_case(api, town)
    signed_on = datetime.fromisoformat(case["outcome"]["at"]).astimezone(ctx.tz).date()

    response = await api.get(f"/api/cases/{case['id']}/agreement.pdf", token=town.people["mediator_a"].token)
    assert response.status == 200
    text = text_of(response.body)

    age = age_on(datetime(1980, 1, 1).date(), signed_on)
    assert f"张三，性别男，1980年01月01日出生（{age}岁），身份证号码{ZHANG_ID}" in text  # sex and birth from the ID
    assert "住所测试镇甲村幸福路12号，联系方式13812345678" in text
    assert f"李四，性别女，1975年06月30日出生（{age_on(datetime(1975, 6, 30).date(), signed_on)}岁）" in text
    assert "王五，性别________，出生日期________，身份证号码________" in text  # not a case party: blanks to fill in
    assert "李四装修时占用张三家出入通道" in text
    assert "1. 李四于三日内清理通道" in text
    assert "履行方式、时限：当面清理，于 2026-12-31 前履行完毕" in text
    assert "一式四份" in text  # three parties and the committee
    assert "人民调解员（签名）：mediator_a" in text
    assert "甲村人民调解委员会（印章）" in text  # the village's committee, not the room
    assert "调解室" not in text
    assert f"{signed_on:%Y年%m月%d日}" in text
    assert "副本" not in text

    fonts = embedded_fonts(response.body)
    assert fonts
    assert all(embedded for _, embedded in fonts), fonts
    assert all(re.match(r"/[A-Z]{6}\+", name) for name, _ in fonts), fonts  # subset-tagged names
    assert len(response.body) < 200_000  # a subset of the glyphs used, not the 5 MB font

    reveals = await ctx.db["audit_log"].find({"action": "case.reveal"}).to_list(None)
    assert [r["actor_id"] for r in reveals] == [town.people["mediator_a"].user["_id"]]


async def test_anyone_else_gets_a_masked_copy(api, ctx: Context, town) -> None:
    case = await concluded_case(api, town)
    response = await api.get(f"/api/cases/{case['id']}/agreement.pdf", token=town.people["resident_a"].token)
    assert response.status == 200
    assert "-%E5%89%AF%E6%9C%AC.pdf" in response.headers["Content-Disposition"]  # "-副本.pdf"
    text = text_of(response.body)
    assert "副本" in text
    assert ZHANG_ID not in text
    assert "13812345678" not in text
    assert f"身份证号码{ZHANG_ID[:3]}" in text
    assert "138****5678" in text
    assert "幸福路*号" in text
    assert await ctx.db["audit_log"].count_documents({"action": "case.reveal"}) == 0


async def test_the_id_number_wins_over_particulars_typed_beside_it(api, town) -> None:
    parties = [{**PARTIES[0], "sex": "female", "birth_date": "1981-01-01"}, PARTIES[1]]
    case = (
        await api.post("/api/cases", resident_case(town, parties=parties), token=town.people["resident_a"].token)
    ).json
    await act(api, town, "office", case["id"], "assign")
    view = (await api.get(f"/api/cases/{case['id']}", token=town.people["mediator_a"].token)).json
    assert (view["parties"][0]["sex"], view["parties"][0]["birth_date"]) == ("male", "1980-01-01")
    assert (view["parties"][1]["sex"], view["parties"][1]["birth_date"]) == ("female", "1975-06-30")  # no ID: as given


async def test_staff_views_mask_the_address_until_revealed(api, town) -> None:
    case = (
        await api.post("/api/cases", resident_case(town, parties=PARTIES), token=town.people["resident_a"].token)
    ).json
    await act(api, town, "office", case["id"], "assign")
    view = (await api.get(f"/api/cases/{case['id']}", token=town.people["mediator_a"].token)).json
    zhang = view["parties"][0]
    assert (zhang["sex"], zhang["birth_date"]) == ("male", "1980-01-01")
    assert zhang["address"] == "测试镇甲村幸福路*号"
    full = (
        await api.get(
            f"/api/cases/{case['id']}?reveal=1&reason=%E6%A0%B8%E5%AF%B9", token=town.people["mediator_a"].token
        )
    ).json
    assert full["parties"][0]["address"] == "测试镇甲村幸福路12号"
