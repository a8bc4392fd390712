// 预警督办: the current risk and cluster warnings to acknowledge and handle, and the supervision notices
// (督办 with their rectification deadline) to issue, answer, accept or return — each through its API.

import { get, post } from "../api.js";
import { can, every, go } from "../app.js";
import { clear, deadlineClass, h, notify, table, when } from "../dom.js";
import { formDialog } from "../forms.js";
import { unitsOf } from "../places.js";

const LEVELS = { high: "高", critical: "极高", yellow: "黄", red: "红" };
const WARNING_STATES = { open: "待处理", acknowledged: "已知悉", handled: "已处置" };
const NOTICE_STATES = { issued: "待整改", answered: "已答复", accepted: "已通过", returned: "已退回" };

function caseLinks(ids) {
  return (ids || []).map((id, i) => h("a", { href: `#/cases/${id}`, class: "tag", text: `案件${i + 1}` }));
}

function warningRows(items, reload) {
  const note = (warning, step, title) =>
    formDialog(title, { path: `/api/warnings/{warning_id}/${step}`, submitLabel: title, onSubmit: (body) => post(`/api/warnings/${warning.id}/${step}`, body) }, () => {
      notify(`已${title}`);
      reload();
    });
  return table(
    [
      ["级别", (w) => h("span", { class: `tag ${w.level === "critical" || w.level === "red" ? "tag-red" : "tag-yellow"}`, text: LEVELS[w.level] || w.level })],
      ["预警", (w) => [h("b", { text: w.title }), h("div", { class: "hint", text: (w.reasons || []).join("；") })]],
      ["案件", (w) => caseLinks(w.case_ids)],
      ["状态", (w) => WARNING_STATES[w.state] || w.state],
      ["时间", (w) => when(w.created_at)],
      [
        "处理",
        (w) =>
          can("warning.handle")
            ? [
                w.state === "open" ? h("button", { type: "button", class: "secondary", text: "知悉", onclick: () => note(w, "acknowledge", "知悉") }) : null,
                w.state !== "handled" ? h("button", { type: "button", class: "primary", text: "处置", onclick: () => note(w, "handle", "处置") }) : null,
              ]
            : "—",
      ],
    ],
    items,
    { emptyText: "没有预警" },
  );
}

function noticeRows(items, reload) {
  const step = (notice, name, title, path) =>
    formDialog(title, { path, require: name === "return" ? ["reason"] : [], submitLabel: title, onSubmit: (body) => post(`/api/supervision-notices/${notice.id}/${name}`, body) }, () => {
      notify(`已${title}`);
      reload();
    });
  return table(
    [
      ["被督查单位", (n) => n.unit_name],
      ["督办事项", (n) => [h("b", { text: n.finding }), h("div", { class: "hint", text: n.evidence })]],
      ["整改期限", (n) => h("span", { class: n.state === "issued" || n.state === "returned" ? deadlineClass(n.deadline, { s: n.warning }) : "", text: when(n.deadline) })],
      ["案件", (n) => caseLinks(n.case_ids)],
      ["状态", (n) => NOTICE_STATES[n.state] || n.state],
      [
        "办理",
        (n) => [
          can("supervision.answer") && ["issued", "returned"].includes(n.state)
            ? h("button", { type: "button", class: "primary", text: "答复", onclick: () => step(n, "answer", "答复整改情况", "/api/supervision-notices/{notice_id}/answer") })
            : null,
          can("supervision.issue") && n.state === "answered"
            ? [
                h("button", { type: "button", class: "primary", text: "通过", onclick: () => step(n, "accept", "通过", "/api/supervision-notices/{notice_id}/accept") }),
                h("button", { type: "button", class: "danger", text: "退回", onclick: () => step(n, "return", "退回", "/api/supervision-notices/{notice_id}/return") }),
              ]
            : null,
        ],
      ],
    ],
    items,
    { emptyText: "没有督查通报" },
  );
}

export async function render(main, here) {
  const state = here.params.get("state") || "open";
  const reload = () => render(main, here);
  const [warnings, notices] = await Promise.all([
    get("/api/warnings", { state: state === "all" ? undefined : state, page_size: 100 }),
    can("supervision.view") ? get("/api/supervision-notices", { page_size: 100 }) : null,
  ]);
  const filter = h(
    "div",
    { class: "toolbar" },
    h(
      "label",
      {},
      "预警状态",
      h(
        "select",
        { id: "warning-state", onchange: (event) => go("warnings", "", new URLSearchParams({ state: event.target.value })) },
        Object.entries({ ...WARNING_STATES, all: "全部" }).map(([code, text]) => h("option", { value: code, selected: code === state, text })),
      ),
    ),
  );
  const issue = can("supervision.issue")
    ? h("button", {
        type: "button",
        class: "primary",
        text: "下发督查通报",
        onclick: async () =>
          formDialog(
            "下发督查通报",
            { path: "/api/supervision-notices", choices: { unit_id: await unitsOf("town", "village") }, submitLabel: "下发", onSubmit: (body) => post("/api/supervision-notices", body) },
            () => {
              notify("督查通报已下发");
              reload();
            },
          ),
      })
    : null;
  clear(
    main,
    h("h1", { text: "预警督办" }),
    h("section", { class: "panel" }, h("h2", { text: `预警（${warnings.total}）` }), filter, warningRows(warnings.items, reload)),
    notices ? h("section", { class: "panel" }, h("h2", { text: `督查通报（${notices.total}）` }), issue, noticeRows(notices.items, reload)) : null,
  );
  every(60, async () => {
    const fresh = await get("/api/warnings", { state: "open", page_size: 1 }).catch(() => null);
    if (fresh && state === "open" && fresh.total !== warnings.total) reload();
  });
}
