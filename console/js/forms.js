// Forms built from the API's own request schemas (its OpenAPI document), so that a field, its limits and its
// choices are defined once, on the server. The server still decides: its 422 names the field, and the form
// shows that message beside it.

import { ApiError, openapi, vocabulary } from "./api.js";
import { clear, dialog, h, loading } from "./dom.js";

// Chinese names for fields whose schema has none of its own.
const LABELS = {
  at: "时间",
  place: "地点",
  mediators: "调解员",
  parties_present: "到场当事人",
  participants: "其他参加人员",
  experts: "专家",
  roster_ids: "名册人员",
  notes: "记录",
  note: "说明",
  reason: "理由",
  outcome: "调解结果",
  agreement: "调解协议",
  parties: "当事人",
  facts: "纠纷事实",
  terms: "协议条款",
  performance_deadline: "履行期限",
  performance_method: "履行方式",
  difficulty: "案件难度",
  channel: "渠道",
  category: "纠纷类别",
  description: "纠纷情况",
  role: "身份",
  name: "姓名",
  phone: "手机号",
  id_number: "身份证号",
  sex: "性别",
  birth_date: "出生日期",
  address: "住址",
  village_id: "发生地（村）",
  micro_grid_id: "微网格",
  household_id: "户",
  consent_contact: "同意工作人员联系",
  risk: "风险等级",
  law_related: "涉法涉诉",
  received_at: "收到时间",
  confirm_new: "确认是新的诉求",
  days: "天数",
  deadline: "期限",
  finding: "督办事项",
  evidence: "依据",
  case_ids: "相关案件",
  unit_id: "单位",
  org_id: "单位",
  mediator_ids: "调解员",
  tier: "办理层级",
  kind: "类型",
  town_ids: "镇",
  abilities: "权限",
  contact: "联系人",
  webhook_url: "回调地址",
  grants: "角色",
  liaison_for: "联络对象",
  rules: "规则",
  when: "条件",
  target: "去向",
  accept_hours: "签收时限（小时）",
  conclude_days: "调解时限（天）",
  conclude_days_by_channel: "按渠道的调解时限（天）",
  follow_up_days: "回访时限（天）",
  warning_ratio: "黄灯提示比例",
  town_may_override: "允许各镇调整",
  "rules.*.name": "规则名称",
  source: "来源",
  categories: "纠纷类别",
  channels: "渠道",
  sources: "来源",
  village: "村级",
  town: "镇级",
  county: "县级",
};

// Choices shown by the server's words where the vocabulary has them.
const ENUM_WORDS = {
  category: "categories",
  source: "sources",
  channel: "channels",
  tier: "tiers",
  outcome: "outcomes",
  difficulty: "difficulties",
  role: "roles",
  risk: "risks",
  state: "states",
  kind: "partner_kinds",
};
const OTHER_WORDS = {
  applicant: "申请人",
  respondent: "被申请人",
  male: "男",
  female: "女",
  police: "派出所",
  court: "法庭",
  petition: "信访办",
  submit: "提交请求",
  read_own: "查看本系统提交的",
  read_public: "查看公开列表",
};
const LONG_TEXT = new Set(["description", "notes", "note", "facts", "reason", "finding", "evidence"]);

function resolve(doc, schema) {
  let current = schema || {};
  while (current.$ref) current = doc.components.schemas[current.$ref.split("/").pop()];
  if (current.anyOf) {
    const real = current.anyOf.filter((s) => s.type !== "null");
    const nullable = real.length < current.anyOf.length;
    if (real.length === 1) {
      const inner = resolve(doc, real[0]);
      return { ...inner, description: current.description || inner.description, nullable, default: current.default };
    }
  }
  return current;
}

// The JSON request schema of `method path` in the API document.
export async function requestSchema(path, method = "post") {
  const doc = await openapi();
  const operation = doc.paths[path] && doc.paths[path][method];
  const content = operation && operation.requestBody && operation.requestBody.content["application/json"];
  if (!content) throw new Error(`no request schema for ${method} ${path}`);
  return { doc, schema: resolve(doc, content.schema) };
}

function labelFor(name, schema, path) {
  const general = path.replace(/\.\d+(?=\.|$)/g, ".*");
  if (LABELS[general]) return LABELS[general];
  if (LABELS[name]) return LABELS[name];
  const text = schema.description || schema.title || name;
  return text.split(/[；;（(]/)[0];
}

function hintFor(schema, label) {
  const text = schema.description || "";
  return text && text !== label ? text : "";
}

function toLocalInput(iso) {
  if (!iso) return "";
  const shifted = new Date(new Date(iso).getTime() + 8 * 3600_000); // shown in Beijing time
  return shifted.toISOString().slice(0, 16);
}

function fromLocalInput(text) {
  return text ? `${text}:00+08:00` : null;
}

// One field of the form: its element and a `read()` giving its JSON value (undefined: leave it out).
function field(ctx, name, schema, value, path, required) {
  const { doc, words } = ctx;
  schema = resolve(doc, schema);
  const label = labelFor(name, schema, path);
  const hint = hintFor(schema, label);
  const id = `f-${path.replaceAll(".", "-")}-${ctx.seq++}`;
  const wrap = (control, inline = false) =>
    h(
      "div",
      { class: inline ? "field field-inline" : "field", dataset: { field: path } },
      h("label", { for: id }, label, required ? h("span", { class: "required", "aria-hidden": "true", text: " *" }) : null),
      control,
      hint ? h("small", { class: "hint", text: hint }) : null,
      h("span", { class: "field-error", role: "alert" }),
    );

  const choices = ctx.choices[path] || ctx.choices[path.replace(/\.\d+(?=\.|$)/g, ".*")];
  if (choices) {
    const select = h(
      "select",
      { id, name: path, required },
      h("option", { value: "", text: "（请选择）" }),
      choices.map(([code, text]) => h("option", { value: code, selected: code === value, text })),
    );
    return { node: wrap(select), read: () => select.value || undefined };
  }
  if (schema.enum) {
    const table = words[ENUM_WORDS[name]] || {};
    const select = h(
      "select",
      { id, name: path, required },
      required && value !== undefined && value !== null ? null : h("option", { value: "", text: "（请选择）" }),
      schema.enum.map((option) =>
        h("option", { value: option, selected: option === value, text: table[option] || OTHER_WORDS[option] || option }),
      ),
    );
    return { node: wrap(select), read: () => select.value || undefined };
  }
  if (schema.type === "boolean") {
    const box = h("input", { id, name: path, type: "checkbox", checked: Boolean(value ?? schema.default) });
    return { node: wrap(box, true), read: () => box.checked };
  }
  if (schema.type === "integer" || schema.type === "number") {
    const input = h("input", {
      id,
      name: path,
      type: "number",
      required,
      min: schema.minimum ?? schema.exclusiveMinimum,
      max: schema.maximum,
      step: schema.type === "integer" ? "1" : "any",
      value: value ?? "",
    });
    return { node: wrap(input), read: () => (input.value === "" ? undefined : Number(input.value)) };
  }
  if (schema.type === "string") {
    if (schema.format === "date-time") {
      const input = h("input", { id, name: path, type: "datetime-local", required, value: toLocalInput(value) });
      return { node: wrap(input), read: () => fromLocalInput(input.value) ?? undefined };
    }
    if (schema.format === "date") {
      const input = h("input", { id, name: path, type: "date", required, value: value || "" });
      return { node: wrap(input), read: () => input.value || undefined };
    }
    const long = LONG_TEXT.has(name) || (schema.maxLength || 0) > 300;
    const input = long
      ? h("textarea", { id, name: path, required, rows: 3, maxlength: schema.maxLength })
      : h("input", { id, name: path, type: "text", required, maxlength: schema.maxLength });
    input.value = value ?? "";
    return { node: wrap(input), read: () => (input.value.trim() === "" ? undefined : input.value.trim()) };
  }
  if (schema.type === "array") {
    const items = resolve(doc, schema.items);
    if (items.type === "object" && items.properties) return objectList(ctx, name, items, value || [], path, label);
    const listed = ctx.choices[`${path}.*`];
    if (items.enum || listed) {
      const table = words[ENUM_WORDS[name]] || {};
      const options = listed || items.enum.map((option) => [option, table[option] || OTHER_WORDS[option] || option]);
      const boxes = options.map(([option, text]) =>
        h("label", { class: "choice" }, h("input", { type: "checkbox", value: option, checked: (value || []).includes(option) }), text),
      );
      const node = h("fieldset", { class: "field", dataset: { field: path } }, h("legend", { text: label }), boxes, h("span", { class: "field-error", role: "alert" }));
      return { node, read: () => boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value) };
    }
    // A list of words or ids: one per line.
    const area = h("textarea", { id, name: path, rows: 3, required });
    area.value = (value || []).join("\n");
    const node = wrap(area);
    node.querySelector("label").append(h("small", { class: "hint", text: "（每行一项）" }));
    return {
      node,
      read: () => {
        const lines = area.value.split("\n").map((line) => line.trim()).filter(Boolean);
        return lines.length || required ? lines : undefined;
      },
    };
  }
  if (schema.type === "object" && schema.properties) return objectFields(ctx, name, schema, value || {}, path, label);
  // Anything else (a map of channel → days, a rule's condition…): JSON, checked by the server.
  const area = h("textarea", { id, name: path, rows: 4, class: "json", spellcheck: "false" });
  area.value = value === undefined || value === null ? "" : JSON.stringify(value, null, 2);
  return {
    node: wrap(area),
    read: () => {
      if (area.value.trim() === "") return undefined;
      try {
        return JSON.parse(area.value);
      } catch {
        throw new ApiError(422, "validation_failed", "请检查填写的内容", [{ field: path, message: "格式不正确（应为 JSON）" }]);
      }
    },
  };
}

function objectFields(ctx, name, schema, value, path, label) {
  const required = new Set([...(schema.required || []), ...(path ? [] : ctx.require)]);
  const parts = Object.entries(schema.properties)
    .filter(([key]) => !ctx.hidden.has(path ? `${path}.${key}` : key))
    .map(([key, sub]) => [key, field(ctx, key, sub, value[key], path ? `${path}.${key}` : key, required.has(key))]);
  const node = path
    ? h("fieldset", { class: "group", dataset: { field: path } }, h("legend", { text: label }), parts.map(([, p]) => p.node), h("span", { class: "field-error", role: "alert" }))
    : h("div", { class: "group-root" }, parts.map(([, p]) => p.node));
  return {
    node,
    read: () => {
      const out = {};
      for (const [key, part] of parts) {
        const v = part.read();
        if (v !== undefined) out[key] = v;
      }
      // A part left wholly empty (an agreement when there is none) is left out, not sent as {}.
      return path && !Object.keys(out).length ? undefined : out;
    },
  };
}

function objectList(ctx, name, items, values, path, label) {
  const rows = [];
  const list = h("div", { class: "rows" });
  const add = (value) => {
    const row = { part: null, node: null };
    const render = () => {
      const index = rows.indexOf(row);
      row.part = field(ctx, name, items, value, `${path}.${index}`, false);
      const remove = h("button", {
        type: "button",
        class: "link",
        text: "删除",
        onclick: () => {
          value = undefined;
          rows.splice(rows.indexOf(row), 1);
          row.node.remove();
        },
      });
      row.node = h("div", { class: "row" }, row.part.node, remove);
    };
    rows.push(row);
    render();
    list.append(row.node);
  };
  values.forEach(add);
  const node = h(
    "fieldset",
    { class: "field", dataset: { field: path } },
    h("legend", { text: label }),
    list,
    h("button", { type: "button", class: "secondary", text: `添加${label}`, onclick: () => add({}) }),
    h("span", { class: "field-error", role: "alert" }),
  );
  return { node, read: () => rows.map((row) => row.part.read()) };
}

// Shows the server's field messages beside their fields; what matches no field goes in the form's own area.
export function showErrors(form, error) {
  for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
  for (const node of form.querySelectorAll(".invalid")) node.classList.remove("invalid");
  const general = form.querySelector(".form-error");
  general.textContent = "";
  const unplaced = [];
  for (const item of error instanceof ApiError ? error.fieldMessages() : []) {
    let path = item.field;
    let target = null;
    while (path && !(target = form.querySelector(`[data-field="${CSS.escape(path)}"]`))) {
      path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
    }
    if (target) {
      target.classList.add("invalid");
      const slot = target.querySelector(":scope > .field-error");
      slot.textContent = [slot.textContent, item.message].filter(Boolean).join("；");
    } else unplaced.push(item.message);
  }
  general.textContent = [error.message, ...unplaced].join("；");
  const first = form.querySelector(".invalid input, .invalid select, .invalid textarea");
  if (first) first.focus();
}

// A form for `method path`'s request body. `values` fill it; `hidden` lists fields not shown (their values
// from `values` are sent as they are); `require` marks fields this use needs (a reason); `choices` gives a
// field's options as [value, name] pairs (villages by name, not by id; "grants.*.org_id" for every row); `onSubmit(body)` sends it — a refusal
// is shown in the form.
export async function schemaForm({
  path,
  method = "post",
  values = {},
  hidden = [],
  require = [],
  choices = {},
  submitLabel = "提交",
  onSubmit,
  before = null,
}) {
  const { doc, schema } = await requestSchema(path, method);
  const ctx = { doc, words: await vocabulary(), seq: 0, hidden: new Set(hidden), require, choices };
  const root = objectFields(ctx, "", schema, values, "", "");
  const button = h("button", { type: "submit", class: "primary", text: submitLabel });
  const form = h("form", { class: "schema-form", novalidate: true }, before, root.node, h("p", { class: "form-error", role: "alert" }), h("div", { class: "actions" }, button));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      const body = { ...Object.fromEntries(hidden.filter((k) => k in values).map((k) => [k, values[k]])), ...root.read() };
      await onSubmit(body);
    } catch (error) {
      showErrors(form, error);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// `schemaForm` in a dialog: a success closes it and calls `done(answer)`; a refusal stays in the form.
export async function formDialog(title, options, done = () => {}) {
  const holder = h("div", {}, loading("正在准备表单…"));
  const box = dialog(title, holder);
  const form = await schemaForm({
    ...options,
    onSubmit: async (body) => {
      const answer = await options.onSubmit(body);
      box.close();
      done(answer);
    },
  });
  clear(holder, form);
  const first = form.querySelector("input, select, textarea");
  if (first) first.focus();
}
