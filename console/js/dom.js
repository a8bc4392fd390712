// Small helpers for building the page: elements, Beijing times, tables, pagers, messages, dialogs.
// Text always goes in as text (never as HTML), so nothing a resident typed can run in an office's browser.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2).toLowerCase(), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, value);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

const BEIJING = "Asia/Shanghai";
const dateTime = new Intl.DateTimeFormat("zh-CN", {
  timeZone: BEIJING,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});
const dateOnly = new Intl.DateTimeFormat("zh-CN", { timeZone: BEIJING, year: "numeric", month: "2-digit", day: "2-digit" });

// "2026-11-29 21:40" in Beijing time, whatever the desk's own clock zone.
export function when(iso) {
  if (!iso) return "—";
  const parts = Object.fromEntries(dateTime.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

export function day(iso) {
  if (!iso) return "—";
  const parts = Object.fromEntries(dateOnly.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

// The deadline's colour: red when passed or flagged red, yellow when flagged yellow.
export function deadlineClass(nextDue, warnings) {
  const levels = Object.values(warnings || {});
  if (levels.includes("red") || (nextDue && new Date(nextDue) < new Date())) return "due-red";
  if (levels.includes("yellow")) return "due-yellow";
  return "due-ok";
}

export function loading(text = "正在加载…") {
  return h("p", { class: "state-loading", role: "status", text });
}

export function empty(text) {
  return h("p", { class: "state-empty", text });
}

export function failure(error) {
  return h("p", { class: "state-error", role: "alert", text: error.message || "出错了，请稍后重试" });
}

// A table: `columns` are [heading, row => cell] pairs; `rows` the items. An empty list says so.
export function table(columns, rows, { caption, emptyText = "没有记录" } = {}) {
  if (!rows.length) return empty(emptyText);
  return h(
    "table",
    { class: "grid" },
    caption ? h("caption", { text: caption }) : null,
    h("thead", {}, h("tr", {}, columns.map(([heading]) => h("th", { scope: "col", text: heading })))),
    h(
      "tbody",
      {},
      rows.map((row) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(row))))),
    ),
  );
}

// 第 n 页 / 共 m 页 with previous and next buttons calling `go(page)`.
export function pager(page, pageSize, total, go) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return h(
    "nav",
    { class: "pager", "aria-label": "翻页" },
    h("button", { type: "button", disabled: page <= 1, onclick: () => go(page - 1), text: "上一页" }),
    h("span", { text: `第 ${page} / ${pages} 页，共 ${total} 条` }),
    h("button", { type: "button", disabled: page >= pages, onclick: () => go(page + 1), text: "下一页" }),
  );
}

// A message at the top of the page for a few seconds (errors stay until closed).
export function notify(text, kind = "ok") {
  const area = document.getElementById("messages");
  if (!area) return;
  const item = h(
    "div",
    { class: `message message-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { text }),
    h("button", { type: "button", class: "link", "aria-label": "关闭", text: "×", onclick: () => item.remove() }),
  );
  area.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 6000);
}

// A modal dialog holding `content`; closed by Esc, by its 取消 button or by `close()`.
export function dialog(title, content) {
  const box = h(
    "dialog",
    { class: "dialog", "aria-label": title },
    h("div", { class: "dialog-head" }, h("h2", { text: title }), h("button", { type: "button", class: "link", text: "取消", onclick: () => box.close() })),
    content,
  );
  box.addEventListener("close", () => box.remove());
  document.body.append(box);
  box.showModal();
  const first = box.querySelector("input, select, textarea") || box.querySelector("button");
  if (first) first.focus();
  return { box, close: () => box.close() };
}

export function labelled(label, value) {
  return [h("dt", { text: label }), h("dd", {}, value === null || value === undefined || value === "" ? "—" : value)];
}
