// A case: its details (numbers masked; 查看完整信息 asks for a reason and is audited), the timeline, mediation
// sessions, attachments, the agreement PDF, linked cases, and a button for exactly each action the API says the
// signed-in person may take now, each opening the form that action takes.

import { blobUrl, call, get, post } from "../api.js";
import { app, can, notify } from "../app.js";
import { clear, deadlineClass, dialog, empty, h, labelled, table, when } from "../dom.js";
import { formDialog } from "../forms.js";

const ACTION_PATH = "/api/cases/{case_id}/actions/";

function partiesTable(c) {
  const words = { applicant: "申请人", respondent: "被申请人" };
  return table(
    [
      ["身份", (p) => words[p.role] || p.role],
      ["姓名", (p) => p.name],
      ["手机号", (p) => p.phone || "—"],
      ["身份证号", (p) => p.id_number || "—"],
      ["住址", (p) => p.address || "—"],
    ],
    c.parties,
    { emptyText: "没有当事人信息" },
  );
}

function deadlines(c) {
  const names = { accept: "签收", conclude: "调解", follow_up: "回访", supervision: "督办" };
  const rows = Object.entries(c.deadlines || {}).map(([key, d]) => ({ key, ...d }));
  return table(
    [
      ["期限", (d) => names[d.key] || d.key],
      ["开始", (d) => when(d.start)],
      ["到期", (d) => h("span", { class: deadlineClass(d.due, { [d.key]: (c.warnings || {})[d.key] }), text: when(d.due) })],
    ],
    rows,
    { emptyText: "没有进行中的期限" },
  );
}

function facts(c) {
  const words = app.words;
  return h(
    "dl",
    { class: "facts" },
    labelled("状态", `${words.states[c.state]}（${c.status}）`),
    labelled("类别", words.categories[c.category] || c.category),
    labelled("来源 / 渠道", `${words.sources[c.source]} / ${words.channels[c.channel]}`),
    labelled("层级", c.tier ? words.tiers[c.tier] : "未定"),
    labelled("风险", words.risks[c.risk] || c.risk),
    labelled("承办单位", c.assigned_org_name),
    labelled("调解员", (c.mediators || []).map((m) => m.name).join("、")),
    labelled("分流建议", c.suggested ? `${c.suggested.org_name}（${words.tiers[c.suggested.tier] || c.suggested.tier}）` : null),
    labelled("外部编号", c.external_ref),
    labelled("督办", c.supervised ? `是（${when(c.supervised.at)}）` : "否"),
    labelled("挂起", c.suspended ? `是：${c.suspended.reason || ""}` : null),
    labelled("结果", c.outcome ? words.outcomes[c.outcome.type] || c.outcome.type : null),
    labelled("登记时间", when(c.created_at)),
  );
}

function timeline(c) {
  if (!c.timeline.length) return empty("还没有办理记录");
  return h(
    "ol",
    { class: "timeline" },
    c.timeline.map((t) =>
      h(
        "li",
        {},
        h("time", { datetime: t.at, text: when(t.at) }),
        h("b", { text: t.label }),
        t.actor_name ? ` · ${t.actor_name}${t.actor_role ? `（${t.actor_role}）` : ""}` : "",
        t.note ? h("div", { class: "hint", text: t.note }) : null,
      ),
    ),
  );
}

function sessions(c) {
  return table(
    [
      ["时间", (s) => when(s.at)],
      ["地点", (s) => s.place],
      ["调解员", (s) => (s.mediators || []).join("、")],
      ["记录", (s) => s.notes || "—"],
    ],
    c.sessions || [],
    { emptyText: "还没有调解记录" },
  );
}

function attachments(c) {
  const box = h("div", { class: "thumbs" });
  if (!c.attachments.length) return empty("没有附件");
  for (const a of c.attachments) {
    const path = `/api/cases/${c.id}/attachments/${a.id}`;
    if (a.content_type.startsWith("image/")) {
      const img = h("img", { alt: `附件 ${when(a.uploaded_at)}` });
      img.addEventListener("load", () => URL.revokeObjectURL(img.src), { once: true }); // shown: the blob can go
      blobUrl(path).then((file) => (img.src = file.url)).catch(() => img.replaceWith(h("span", { text: "图片无法显示" })));
      box.append(img);
    } else {
      box.append(
        h("button", {
          type: "button",
          class: "secondary",
          text: `下载 ${a.kind || a.content_type}（${Math.ceil(a.size / 1024)} KB）`,
          onclick: () => openFile(path),
        }),
      );
    }
  }
  return box;
}

// A file behind the token opened in a new tab (the PDF viewer), as a blob: the token never goes in a URL.
async function openFile(path) {
  try {
    const file = await blobUrl(path);
    const opened = window.open(file.url, "_blank", "noopener");
    if (!opened) notify("浏览器拦截了新窗口，请允许本站弹出窗口", "error");
    setTimeout(() => URL.revokeObjectURL(file.url), 120_000);
    return file;
  } catch (error) {
    notify(error.message, "error");
    return null;
  }
}

function links(found) {
  if (!found) return null;
  const parts = [];
  if (found.dispute) {
    parts.push(
      h("p", {}, `同一件事（${found.dispute.case_ids.length} 件）：`, found.dispute.case_ids.map((id) => h("a", { href: `#/cases/${id}`, class: "tag", text: id === found.dispute.lead_case_id ? "主案" : "关联案" }))),
    );
  }
  if (found.suggestions.length) {
    parts.push(
      table(
        [
          ["可能相关", (s) => h("a", { href: `#/cases/${s.case_id}`, text: s.number })],
          ["理由", (s) => s.reasons.join("；")],
          ["状态", (s) => app.words.states[s.state] || s.state],
        ],
        found.suggestions,
      ),
    );
  }
  return parts.length ? parts : empty("没有关联案件");
}

async function reveal(c, refresh) {
  const reason = h("input", { id: "reveal-reason", type: "text", maxlength: "200", required: true });
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h(
    "form",
    { novalidate: true },
    h("p", { text: "完整的手机号和身份证号只用于办理本案，查看将记入审计日志。" }),
    h("div", { class: "field" }, h("label", { for: "reveal-reason", text: "查看理由" }), reason),
    error,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", text: "查看" })),
  );
  const box = dialog("查看完整信息", form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const full = await get(`/api/cases/${c.id}`, { reveal: "true", reason: reason.value.trim() });
      box.close();
      refresh(full);
    } catch (refusal) {
      error.textContent = [refusal.message, ...(refusal.fieldMessages ? refusal.fieldMessages().map((m) => m.message) : [])].join("；");
    }
  });
}

// Assignment with the mediators the API suggests (specialty, stars, load): ticking one sends the case to
// that mediator's unit; ticking none sends it where routing suggests.
async function assignDialog(c, send, done) {
  const found = await get(`/api/cases/${c.id}/mediator-suggestions`).catch(() => ({ items: [] }));
  const choices = found.items.map((s) =>
    h(
      "li",
      {},
      h(
        "label",
        {},
        h("input", { type: "checkbox", name: "suggested", dataset: { user: s.mediator.user_id || "", org: (s.mediator.org_ids || [])[0] || "" } }),
        ` ${s.mediator.name}`,
        s.mediator.star ? ` ${"★".repeat(s.mediator.star)}` : "",
        h("span", { class: "hint", text: `推荐分 ${s.score}：${s.reasons.join("；")}` }),
      ),
    ),
  );
  const before = h(
    "section",
    { class: "suggestions" },
    h("h3", { text: "推荐调解员" }),
    choices.length ? h("ul", {}, choices) : empty("没有可推荐的调解员，将按分流建议交承办单位"),
  );
  return formDialog(
    "分派",
    {
      path: `${ACTION_PATH}assign`,
      values: { version: c.version },
      hidden: ["version", "mediator_ids", "org_id"],
      before,
      submitLabel: "分派",
      onSubmit: (body) => {
        const picked = [...before.querySelectorAll("input[name=suggested]:checked")];
        const users = picked.map((box) => box.dataset.user).filter(Boolean);
        if (users.length) body.mediator_ids = users;
        if (picked.length && picked[0].dataset.org) body.org_id = picked[0].dataset.org;
        return send(body);
      },
    },
    done,
  );
}

// The action's form in a dialog; a success closes it and shows the case as it now is, a refusal stays in it.
function openAction(c, name, reload) {
  const word = app.words.actions[name];
  const send = (body) => post(`/api/cases/${c.id}/actions/${name}`, body);
  const done = () => {
    notify(`已${word.label}`);
    reload();
  };
  if (name === "assign") return assignDialog(c, send, done);
  return formDialog(
    word.label,
    {
      path: `${ACTION_PATH}${name}`,
      values: { version: c.version },
      hidden: ["version"],
      require: word.reason ? ["reason"] : [],
      submitLabel: word.label,
      onSubmit: send,
    },
    done,
  );
}

function sessionDialog(c, reload) {
  return formDialog(
    "记录调解",
    {
      path: "/api/cases/{case_id}/sessions",
      values: { at: new Date().toISOString(), mediators: (c.mediators || []).map((m) => m.name).filter(Boolean) },
      hidden: ["roster_ids", "participants"],
      submitLabel: "保存调解记录",
      onSubmit: (body) => post(`/api/cases/${c.id}/sessions`, body),
    },
    () => {
      notify("调解记录已保存");
      reload();
    },
  );
}

function uploadButton(c, reload) {
  const input = h("input", { type: "file", id: "upload", accept: "image/jpeg,image/png,image/webp,application/pdf,audio/mpeg,audio/mp4,audio/amr" });
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    try {
      await call("POST", `/api/cases/${c.id}/attachments`, { upload: file });
      notify("附件已上传");
      reload();
    } catch (error) {
      notify(error.message, "error");
    }
  });
  return h("label", { class: "upload" }, "上传附件：", input);
}

export async function render(main, here) {
  const id = here.id;
  let c = await get(`/api/cases/${id}`);
  const reload = () => render(main, here);
  const linked = can("dispute.view") ? await get(`/api/cases/${id}/links`).catch(() => null) : null;

  const partiesSlot = h("div", {}, partiesTable(c));
  const showFull = (full) => {
    c = full;
    clear(partiesSlot, h("p", { class: "message message-info", text: "以下为完整信息，请勿外传。" }), partiesTable(full));
  };
  const words = app.words;
  const buttons = c.allowed_actions.map((name) =>
    h("button", {
      type: "button",
      class: ["review_fail", "reject", "recall", "follow_up_unsatisfied"].includes(name) ? "danger" : "primary",
      dataset: { action: name },
      text: words.actions[name].label,
      onclick: () => Promise.resolve(openAction(c, name, reload)).catch((error) => notify(error.message, "error")),
    }),
  );
  const handling = c.state === "in_mediation" && (c.allowed_actions.includes("conclude") || c.allowed_actions.includes("refer_out"));
  if (handling) buttons.push(h("button", { type: "button", class: "secondary", dataset: { action: "session" }, text: "记录调解", onclick: () => sessionDialog(c, reload) }));
  const agreement = c.outcome && c.outcome.type === "agreement";

  clear(
    main,
    h("p", {}, h("a", { href: "#/queue", text: "← 返回工作台" })),
    h("h1", {}, `案件 ${c.number}`, " ", h("span", { class: `tag ${deadlineClass(c.next_due, c.warnings)}`, text: words.states[c.state] })),
    h(
      "div",
      { class: "columns" },
      h(
        "div",
        {},
        h("section", { class: "panel" }, h("h2", { text: "案件信息" }), facts(c), h("h3", { text: "纠纷情况" }), h("p", { class: "description", text: c.description })),
        h(
          "section",
          { class: "panel" },
          h("h2", { text: "当事人" }),
          partiesSlot,
          h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", text: "查看完整信息", onclick: () => reveal(c, showFull) })),
        ),
        h("section", { class: "panel" }, h("h2", { text: "调解记录" }), sessions(c)),
        h(
          "section",
          { class: "panel" },
          h("h2", { text: "附件与协议书" }),
          attachments(c),
          agreement
            ? h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", id: "agreement-pdf", text: "打开调解协议书（PDF）", onclick: () => openFile(`/api/cases/${c.id}/agreement.pdf`) }))
            : null,
          c.state !== "closed" && c.state !== "rejected" ? uploadButton(c, reload) : null,
        ),
        linked ? h("section", { class: "panel" }, h("h2", { text: "关联案件" }), links(linked)) : null,
      ),
      h(
        "div",
        {},
        h(
          "section",
          { class: "panel", "aria-label": "办理" },
          h("h2", { text: "办理" }),
          buttons.length ? h("div", { class: "actions" }, buttons) : empty("当前没有您可以进行的操作"),
        ),
        h("section", { class: "panel" }, h("h2", { text: "期限" }), deadlines(c)),
        h("section", { class: "panel" }, h("h2", { text: "办理经过" }), timeline(c)),
      ),
    ),
  );
}
