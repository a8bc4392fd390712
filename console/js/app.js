// The console's frame: sign-in, who is signed in (role and scope, with a switch between grants), the menu,
// the idle sign-out, and a router over the address's hash (`#/queue?state=assigned`), so a filter or a case
// can be bookmarked and sent to a colleague as a link.

import { call, forget, get, hasSession, keep, onSignedOut, post, vocabulary } from "./api.js";
import { clear, dialog, failure, h, loading, notify } from "./dom.js";

const GRANT_KEY = "sygz.grant";
const DEVICE_KEY = "sygz.device"; // an opaque random token naming this browser, so a known desk is not a new device

export const app = { me: null, grant: null, words: null, timers: [] };

// Menu entries: [route, name, capability the current grant needs].
const MENU = [
  ["queue", "工作台", "case.search"],
  ["register", "登记案件", "case.register_at_desk"],
  ["warnings", "预警督办", "warning.view"],
  ["households", "户籍与门牌", "household.search"],
  ["figures", "考核数据", "assessment.view"],
  ["mediators", "星级与补贴", "rating.view"],
  ["settings", "设置", "settings.view"],
  ["staff", "人员与角色", "staff.view"],
  ["partners", "对接系统", "partner.manage"],
];

const VIEWS = {
  queue: () => import("./views/queue.js"),
  cases: () => import("./views/case.js"),
  register: () => import("./views/register.js"),
  warnings: () => import("./views/warnings.js"),
  households: () => import("./views/households.js"),
  figures: () => import("./views/figures.js"),
  mediators: () => import("./views/mediators.js"),
  settings: () => import("./views/settings.js"),
  staff: () => import("./views/staff.js"),
  partners: () => import("./views/partners.js"),
};

export function can(capability) {
  return Boolean(app.grant && app.grant.capabilities.includes(capability));
}

// The current address: route name, the id after it, and its query (`#/cases/abc?x=1`).
export function route() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [name = "", id = ""] = path.split("/");
  return { name, id, params: new URLSearchParams(query) };
}

export function go(name, id = "", params = null) {
  const query = params && params.toString();
  location.hash = `#/${name}${id ? `/${id}` : ""}${query ? `?${query}` : ""}`;
}

// A search form that puts its filled fields in the address (`keep`: parameters carried over, like the state).
export function searchTo(form, name, keep = {}) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of Object.entries(keep)) if (value) next.set(key, value);
    for (const [key, value] of new FormData(form)) if (value) next.set(key, value);
    go(name, "", next);
  });
  return form;
}

// What a pager's button does: the same address with another page.
export function toPage(name, id, params) {
  return (page) => {
    const next = new URLSearchParams(params);
    next.set("page", String(page));
    go(name, id, next);
  };
}

function stopTimers() {
  for (const timer of app.timers) clearInterval(timer);
  app.timers = [];
}

// A view's repeating refresh (new cases, new warnings), stopped when the page changes.
export function every(seconds, work) {
  app.timers.push(setInterval(work, seconds * 1000));
}

async function show() {
  stopTimers();
  const root = document.getElementById("app");
  if (!hasSession() || !app.me) return signIn(root);
  const here = route();
  const first = MENU.find(([, , capability]) => can(capability));
  if (!here.name || !VIEWS[here.name]) return go(first ? first[0] : "queue");
  const main = document.getElementById("main");
  for (const link of document.querySelectorAll("nav.menu a")) {
    link.toggleAttribute("aria-current", link.dataset.route === here.name || (here.name === "cases" && link.dataset.route === "queue"));
  }
  clear(main, loading());
  try {
    const view = await VIEWS[here.name]();
    await view.render(main, here);
  } catch (error) {
    clear(main, failure(error));
  }
  const heading = main.querySelector("h1");
  if (heading) {
    document.title = `${heading.textContent} · 三源共治工作台`;
  }
}

function grantLabel(role) {
  return `${role.role_name}${role.org ? ` · ${role.org.name}` : ""}`;
}

function frame() {
  const roles = app.me.roles;
  const switcher = h(
    "select",
    {
      id: "grant",
      "aria-label": "当前身份",
      onchange: (event) => {
        sessionStorage.setItem(GRANT_KEY, event.target.value);
        choose();
        layout();
        show();
      },
    },
    roles.map((role, index) => h("option", { value: String(index), selected: role === app.grant, text: grantLabel(role) })),
  );
  return h(
    "div",
    { class: "frame" },
    h(
      "header",
      { class: "top" },
      h("span", { class: "brand", text: "三源共治工作台" }),
      h(
        "div",
        { class: "who" },
        h("span", { class: "user", text: app.me.name }),
        roles.length > 1 ? switcher : h("span", { class: "grant", text: grantLabel(app.grant) }),
        h("button", { type: "button", class: "secondary", text: "退出", onclick: signOut }),
      ),
    ),
    h(
      "nav",
      { class: "menu", "aria-label": "功能" },
      MENU.filter(([, , capability]) => can(capability)).map(([name, label]) =>
        h("a", { href: `#/${name}`, dataset: { route: name }, text: label }),
      ),
    ),
    h("div", { id: "messages", "aria-live": "polite" }),
    h("main", { id: "main", tabindex: "-1" }),
  );
}

function layout() {
  clear(document.getElementById("app"), frame());
}

function choose() {
  const index = Number(sessionStorage.getItem(GRANT_KEY) || 0);
  const staff = app.me.roles.filter((r) => r.role !== "resident");
  app.grant = app.me.roles[index] && app.me.roles[index].role !== "resident" ? app.me.roles[index] : staff[0] || null;
}

async function start() {
  app.me = await get("/api/me");
  choose();
  if (!app.grant) {
    forget();
    app.me = null;
    throw new Error("该账号没有工作人员角色，请使用小程序");
  }
  layout();
  await show();
}

async function signOut() {
  try {
    await post("/api/auth/logout");
  } catch {
    // signed out here whatever the server says
  }
  ended("已退出登录");
}

function ended(message) {
  stopTimers();
  forget();
  sessionStorage.removeItem(GRANT_KEY);
  app.me = null;
  app.grant = null;
  for (const open of document.querySelectorAll("dialog")) open.remove();
  signIn(document.getElementById("app"), message);
}

// Sign-in: phone → SMS code → (an administrator's second factor) → the console.
function signIn(root, message = "") {
  const note = h("p", { class: message ? "message message-info" : "hidden", role: "status", text: message });
  const error = h("p", { class: "form-error", role: "alert" });
  const phone = h("input", { id: "phone", name: "phone", type: "tel", autocomplete: "tel", required: true, maxlength: "20", inputmode: "numeric" });
  const code = h("input", { id: "code", name: "code", type: "text", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "6", required: true });
  const codeField = h("div", { class: "field hidden" }, h("label", { for: "code", text: "短信验证码" }), code);
  const send = h("button", { type: "button", class: "secondary", text: "获取验证码" });
  const submit = h("button", { type: "submit", class: "primary", text: "登录", disabled: true });
  let waitTimer = null;

  send.addEventListener("click", async () => {
    error.textContent = "";
    send.disabled = true;
    try {
      const sent = await post("/api/auth/sms/send", { phone: phone.value.trim() });
      codeField.classList.remove("hidden");
      submit.disabled = false;
      code.focus();
      let wait = sent.retry_after || 60;
      waitTimer = setInterval(() => {
        wait -= 1;
        send.textContent = wait > 0 ? `${wait} 秒后可重发` : "重新获取";
        if (wait <= 0) {
          clearInterval(waitTimer);
          send.disabled = false;
        }
      }, 1000);
    } catch (refusal) {
      error.textContent = refusal.message;
      send.disabled = false;
    }
  });

  const form = h(
    "form",
    { class: "signin", novalidate: true },
    h("h1", { text: "三源共治工作台" }),
    h("p", { class: "hint", text: "镇三源共治办公室、各中心、县综治中心和督导人员使用" }),
    note,
    h("div", { class: "field" }, h("label", { for: "phone", text: "手机号" }), h("div", { class: "inline" }, phone, send)),
    codeField,
    error,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      const body = { phone: phone.value.trim(), code: code.value.trim() };
      const device = localStorage.getItem(DEVICE_KEY);
      if (device) body.device_token = device;
      const pair = await post("/api/auth/sms/verify", body);
      if (pair.device_token) localStorage.setItem(DEVICE_KEY, pair.device_token);
      keep(pair);
      if (waitTimer) clearInterval(waitTimer);
      if (pair.second_factor_required) return secondFactor(root);
      await enter();
    } catch (refusal) {
      error.textContent = refusal.message;
      submit.disabled = false;
    }
  });
  clear(root, h("main", { id: "main", class: "signin-page" }, form));
  document.title = "登录 · 三源共治工作台";
  phone.focus();
}

function secondFactor(root) {
  const error = h("p", { class: "form-error", role: "alert" });
  const code = h("input", { id: "otp", name: "otp", type: "text", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "6" });
  const recovery = h("input", { id: "recovery", name: "recovery", type: "text", maxlength: "20" });
  const form = h(
    "form",
    { class: "signin", novalidate: true },
    h("h1", { text: "第二重验证" }),
    h("p", { class: "hint", text: "管理员账号：请输入身份验证器上的 6 位数字，或一个恢复码。" }),
    h("div", { class: "field" }, h("label", { for: "otp", text: "身份验证器数字" }), code),
    h("div", { class: "field" }, h("label", { for: "recovery", text: "或：恢复码" }), recovery),
    error,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary", text: "验证" }),
      h("button", { type: "button", class: "secondary", text: "暂不验证（不能分配角色、查看完整信息）", onclick: () => enter() }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const body = recovery.value.trim() ? { recovery_code: recovery.value.trim() } : { code: code.value.trim() };
      keep(await post("/api/auth/second-factor", body));
      await enter();
    } catch (refusal) {
      error.textContent = refusal.message;
    }
  });
  clear(root, h("main", { id: "main", class: "signin-page" }, form));
  code.focus();
}

async function enter() {
  try {
    await start();
  } catch (error) {
    signIn(document.getElementById("app"), error.message);
  }
}

// Signs out after the same idle time as the server's (so nothing is left on an unattended screen).
function watchIdle() {
  const minutes = Number(document.querySelector('meta[name="sygz-idle-minutes"]').content) || 30;
  let last = Date.now();
  for (const kind of ["keydown", "pointerdown", "wheel"]) addEventListener(kind, () => (last = Date.now()), { passive: true });
  setInterval(() => {
    if (app.me && Date.now() - last > minutes * 60_000) {
      call("POST", "/api/auth/logout").catch(() => {});
      ended("长时间未操作，已退出登录");
    }
  }, 30_000);
}

// A confirmation in a dialog: resolves true when the user confirms.
export function confirmAction(title, text) {
  return new Promise((resolve) => {
    const box = dialog(
      title,
      h(
        "div",
        {},
        h("p", { text }),
        h(
          "div",
          { class: "actions" },
          h("button", { type: "button", class: "primary", text: "确定", onclick: () => { box.close(); resolve(true); } }),
          h("button", { type: "button", class: "secondary", text: "取消", onclick: () => { box.close(); resolve(false); } }),
        ),
      ),
    );
  });
}

export { notify };

onSignedOut((message) => ended(message));
addEventListener("hashchange", () => {
  if (app.me) show();
});
watchIdle();
vocabulary()
  .then((words) => {
    app.words = words;
    return hasSession() ? enter() : signIn(document.getElementById("app"));
  })
  .catch((error) => clear(document.getElementById("app"), failure(error)));
