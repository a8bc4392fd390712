// 对接系统: the systems that hand disputes over through Open311 (12345, the grid system…): registered with a
// key shown once, the key replaced, a system stopped. The key is shown in the page only, never stored.

import { get, post } from "../api.js";
import { confirmAction, notify } from "../app.js";
import { dialog, h, clear, table, when } from "../dom.js";
import { formDialog } from "../forms.js";
import { unitsOf } from "../places.js";

function showKey(answer) {
  dialog(
    `${answer.partner.name} 的 api_key`,
    h(
      "div",
      {},
      h("p", { text: "密钥只显示这一次，请立即交给对方系统的管理员；遗失后只能更换。" }),
      h("p", { class: "secret", id: "api-key", text: answer.api_key }),
      h("div", { class: "actions" }, h("button", { type: "button", class: "primary", text: "我已记下", onclick: (event) => event.target.closest("dialog").close() })),
    ),
  );
}

export async function render(main, here) {
  const found = await get("/api/partners", { page_size: 100 });
  const reload = () => render(main, here);
  const townChoices = await unitsOf("town");
  const replace = async (partner) => {
    if (!(await confirmAction("更换密钥", `更换「${partner.name}」的密钥？旧密钥立即失效。`))) return;
    try {
      showKey(await post(`/api/partners/${partner.id}/key`));
      reload();
    } catch (error) {
      notify(error.message, "error");
    }
  };
  const revoke = (partner) =>
    formDialog(`停用 · ${partner.name}`, { path: "/api/partners/{partner_id}/revoke", require: ["reason"], submitLabel: "停用", onSubmit: (body) => post(`/api/partners/${partner.id}/revoke`, body) }, () => {
      notify("已停用，密钥已失效");
      reload();
    });
  const create = h("button", {
    type: "button",
    class: "primary",
    text: "登记对接系统",
    onclick: () =>
      formDialog("登记对接系统", { path: "/api/partners", values: { abilities: ["submit", "read_own"] }, choices: { "town_ids.*": townChoices }, submitLabel: "登记并发放密钥", onSubmit: (body) => post("/api/partners", body) }, (answer) => {
        showKey(answer);
        reload();
      }),
  });
  clear(
    main,
    h("h1", { text: "对接系统（Open311）" }),
    create,
    table(
      [
        ["名称", (p) => p.name],
        ["类型", (p) => p.kind_label],
        ["镇", (p) => p.town_ids.map((id) => (townChoices.find(([t]) => t === id) || [id, id])[1]).join("、")],
        ["权限", (p) => p.abilities.join("、")],
        ["密钥", (p) => (p.revoked_at ? "已停用" : `…${p.key_hint}（${when(p.key_issued_at)}）`)],
        [
          "操作",
          (p) =>
            p.revoked_at
              ? p.revoke_reason || "—"
              : [
                  h("button", { type: "button", class: "secondary", text: "更换密钥", onclick: () => replace(p) }),
                  h("button", { type: "button", class: "danger", text: "停用", onclick: () => revoke(p) }),
                ],
        ],
      ],
      found.items,
      { emptyText: "还没有对接系统" },
    ),
  );
}
