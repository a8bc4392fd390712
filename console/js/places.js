// Units by name for the forms' choices (a person picks 甲村, never an id): villages from the public place lists,
// and units of some kinds within the caller's scope.

import { get } from "./api.js";

let known = null;

// Every village with its town's name (read once per page load: the tree changes rarely).
export async function villages() {
  if (!known) {
    known = (async () => {
      const found = [];
      for (const town of (await get("/api/places/towns")).items) {
        for (const village of (await get("/api/places/villages", { parent_id: town.id })).items) found.push({ ...village, town: town.name });
      }
      return found;
    })();
  }
  return known;
}

// The villages as [id, name] choices, named with their town where there are several towns.
export async function villageChoices() {
  const list = await villages();
  const towns = new Set(list.map((v) => v.town));
  return list.map((v) => [v.id, towns.size > 1 ? `${v.town} · ${v.name}` : v.name]);
}

// The units of these kinds the caller may see, as [id, name] choices.
export async function unitsOf(...kinds) {
  const found = [];
  for (const kind of kinds) {
    for (const unit of (await get("/api/orgs", { kind, page_size: 100 })).items) found.push([unit.id, unit.name]);
  }
  return found;
}
