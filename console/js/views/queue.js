// 工作台: the cases in the signed-in grant's scope, by nearest deadline, with the API's filters kept in the
// address (a link to a filtered queue can be shared), counts per state above, and a check for new cases and
// warnings every 30 seconds.

import { get } from "../api.js";
import { app, can, every, go, searchTo, toPage } from "../app.js";
import { clear, deadlineClass, failure, h, notify, pager, table, when } from "../dom.js";

const FILTERS = ["tier", "source", "channel", "category", "warning", "supervised", "since", "until", "number", "q", "sort"];
const PAGE_SIZE = 20;

function select(name, label, options, value) {
  return h(
    "label",
    {},
    label,
    h(
      "select",
      { name },
      h("option", { value: "", text: "全部" }),
      Object.entries(options).map(([code, text]) => h("option", { value: code, selected: code === value, text })),
    ),
  );
}

function filterBar(params) {
  const words = app.words;
  const text = (name, label, attrs = {}) => h("label", {}, label, h("input", { name, type: "text", value: params.get(name) || "", ...attrs }));
  const date = (name, label) => h("label", {}, label, h("input", { name, type: "date", value: (params.get(name) || "").slice(0, 10) }));
  const form = h(
    "form",
    { class: "toolbar", role: "search", "aria-label": "筛选案件" },
    text("number", "案件编号", { placeholder: "完整编号" }),
    text("q", "关键词", { placeholder: "姓名、案情" }),
    select("category", "类别", words.categories, params.get("category")),
    select("source", "来源", words.sources, params.get("source")),
    select("channel", "渠道", words.channels, params.get("channel")),
    select("tier", "层级", words.tiers, params.get("tier")),
    select("warning", "预警", { yellow: "黄灯", red: "红灯" }, params.get("warning")),
    select("supervised", "督办", { true: "已督办", false: "未督办" }, params.get("supervised")),
    date("since", "登记自"),
    date("until", "登记至"),
    select("sort", "排序", { newest: "最新登记" }, params.get("sort")),
    h("button", { type: "submit", class: "primary", text: "查询" }),
    h("button", { type: "button", class: "secondary", text: "清空", onclick: () => go("queue") }),
  );
  return searchTo(form, "queue", { state: params.get("state") });
}

// The API's query from the address: dates as Beijing days, the rest as they are.
function apiQuery(params, page) {
  const query = { page, page_size: PAGE_SIZE };
  for (const name of ["state", ...FILTERS]) {
    const value = params.get(name);
    if (!value) continue;
    if (name === "since") query.since = `${value}T00:00:00+08:00`;
    else if (name === "until") query.until = new Date(new Date(`${value}T00:00:00+08:00`).getTime() + 86_400_000).toISOString();
    else query[name] = value;
  }
  return query;
}

function counts(params, found) {
  const words = app.words;
  const current = params.get("state") || "";
  const link = (state, label, n) => {
    const next = new URLSearchParams(params);
    next.delete("page");
    if (state) next.set("state", state);
    else next.delete("state");
    return h("li", {}, h("a", { href: `#/queue?${next}`, "aria-current": state === current ? "true" : null, dataset: { state } }, label, h("b", { text: String(n) })));
  };
  return h(
    "ul",
    { class: "counts", "aria-label": "各状态案件数" },
    link("", "在办", found.open),
    Object.entries(found.counts).map(([state, n]) => link(state, words.states[state], n)),
  );
}

function rows(items) {
  const words = app.words;
  return table(
    [
      ["编号", (c) => h("a", { href: `#/cases/${c.id}`, text: c.number })],
      ["状态", (c) => words.states[c.state] || c.status],
      ["类别", (c) => words.categories[c.category] || c.category],
      ["来源", (c) => words.sources[c.source] || c.source],
      ["承办单位", (c) => c.assigned_org_name || "—"],
      ["期限", (c) => (c.next_due ? h("span", { class: deadlineClass(c.next_due, c.warnings), text: when(c.next_due) }) : "—")],
      [
        "提示",
        (c) => [
          c.supervised ? h("span", { class: "tag tag-red", text: "督办" }) : null,
          c.risk === "high" || c.risk === "critical" ? h("span", { class: "tag tag-red", text: `风险${words.risks[c.risk]}` }) : null,
        ],
      ],
      ["登记时间", (c) => when(c.created_at)],
    ],
    items,
    { emptyText: "没有符合条件的案件" },
  );
}

// Everything the page shows, read in one go: the page of cases, the counts, a mediator's inbox, the open warnings.
function load(query) {
  const countQuery = { ...query };
  for (const name of ["state", "page", "page_size", "sort"]) delete countQuery[name];
  return Promise.all([
    get("/api/cases", query),
    get("/api/cases/counts", countQuery),
    can("case.inbox") ? get("/api/cases/inbox", { page_size: 50 }) : null,
    can("warning.view") ? get("/api/warnings", { state: "open", page_size: 1 }) : null,
  ]);
}

export async function render(main, here) {
  const params = here.params;
  const page = Number(params.get("page") || 1);
  const query = apiQuery(params, page);
  const [inboxSlot, countsSlot, body] = [h("div", {}), h("div", {}), h("div", {})];
  const paint = ([list, found, inbox]) => {
    clear(
      inboxSlot,
      inbox ? h("section", { class: "panel", "aria-label": "待我办理" }, h("h2", { text: `待我办理（${inbox.total}）` }), rows(inbox.items)) : null,
    );
    clear(countsSlot, counts(params, found));
    clear(body, rows(list.items), list.total > PAGE_SIZE ? pager(page, PAGE_SIZE, list.total, toPage("queue", "", params)) : null);
  };
  let seen = await load(query);
  paint(seen);
  clear(main, h("h1", { text: "工作台" }), inboxSlot, countsSlot, filterBar(params), body);
  // New cases and warnings without reloading: the page is read again every 30 seconds and what is new is said.
  every(30, async () => {
    try {
      const fresh = await load(query);
      const known = new Set([...seen[0].items, ...(seen[2] ? seen[2].items : [])].map((c) => c.id));
      const added = [...fresh[0].items, ...(fresh[2] ? fresh[2].items : [])].filter((c) => !known.has(c.id));
      const numbers = [...new Set(added.map((c) => c.number))];
      if (numbers.length) notify(`有 ${numbers.length} 件新案件或新变化：${numbers.join("、")}`, "info");
      const [before, after] = [seen[3], fresh[3]].map((w) => (w ? w.total : 0));
      if (after > before) notify(`新增 ${after - before} 条预警，请到「预警督办」查看`, "info");
      seen = fresh;
      paint(fresh);
    } catch (error) {
      if (error.status) clear(body, failure(error));
    }
  });
}
