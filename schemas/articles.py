"""Articles (普法宣传, 先进典型) on the wire: what the office writes, what staff and residents read."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from schemas.base import ObjectIdStr, PageParams, Patch, Schema
from server.core.vocabulary import ARTICLE_KIND_LABELS, ArticleKind, ArticleState, Category

Step = Literal["submit", "return", "publish", "unpublish", "archive"]


class ArticleIn(Schema):
    kind: ArticleKind = Field(
        description="law 普法知识，notice 通知公告，case_story 典型案例，exemplar 先进典型，policy 政策解读"
    )
    title: str = Field(min_length=2, max_length=60)
    summary: str = Field("", max_length=200)
    body: str = Field(
        min_length=1, max_length=50_000, description="正文 HTML；保存时只保留安全的标签（脚本、事件属性等会被去除）"
    )
    categories: list[Category] = Field(default_factory=list, max_length=11, description="相关的纠纷类别")
    scope_org_id: ObjectIdStr = Field(description="面向的范围：县、乡镇或村（社区）")


class ArticlePatch(Patch):
    kind: ArticleKind | None = None
    title: str | None = Field(None, min_length=2, max_length=60)
    summary: str | None = Field(None, max_length=200)
    body: str | None = Field(None, min_length=1, max_length=50_000)
    categories: list[Category] | None = Field(None, max_length=11)
    scope_org_id: ObjectIdStr | None = None


class StepIn(Schema):
    reason: str | None = Field(None, min_length=2, max_length=200, description="退回、撤下时必填")


class CaseStoryIn(Schema):
    case_id: ObjectIdStr = Field(description="已办结的案件")
    scope_org_id: ObjectIdStr


class ExemplarIn(Schema):
    mediator_id: ObjectIdStr = Field(description="调解员档案（须本人已同意公开宣传）")
    scope_org_id: ObjectIdStr


class ArticleQuery(PageParams):
    state: ArticleState = Field("published", description="published 以外的状态只有编辑人员可查")
    kind: ArticleKind | None = None


class FeedQuery(PageParams):
    org_id: ObjectIdStr = Field(description="居民所在的村（社区）或乡镇：列出本村、本镇和本县的文章")
    kind: ArticleKind | None = None
    category: Category | None = Field(None, description="只看与某类纠纷相关的文章")


class HistoryOut(Schema):
    action: str
    by: str
    at: datetime
    note: str | None


class ArticleCard(Schema):
    """What a list shows of a published article."""

    id: str
    kind: ArticleKind
    kind_label: str
    title: str
    summary: str
    categories: list[Category]
    cover_url: str | None
    published_at: datetime | None
    reads: int


class ArticlePublicOut(ArticleCard):
    body: str = Field(description="已清理的安全 HTML")
    related: list[ArticleCard] = Field(description="同类纠纷的其他文章")


class ArticleOut(ArticleCard):
    body: str
    state: ArticleState
    scope_org_id: str
    scope_kind: str
    from_case_id: str | None
    exemplar_profile_id: str | None
    history: list[HistoryOut]
    created_at: datetime
    updated_at: datetime


class ArticleList(Schema):
    items: list[ArticleCard]


class ReachOut(Schema):
    reads: int = Field(description="居民阅读次数（不记录是谁）")
    visits: int = Field(description="走访时发放的次数（本人管辖范围内）")
    households: int = Field(description="发放到的住户数（本人管辖范围内）")


def card(article: dict[str, Any]) -> ArticleCard:
    return ArticleCard(**_card_fields(article))


def _card_fields(article: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(article["_id"]),
        "kind": article["kind"],
        "kind_label": ARTICLE_KIND_LABELS[article["kind"]],
        "title": article["title"],
        "summary": article["summary"],
        "categories": article["categories"],
        "cover_url": f"/api/articles/{article['_id']}/cover" if article.get("cover") else None,
        "published_at": article.get("published_at"),
        "reads": article.get("reads", 0),
    }


def public_article(article: dict[str, Any], related: list[dict[str, Any]]) -> ArticlePublicOut:
    return ArticlePublicOut(**_card_fields(article), body=article["body"], related=[card(a) for a in related])


def article_to_json(article: dict[str, Any]) -> ArticleOut:
    return ArticleOut(
        **_card_fields(article),
        body=article["body"],
        state=article["state"],
        scope_org_id=str(article["scope_org_id"]),
        scope_kind=article["scope_kind"],
        from_case_id=str(article["from_case_id"]) if article.get("from_case_id") else None,
        exemplar_profile_id=str(article["exemplar_profile_id"]) if article.get("exemplar_profile_id") else None,
        history=[
            HistoryOut(action=h["action"], by=str(h["by"]), at=h["at"], note=h.get("note")) for h in article["history"]
        ],
        created_at=article["created_at"],
        updated_at=article["updated_at"],
    )
