// 人员与角色: staff found by name, phone or role; a new account; grants given and taken back; an account
// stopped or started; a lost authenticator reset. Phones are masked; every change is on the audit log.

import { get, post } from "../api.js";
import { app, can, confirmAction, notify, searchTo, toPage } from "../app.js";
import { clear, h, pager, table, when } from "../dom.js";
import { formDialog } from "../forms.js";
import { unitsOf } from "../places.js";

const PAGE_SIZE = 20;

export async function render(main, here) {
  const params = here.params;
  const page = Number(params.get("page") || 1);
  const found = await get("/api/users", { name: params.get("name"), role: params.get("role"), page, page_size: PAGE_SIZE });
  const reload = () => render(main, here);
  const words = app.words;
  const orgChoices = can("staff.edit") ? await unitsOf("county", "town", "center", "village", "committee", "mediation_room", "grid") : [];
  const grant = (user) =>
    formDialog(`授予角色 · ${user.name}`, { path: "/api/users/{user_id}/grants", choices: { org_id: orgChoices }, submitLabel: "授予", onSubmit: (body) => post(`/api/users/${user.id}/grants`, body) }, () => {
      notify("已授予角色");
      reload();
    });
  const revoke = async (user, g) => {
    if (!(await confirmAction("撤销角色", `撤销 ${user.name} 的「${g.role_name}${g.org ? ` · ${g.org.name}` : ""}」？`))) return;
    try {
      await post(`/api/users/${user.id}/grants/revoke`, { role: g.role, org_id: g.org ? g.org.id : null, liaison_for: g.liaison_for });
      notify("已撤销角色");
      reload();
    } catch (error) {
      notify(error.message, "error");
    }
  };
  const toggle = async (user) => {
    const step = user.active ? "deactivate" : "activate";
    if (!(await confirmAction(user.active ? "停用账号" : "启用账号", `${user.active ? "停用" : "启用"} ${user.name} 的账号？`))) return;
    try {
      await post(`/api/users/${user.id}/${step}`);
      notify(user.active ? "已停用，其登录已全部失效" : "已启用");
      reload();
    } catch (error) {
      notify(error.message, "error");
    }
  };
  const search = h(
    "form",
    { class: "toolbar", role: "search" },
    h("label", {}, "姓名", h("input", { name: "name", type: "text", value: params.get("name") || "" })),
    h(
      "label",
      {},
      "角色",
      h("select", { name: "role" }, h("option", { value: "", text: "全部" }), Object.entries(words.roles).map(([code, text]) => h("option", { value: code, selected: code === params.get("role"), text }))),
    ),
    h("button", { type: "submit", class: "primary", text: "查找" }),
  );
  searchTo(search, "staff");
  const create = can("staff.edit")
    ? h("button", {
        type: "button",
        class: "primary",
        text: "新建工作人员",
        onclick: () =>
          formDialog("新建工作人员", { path: "/api/users", values: { grants: [{}] }, choices: { "grants.*.org_id": orgChoices }, submitLabel: "新建", onSubmit: (body) => post("/api/users", body) }, () => {
            notify("账号已建立");
            reload();
          }),
      })
    : null;
  clear(
    main,
    h("h1", { text: "人员与角色" }),
    search,
    create,
    table(
      [
        ["姓名", (u) => u.name],
        ["手机号", (u) => u.phone || "—"],
        [
          "角色",
          (u) =>
            u.grants.map((g) =>
              h("span", { class: "tag" }, `${g.role_name}${g.org ? ` · ${g.org.name}` : ""}`, can("staff.edit") ? h("button", { type: "button", class: "link", "aria-label": `撤销${g.role_name}`, text: "×", onclick: () => revoke(u, g) }) : null),
            ),
        ],
        ["状态", (u) => (u.active ? "在用" : "已停用")],
        ["建立", (u) => when(u.created_at)],
        [
          "操作",
          (u) =>
            can("staff.edit")
              ? [
                  h("button", { type: "button", class: "secondary", text: "授予角色", onclick: () => grant(u) }),
                  h("button", { type: "button", class: u.active ? "danger" : "secondary", text: u.active ? "停用" : "启用", onclick: () => toggle(u) }),
                ]
              : "—",
        ],
      ],
      found.items,
      { emptyText: "没有找到工作人员" },
    ),
    pager(page, PAGE_SIZE, found.total, toPage("staff", "", params)),
  );
}
