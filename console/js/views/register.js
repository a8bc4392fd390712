// 登记案件: a walk-in or hotline dispute registered at the desk (a liaison registers their source's referral),
// in the API's own case form; the village is chosen by name.

import { post } from "../api.js";
import { app, can, go, notify } from "../app.js";
import { clear, h } from "../dom.js";
import { schemaForm } from "../forms.js";
import { villageChoices } from "../places.js";

// The channels this grant registers through (the server checks it again).
function channels() {
  if (app.grant.role === "liaison") return { police: "police_referral", court: "court_referral", petition: "petition_referral" }[app.grant.liaison_for];
  return can("case.register_at_desk") ? "walk_in" : null;
}

export async function render(main) {
  const channel = channels();
  const form = await schemaForm({
    path: "/api/cases",
    values: { channel, parties: [{ role: "applicant" }, { role: "respondent" }], consent_contact: true },
    hidden: ["qr_token", "gps", "visit_id", "draft", "household_id", "micro_grid_id"],
    choices: { village_id: await villageChoices() },
    submitLabel: "登记",
    onSubmit: async (body) => {
      const created = await post("/api/cases", body);
      notify(`已登记，案件编号 ${created.number}`);
      go("cases", created.id);
    },
  });
  clear(
    main,
    h("h1", { text: "登记案件" }),
    h("p", { class: "hint", text: "来访、来电的纠纷在此登记（警、诉、访转来的由各联络员登记并填写对方编号）。带 * 的为必填项。" }),
    h("section", { class: "panel" }, form),
  );
}
