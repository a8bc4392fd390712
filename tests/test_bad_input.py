"""A corpus of bad input against every write endpoint of the OpenAPI document: every answer is a 4xx in the
error envelope (the `api` client checks the envelope on each response), never a 500, and nothing is
stored. A new write endpoint is covered without a test of its own; one the corpus cannot reach (a path
parameter it has no value for) fails here until `PATH_VALUES` learns it."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest
from openpyxl import Workbook
from PIL import Image

from server.core.context import Context
from tests.files import one_page_pdf
from tests.town import register_household, resident_case

COUNTED: tuple[str, ...] = ("cases", "households", "visits", "users", "org_units", "idempotency_keys", "outbox", "jobs")
COUNTED += ("roster", "experts", "rating_runs", "subsidy_statements", "consultations")
COUNTED += ("source_statistics", "criminal_incidents", "assessment_schemes", "assessment_bonuses", "assessment_runs")
COUNTED += ("spot_checks", "spot_check_items", "supervision_notices", "inspections")
COUNTED += ("disputes", "household_notes", "warnings", "briefings")
COUNTED += ("articles", "partners")

# What a bad JSON body can be, and the status each must get (any endpoint that takes JSON).
JSON_CORPUS: list[tuple[str, bytes, str, set[int]]] = [
    ("malformed", b'{"description": ', "application/json", {400}),
    ("deeply nested", b"[" * 5000 + b"]" * 5000, "application/json", {400}),
    ("nested objects", b'{"a":' * 3000 + b"1" + b"}" * 3000, "application/json", {400}),
    ("not an object", b'["a", 1]', "application/json", {422}),
    ("a bare string", b'"hello"', "application/json", {422}),
    ("NUL in a string", b'{"description": "bad\\u0000text", "name": "a\\u0000"}', "application/json", {422}),
    ("invalid UTF-8", b'{"name": "\xff\xfe"}', "application/json", {400}),
    ("wrong content type", b'{"name": "x"}', "text/plain", {415}),
    ("form encoded", b"name=x&phone=1", "application/x-www-form-urlencoded", {415}),
    ("empty", b"", "application/json", {400}),
]


def xlsx_without_sheets() -> bytes:
    buffer = io.BytesIO()
    book = Workbook()
    book.save(buffer)
    data = buffer.getvalue()
    # Rewrite the workbook part so that it lists no sheets.
    source, target = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(target, "w") as out:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/workbook.xml":
                content = re.sub(rb"<sheets>.*</sheets>", b"<sheets/>", content, flags=re.S)
            out.writestr(item, content)
    return target.getvalue()


def xlsx_truncated_sheet() -> bytes:
    buffer = io.BytesIO()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["微网格", "地址", "姓名", "与户主关系"])
    sheet.append(["甲村微网格", "甲村1号", "张三", "户主"])
    book.save(buffer)
    source, target = zipfile.ZipFile(io.BytesIO(buffer.getvalue())), io.BytesIO()
    with zipfile.ZipFile(target, "w") as out:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                content = content[: len(content) // 2]
            out.writestr(item, content)
    return target.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Damaged spreadsheets for the import endpoints.
SHEET_CORPUS: list[tuple[str, bytes, str]] = [
    ("xlsx with no sheets", xlsx_without_sheets(), XLSX),
    ("xlsx with a truncated sheet", xlsx_truncated_sheet(), XLSX),
    ("not a zip at all", b"PK\x03\x04 not really", XLSX),
    (
        "csv with a 1 MB cell",
        ("微网格,地址,姓名,与户主关系\n甲村微网格," + "长" * 1_000_000 + ",张三,户主\n").encode(),
        "text/csv",
    ),
    ("csv with a NUL", b"a,b\n\x00,c\n", "text/csv"),
    ("csv in no known encoding", b"\xff\xfe\xfa\xfb,\x81\n", "text/csv"),
    ("empty csv", b"", "text/csv"),
]


async def counts(ctx: Context) -> dict[str, int]:
    return {name: await ctx.db[name].count_documents({}) for name in COUNTED}


async def path_values(api, ctx: Context, town) -> dict[str, str]:
    case = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    assert case.status == 201
    household = await register_household(api, town.id("甲村微网格"), "甲村1组1号", "张三", town.people["office"].token)
    return {
        "case_id": case.json["id"],
        "household_id": household["id"],
        "member_id": household["members"][0]["id"],
        "org_id": town.id("甲村"),
        "user_id": str(town.people["mediator_a"].user["_id"]),
        "action": "assign",
        "session_id": str(town.people["office"].session_id)
        if hasattr(town.people["office"], "session_id")
        else "0" * 24,
        "message_id": "0" * 24,
        "job_id": "0" * 24,
        "attachment_id": "0" * 24,
        "token": "no-such-plate",
        # Ids of the mediators' records: the bad input is refused before any of them is looked up.
        "mediator_id": "0" * 24,
        "expert_id": "0" * 24,
        "rating_id": "0" * 24,
        "statement_id": "0" * 24,
        "consultation_id": "0" * 24,
        # The assessment's and supervision's records, likewise.
        "row_id": "0" * 24,
        "run_id": "0" * 24,
        "check_id": "0" * 24,
        "notice_id": "0" * 24,
        "key": "agreement_rate",
        "year": "2026",
        "dispute_id": "0" * 24,
        "note_id": "0" * 24,
        "warning_id": "0" * 24,
        # Articles and partner systems.
        "article_id": "0" * 24,
        "step": "submit",
        "partner_id": "0" * 24,
    }


def write_operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if method in ("post", "put", "patch") and "requestBody" in operation
    ]


def fill(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"the corpus has no value for path parameter {name!r} in {path}"
        return values[name]

    return re.sub(r"\{(\w+)\}", value, path)


async def test_every_write_endpoint_refuses_bad_json_with_a_4xx_and_stores_nothing(api, ctx: Context, town) -> None:
    values = await path_values(api, ctx, town)
    openapi = (await api.get("/api/openapi.json")).json
    operations = [op for op in write_operations(openapi) if "application/json" in op[2]["requestBody"]["content"]]
    assert len(operations) >= 15  # the corpus really walks the API
    before = await counts(ctx)
    tokens = [town.people["office"].token, town.people["resident_a"].token]
    for method, path, _ in operations:
        for name, body, content_type, expected in JSON_CORPUS:
            for token in tokens:
                answer = await api.request(
                    method, fill(path, values), body=body, token=token, headers={"Content-Type": content_type}
                )
                assert 400 <= answer.status < 500, (method, path, name, answer.status, answer.body[:200])
                if answer.status not in (401, 403, 404):  # refused before the body was read: also fine
                    assert answer.status in expected, (method, path, name, answer.status, answer.json)
    assert await counts(ctx) == before


async def test_the_imports_refuse_damaged_spreadsheets_with_a_422(api, ctx: Context, town) -> None:
    before = await counts(ctx)
    imports = [
        (f"/api/households/import?village_id={town.id('甲村')}", town.people["office"].token),
        ("/api/cases/import/court", town.people["court"].token),
    ]
    for path, token in imports:
        for name, data, content_type in SHEET_CORPUS:
            answer = await api.post(path, body=data, token=token, headers={"Content-Type": content_type})
            assert answer.status == 422, (path, name, answer.status, answer.body[:300])
            assert answer.error_code.startswith("import_"), (path, name, answer.json)
    assert await counts(ctx) == before


@pytest.mark.parametrize(
    ("name", "data", "content_type", "status"),
    [
        ("junk called a photo", b"\x00\x01 not an image at all", "image/jpeg", {415}),  # sniffed, not believed
        ("a PNG header and nothing else", b"\x89PNG\r\n\x1a\n", "image/png", {422}),
        ("text", b"hello", "text/plain", {415}),
        ("nothing", b"", "image/png", {415, 422}),
    ],
)
async def test_attachments_refuse_what_they_cannot_read(
    api, ctx: Context, town, name: str, data: bytes, content_type: str, status: set[int]
) -> None:
    case = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    answer = await api.post(
        f"/api/cases/{case.json['id']}/attachments",
        body=data,
        token=town.people["resident_a"].token,
        headers={"Content-Type": content_type},
    )
    assert answer.status in status, (name, answer.json)
    stored = await ctx.db["cases"].find_one({})
    assert stored is not None
    assert stored["attachments"] == []


def multipart(field: str, filename: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    """A body as `wx.uploadFile` sends it: one file field (plus the form fields it may add)."""
    boundary = "----wxUpload7MA4YWxkTrZu0gW"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="user"\r\n\r\ntest\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


async def test_an_attachment_may_come_as_the_mini_program_sends_it(api, ctx: Context, town) -> None:
    resident = town.people["resident_a"].token
    case = await api.post("/api/cases", resident_case(town), token=resident)
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), "blue").save(photo, "PNG")
    body, content_type = multipart("file", "wx_photo.png", photo.getvalue(), "image/png")
    answer = await api.post(
        f"/api/cases/{case.json['id']}/attachments", body=body, token=resident, headers={"Content-Type": content_type}
    )
    assert answer.status == 201, answer.json
    (attachment,) = answer.json["attachments"]
    assert attachment["content_type"] == "image/jpeg"  # re-encoded, as a raw upload would be
    stored = await api.get(attachment["url"], token=resident)
    assert Image.open(io.BytesIO(stored.body)).size == (64, 48)
    empty, empty_type = multipart("file", "x.png", b"", "image/png")
    no_file = empty.replace(b'; filename="x.png"', b"")  # a form field, not a file
    refused = await api.post(
        f"/api/cases/{case.json['id']}/attachments", body=no_file, token=resident, headers={"Content-Type": empty_type}
    )
    assert (refused.status, refused.json["error"]["details"]) == (422, [{"field": "file", "message": "请上传一个文件"}])
    openapi = (await api.get("/api/openapi.json")).json
    content = openapi["paths"]["/api/cases/{case_id}/attachments"]["post"]["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert "image/jpeg" in content


async def test_http_details_say_exactly_what_the_server_accepts(api, town) -> None:
    office = town.people["office"].token
    wrong = await api.request("DELETE", "/api/cases", token=office)
    assert (wrong.status, wrong.headers["Allow"]) == (405, "GET, POST")
    for path in ("/api/cases", "/api/visits"):
        for value in ("0.5", "1732780800", "yesterday"):
            answer = await api.get(f"{path}?until={value}", token=office)
            assert (answer.status, answer.json["error"]["details"][0]["field"]) == (422, "until"), (path, value)
        assert (await api.get(f"{path}?until=2026-11-28T00:00:00%2B08:00", token=office)).status == 200
    patched = await api.request(
        "PATCH", f"/api/orgs/{town.id('甲村')}", json_body={"name": None, "population": False}, token=office
    )
    assert patched.status == 422
    assert sorted(d["field"] for d in patched.json["error"]["details"]) == ["name", "population"]
    unchanged = await api.get(f"/api/orgs/{town.id('甲村')}", token=office)
    assert unchanged.json["name"] == "甲村"


async def test_downloads_say_how_they_may_be_opened(api, town) -> None:
    resident = town.people["resident_a"].token
    case_id = (await api.post("/api/cases", resident_case(town), token=resident)).json["id"]
    photo = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(photo, "PNG")
    pdf = one_page_pdf()
    urls = {}
    for name, data, content_type in (("photo", photo.getvalue(), "image/png"), ("pdf", pdf, "application/pdf")):
        answer = await api.post(
            f"/api/cases/{case_id}/attachments", body=data, token=resident, headers={"Content-Type": content_type}
        )
        assert answer.status == 201, answer.json
        urls[name] = answer.json["attachments"][-1]["url"]
    shown = await api.get(urls["photo"], token=resident)
    assert shown.headers["Content-Disposition"].startswith("inline; filename*=UTF-8''")
    saved = await api.get(urls["pdf"], token=resident)
    assert saved.headers["Content-Disposition"].startswith("attachment; filename*=UTF-8''")
    assert saved.headers["X-Content-Type-Options"] == "nosniff"
