// 星级与补贴: the mediators' star ratings (the town proposes, the county confirms or returns) and the monthly
// 以案定补 statements (the town approves, the county confirms and locks), each with its lines and the XLSX.

import { download, get, post } from "../api.js";
import { can, confirmAction, notify } from "../app.js";
import { clear, dialog, h, table, when } from "../dom.js";
import { formDialog } from "../forms.js";

const RATING_STATES = { draft: "待提交", proposed: "待县确认", confirmed: "已确认", returned: "已退回" };
const STATEMENT_STATES = { open: "待审核", approved: "待县确认", locked: "已锁定" };

const yuan = (fen) => `${(fen / 100).toFixed(2)} 元`;

async function ratingDetail(rating, reload) {
  const full = await get(`/api/ratings/${rating.id}`);
  const step = async (name, title) => {
    if (name === "return") {
      return formDialog("退回星级评定", { path: "/api/ratings/{rating_id}/return", require: ["reason"], submitLabel: "退回", onSubmit: (body) => post(`/api/ratings/${rating.id}/return`, body) }, reload);
    }
    if (!(await confirmAction(title, `${title}${full.period}的星级评定（按计算结果）？`))) return null;
    try {
      await post(`/api/ratings/${rating.id}/${name}`, { overrides: [] });
      notify(`已${title}`);
      box.close();
      reload();
    } catch (error) {
      notify(error.message, "error");
    }
    return null;
  };
  const box = dialog(
    `星级评定 · ${full.period}`,
    h(
      "div",
      {},
      table(
        [
          ["调解员", (r) => r.name],
          ["得分", (r) => String(r.score ?? "—")],
          ["计算星级", (r) => (r.computed ? "★".repeat(r.computed) : "—")],
          ["评定", (r) => (r.level ? "★".repeat(r.level) : "—")],
          ["说明", (r) => r.reason || r.note || "—"],
        ],
        full.results,
        { emptyText: "本期没有参加评定的调解员" },
      ),
      h(
        "div",
        { class: "actions" },
        can("rating.run") && ["draft", "returned"].includes(full.state) ? h("button", { type: "button", class: "primary", text: "提交县确认", onclick: () => step("propose", "提交") }) : null,
        can("rating.confirm") && full.state === "proposed"
          ? [h("button", { type: "button", class: "primary", text: "确认并公布", onclick: () => step("confirm", "确认") }), h("button", { type: "button", class: "danger", text: "退回", onclick: () => step("return", "退回") })]
          : null,
      ),
    ),
  );
}

async function statementDetail(statement, reload) {
  const full = await get(`/api/subsidies/statements/${statement.id}`);
  const step = async (name, title) => {
    if (!(await confirmAction(title, `${title}${full.month}的结算单（合计 ${yuan(full.totals.total)}）？`))) return;
    try {
      await post(`/api/subsidies/statements/${statement.id}/${name}`);
      notify(`已${title}`);
      box.close();
      reload();
    } catch (error) {
      notify(error.message, "error");
    }
  };
  const box = dialog(
    `以案定补结算单 · ${full.month}`,
    h(
      "div",
      {},
      h("p", { text: `合计 ${yuan(full.totals.total)}；异常 ${full.totals.exceptions || 0} 条` }),
      table(
        [
          ["案件", (l) => l.number || "—"],
          ["调解员", (l) => l.name || "—"],
          ["难度", (l) => l.difficulty || "—"],
          ["金额", (l) => yuan(l.amount)],
          ["说明", (l) => [...(l.exceptions || []), l.reason].filter(Boolean).join("；") || "—"],
        ],
        full.lines || [],
        { emptyText: "本月没有结算明细" },
      ),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "secondary", text: "导出 Excel", onclick: () => download(`/api/subsidies/statements/${statement.id}/xlsx`, `以案定补-${full.month}.xlsx`) }),
        can("subsidy.manage") && full.state === "open" ? h("button", { type: "button", class: "primary", text: "审核通过", onclick: () => step("approve", "审核") }) : null,
        can("subsidy.confirm") && full.state === "approved" ? h("button", { type: "button", class: "primary", text: "县确认并锁定", onclick: () => step("confirm", "确认") }) : null,
      ),
    ),
  );
}

export async function render(main, here) {
  const reload = () => render(main, here);
  const [ratings, statements] = await Promise.all([
    get("/api/ratings", { page_size: 50 }),
    can("subsidy.view") ? get("/api/subsidies/statements", { page_size: 24 }) : null,
  ]);
  clear(
    main,
    h("h1", { text: "星级与补贴" }),
    h(
      "section",
      { class: "panel" },
      h("h2", { text: "调解员星级评定" }),
      table(
        [
          ["周期", (r) => r.period],
          ["状态", (r) => RATING_STATES[r.state] || r.state],
          ["计入案件", (r) => String(r.cases_counted)],
          ["计算时间", (r) => when(r.computed_at)],
          ["", (r) => h("button", { type: "button", class: "secondary", text: "查看", onclick: () => ratingDetail(r, reload).catch((e) => notify(e.message, "error")) })],
        ],
        ratings.items,
        { emptyText: "还没有星级评定" },
      ),
    ),
    statements
      ? h(
          "section",
          { class: "panel" },
          h("h2", { text: "以案定补月度结算" }),
          table(
            [
              ["月份", (s) => s.month],
              ["状态", (s) => STATEMENT_STATES[s.state] || s.state],
              ["合计", (s) => yuan(s.totals.total)],
              ["", (s) => h("button", { type: "button", class: "secondary", text: "查看", onclick: () => statementDetail(s, reload).catch((e) => notify(e.message, "error")) })],
            ],
            statements.items,
            { emptyText: "还没有结算单" },
          ),
        )
      : null,
  );

}
