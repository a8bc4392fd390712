"""What the console stands on besides the pages: its files served with a strict policy and no inline script,
the words it shows from the server's own tables, the counts above the queue (in every role's scope, in two
towns), and a reveal that needs a reason."""

from __future__ import annotations

import re
from pathlib import Path

from handlers.console import CONSOLE_CSP, CONSOLE_DIR
from server.cases.actions import ACTIONS
from server.core.context import Context
from server.core.vocabulary import CATEGORIES, STATE_NAMES
from tests.town import TOWN_PEOPLE, Town, build_twin_town, resident_case


async def test_the_console_page_has_a_strict_policy_and_its_files_revalidate(api) -> None:
    page = await api.get("/console/")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = page.headers["Content-Security-Policy"]
    assert policy == CONSOLE_CSP
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert b"{{idle_minutes}}" not in page.body
    assert b'content="30"' in page.body  # the staff idle limit from config, for the page's own sign-out

    script = await api.get("/console/js/app.js")
    assert script.status == 200
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert script.headers["Cache-Control"] == "no-cache"
    again = await api.get("/console/js/app.js", headers={"If-None-Match": script.headers["Etag"]})
    assert again.status == 304

    for missing in ("/console/nothing.js", "/console/index.html", "/console/../server/app.py", "/console/js/%2e%2e/x"):
        answer = await api.get(missing)
        assert answer.status == 404, missing
    redirected = await api.get("/console")  # followed to the page
    assert redirected.status == 200
    assert redirected.body == page.body


def test_the_console_has_no_inline_script_no_eval_and_nothing_from_elsewhere() -> None:
    files = [p for p in CONSOLE_DIR.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} == {".html", ".css", ".js"}
    page = (CONSOLE_DIR / "index.html").read_text()
    assert re.findall(r"<script[^>]*>", page) == ['<script type="module" src="/console/js/app.js">']
    assert not re.search(r"\son[a-z]+=", page)  # no inline handlers
    for path in files:
        text = path.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), path  # no CDN, no outside address
        assert not re.search(r"\beval\(|new Function\(|innerHTML|insertAdjacentHTML|document\.write", text), path
        assert "localStorage.setItem" not in text or path.name == "app.js", path


def test_every_view_the_menu_names_exists() -> None:
    app = (CONSOLE_DIR / "js" / "app.js").read_text()
    views = set(re.findall(r'import\("\./views/([a-z]+)\.js"\)', app))
    assert views == {p.stem for p in (CONSOLE_DIR / "js" / "views").glob("*.js")}
    assert Path(CONSOLE_DIR / "console.css").exists()


async def test_the_words_are_the_servers_own(api) -> None:
    words = (await api.get("/api/vocabulary")).json
    assert words["states"] == STATE_NAMES
    assert words["categories"] == CATEGORIES
    assert words["actions"]["reject"] == {"label": "不予受理", "reason": True, "to": "rejected"}
    assert words["actions"]["supervise"]["to"] is None
    assert list(words["actions"]) == list(ACTIONS)
    assert words["roles"]["town_admin"] == "镇三源共治办公室"


async def test_counts_per_state_follow_each_roles_scope_in_two_towns(api, ctx: Context, town: Town, login) -> None:
    twin = await build_twin_town(ctx, login, town)
    for place, people, village, n in ((town, town.people, "甲村", 3), (twin, twin.people, "二甲村", 1)):
        for _ in range(n):
            body = resident_case(place, village=village)
            assert (await api.post("/api/cases", body, token=people["resident_a"].token)).status == 201
    first = (await api.get("/api/cases?sort=newest", token=town.people["office"].token)).json["items"][0]
    assigned = await api.post(f"/api/cases/{first['id']}/actions/assign", {}, token=town.people["office"].token)
    assert assigned.status == 200, assigned.json

    checked = 0
    for place in (town, twin):
        for who in TOWN_PEOPLE:
            token = place.people[who].token
            counts = await api.get("/api/cases/counts", token=token)
            listed = await api.get("/api/cases?sort=newest&page_size=100", token=token)
            if listed.status == 403:
                assert counts.status == 403, who
                continue
            queue = (await api.get("/api/cases?page_size=100", token=token)).json
            assert sum(counts.json["counts"].values()) == listed.json["total"], who
            assert counts.json["open"] == queue["total"], who
            for state, n in counts.json["counts"].items():
                assert n == sum(1 for c in listed.json["items"] if c["state"] == state), (who, state)
            checked += 1
    office = (await api.get("/api/cases/counts", token=town.people["office"].token)).json
    assert office["counts"]["registered"] == 2
    assert office["counts"]["assigned"] == 1
    assert office["open"] == 3
    twin_office = (await api.get("/api/cases/counts", token=twin.people["office"].token)).json
    assert twin_office["counts"]["registered"] == 1
    assert twin_office["open"] == 1
    assert checked >= 10  # the office, centers, mediators, liaisons, supervisors of both towns
    # the filters are the queue's own
    land = await api.get("/api/cases/counts?category=land", token=town.people["office"].token)
    assert land.json["open"] == 0


async def test_a_reveal_without_a_reason_is_refused_naming_it(api, ctx: Context, town: Town) -> None:
    case = (await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)).json
    office = town.people["office"].token
    refused = await api.get(f"/api/cases/{case['id']}?reveal=true", token=office)
    assert refused.status == 422
    assert refused.json["error"]["details"] == [{"field": "reason", "message": "查看完整信息须填写理由"}]
    assert await ctx.db["audit_log"].count_documents({"action": "case.reveal"}) == 0
    shown = await api.get(f"/api/cases/{case['id']}?reveal=true&reason=%E5%9B%9E%E8%AE%BF", token=office)
    assert shown.status == 200
    assert shown.json["parties"][0]["phone"] == "13812345678"
    record = await ctx.db["audit_log"].find_one({"action": "case.reveal"})
    assert record["details"] == {"reason": "回访"}
    # without reveal, a reason changes nothing and records nothing
    plain = await api.get(f"/api/cases/{case['id']}?reason=%E5%9B%9E%E8%AE%BF", token=office)
    assert plain.json["parties"][0]["phone"] == "138****5678"
    assert await ctx.db["audit_log"].count_documents({"action": "case.reveal"}) == 1
