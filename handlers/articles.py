"""普法宣传 and 先进典型 (server/publicity/articles.py): the office's editing and review, the residents' feed."""

from __future__ import annotations

from handlers.base import BaseHandler, api, public, requires
from schemas.articles import (
    ArticleCard,
    ArticleIn,
    ArticleList,
    ArticleOut,
    ArticlePatch,
    ArticlePublicOut,
    ArticleQuery,
    CaseStoryIn,
    ExemplarIn,
    FeedQuery,
    ReachOut,
    Step,
    StepIn,
    article_to_json,
    card,
    public_article,
)
from schemas.base import Page
from server.cases.service import CaseService
from server.core.ids import parse_id
from server.publicity.articles import COVER_TYPES, ArticleService

# The feed is the same for every reader of a place: a phone may keep it a minute and then ask again with
# the ETag it got (Tornado answers 304 when nothing changed).
FEED_CACHE = "public, max-age=60"
RELATED = 5


class _ArticleHandler(BaseHandler):
    @property
    def articles(self) -> ArticleService:
        return ArticleService(self.ctx)


class ArticlesHandler(_ArticleHandler):
    @requires("article.view")
    @api(
        "宣传文章（工作人员：本人管辖范围及上级发布的；编辑人员可查草稿与待审）",
        query=ArticleQuery,
        response=Page[ArticleCard],
        tags=["articles"],
    )
    async def get(self) -> None:
        query = self.read_query(ArticleQuery)
        found, total = await self.articles.search(
            self.caller, state=query.state, kind=query.kind, skip=query.skip, limit=query.page_size
        )
        self.write_page([card(a) for a in found], total, query)

    @requires("article.draft")
    @api(
        "起草宣传文章（保存为草稿）",
        request=ArticleIn,
        response=ArticleOut,
        status=201,
        tags=["articles"],
        description="正文 HTML 保存时清理为安全子集：脚本、事件属性、样式、框架和非 http(s) 链接都会被去除。",
    )
    async def post(self) -> None:
        body = self.read_json(ArticleIn)
        self.write_json(article_to_json(await self.articles.create(self.caller, body.model_dump())), status=201)


class ArticleHandler(_ArticleHandler):
    @requires("article.view")
    @api("宣传文章详情（含审核记录）", response=ArticleOut, tags=["articles"])
    async def get(self, article_id: str) -> None:
        self.write_json(article_to_json(await self.articles.get(self.caller, parse_id(article_id, "文章"))))

    @requires("article.draft")
    @api(
        "修改草稿或已撤下的文章",
        request=ArticlePatch,
        response=ArticleOut,
        tags=["articles"],
        description="审核中或已发布的文章不能修改（409）：请先退回或撤下。",
    )
    async def put(self, article_id: str) -> None:
        changes = self.read_json(ArticlePatch).model_dump(exclude_unset=True)
        article = await self.articles.update(self.caller, parse_id(article_id, "文章"), changes)
        self.write_json(article_to_json(article))


class ArticleStepHandler(_ArticleHandler):
    @requires("article.draft")
    @api(
        "审核流程：submit 提交审核、return 退回、publish 审核发布、unpublish 撤下、archive 归档",
        request=StepIn,
        response=ArticleOut,
        tags=["articles"],
        description="提交由编辑人员，其余由管理员；当前状态不允许的操作返回 409；典型案例仍含当事人姓名、住址或号码时"
        "不能提交或发布（422，指明字段）。每一步都记入审计日志。",
    )
    async def post(self, article_id: str, step: Step) -> None:
        body = self.read_json(StepIn)
        article = await self.articles.act(self.caller, parse_id(article_id, "文章"), step, body.reason)
        self.write_json(article_to_json(article))


class CoverHandler(_ArticleHandler):
    body_limit = 10 * 1024 * 1024

    @public
    @api("封面图片（已发布的任何人可看）", media=list(COVER_TYPES), tags=["articles"])
    async def get(self, article_id: str) -> None:
        data, content_type = await self.articles.cover(self.principal, parse_id(article_id, "文章"))
        self.set_header("Cache-Control", FEED_CACHE)
        self.write_bytes(data, content_type)

    @requires("article.draft")
    @api(
        "上传封面图片",
        upload=[*COVER_TYPES, "multipart/form-data"],
        response=ArticleOut,
        tags=["articles"],
        description="与案件附件同一流程：按内容判断类型，重新编码，去除 EXIF 与定位信息。",
    )
    async def put(self, article_id: str) -> None:
        article = await self.articles.set_cover(self.caller, parse_id(article_id, "文章"), self.file_body())
        self.write_json(article_to_json(article))


class ReachHandler(_ArticleHandler):
    @requires("article.view")
    @api("文章的传播：阅读次数，走访发放到的住户", response=ReachOut, tags=["articles"])
    async def get(self, article_id: str) -> None:
        self.write_json(ReachOut(**await self.articles.reach(self.caller, parse_id(article_id, "文章"))))


class CaseStoryHandler(_ArticleHandler):
    @requires("article.draft")
    @api(
        "以已办结案件起草典型案例（当事人姓名、住址、号码已替换）",
        request=CaseStoryIn,
        response=ArticleOut,
        status=201,
        tags=["articles"],
        description="生成的草稿把姓名换为“张某”、住址换为“某处”、号码换为“××”；请补写典型意义后提交审核。",
    )
    async def post(self) -> None:
        body = self.read_json(CaseStoryIn)
        case = await CaseService(self.ctx).get(self.caller, parse_id(body.case_id, "案件"))
        article = await self.articles.case_story(self.caller, case, body.scope_org_id)
        self.write_json(article_to_json(article), status=201)


class ExemplarHandler(_ArticleHandler):
    @requires("article.draft")
    @api(
        "以调解员档案起草先进典型（须本人同意）",
        request=ExemplarIn,
        response=ArticleOut,
        status=201,
        tags=["articles"],
        description="调解员未同意公开宣传时返回 409。",
    )
    async def post(self) -> None:
        body = self.read_json(ExemplarIn)
        profile_id = parse_id(body.mediator_id, "调解员")
        article = await self.articles.exemplar(self.caller, profile_id, body.scope_org_id)
        self.write_json(article_to_json(article), status=201)


class FeedHandler(_ArticleHandler):
    @public
    @api(
        "居民看的宣传文章：本村（社区）、本镇、本县已发布的，最新在前",
        query=FeedQuery,
        response=Page[ArticleCard],
        tags=["articles"],
        description="无需登录。可缓存一分钟；带上次的 ETag（If-None-Match）再问时，未变化则返回 304。",
    )
    async def get(self) -> None:
        query = self.read_query(FeedQuery)
        found, total = await self.articles.feed(
            parse_id(query.org_id, "村（社区）"),
            kind=query.kind,
            category=query.category,
            skip=query.skip,
            limit=query.page_size,
        )
        self.set_header("Cache-Control", FEED_CACHE)
        self.write_page([card(a) for a in found], total, query)


class FeedArticleHandler(_ArticleHandler):
    @public
    @api(
        "打开一篇已发布的文章（阅读次数加一，不记录读者），附同类纠纷的相关文章",
        query=None,
        response=ArticlePublicOut,
        tags=["articles"],
    )
    async def get(self, article_id: str) -> None:
        article = await self.articles.read(parse_id(article_id, "文章"))
        related = await self.articles.related(article, RELATED)
        self.write_json(public_article(article, related))


class CaseArticlesHandler(_ArticleHandler):
    @api("与案件同类纠纷的宣传文章（本人的案件，或工作人员可查看的案件）", response=ArticleList, tags=["articles"])
    async def get(self, case_id: str) -> None:
        case = await CaseService(self.ctx).get(self.caller, parse_id(case_id, "案件"))
        found = await self.articles.for_case(case, RELATED)
        self.write_json(ArticleList(items=[card(a) for a in found]))


default_handlers = [
    (r"/api/articles", ArticlesHandler),
    (r"/api/articles/case-story", CaseStoryHandler),
    (r"/api/articles/exemplar", ExemplarHandler),
    (r"/api/articles/(?P<article_id>[0-9a-f]{24})", ArticleHandler),
    (
        r"/api/articles/(?P<article_id>[0-9a-f]{24})/actions/(?P<step>submit|return|publish|unpublish|archive)",
        ArticleStepHandler,
    ),
    (r"/api/articles/(?P<article_id>[0-9a-f]{24})/cover", CoverHandler),
    (r"/api/articles/(?P<article_id>[0-9a-f]{24})/reach", ReachHandler),
    (r"/api/feed", FeedHandler),
    (r"/api/feed/(?P<article_id>[0-9a-f]{24})", FeedArticleHandler),
    (r"/api/cases/(?P<case_id>[0-9a-f]{24})/articles", CaseArticlesHandler),
]
