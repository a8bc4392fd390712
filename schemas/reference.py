"""Reference lists a client needs before anyone is signed in: places by name, the categories, the words."""

from __future__ import annotations

from pydantic import Field

from schemas.base import ObjectIdStr, Schema
from server.core.vocabulary import Category


class PlaceQuery(Schema):
    parent_id: ObjectIdStr | None = Field(None, description="上级：列村时给镇，列微网格时给村")


class CategoriesQuery(Schema):
    town_id: ObjectIdStr | None = Field(None, description="镇（各镇分流规则可不同）；不填按县的默认规则")


class PlaceOut(Schema):
    id: str
    name: str


class PlacesOut(Schema):
    items: list[PlaceOut]


class CategoryOut(Schema):
    code: Category
    label: str
    specialist: bool = Field(description="按分流规则直接交县专业调委会")


class CategoriesOut(Schema):
    items: list[CategoryOut]


class ActionWord(Schema):
    label: str
    reason: bool = Field(description="须填写理由")
    to: str | None = Field(description="办理后的状态；空表示状态不变（挂起、延期、督办）")


class VocabularyOut(Schema):
    """Code → Chinese name for every word a client shows, from the same tables the server uses."""

    states: dict[str, str]
    open_states: list[str]
    categories: dict[str, str]
    sources: dict[str, str]
    channels: dict[str, str]
    tiers: dict[str, str]
    risks: dict[str, str]
    outcomes: dict[str, str]
    difficulties: dict[str, str]
    roles: dict[str, str]
    partner_kinds: dict[str, str]
    actions: dict[str, ActionWord]
