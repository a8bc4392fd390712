// 户籍与门牌: households found by village, micro-grid or address; a household's file (一户一档); a village's
// plates printed through the plate job with its progress; a register imported with the row-by-row result.

import { call, get, post } from "../api.js";
import { can, searchTo, toPage } from "../app.js";
import { clear, dialog, empty, h, labelled, pager, table, when } from "../dom.js";
import { runJob } from "../jobs.js";
import { villages } from "../places.js";

const PAGE_SIZE = 20;

function members(list) {
  return table(
    [
      ["姓名", (m) => m.name],
      ["关系", (m) => m.relation || "—"],
      ["手机号", (m) => m.phone || "—"],
      ["身份证号", (m) => m.id_number || "—"],
    ],
    list,
    { emptyText: "没有登记成员" },
  );
}

// Prints a village's plates: the job runs on the server; its progress is shown until the file is ready.
function printPlates(village) {
  return runJob(`打印门牌 · ${village.name}`, () => post("/api/plates", { org_id: village.id }), `门牌-${village.name}.pdf`, "张门牌");
}

function importDialog(village) {
  const input = h("input", { id: "register-file", type: "file", accept: ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" });
  const result = h("div", { role: "status" });
  const send = h("button", { type: "submit", class: "primary", text: "导入" });
  const form = h(
    "form",
    { novalidate: true },
    h("p", { class: "hint", text: "CSV 或 Excel 户籍表，每行一人（表头见 README）。出错的行按行号和列列出并跳过，其余照常导入。" }),
    h("div", { class: "field" }, h("label", { for: "register-file", text: "户籍表文件" }), input),
    h("div", { class: "actions" }, send),
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) {
      clear(result, h("p", { class: "form-error", text: "请选择文件" }));
      return;
    }
    send.disabled = true;
    const type = file.name.toLowerCase().endsWith(".xlsx") ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" : "text/csv";
    try {
      const report = await call("POST", "/api/households/import", { upload: new File([file], file.name, { type }), query: { village_id: village.id } });
      clear(
        result,
        h("p", { class: "message message-ok", text: `新建 ${report.households_created} 户、${report.members_created} 人；跳过 ${report.households_skipped} 户（已登记）。` }),
        report.errors.length
          ? table([["行", (d) => String(d.row)], ["列", (d) => d.field], ["问题", (d) => d.message]], report.errors, { caption: `未导入的行（${report.errors.length}）` })
          : null,
      );
    } catch (error) {
      const rows = (error.details || []).filter((d) => d.row);
      clear(
        result,
        h("p", { class: "form-error", text: error.message }),
        rows.length ? table([["行", (d) => String(d.row)], ["列", (d) => d.field], ["问题", (d) => d.message]], rows, { caption: "出错的行" }) : null,
      );
    } finally {
      send.disabled = false;
    }
  });
  dialog(`导入户籍 · ${village.name}`, form);
}

async function householdFile(main, id) {
  const file = await get(`/api/households/${id}/file`);
  const house = file.household;
  const showMembers = h("div", {}, members(house.members));
  clear(
    main,
    h("p", {}, h("a", { href: "#/households", text: "← 返回户籍" })),
    h("h1", { text: `一户一档 · ${house.address}` }),
    h(
      "div",
      { class: "columns" },
      h(
        "div",
        {},
        h("section", { class: "panel" }, h("h2", { text: "家庭成员" }), showMembers, h("p", { class: "hint", text: "号码已脱敏；需要完整号码时请在手机端查看并说明理由。" })),
        h(
          "section",
          { class: "panel" },
          h("h2", { text: "走访记录" }),
          table([["时间", (v) => when(v.visited_at)], ["事由", (v) => (v.purposes || []).join("、") || "—"], ["情况", (v) => v.notes || "—"]], file.visits, { emptyText: "没有走访记录" }),
        ),
        h(
          "section",
          { class: "panel" },
          h("h2", { text: "相关案件" }),
          table([["编号", (c) => h("a", { href: `#/cases/${c.id}`, text: c.number })], ["状态", (c) => c.status || c.state], ["登记", (c) => when(c.created_at)]], file.cases, { emptyText: "没有案件" }),
        ),
      ),
      h(
        "div",
        {},
        h("section", { class: "panel" }, h("h2", { text: "风险" }), h("dl", { class: "facts" }, labelled("等级", file.risk), labelled("原因", (file.risk_reasons || []).join("；")))),
        h("section", { class: "panel" }, h("h2", { text: "关注事项" }), table([["事项", (n) => n.text], ["跟进日期", (n) => n.follow_up_on || "—"], ["办结", (n) => (n.done_at ? when(n.done_at) : "未办结")]], file.notes, { emptyText: "没有关注事项" })),
      ),
    ),
  );
}

export async function render(main, here) {
  if (here.id) return householdFile(main, here.id);
  const params = here.params;
  const page = Number(params.get("page") || 1);
  const list = await villages();
  const village = list.find((v) => v.id === params.get("org_id"));
  const found = params.get("org_id") || params.get("address") ? await get("/api/households", { org_id: params.get("org_id"), address: params.get("address"), page, page_size: PAGE_SIZE }) : null;
  const villageSelect = h(
    "select",
    { name: "org_id", id: "village" },
    h("option", { value: "", text: "（选择村、社区）" }),
    list.map((v) => h("option", { value: v.id, selected: v.id === params.get("org_id"), text: `${v.town} · ${v.name}` })),
  );
  const address = h("input", { name: "address", type: "text", value: params.get("address") || "", placeholder: "地址中的文字" });
  const form = h("form", { class: "toolbar", role: "search" }, h("label", {}, "村（社区）", villageSelect), h("label", {}, "地址", address), h("button", { type: "submit", class: "primary", text: "查找" }));
  searchTo(form, "households");
  const tools = village
    ? h(
        "div",
        { class: "actions" },
        can("plate.print") ? h("button", { type: "button", class: "secondary", text: `打印${village.name}门牌`, onclick: () => printPlates(village) }) : null,
        can("household.edit") ? h("button", { type: "button", class: "secondary", text: `导入${village.name}户籍`, onclick: () => importDialog(village) }) : null,
      )
    : null;
  clear(
    main,
    h("h1", { text: "户籍与门牌" }),
    form,
    tools,
    found
      ? [
          table(
            [
              ["地址", (x) => h("a", { href: `#/households/${x.id}`, text: x.address })],
              ["成员", (x) => x.members.map((m) => m.name).join("、") || "—"],
              ["标签", (x) => (x.tags || []).map((t) => h("span", { class: "tag", text: t }))],
              ["登记时间", (x) => when(x.created_at)],
            ],
            found.items,
            { emptyText: "没有找到住户" },
          ),
          pager(page, PAGE_SIZE, found.total, toPage("households", "", params)),
        ]
      : empty("请选择村（社区）或输入地址查找住户"),
  );
}
