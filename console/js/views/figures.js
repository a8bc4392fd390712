// 考核数据: the assessment figures of a unit and period as the API computes them, each with numerator,
// denominator and method; charts (the rates as bars, the sources as a pie, six months of cases as a line)
// with the numbers beside them; a number links to the cases behind it; the briefing PDF downloads.

import { download, get, post } from "../api.js";
import { app, go, toPage } from "../app.js";
import { clear, h, pager, table, when } from "../dom.js";
import { runJob } from "../jobs.js";
import { bars, line, pie } from "../charts.js";

function thisMonth() {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit" }).formatToParts(new Date()).map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}`;
}

function monthsBefore(period, count) {
  const [year, month] = period.split("-").map(Number);
  const months = [];
  for (let i = count - 1; i >= 0; i -= 1) {
    const d = new Date(Date.UTC(year, month - 1 - i, 1));
    months.push(`${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`);
  }
  return months;
}

export function formatFigure(f, value = f.value) {
  if (value === null || value === undefined) return "无数据";
  if (f.kind === "rate") return `${(value * 100).toFixed(1)}%`;
  if (f.kind === "average") return `${value.toFixed(1)}${f.unit || ""}`;
  return `${value}${f.unit && f.unit !== "%" ? f.unit : ""}`;
}

function casesLink(f, params, part, text) {
  if (!f.has_cases) return text;
  const next = new URLSearchParams(params);
  next.set("part", part);
  return h("a", { href: `#/figures/${f.key}?${next}`, text });
}

function figureTable(figures, params) {
  return table(
    [
      ["指标", (f) => h("span", { title: f.how, text: f.label })],
      ["数值", (f) => h("b", { class: f.red ? "due-red" : "", dataset: { figure: f.key, value: String(f.value) }, text: formatFigure(f) })],
      ["分子", (f) => (f.numerator === null ? "—" : casesLink(f, params, "numerator", String(f.numerator)))],
      ["分母", (f) => (f.denominator === null ? "—" : casesLink(f, params, "denominator", String(f.denominator)))],
      ["环比", (f) => (f.change_previous === null || f.change_previous === undefined ? "—" : `${f.change_previous > 0 ? "↑" : f.change_previous < 0 ? "↓" : "→"} ${formatFigure(f, Math.abs(f.change_previous))}`)],
      ["同比", (f) => (f.change_year === null || f.change_year === undefined ? "—" : `${f.change_year > 0 ? "↑" : f.change_year < 0 ? "↓" : "→"} ${formatFigure(f, Math.abs(f.change_year))}`)],
      ["算法", (f) => h("small", { class: "hint", text: f.how })],
    ],
    figures,
    { caption: "考核指标" },
  );
}

async function figureCases(main, here) {
  const params = new URLSearchParams(here.params);
  const page = Number(params.get("page") || 1);
  const query = { page, page_size: 20, period: params.get("period"), unit_id: params.get("unit_id"), part: params.get("part"), value: params.get("value") };
  const found = await get(`/api/assessment/figures/${here.id}/cases`, query);
  const words = app.words;
  const back = new URLSearchParams(params);
  back.delete("part");
  back.delete("page");
  back.delete("value");
  clear(
    main,
    h("p", {}, h("a", { href: `#/figures?${back}`, text: "← 返回考核数据" })),
    h("h1", { text: `指标案件（${{ numerator: "分子", denominator: "分母", miss: "拉低指标" }[params.get("part")] || ""}）` }),
    table(
      [
        ["编号", (c) => h("a", { href: `#/cases/${c.id}`, text: c.number })],
        ["状态", (c) => words.states[c.state] || c.state],
        ["类别", (c) => words.categories[c.category] || c.category],
        ["登记时间", (c) => when(c.created_at)],
      ],
      found.items,
      { emptyText: "没有案件" },
    ),
    pager(page, 20, found.total, toPage("figures", here.id, params)),
  );
}

export async function render(main, here) {
  if (here.id) return figureCases(main, here);
  const params = new URLSearchParams(here.params);
  if (!params.get("period")) params.set("period", thisMonth());
  const period = params.get("period");
  const unit = params.get("unit_id") || undefined;
  const [data, runs] = await Promise.all([
    get("/api/assessment/figures", { period, unit_id: unit }),
    get("/api/assessment/runs", { page_size: 10 }).catch(() => null),
  ]);
  const rates = data.figures.filter((f) => f.kind === "rate" && f.value !== null);
  const counts = data.figures.filter((f) => f.kind === "count" || f.kind === "part");
  const sources = (data.breakdowns.source || []).filter((r) => r.count > 0);
  const categories = (data.breakdowns.category || []).filter((r) => r.count > 0);
  const trend = /^\d{4}-\d{2}$/.test(period)
    ? await Promise.all(
        monthsBefore(period, 6).map(async (month) => {
          const figures = await get("/api/assessment/figures", { period: month, unit_id: unit });
          const received = figures.figures.find((f) => f.key === "received");
          return { label: month.slice(2), value: received ? received.value : null };
        }),
      )
    : [];

  const periodInput = h("input", { id: "period", name: "period", type: "text", value: period, "aria-describedby": "period-hint" });
  const form = h(
    "form",
    { class: "toolbar" },
    h("label", {}, "周期", periodInput),
    h("small", { id: "period-hint", class: "hint", text: "如 2026-11（月）、2026-Q4（季度）、2026（年）" }),
    h("button", { type: "submit", class: "primary", text: "查看" }),
    h("button", {
      type: "button",
      class: "secondary",
      text: "下载简报（PDF）",
      onclick: () => download("/api/assessment/briefing", `简报-${data.unit_name}-${period}.pdf`, { period, unit_id: unit }),
    }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    params.set("period", periodInput.value.trim());
    go("figures", "", params);
  });
  const percent = (v) => `${(v * 100).toFixed(1)}%`;
  clear(
    main,
    h("h1", { text: `考核数据 · ${data.unit_name}` }),
    h("p", { class: "hint", text: `统计期间：${when(data.start)} 至 ${when(data.end)}（北京时间）` }),
    form,
    h(
      "div",
      { class: "charts" },
      bars("各项比率", rates.map((f) => ({ label: f.label, value: f.value, href: f.has_cases ? `#/figures/${f.key}?${new URLSearchParams({ period, part: "miss", ...(unit ? { unit_id: unit } : {}) })}` : null })), percent),
      bars("件数", counts.map((f) => ({ label: f.label, value: f.value ?? 0 }))),
      pie("案件来源", sources.map((r) => ({ label: r.label, value: r.count }))),
      bars("纠纷类别", categories.map((r) => ({ label: r.label, value: r.count }))),
      trend.length ? line("近六个月受理件数", trend) : null,
    ),
    h("section", { class: "panel" }, figureTable(data.figures, params)),
    runs ? h("section", { class: "panel" }, h("h2", { text: "考核结果与报表" }), runTable(runs.items)) : null,
  );
}

// The assessment runs (ranked towns or villages) and each one's XLSX report, made as a background job.
function runTable(items) {
  return table(
    [
      ["考核", (r) => `${r.scope_name} · ${r.period}`],
      ["状态", (r) => (r.final ? "已定稿" : "试算")],
      ["排名", (r) => (r.units || []).slice(0, 3).map((u, i) => `${i + 1}. ${u.name}（${u.total ?? u.score ?? "—"}）`).join("  ")],
      ["时间", (r) => when(r.created_at)],
      [
        "",
        (r) =>
          h("button", {
            type: "button",
            class: "secondary",
            text: "生成报表（Excel）",
            onclick: () => runJob(`考核报表 · ${r.period}`, () => post(`/api/assessment/runs/${r.id}/report`), `考核报表-${r.scope_name}-${r.period}.xlsx`, "页"),
          }),
      ],
    ],
    items,
    { emptyText: "还没有考核结果" },
  );
}
