"""Org units on the wire."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

from schemas.base import ObjectIdStr, PageParams, Patch, Schema, given, when
from server.core.vocabulary import CenterType, OrgKind


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("应为整数")
    return value


# A population as JSON has it: 618 or 618.0 (JSON Schema's integer), never `true`. The bounds come before
# the validator, so that the document states them as minimum and maximum.
Population = Annotated[int, Field(ge=0, le=10_000_000), BeforeValidator(_not_a_bool)]


class OrgOut(Schema):
    id: str
    name: str
    kind: OrgKind
    parent_id: str | None
    path: list[str] = Field(description="从最上级到本单元的 id")
    population: int = Field(description="常住人口，用于万人诉讼率等指标")
    center_type: CenterType | None = None
    committee_type: str | None = None
    code: str | None = None


class OrgCreateIn(Schema):
    model_config = ConfigDict(
        json_schema_extra={  # a center names its type; a committee its category
            "allOf": [
                when("kind", "center", given("center_type")),
                when("kind", "committee", given("committee_type", minLength=1)),
            ]
        },
    )

    name: str = Field(min_length=1, max_length=60)
    kind: OrgKind
    parent_id: ObjectIdStr
    population: int = Field(0, ge=0, le=10_000_000)
    center_type: CenterType | None = None
    committee_type: str | None = Field(None, max_length=30)
    code: str | None = Field(None, max_length=40)


class OrgUpdateIn(Patch):
    name: str | None = Field(None, min_length=1, max_length=60)
    population: Population | None = None


class OrgQuery(PageParams):
    parent_id: ObjectIdStr | None = None
    kind: OrgKind | None = None


def org_to_json(unit: dict[str, Any]) -> OrgOut:
    return OrgOut(
        id=str(unit["_id"]),
        name=unit["name"],
        kind=unit["kind"],
        parent_id=str(unit["parent_id"]) if unit.get("parent_id") else None,
        path=[str(p) for p in unit["path"]],
        population=unit.get("population", 0),
        center_type=unit.get("center_type"),
        committee_type=unit.get("committee_type"),
        code=unit.get("code"),
    )
