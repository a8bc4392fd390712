"""Reference lists a mini-program needs before anyone is signed in: places by name and the categories."""

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
