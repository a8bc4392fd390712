"""What a mini-program needs before a plate is scanned: places by name, categories in Chinese, enums stated."""

from __future__ import annotations

from typing import Any

from server.core.vocabulary import CATEGORIES
from tests.town import resident_case


async def test_places_are_listed_by_name_without_signing_in(api, town, other_town) -> None:
    towns = (await api.get("/api/places/towns")).json["items"]
    assert sorted(t["name"] for t in towns) == ["测试镇", "第二镇"]
    assert set(towns[0]) == {"id", "name"}  # names only: no population, no codes, no paths
    villages = await api.get(f"/api/places/villages?parent_id={town.id('测试镇')}")
    assert [v["name"] for v in villages.json["items"]] == ["乙村", "甲村"]
    other = await api.get(f"/api/places/villages?parent_id={other_town['town']['_id']}")
    assert [v["name"] for v in other.json["items"]] == ["丙村"]
    micro = await api.get(f"/api/places/micro-grids?parent_id={town.id('甲村')}")
    assert [m["name"] for m in micro.json["items"]] == ["甲村微网格"]
    # A resident without a plate picks the village from the list and reports.
    picked = next(v for v in villages.json["items"] if v["name"] == "甲村")
    case = await api.post(
        "/api/cases", resident_case(town, village_id=picked["id"]), token=town.people["resident_a"].token
    )
    assert case.status == 201
    assert (await api.get("/api/places/villages?parent_id=nonsense")).status == 422


async def test_categories_come_with_labels_and_the_specialist_flag(api) -> None:
    items = (await api.get("/api/categories")).json["items"]
    assert [(c["code"], c["label"]) for c in items] == list(CATEGORIES.items())
    specialist = {c["code"] for c in items if c["specialist"]}
    assert specialist == {"medical", "traffic", "labour"}  # the default rules send these to the county


async def test_the_openapi_document_states_the_enums(api, town) -> None:
    schemas = (await api.get("/api/openapi.json")).json["components"]["schemas"]
    case_in = schemas["CaseIn"]["properties"]
    assert case_in["category"]["enum"] == list(CATEGORIES)
    assert set(case_in["channel"]["enum"]) >= {"miniprogram", "police_referral"}
    refused = await api.post(
        "/api/cases", resident_case(town, category="weather"), token=town.people["resident_a"].token
    )
    assert refused.status == 422
    assert [d["field"] for d in refused.json["error"]["details"]] == ["category"]


async def test_each_action_documents_its_own_request_and_the_case_is_typed_throughout(api) -> None:
    openapi = (await api.get("/api/openapi.json")).json
    schemas = openapi["components"]["schemas"]

    def request_of(action: str) -> dict[str, Any]:
        body = openapi["paths"][f"/api/cases/{{case_id}}/actions/{action}"]["post"]["requestBody"]
        ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        return schemas[ref]

    assert set(request_of("supervise")["required"]) == {"reason", "deadline"}
    assert set(request_of("extension_request")["required"]) == {"reason", "days"}
    assert request_of("conclude")["required"] == ["outcome"]
    assert "required" not in request_of("accept")
    assert "org_id" in request_of("assign")["properties"]
    assert "org_id" not in request_of("accept")["properties"]
    assert "/api/cases/{case_id}/actions/{action}" not in openapi["paths"]

    def untyped(schema: dict[str, Any], where: str) -> list[str]:
        """Places that say only "an object" (or "anything"), which a generated client cannot use."""
        if "$ref" in schema:
            return []
        found = []
        if (
            schema.get("type") == "object"
            and not schema.get("properties")
            and schema.get("additionalProperties")
            in (
                None,
                True,
                {},
            )
        ):
            found.append(where)
        for key in ("anyOf", "oneOf", "allOf"):
            for index, part in enumerate(schema.get(key, [])):
                found += untyped(part, f"{where}.{key}{index}")
        if "items" in schema:
            found += untyped(schema["items"], f"{where}[]")
        if isinstance(schema.get("additionalProperties"), dict):
            found += untyped(schema["additionalProperties"], f"{where}{{}}")
        for name, prop in schema.get("properties", {}).items():
            found += untyped(prop, f"{where}.{name}")
        if schema == {} and where:
            found.append(where)
        return found

    nested = {"SuggestedOut", "DeadlineOut", "OutcomeOut", "MediationSessionOut", "ExtensionOut", "AgreementOut"}
    assert nested <= set(schemas)
    assert untyped(schemas["CaseOut"], "CaseOut") == []
    assert untyped({"properties": {"bad": {"type": "object"}}}, "X") == ["X.bad"]  # the check itself bites
