"""The PC console (console/, served at /console/) driven in headless Chromium through Playwright, against the
real application on the suite's two towns: the office signs in with an SMS code and its second factor, finds a
case by number and assigns it to a suggested mediator; the mediator accepts, records a session and concludes
with an agreement whose PDF opens; the office reviews and follows up. The figures page is read against the API.

Screenshots of the main screens at 1366×768 go to build/screenshots/ (README "The PC console").
Without a Chromium (`apt-get install chromium`, which `make test` does as root) these tests skip, saying so.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from server.core.context import Context
from server.prevention.warnings import WarningService
from tests.conftest import sms_sent
from tests.test_second_factor import now_code
from tests.town import Town, add_second_town, build_twin_town, resident_case

playwright = pytest.importorskip("playwright.async_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
# As on a government desk: no network beyond the server, nothing fetched by the browser on its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 60_000  # how long a step may wait for the page on a busy machine (a wait for an event, not a timing)

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="没有找到 Chromium，浏览器测试跳过：以 root 运行 `apt-get install chromium`（`make test` 会安装）",
)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright.async_playwright() as driver:
        chromium = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser, server) -> AsyncIterator[Any]:
    """A 1366×768 page in Beijing time; any script error or Content-Security-Policy violation fails the test."""
    context = await browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="Asia/Shanghai", base_url=server.base_url
    )
    context.set_default_timeout(WAIT_MS)
    tab = await context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    tab.on(
        "console",
        lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None,
    )
    yield tab
    await context.close()
    assert problems == []


def beijing_month(ctx: Context) -> str:
    return (ctx.clock.now() + timedelta(hours=8)).strftime("%Y-%m")


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


def last_code(ctx: Context, phone: str) -> str:
    message = [m for m in sms_sent(ctx) if m.template == "login_code" and m.phone == phone][-1]
    return message.params["code"]


async def sign_in(page, ctx: Context, phone: str, secret: str | None = None) -> None:
    """Phone, SMS code (read from the recording sender), and the authenticator's code when asked."""
    ctx.clock.set(ctx.clock.now() + timedelta(minutes=2))  # past the one-code-a-minute limit
    await page.goto("/console/")
    await page.fill("#phone", phone)
    await page.click("text=获取验证码")
    await page.locator("#code").wait_for(state="visible")
    await page.fill("#code", last_code(ctx, phone))
    await page.click("button:has-text('登录')")
    if secret is not None:
        await page.locator("#otp").wait_for()
        await page.fill("#otp", now_code(ctx, secret))
        await page.click("button:has-text('验证')")
    await page.locator("nav.menu").wait_for()


async def sign_out(page) -> None:
    await page.click("button:has-text('退出')")
    await page.locator("#phone").wait_for()


async def enrol_second_factor(api, ctx: Context, account) -> str:
    secret = (await api.post("/api/auth/second-factor/enrol", token=account.token)).json["secret"]
    confirmed = await api.post("/api/auth/second-factor", {"code": now_code(ctx, secret)}, token=account.token)
    assert confirmed.status == 200, confirmed.json
    return secret


async def act(page, label: str) -> None:
    """Opens the action's dialog from the case page."""
    await page.click(f"section[aria-label='办理'] button:has-text('{label}')")
    await page.locator("dialog form").wait_for()


async def submit_dialog(page) -> None:
    await page.click("dialog button[type=submit]")
    await page.locator("dialog").wait_for(state="detached")


async def state_shown(page, state_name: str) -> None:
    await page.locator("h1 .tag", has_text=state_name).wait_for()


async def test_a_case_from_the_office_to_the_mediator_and_back(api, ctx: Context, town: Town, page) -> None:
    ctx.clock.freeze()
    office, mediator = town.people["office"], town.people["mediator_a"]
    created = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    assert created.status == 201, created.json
    number, case_id = created.json["number"], created.json["id"]
    secret = await enrol_second_factor(api, ctx, office)

    # The office signs in (SMS code, then the authenticator) and sees who it is and where.
    await sign_in(page, ctx, office.phone, secret)
    assert "镇三源共治办公室" in await page.inner_text("header.top")
    await page.locator("table.grid").first.wait_for()
    await shot(page, "01-queue")

    # Finds the case by its number: the filter is kept in the address.
    await page.fill("input[name=number]", number)
    await page.click("form[role=search] button[type=submit]")
    await page.wait_for_url(re.compile(rf"#/queue\?.*number={number}"))
    await page.click(f"a:has-text('{number}')")
    await page.wait_for_url(re.compile(rf"#/cases/{case_id}"))
    await state_shown(page, "待分派")
    await shot(page, "02-case")

    # Assigns it with the suggested mediator.
    await act(page, "分派")
    suggestion = page.locator("dialog .suggestions li", has_text=mediator.user["name"])
    await suggestion.locator("input[type=checkbox]").check()
    await shot(page, "03-assign")
    await submit_dialog(page)
    await state_shown(page, "待签收")
    case = (await api.get(f"/api/cases/{case_id}", token=office.token)).json
    assert case["mediator_ids"] == [mediator.id]
    await sign_out(page)

    # The mediator finds it waiting, accepts it, records a session and concludes with an agreement.
    await sign_in(page, ctx, mediator.phone)
    await page.click(f"section[aria-label='待我办理'] a:has-text('{number}')")
    await act(page, "签收")
    await submit_dialog(page)
    await state_shown(page, "调解中")
    await page.click("button[data-action=session]")
    await page.locator("dialog form").wait_for()
    await page.fill("dialog [name=place]", "甲村调解室")
    await submit_dialog(page)
    await page.locator("section.panel", has_text="调解记录").locator("td", has_text="甲村调解室").wait_for()

    await act(page, "结束调解")
    await page.select_option("dialog select[name=outcome]", "agreement")
    await page.fill("dialog textarea[name='agreement.parties']", "张三\n李四")
    await page.fill("dialog textarea[name='agreement.terms']", "李四于十日内清理通道。\n双方今后互相谅解。")
    await page.fill("dialog input[name='agreement.performance_deadline']", "2030-01-31")
    await shot(page, "04-conclude")
    await submit_dialog(page)
    await state_shown(page, "待核查")

    # The agreement PDF opens from the case page (fetched with the token, shown from a blob).
    files: list[tuple[int, str, bytes]] = []

    async def keep(route) -> None:  # what the console received, passed on unchanged
        answer = await route.fetch()
        files.append((answer.status, answer.headers["content-type"], await answer.body()))
        await route.fulfill(response=answer)

    await page.route(re.compile(r"/agreement\.pdf$"), keep)
    async with page.context.expect_page() as opened:
        await page.click("#agreement-pdf")
    viewer = await opened.value
    assert viewer.url.startswith("blob:")  # the token never travels in an address
    [(status, kind, body)] = files
    assert (status, kind, body[:5]) == (200, "application/pdf", b"%PDF-")
    await viewer.close()
    await sign_out(page)

    # The office reviews it and follows up: closed.
    await sign_in(page, ctx, office.phone, secret)
    await page.goto(f"/console/#/cases/{case_id}")
    await state_shown(page, "待核查")
    await act(page, "核查通过")
    await submit_dialog(page)
    await state_shown(page, "待回访")
    await act(page, "回访满意，办结")
    await submit_dialog(page)
    await state_shown(page, "已办结")
    timeline = await page.inner_text("ol.timeline")
    for step in ("分派", "签收", "结束调解", "核查通过", "回访满意，办结"):
        assert step in timeline
    case = (await api.get(f"/api/cases/{case_id}", token=office.token)).json
    assert case["state"] == "closed"
    assert case["outcome"]["type"] == "agreement"


async def test_the_figures_chart_shows_the_numbers_the_api_gives(api, ctx: Context, town: Town, login, page) -> None:
    ctx.clock.freeze()
    other = await add_second_town(ctx, login, town)  # the other town's case counts only there
    elsewhere = resident_case(town, village_id=str(other["village"]["_id"]))
    theirs = (await api.post("/api/cases", elsewhere, token=town.people["resident_b"].token)).json["number"]
    for category in ("family", "family", "land"):
        body = resident_case(town, category=category)
        assert (await api.post("/api/cases", body, token=town.people["resident_a"].token)).status == 201
    office = town.people["office"]
    secret = await enrol_second_factor(api, ctx, office)
    await sign_in(page, ctx, office.phone, secret)
    period = beijing_month(ctx)
    await page.goto(f"/console/#/figures?period={period}")
    await page.locator("figure[data-chart='件数'] svg").wait_for()
    await shot(page, "05-figures")

    figures = (await api.get(f"/api/assessment/figures?period={period}", token=office.token)).json
    by_key = {f["key"]: f for f in figures["figures"]}
    assert by_key["received"]["value"] == 3  # this town's three, not the other town's case
    # every figure's number in the table is the API's, and the chart's bars carry the same numbers
    shown = await page.eval_on_selector_all(
        "[data-figure]", "cells => cells.map(c => [c.dataset.figure, c.dataset.value])"
    )
    assert {key: None if value == "null" else float(value) for key, value in shown} == {
        key: None if f["value"] is None else float(f["value"]) for key, f in by_key.items()
    }
    bars = await page.eval_on_selector_all(
        "figure[data-chart='件数'] svg g[data-label]", "gs => gs.map(g => [g.dataset.label, Number(g.dataset.value)])"
    )
    counted = [f for f in figures["figures"] if f["kind"] in ("count", "part")]
    assert bars == [[f["label"], f["value"] or 0] for f in counted]
    categories = await page.eval_on_selector_all(
        "figure[data-chart='纠纷类别'] svg g[data-label]",
        "gs => gs.map(g => [g.dataset.label, Number(g.dataset.value)])",
    )
    assert sorted(categories) == sorted(
        [r["label"], r["count"]] for r in figures["breakdowns"]["category"] if r["count"] > 0
    )
    assert sorted(categories) == [["土地宅基地纠纷", 1], ["婚姻家庭纠纷", 2]]

    # the period's assessment run and its workbook, made as a background job
    run = await api.post("/api/assessment/runs", {"period": period}, token=office.token)
    assert run.status in (200, 201), run.json
    await page.reload()
    await page.click("button:has-text('生成报表（Excel）')")
    async with page.expect_download() as saved:
        await page.click("dialog button:has-text('下载')")
    workbook = await asyncio.to_thread(Path(await (await saved.value).path()).read_bytes)
    assert workbook[:2] == b"PK"  # an XLSX is a zip
    await page.keyboard.press("Escape")
    await page.locator("dialog").wait_for(state="detached")

    # a number links to its cases
    await page.click("[data-figure=received] >> xpath=ancestor::tr//a >> nth=0")
    await page.locator("h1", has_text="指标案件").wait_for()
    assert await page.locator("table.grid tbody tr").count() == 3
    assert theirs not in await page.inner_text("main")


async def test_another_towns_office_sees_nothing_of_this_town(api, ctx: Context, town: Town, login, page) -> None:
    ctx.clock.freeze()
    other = await add_second_town(ctx, login, town)
    created = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    number, case_id = created.json["number"], created.json["id"]
    admin = other["admin"]
    secret = await enrol_second_factor(api, ctx, admin)
    await sign_in(page, ctx, admin.phone, secret)
    await page.locator("ul.counts").wait_for()
    assert number not in await page.inner_text("main")
    counts = (await api.get("/api/cases/counts", token=admin.token)).json
    assert int(await page.inner_text("ul.counts a[data-state=''] b")) == counts["open"]
    await page.goto(f"/console/#/cases/{case_id}")
    await page.locator(".state-error").wait_for()
    assert "找不到" in await page.inner_text(".state-error")
    assert number not in await page.inner_text("main")


async def test_a_reveal_asks_for_a_reason_and_is_audited(api, ctx: Context, town: Town, page) -> None:
    ctx.clock.freeze()
    created = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    office = town.people["office"]
    secret = await enrol_second_factor(api, ctx, office)
    await sign_in(page, ctx, office.phone, secret)
    await page.goto(f"/console/#/cases/{created.json['id']}")
    await page.locator("td", has_text="138****5678").wait_for()
    await page.click("button:has-text('查看完整信息')")
    await page.click("dialog button[type=submit]")  # no reason: the server's refusal names it
    await page.locator("dialog .form-error", has_text="理由").wait_for()
    await page.fill("#reveal-reason", "回访前核实申请人电话")
    await page.click("dialog button[type=submit]")
    await page.locator("td", has_text="13812345678").wait_for()
    record = await ctx.db["audit_log"].find_one({"action": "case.reveal"})
    assert record["details"] == {"reason": "回访前核实申请人电话"}
    # nothing personal is kept in the browser: only the refresh token, the chosen grant and the device token
    stored = await page.evaluate("() => [Object.entries(sessionStorage), Object.entries(localStorage)]")
    assert {k for k, _ in stored[0]} <= {"sygz.refresh", "sygz.grant"}
    assert {k for k, _ in stored[1]} <= {"sygz.device"}
    assert "13812345678" not in str(stored)
    assert "张三" not in str(stored)


async def test_keyboard_sign_in_and_a_refused_setting_names_its_field(api, ctx: Context, town: Town, page) -> None:
    ctx.clock.freeze()
    county = town.people["county"]
    secret = await enrol_second_factor(api, ctx, county)
    ctx.clock.set(ctx.clock.now() + timedelta(minutes=2))
    await page.goto("/console/")
    await page.locator("#phone").wait_for()
    assert await page.evaluate("() => document.activeElement.id") == "phone"
    await page.keyboard.type(county.phone)
    await page.keyboard.press("Tab")  # to 获取验证码
    await page.keyboard.press("Enter")
    await page.locator("#code").wait_for(state="visible")
    await page.keyboard.type(last_code(ctx, county.phone))
    await page.keyboard.press("Enter")
    await page.locator("#otp").wait_for()
    await page.keyboard.type(now_code(ctx, secret))
    await page.keyboard.press("Enter")
    await page.locator("nav.menu").wait_for()

    await page.goto("/console/#/settings/deadlines")
    field = page.locator("[data-field=accept_hours] input")
    await field.fill("0")
    await shot(page, "06-settings")
    await page.click("form.schema-form button[type=submit]")
    message = page.locator("[data-field=accept_hours] .field-error")
    await message.wait_for()
    assert await message.inner_text() != ""
    assert await page.evaluate("() => document.activeElement.name") == "accept_hours"


async def test_households_import_and_plates_with_progress(api, ctx: Context, town: Town, page) -> None:
    ctx.clock.freeze()
    office = town.people["office"]
    secret = await enrol_second_factor(api, ctx, office)
    await sign_in(page, ctx, office.phone, secret)
    await page.goto(f"/console/#/households?org_id={town.id('甲村')}")
    await page.click("button:has-text('导入甲村户籍')")
    register = (
        "微网格,地址,姓名,与户主关系,手机号,身份证号,标签\n"
        "甲村微网格,甲村1组1号,张大山,户主,13812345678,,\n"
        "不存在的微网格,甲村1组4号,赵四,户主,,,\n"
    )
    await page.set_input_files(
        "#register-file", files=[{"name": "甲村.csv", "mimeType": "text/csv", "buffer": register.encode()}]
    )
    await page.click("dialog button:has-text('导入')")
    await page.locator("dialog .message-ok").wait_for()
    assert "新建 1 户" in await page.inner_text("dialog .message-ok")
    assert "3" in await page.inner_text("dialog table")  # the bad row, by its number
    await page.keyboard.press("Escape")
    await page.goto(f"/console/#/households?org_id={town.id('甲村')}&page=1")
    await page.locator("a", has_text="甲村1组1号").wait_for()
    await shot(page, "07-households")
    await page.click("button:has-text('打印甲村门牌')")
    await page.locator("dialog button:has-text('下载')").wait_for()
    assert "已生成 1 张门牌" in await page.inner_text("dialog")


# The screens each role's menu offers, by the menu's own words, and what each screen's heading says.
SCREENS = {
    "工作台": "工作台",
    "登记案件": "登记案件",
    "预警督办": "预警督办",
    "户籍与门牌": "户籍与门牌",
    "考核数据": "考核数据",
    "星级与补贴": "星级与补贴",
    "设置": "设置",
    "人员与角色": "人员与角色",
    "对接系统": "对接系统",
}


@pytest.mark.parametrize("who", ["office", "county", "walk_in", "mediator_a", "supervisor", "police"])
async def test_every_screen_in_a_roles_menu_opens(api, ctx: Context, town: Town, who: str, page) -> None:
    ctx.clock.freeze()
    person = town.people[who]
    needs_second = any(g["role"] in ctx.config.login.second_factor_roles for g in person.user["grants"])
    secret = await enrol_second_factor(api, ctx, person) if needs_second else None
    await sign_in(page, ctx, person.phone, secret)
    menu = await page.eval_on_selector_all("nav.menu a", "links => links.map(a => a.textContent)")
    assert menu, who
    assert set(menu) <= set(SCREENS)
    for name in menu:
        await page.click(f"nav.menu a:has-text('{name}')")
        await page.locator("main h1", has_text=SCREENS[name]).wait_for()
        await page.locator("main .state-loading").wait_for(state="detached")
        errors = await page.locator("main .state-error").all_inner_texts()
        assert errors == [], (who, name, errors)
        if who in ("office", "county"):
            await shot(page, f"{who}-{name}")


async def test_a_walk_in_is_registered_at_the_desk(api, ctx: Context, town: Town, page) -> None:
    ctx.clock.freeze()
    desk = town.people["walk_in"]
    await sign_in(page, ctx, desk.phone)
    await page.click("nav.menu a:has-text('登记案件')")
    await page.locator("form.schema-form").wait_for()
    await page.click("form.schema-form button[type=submit]")  # empty: the server names what is missing
    await page.locator("[data-field=description].invalid").wait_for()
    await page.select_option("select[name=category]", "neighbour")
    await page.fill("textarea[name=description]", "两户因排水沟堵塞发生争执，要求调解。")
    await page.select_option("select[name=village_id]", town.id("甲村"))
    await page.fill("[name='parties.0.name']", "王五")
    await page.fill("[name='parties.0.phone']", "13900001111")
    await page.fill("[name='parties.1.name']", "赵六")
    await page.click("form.schema-form button[type=submit]")
    await page.wait_for_url(re.compile(r"#/cases/[0-9a-f]{24}$"))
    await state_shown(page, "待分派")
    case_id = page.url.rsplit("/", 1)[1]
    case = (await api.get(f"/api/cases/{case_id}", token=town.people["office"].token)).json
    assert (case["channel"], case["category"], case["parties"][0]["name"]) == ("walk_in", "neighbour", "王五")
    assert "139****1111" in await page.inner_text("main")


async def test_a_partner_key_is_shown_once(api, ctx: Context, town: Town, page) -> None:
    ctx.clock.freeze()
    office = town.people["office"]
    secret = await enrol_second_factor(api, ctx, office)
    await sign_in(page, ctx, office.phone, secret)
    await page.click("nav.menu a:has-text('对接系统')")
    await page.click("button:has-text('登记对接系统')")
    await page.locator("dialog form").wait_for()
    await page.fill("dialog [name=name]", "12345 热线")
    await page.select_option("dialog select[name=kind]", "hotline")
    await page.check(f"dialog [data-field=town_ids] input[value='{town.id('测试镇')}']")
    await page.click("dialog button[type=submit]")
    key = await page.locator("#api-key").inner_text()
    partners = (await api.get("/api/partners", token=office.token)).json["items"]
    assert [p["name"] for p in partners] == ["12345 热线"]
    assert key.endswith(partners[0]["key_hint"])
    await page.click("button:has-text('我已记下')")
    await page.locator("dialog").wait_for(state="detached")
    assert key not in await page.content()
    stored = await page.evaluate("() => JSON.stringify([sessionStorage, localStorage])")
    assert key not in stored


async def test_a_user_with_two_grants_switches_and_the_menu_follows(api, ctx: Context, town: Town, page) -> None:
    ctx.clock.freeze()
    center = town.people["center"]  # center staff and a mediator of the town's mediation center
    await sign_in(page, ctx, center.phone)
    me = (await api.get("/api/me", token=center.token)).json
    menus = {}
    for index, role in enumerate(me["roles"]):
        await page.select_option("#grant", str(index))
        await page.locator("nav.menu a").first.wait_for()
        menus[role["role"]] = await page.eval_on_selector_all("nav.menu a", "links => links.map(a => a.textContent)")
    assert set(menus) == {"center_staff", "mediator"}
    assert "登记案件" in menus["center_staff"]
    assert "登记案件" not in menus["mediator"]  # a mediator registers nothing at the desk
    by_capability = {r["role"]: "case.register_at_desk" in r["capabilities"] for r in me["roles"]}
    assert by_capability == {"center_staff": True, "mediator": False}
    # the choice outlives a reload of the tab
    await page.reload()
    await page.locator("nav.menu a").first.wait_for()
    assert await page.eval_on_selector_all("nav.menu a", "links => links.map(a => a.textContent)") == menus["mediator"]


async def test_new_cases_and_warnings_appear_without_reloading(api, ctx: Context, town: Town, login, page) -> None:
    ctx.clock.freeze()
    twin = await build_twin_town(ctx, login, town)
    office = town.people["office"]
    secret = await enrol_second_factor(api, ctx, office)
    await page.clock.install()  # the page's own timers, moved on by the test instead of waited for
    await sign_in(page, ctx, office.phone, secret)
    await page.locator("ul.counts").wait_for()
    assert await page.inner_text("ul.counts a[data-state=''] b") == "0"
    ours = await api.post("/api/cases", risky_case(town, town.id("甲村")), token=town.people["resident_a"].token)
    theirs = await api.post("/api/cases", risky_case(twin, twin.id("二甲村")), token=twin.people["resident_a"].token)
    assert await WarningService(ctx).risk_round() == 2  # one warning in each town
    await page.clock.run_for(31_000)
    await page.locator("#messages .message", has_text=ours.json["number"]).wait_for()
    await page.locator("table.grid a", has_text=ours.json["number"]).wait_for()
    assert await page.inner_text("ul.counts a[data-state=''] b") == "1"
    assert await page.locator("#messages .message", has_text="新增 1 条预警").count() == 1  # not the other town's
    assert theirs.json["number"] not in await page.inner_text("body")


def risky_case(town: Town, village_id: str) -> dict[str, Any]:
    return resident_case(town, village_id=village_id, description="对方扬言要同归于尽，情况紧急。")


async def test_the_office_acknowledges_and_handles_its_own_towns_warning(
    api, ctx: Context, town: Town, login, page
) -> None:
    ctx.clock.freeze()
    twin = await build_twin_town(ctx, login, town)
    await api.post("/api/cases", risky_case(town, town.id("甲村")), token=town.people["resident_a"].token)
    await api.post("/api/cases", risky_case(twin, twin.id("二甲村")), token=twin.people["resident_a"].token)
    await WarningService(ctx).risk_round()
    office = town.people["office"]
    secret = await enrol_second_factor(api, ctx, office)
    await sign_in(page, ctx, office.phone, secret)
    await page.click("nav.menu a:has-text('预警督办')")
    rows = page.locator("section.panel", has_text="预警（").locator("tbody tr")
    await rows.first.wait_for()
    assert await rows.count() == 1  # the other town's warning is not listed
    await rows.first.locator("button:has-text('知悉')").click()
    await page.fill("dialog [name=note]", "已电话联系村调解室")
    await submit_dialog(page)
    await page.select_option("#warning-state", "acknowledged")
    await page.locator("td", has_text="已知悉").wait_for()
    await page.click("button:has-text('处置')")
    await page.fill("dialog [name=note]", "已上门稳控，双方同意调解")
    await submit_dialog(page)
    await page.select_option("#warning-state", "handled")
    await page.locator("td", has_text="已处置").wait_for()
    mine = (await api.get("/api/warnings?state=handled", token=office.token)).json["items"]
    assert [w["state"] for w in mine] == ["handled"]
    theirs = (await api.get("/api/warnings", token=twin.people["office"].token)).json["items"]
    assert [w["state"] for w in theirs] == ["open"]


async def test_a_supervision_notice_issued_answered_and_returned(api, ctx: Context, town: Town, login, page) -> None:
    ctx.clock.freeze()
    twin = await build_twin_town(ctx, login, town)
    supervisor, room = town.people["supervisor"], town.people["mediator_a"]
    await sign_in(page, ctx, supervisor.phone)
    await page.click("nav.menu a:has-text('预警督办')")
    await page.click("button:has-text('下发督查通报')")
    await page.locator("dialog form").wait_for()
    await page.select_option("dialog select[name=unit_id]", town.id("甲村"))
    await page.fill("dialog [name=finding]", "调解台账不全，十件案件无记录")
    await page.fill("dialog [name=deadline]", "2030-01-31T10:00")
    await submit_dialog(page)
    await page.locator("td", has_text="调解台账不全").wait_for()
    await shot(page, "08-supervision")
    await sign_out(page)

    await sign_in(page, ctx, room.phone)
    await page.click("nav.menu a:has-text('预警督办')")
    await page.click("button:has-text('答复')")
    await page.fill("dialog [name=text]", "已补齐全部台账")
    await submit_dialog(page)
    await page.locator("td", has_text="已答复").wait_for()
    await sign_out(page)

    await sign_in(page, ctx, supervisor.phone)
    await page.click("nav.menu a:has-text('预警督办')")
    await page.click("button:has-text('退回')")
    await page.click("dialog button[type=submit]")  # no reason: refused, named beside the field
    await page.locator("dialog [data-field=reason].invalid").wait_for()
    await page.fill("dialog [name=reason]", "缺少回访记录")
    await submit_dialog(page)
    await page.locator("td", has_text="已退回").wait_for()
    notices = (await api.get("/api/supervision-notices", token=supervisor.token)).json["items"]
    assert [(n["state"], n["unit_name"]) for n in notices] == [("returned", "甲村")]
    for who in ("supervisor", "office", "mediator_a"):  # the twin town's people see none of it
        assert (await api.get("/api/supervision-notices", token=twin.people[who].token)).json["total"] == 0
