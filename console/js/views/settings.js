// 设置: routing rules, deadlines, risk rules, the rating scheme and the subsidy rules, each as the form of its
// API (the server validates; a refusal names the field beside it). Saving makes a new version; 恢复统一设置
// drops the town's own version.

import { call, get, put } from "../api.js";
import { can, confirmAction, go, notify } from "../app.js";
import { clear, h } from "../dom.js";
import { schemaForm } from "../forms.js";

const SETTINGS = [
  ["routing-rules", "分流规则"],
  ["deadlines", "办理期限"],
  ["risk-rules", "风险研判规则"],
  ["rating-scheme", "星级评定方案"],
  ["subsidy-rules", "以案定补标准"],
];
// What a GET answers besides the values a PUT takes.
const READ_ONLY = ["org_id", "source", "version", "updated_at", "updated_by"];

export async function render(main, here) {
  const name = here.id || SETTINGS[0][0];
  const title = Object.fromEntries(SETTINGS)[name];
  if (!title) return go("settings");
  const path = `/api/settings/${name}`;
  const current = await get(path);
  const values = Object.fromEntries(Object.entries(current).filter(([key]) => !READ_ONLY.includes(key)));
  const editable = can("settings.edit");
  const form = editable
    ? await schemaForm({
        path,
        method: "put",
        values,
        submitLabel: "保存",
        onSubmit: async (body) => {
          await put(path, body);
          notify(`${title}已保存`);
          render(main, here);
        },
      })
    : h("pre", { class: "json", text: JSON.stringify(values, null, 2) });
  const reset = editable
    ? h("button", {
        type: "button",
        class: "danger",
        text: "恢复统一设置",
        onclick: async () => {
          if (!(await confirmAction("恢复统一设置", `删除本单位自定的${title}，改用上级的统一设置？`))) return;
          try {
            await call("DELETE", path);
            notify("已恢复统一设置");
            render(main, here);
          } catch (error) {
            notify(error.message, "error");
          }
        },
      })
    : null;
  clear(
    main,
    h("h1", { text: `设置 · ${title}` }),
    h(
      "nav",
      { class: "counts", "aria-label": "设置项" },
      SETTINGS.map(([key, label]) => h("a", { href: `#/settings/${key}`, "aria-current": key === name ? "page" : null, text: label })),
    ),
    h("p", { class: "hint", text: `当前版本 ${current.version || "默认"}，来源：${current.source || "系统默认"}。保存后只影响此后的案件。` }),
    h("section", { class: "panel" }, form, reset),
  );
}
