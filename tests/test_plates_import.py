"""Printing plates (background job and CLI) and importing a village's register from CSV or XLSX."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from openpyxl import Workbook

from server.core.context import Context
from server.places.plates import PER_PAGE, Plate, plate_url, render_plates_pdf
from tests.conftest import insert_households

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def admin(login, org_tree):
    return await login(("town_admin", org_tree.town["_id"]))


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


async def test_plates_are_printed_by_a_background_job(api, ctx: Context, admin, login, org_tree) -> None:
    await insert_households(ctx, org_tree.micro_grid, 30)
    await login(("grid_worker", org_tree.grid["_id"]), name="李网格")
    response = await api.post("/api/plates", {"org_id": str(org_tree.village["_id"])}, token=admin.token)
    assert response.status == 202
    job = response.json
    assert (job["status"], job["total"], job["download_url"]) == ("queued", 30, None)
    for _ in range(300):
        job = (await api.get(f"/api/jobs/{job['id']}", token=admin.token)).json
        if job["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "done", job
    assert job["done"] == 30
    pdf = await api.get(job["download_url"], token=admin.token)
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.body.startswith(b"%PDF")
    assert page_count(pdf.body) == 3  # 30 plates, 12 a page
    assert b"STSong-Light" in pdf.body


async def test_jobs_are_private_to_their_owner_and_admins(api, ctx: Context, admin, login, org_tree) -> None:
    await insert_households(ctx, org_tree.micro_grid, 1)
    worker = await login(("grid_worker", org_tree.grid["_id"]))
    job = (await api.post("/api/plates", {"org_id": str(org_tree.micro_grid["_id"])}, token=worker.token)).json
    assert (await api.get(f"/api/jobs/{job['id']}", token=admin.token)).status == 200
    other = await login(("grid_worker", org_tree.other_village["_id"]))
    assert (await api.get(f"/api/jobs/{job['id']}", token=other.token)).status == 404
    refused = await api.post("/api/plates", {"org_id": str(org_tree.town["_id"])}, token=admin.token)
    assert (refused.status, refused.error_code) == (409, "plate_unit_kind")


def test_cli_prints_plates(tmp_path: Path) -> None:
    out = tmp_path / "plates.pdf"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.print_plates", "--synthetic", "25", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "25 张门牌，3 页" in result.stdout
    assert "25/25" in result.stderr  # the progress bar reached the end
    assert page_count(out.read_bytes()) == 3


CSV = """微网格,地址,姓名,与户主关系,手机号,身份证号,标签
甲村第1网格第1微网格,甲村1组1号,张大山,户主,13812345678,11010519491231002X,独居老人
甲村第1网格第1微网格,甲村1组2号,王二,户主,1381234,,
甲村第1网格第1微网格,甲村1组2号,王二嫂,配偶,,,低保户、重点关注
甲村第1网格第1微网格,甲村1组3号,,户主,,,
不存在的微网格,甲村1组4号,赵四,户主,,,
甲村第1网格第1微网格,甲村1组5号,钱五,户主,,110105194912310021,
"""


async def import_file(api, admin, org_tree, body: bytes, content_type: str):
    return await api.post(
        f"/api/households/import?village_id={org_tree.village['_id']}",
        body=body,
        headers={"Content-Type": content_type},
        token=admin.token,
    )


async def test_import_reports_bad_rows_and_keeps_good_ones(api, ctx: Context, admin, org_tree) -> None:
    response = await import_file(api, admin, org_tree, CSV.encode("gb18030"), "text/csv")
    assert response.status == 200
    report = response.json
    assert report["errors"] == [
        {"row": 3, "field": "phone", "message": "手机号格式不正确"},
        {"row": 5, "field": "name", "message": "必填"},
        {"row": 6, "field": "micro_grid", "message": "本村没有这个微网格"},
        {"row": 7, "field": "id_number", "message": "身份证号码不正确"},
    ]
    assert (report["households_created"], report["members_created"]) == (2, 2)
    households = await ctx.db["households"].find({}).sort("address").to_list(None)
    assert [(h["address"], [m["name"] for m in h["members"]], h["tags"]) for h in households] == [
        ("甲村1组1号", ["张大山"], ["独居老人"]),
        ("甲村1组2号", ["王二嫂"], ["低保户", "重点关注"]),
    ]
    assert "13812345678" not in str(households)
    again = (await import_file(api, admin, org_tree, CSV.encode("utf-8-sig"), "text/csv")).json
    assert (again["households_created"], again["households_skipped"]) == (0, 2)


async def test_import_from_excel(api, ctx: Context, admin, org_tree) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["微网格", "地址", "姓名", "与户主关系", "手机号"])
    sheet.append(["甲村第1网格第1微网格", "甲村2组1号", "孙六", "户主", 13900001111])
    buffer = io.BytesIO()
    book.save(buffer)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = await import_file(api, admin, org_tree, buffer.getvalue(), xlsx)
    assert response.status == 200
    assert (response.json["households_created"], response.json["errors"]) == (1, [])
    household = await ctx.db["households"].find_one({"address": "甲村2组1号"})
    assert household["members"][0]["phone_hash"] == ctx.cipher.lookup_hash("13900001111", "phone")


async def test_import_refuses_what_it_cannot_read(api, admin, org_tree) -> None:
    wrong_type = await import_file(api, admin, org_tree, b"{}", "application/json")
    assert wrong_type.status == 415
    missing = await import_file(api, admin, org_tree, "姓名,地址\n张三,1号\n".encode(), "text/csv")
    assert missing.status == 422
    assert {d["field"] for d in missing.json["error"]["details"]} == {"micro_grid", "relation"}


async def test_a_job_whose_process_stopped_shows_as_failed(api, ctx: Context, admin, org_tree) -> None:
    from datetime import timedelta

    from server.core.auth import Grant, Principal
    from server.core.jobs import JobService

    owner = Principal(admin.id, "s", (Grant("town_admin", str(org_tree.town["_id"])),), expires_at=0)
    job = await JobService(ctx).create(
        kind="plates", owner=owner, org_path=org_tree.village["path"], total=10, params={}
    )
    early = await api.get(f"/api/jobs/{job['_id']}", token=admin.token)
    assert early.json["status"] == "queued"
    assert (await api.get(f"/api/jobs/{job['_id']}/file", token=admin.token)).error_code == "job_not_done"
    ctx.clock.advance(timedelta(minutes=6))
    stalled = await api.get(f"/api/jobs/{job['_id']}", token=admin.token)
    assert stalled.json["status"] == "failed"
    assert "中断" in stalled.json["error"]


def test_printed_plates_scan_back_to_their_urls(tmp_path: Path) -> None:
    """Every code on two sheets, rendered at 144 dpi as a phone would see print, decodes to its plate's URL."""
    plates = [
        Plate(
            url=plate_url("https://sanyuan.example.cn", f"t{i:04d}-Xy9_qZ"),
            address=f"甲村1组{i}号",
            village="甲村",
            grid_worker="李网格",
            hotline="12345",
            town="示范镇",
        )
        for i in range(2 * PER_PAGE)
    ]
    path = tmp_path / "plates.pdf"
    render_plates_pdf(plates, path)
    decoded = []
    for page in pdfium.PdfDocument(str(path)):
        decoded += [result.text for result in zxingcpp.read_barcodes(page.render(scale=2).to_pil())]
    assert sorted(decoded) == sorted(p.url for p in plates)
