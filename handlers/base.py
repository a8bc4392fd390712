"""The one base handler: authentication, JSON in and out, the error envelope, headers, pagination.

Subclasses stay short: they validate input with `read_json` / `read_query`, call a service, and answer
with `write_json` / `write_page`. Every method needs a valid access token unless it is marked `@public`;
`@requires("capability")` checks a named capability declaratively; data scope is the service's job
(`server.core.scope`).
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import pydantic_core
from bson import ObjectId
from pydantic import BaseModel, ValidationError
from tornado import httputil
from tornado.httputil import HTTPFile, HTTPHeaders, HTTPInputError, parse_body_arguments
from tornado.web import HTTPError, RequestHandler, stream_request_body

from schemas.base import ErrorEnvelope, Page, PageParams, field_errors
from server.core.auth import Principal
from server.core.context import Context
from server.core.errors import (
    BadRequest,
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)
from server.core.idempotency import Idempotency, record_id_for
from server.core.outage import DATABASE_DOWN
from server.core.permissions import roles_for
from server.people.sessions import SessionService

log = logging.getLogger("sanyuan.http")

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])

# The only place where domain errors meet HTTP status codes.
STATUS_FOR: dict[type[DomainError], int] = {
    BadRequest: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Gone: 410,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    ValidationFailed: 422,
    TooManyRequests: 429,
    ServiceUnavailable: 503,
}

# Errors Tornado raises itself (an unsupported method, a malformed request).
_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求格式不正确"),
    404: ("not_found", "找不到请求的内容"),
    405: ("method_not_allowed", "该接口不支持此请求方法"),
    413: ("payload_too_large", "提交的内容过大"),
}
_INTERNAL = ("internal_error", "服务器内部错误，请稍后再试；如需反馈，请提供请求编号")
_DATABASE_DOWN = ("database_unavailable", "数据库暂时无法访问，请稍后再试")
RETRY_AFTER_SECONDS = 5
# A body past its endpoint's limit but under this is read and dropped before the 413, so that the client,
# still sending, reads the answer; a longer one is answered at once and its connection closed.
DRAIN_LIMIT = 64 * 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def public(method: F) -> F:
    """Mark a handler method as callable without a token. Everything else requires one."""
    method.__public__ = True  # type: ignore[attr-defined]
    return method


def requires(capability: str) -> Callable[[F], F]:
    """Allow the method only to callers whose grants carry `capability` (`server.core.permissions`).

    An unknown capability raises here, when the handler module is imported, not on the first request."""
    roles = roles_for(capability)

    def decorate(method: F) -> F:
        @functools.wraps(method)
        async def wrapper(self: BaseHandler, *args: Any, **kwargs: Any) -> Any:
            if self.principal is None or not self.principal.has_role(*roles):
                raise Forbidden()
            return await method(self, *args, **kwargs)

        wrapper.__roles__ = roles  # type: ignore[attr-defined]
        wrapper.__capability__ = capability  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def api(
    summary: str,
    *,
    request: type[BaseModel] | None = None,
    response: Any = None,
    query: type[BaseModel] | None = None,
    status: int = 200,
    tags: Sequence[str] = (),
    description: str = "",
    media: Sequence[str] = (),
    upload: Sequence[str] = (),
    also: Sequence[int] = (),
) -> Callable[[F], F]:
    """Describe a handler method for the OpenAPI document; the document is built from these.

    `media` lists the content types of a binary answer (an image, a PDF); `upload` those of a raw file body.
    """

    def decorate(method: F) -> F:
        method.__api__ = {  # type: ignore[attr-defined]
            "summary": summary,
            "request": request,
            "response": response,
            "query": query,
            "status": status,
            "tags": list(tags),
            "description": description,
            "media": list(media),
            "upload": list(upload),
            "also": list(also),  # other success statuses with the same answer (200 beside a 201)
        }
        return method

    return decorate


# No request of ours nests deeper than a few levels; a deeper one is refused before the parser recurses.
MAX_JSON_DEPTH = 32
# Control characters have no place in text a person typed (tab, newline and carriage return do). The API
# document says so of every string (`NO_CONTROL_CHARACTERS`, handlers/openapi.py).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
NO_CONTROL_CHARACTERS = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$"


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def inspect_json(value: Any) -> tuple[int, list[str]]:
    """How deeply `value` nests, and the fields (`parties.0.name`) whose text holds a control character.
    Iterative, so a hostile depth cannot exhaust the stack."""
    deepest, bad = 0, []
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if CONTROL_CHARACTERS.search(item):
                bad.append(path or "body")
            continue
        if isinstance(item, dict):
            children: Any = item.items()
        elif isinstance(item, list):
            children = enumerate(item)
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in children)
    return deepest, sorted(bad)


_DATE: tuple[int, str] = (-1, "")  # (second, that second as an HTTP date)


def _http_date() -> str:
    """The current time as an HTTP `Date` header, formatted once per second."""
    global _DATE
    second = int(time.time())
    if _DATE[0] != second:
        _DATE = (second, httputil.format_timestamp(second))
    return _DATE[1]


@functools.cache
def _page_of(row: type[BaseModel]) -> type[Page[Any]]:
    return Page[row]  # type: ignore[valid-type]


def _check_rows(model: type[BaseModel], page: dict[str, Any], body: bytes) -> None:
    """Raise if `body` (a page written from plain rows) differs from what the validated page model writes."""
    validated = json.loads(model.model_validate(page).model_dump_json())
    if json.loads(body) != validated:
        raise AssertionError(f"rows written unlike {model.__name__}: {body[:300]!r} != {validated!r:.300}")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def status_for(error: DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_FOR:
            return STATUS_FOR[cls]
    return 400


def _honour_idempotency_key(method: F) -> F:
    """Wrap a POST so that an `Idempotency-Key` makes it happen once: the answer is recorded and replayed."""

    @functools.wraps(method)
    async def post(self: BaseHandler, *args: Any, **kwargs: Any) -> None:
        if self.request.headers.get("Idempotency-Key") is None:
            await method(self, *args, **kwargs)
            return

        async def work() -> tuple[int, Any]:
            self._captured, self._capturing = None, True
            try:
                await method(self, *args, **kwargs)
            finally:
                self._capturing = False
            if self._captured is None:
                raise RuntimeError(f"{type(self).__name__}.post answered without write_json or write_empty")
            return self._captured

        await self._run_once(work, None)

    post.__idempotent__ = True  # type: ignore[attr-defined]
    return post  # type: ignore[return-value]


def _refuse_oversize(method: F) -> F:
    """Wrap a method so that a body past its limit, read and dropped, is answered 413 before anything runs."""

    @functools.wraps(method)
    async def refusing(self: BaseHandler, *args: Any, **kwargs: Any) -> None:
        if self._refusal is not None:
            raise self._refusal
        await method(self, *args, **kwargs)

    refusing.__refuses_oversize__ = True  # type: ignore[attr-defined]
    return refusing  # type: ignore[return-value]


def handles_idempotency(method: F) -> F:
    """Mark a POST that calls `idempotent(work, recover)` itself, so that it is not wrapped a second time."""
    method.__idempotent__ = True  # type: ignore[attr-defined]
    return method


# Request ids made here: a random tag per process, then a count (32 hex characters, like a UUID's).
_PROCESS_TAG = secrets.token_hex(12)
_REQUEST_NUMBERS = itertools.count()

# Sent with every answer (with `Strict-Transport-Security` as well when `http.hsts` is on: see `security_headers`).
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)


def security_headers(hsts: bool) -> tuple[tuple[str, str], ...]:
    """The headers every answer carries, decided once per application."""
    return SECURITY_HEADERS + ((("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),) if hsts else ())


@stream_request_body
class BaseHandler(RequestHandler):
    """Bodies are streamed so an oversized one is refused by its Content-Length before it is read.

    Every POST honours `Idempotency-Key` (a retry from a flaky phone network gets the first answer); a
    handler that can also find what a first attempt did after a crash calls `idempotent(work, recover)`.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        post = cls.__dict__.get("post")
        if post is not None and not getattr(post, "__idempotent__", False):
            cls.post = _honour_idempotency_key(post)
        for name in ("get", "post", "put", "patch", "delete"):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "__refuses_oversize__", False):
                setattr(cls, name, _refuse_oversize(method))

    body_limit: int | None = None  # bytes; None means the configured `http.max_json_body`
    _captured: tuple[int, Any] | None = None  # while an idempotent POST runs: its answer, held back
    _capturing = False
    uses_database = True  # False: its answer says nothing about whether the database is reachable
    documented_elsewhere = False  # True: a standard's own document describes it, not our OpenAPI (Open311)
    principal: Principal | None = None
    _counted = False
    _refusal: PayloadTooLarge | None = None  # the body is past its limit: refused once it has been read
    _cut_off = False  # answered before the whole body was read: the connection closes after the answer

    @property
    def ctx(self) -> Context:
        return self.settings["ctx"]

    @functools.cached_property
    def request_id(self) -> str:
        incoming = self.request.headers.get("X-Request-Id")
        if incoming and _REQUEST_ID.match(incoming):
            return incoming
        return f"{_PROCESS_TAG}{next(_REQUEST_NUMBERS):08x}"  # unique without asking the OS for randomness

    def clear(self) -> None:
        """Tornado's `clear`, without its `Server` header and with the `Date` made once a second (Tornado
        formats the time anew for every answer)."""
        self._headers = HTTPHeaders({"Content-Type": "text/html; charset=UTF-8", "Date": _http_date()})
        self.set_default_headers()
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = httputil.responses[200]

    def set_default_headers(self) -> None:
        self.set_header("X-Request-Id", self.request_id)
        # Constant and known to be valid: added as they are, without `set_header`'s check of each value.
        headers = self._headers
        for name, value in self.settings.get("security_headers", SECURITY_HEADERS):
            headers[name] = value

    def compute_etag(self) -> str | None:
        """An answer no one may keep (`no-store`, the default) gets no ETag: nothing could revalidate it, and
        hashing every body costs. One that may be kept (the articles feed) gets Tornado's."""
        if self._headers.get("Cache-Control") == "no-store":
            return None
        return super().compute_etag()

    async def prepare(self) -> None:
        self.ctx.request_started()
        self._counted = True
        self._chunks: list[bytes] = []
        self._received = 0
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            if int(length) > DRAIN_LIMIT:
                self._cut_off = True
                raise self._too_large()  # not worth reading: answered now, the connection closed
            self._refusal = self._too_large()  # read and dropped, then answered (see `data_received`)
            return
        if "Authorization" in self.request.headers:
            await self._catch_up_revocations()
        self.principal = self._authenticate()

    async def _catch_up_revocations(self) -> None:
        """Every few seconds one request reads the sessions other processes revoked (server/core/auth.py)."""
        if self.ctx.tokens.revocations_due(self.ctx.clock.now()):
            try:
                await SessionService(self.ctx).catch_up_revocations()
            except DATABASE_DOWN as error:  # the check is tried again after the interval
                self.ctx.outage.failed(error, "reading revoked sessions")

    def on_finish(self) -> None:
        if self._counted:
            self._counted = False
            self.ctx.request_finished()
        if self.uses_database and 200 <= self.get_status() < 400 and self.ctx.outage.down:
            self.ctx.outage.ok()

    @property
    def caller(self) -> Principal:
        """The authenticated caller; only public methods can run without one."""
        if self.principal is None:
            raise Unauthenticated()
        return self.principal

    @classmethod
    def allowed_methods(cls) -> list[str]:
        """The HTTP methods this resource answers (for `Allow` on a 405)."""
        return [
            m
            for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
            if getattr(cls, m.lower()) is not getattr(RequestHandler, m.lower())
        ]

    @property
    def client_ip(self) -> str:
        """The caller's address (behind a proxy: what `http.xheaders` trusts); empty if unknown."""
        return self.request.remote_ip or ""

    @property
    def user_agent(self) -> str:
        return self.request.headers.get("User-Agent", "")[:200]

    @property
    def max_body(self) -> int:
        return min(self.body_limit or self.ctx.config.http.max_json_body, self.ctx.config.http.max_body_size)

    def _too_large(self) -> PayloadTooLarge:
        limit = self.max_body
        return PayloadTooLarge(f"提交的内容过大（上限 {limit // 1024} KB）", details={"limit_bytes": limit})

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self._received += len(chunk)
        if self._refusal is None and self._received > self.max_body:
            self._refusal, self._chunks = self._too_large(), []
        if self._refusal is None:
            self._chunks.append(chunk)
        elif self._received > DRAIN_LIMIT:
            # Still coming: answer now and close. Up to here the body was read and dropped, so that a client
            # that sends all of it before reading (most do) reads the 413 instead of a reset connection.
            self._cut_off = True
            self.send_error(413, exc_info=(type(self._refusal), self._refusal, None))

    @property
    def body(self) -> bytes:
        if self._refusal is not None:
            raise self._refusal
        return b"".join(self._chunks)

    def _authenticate(self) -> Principal | None:
        name = (self.request.method or "get").lower()
        method = getattr(type(self), name, None)
        if method is getattr(RequestHandler, name, None):
            return None  # not implemented here: Tornado answers 405, whatever the token says
        is_public = getattr(method, "__public__", False)
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            if is_public:
                return None
            raise Unauthenticated()
        try:
            return self.ctx.tokens.verify(token.strip())
        except Unauthenticated:
            if is_public:
                return None  # a stale token must not stop a public call such as refresh
            raise

    # ---- input -------------------------------------------------------------------------------------
    @property
    def media_type(self) -> str:
        """The request's Content-Type without parameters, lower case."""
        return self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def file_body(self) -> bytes:
        """An uploaded file: the raw body, or the one file of a `multipart/form-data` body (as WeChat's
        `wx.uploadFile` sends it, whatever its field is called)."""
        if self.media_type != "multipart/form-data":
            return self.body
        arguments: dict[str, list[bytes]] = {}
        files: dict[str, list[HTTPFile]] = {}
        try:
            parse_body_arguments(self.request.headers.get("Content-Type", ""), self.body, arguments, files)
        except HTTPInputError as exc:  # no boundary, or a body that is not multipart at all
            raise BadRequest("上传内容不是有效的 multipart/form-data", code="invalid_multipart") from exc
        uploaded = [f for parts in files.values() for f in parts]
        if len(uploaded) != 1:
            message = "请上传一个文件" if not uploaded else "一次只能上传一个文件"
            raise ValidationFailed(details=[{"field": "file", "message": message}])
        return uploaded[0]["body"]

    def read_upload(self, allowed: Sequence[str], message: str) -> tuple[bytes, str]:
        """A raw file body of one of the `allowed` types, with its type; anything else is a 415."""
        if self.media_type not in allowed:
            raise UnsupportedMediaType(message)
        return self.body, self.media_type

    def read_json(self, schema: type[M]) -> M:
        if self.media_type != "application/json":
            raise UnsupportedMediaType()
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest("请求体不是有效的 JSON", code="invalid_json") from exc
        except RecursionError as exc:  # thousands of nested brackets: the parser gives up before we can count
            raise BadRequest(f"JSON 嵌套超过 {MAX_JSON_DEPTH} 层", code="invalid_json") from exc
        depth, bad_text = inspect_json(data)
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(f"JSON 嵌套超过 {MAX_JSON_DEPTH} 层", code="invalid_json")
        if bad_text:
            raise ValidationFailed(details=[{"field": f, "message": "不能包含控制字符"} for f in bad_text])
        try:
            return schema.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed(details=field_errors(exc)) from exc

    def read_query(self, schema: type[M]) -> M:
        """Query parameters validated like a body; a list field takes every value of a repeated name."""
        data: dict[str, Any] = {}
        for name, values in self.request.query_arguments.items():
            field = schema.model_fields.get(name)
            decoded = [v.decode("utf-8", "replace") for v in values]
            is_list = field is not None and getattr(field.annotation, "__origin__", None) is list
            data[name] = decoded if is_list else decoded[-1]
        bad = sorted(name for name, value in data.items() if any(CONTROL_CHARACTERS.search(v) for v in _as_list(value)))
        if bad:
            raise ValidationFailed(details=[{"field": name, "message": "不能包含控制字符"} for name in bad])
        try:
            return schema.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed(details=field_errors(exc)) from exc

    def page_params(self) -> PageParams:
        return self.read_query(PageParams)

    @property
    def idempotency_ref(self) -> str | None:
        """What a write stores beside its result so that a retry can find it (None: no Idempotency-Key)."""
        key = self.request.headers.get("Idempotency-Key")
        return None if key is None else record_id_for(self.caller.user_id, key)

    async def idempotent(
        self,
        work: Callable[[], Awaitable[tuple[int, BaseModel]]],
        recover: Callable[[], Awaitable[tuple[int, BaseModel] | None]] | None = None,
    ) -> None:
        """Answer with `work`'s result, once per `Idempotency-Key` (if the client sent one). `recover` finds the
        result of a first attempt that did the work but could not record its answer."""
        key = self.request.headers.get("Idempotency-Key")

        async def run() -> tuple[int, Any]:
            status, model = await work()
            return status, model.model_dump(mode="json")

        async def found() -> tuple[int, Any] | None:
            answer = await recover() if recover is not None else None
            return None if answer is None else (answer[0], answer[1].model_dump(mode="json"))

        if key is None:  # nothing to record: the answer is written straight from its model
            status, model = await work()
            self.write_json(model, status=status)
            return
        await self._run_once(run, found)

    async def _run_once(
        self,
        work: Callable[[], Awaitable[tuple[int, Any]]],
        recover: Callable[[], Awaitable[tuple[int, Any] | None]] | None,
    ) -> None:
        key = self.request.headers.get("Idempotency-Key") or ""
        user = self.principal.user_id if self.principal else f"anonymous@{self.client_ip}"
        fingerprint = b"\0".join([(self.request.method or "").encode(), self.request.path.encode(), self.body])
        status, body, replayed = await Idempotency(self.ctx).run(user, key, fingerprint, work, recover)
        if replayed:
            self.set_header("Idempotent-Replayed", "true")
        if body is None:
            self.write_empty(status)
        else:
            self.write_json(body, status=status)

    # ---- output ------------------------------------------------------------------------------------
    def write_empty(self, status: int = 204) -> None:
        """An answer without a body (recorded like any other for an idempotent POST)."""
        if self._capturing:
            self._captured = (status, None)
            return
        self.set_status(status)
        self.finish()

    def write_json(self, data: Any, status: int = 200) -> None:
        if self._capturing:  # an idempotent POST's answer: recorded first, written by `_run_once`
            plain = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
            self._captured = (status, json.loads(json.dumps(plain, default=_json_default)))
            return
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        if isinstance(data, BaseModel):
            self.finish(data.model_dump_json())
        else:
            self.finish(json.dumps(data, ensure_ascii=False, default=_json_default))

    def write_bytes(self, data: bytes, content_type: str, filename: str | None = None, *, inline: bool = True) -> None:
        """A file. `inline=False` makes browsers save it rather than open it (anything not made by us)."""
        self.set_header("Content-Type", content_type)
        if filename or not inline:
            disposition = "inline" if inline else "attachment"
            name = f"; filename*=UTF-8''{quote(filename)}" if filename else ""
            self.set_header("Content-Disposition", disposition + name)
        self.finish(data)

    async def write_export(
        self,
        data: bytes,
        content_type: str,
        filename: str,
        *,
        what: tuple[str, Any],
        inline: bool = True,
    ) -> None:
        """A file taken out of the platform (a report, a statement, a PDF, plates): the export is audited (who,
        what, which file), then the file is sent. `what` is the object's type and id."""
        target_type, target_id = what
        await self.ctx.audit.record_for(
            self.caller,
            f"export.{target_type}",
            target_type,
            target_id,
            self.ctx.clock.now(),
            {"file": filename, "content_type": content_type, "bytes": len(data)},
        )
        self.write_bytes(data, content_type, filename, inline=inline)

    def write_page(self, items: Sequence[Any], total: int, params: PageParams) -> None:
        self.write_json(Page[Any](items=list(items), total=total, page=params.page, page_size=params.page_size))

    def write_rows(self, row: type[BaseModel], rows: list[dict[str, Any]], total: int, params: PageParams) -> None:
        """A page of the busiest lists, whose rows are plain values made by the row's own function (`case_row`,
        `resident_case_row`), written as they are: validating and writing 20 rows through the model costs three
        times what writing them does (about 100 µs against 35). The test suite checks every page it reads
        (`check_rows` in the application's settings): each row must be a valid `row` and the page must write
        exactly what the validated model writes, so no field can slip out."""
        page = {"items": rows, "total": total, "page": params.page, "page_size": params.page_size}
        if self._capturing:
            self.write_json(_page_of(row).model_validate(page))
            return
        body = pydantic_core.to_json(page)
        if self.settings.get("check_rows"):
            _check_rows(_page_of(row), page, body)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        details = None
        if isinstance(error, DomainError):
            status_code, code, message, details = status_for(error), error.code, error.message, error.details
        elif isinstance(error, DATABASE_DOWN):
            self.ctx.outage.failed(error, f"{self.request.method} {self.request.path}")
            status_code, (code, message) = 503, _DATABASE_DOWN
            self.set_header("Retry-After", str(RETRY_AFTER_SECONDS))
        elif isinstance(error, HTTPError) or (error is None and status_code < 500):
            code, message = _HTTP_ERRORS.get(status_code, ("http_error", "请求无法完成"))
        else:
            status_code, (code, message) = 500, _INTERNAL
        if self._cut_off:
            self.set_header("Connection", "close")  # the rest of the body is unread: this connection is done
        if status_code == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        if status_code == 401:
            self.set_header("WWW-Authenticate", f'Bearer error="invalid_token", error_description="{code}"')
        self.set_status(status_code)
        self.write_error_body(status_code, code, message, details)

    def write_error_body(self, status: int, code: str, message: str, details: Any) -> None:
        """The error envelope (the Open311 door writes the spec's own list instead)."""
        body: dict[str, Any] = {"code": code, "message": message, "request_id": self.request_id}
        if details is not None:
            body["details"] = details
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": body}, ensure_ascii=False, default=_json_default))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, (DomainError, *DATABASE_DOWN)):
            return  # an expected outcome (the access log has the status), or an outage (`OutageWatch` logs it)
        if isinstance(value, HTTPError):
            log.warning(
                "%d %s %s: %s", value.status_code, self.request.method, self.request.path, value.log_message or ""
            )
            return
        log.error(
            "unexpected error in %s %s (request %s)",
            self.request.method,
            self.request.path,
            self.request_id,
            exc_info=(typ, value, tb),
        )


class NotFoundHandler(BaseHandler):
    """Unknown routes: a JSON 404 whatever the method, before any authentication."""

    uses_database = False

    async def prepare(self) -> None:
        raise NotFound("没有这个接口", code="no_such_route")


ERROR_SCHEMA = ErrorEnvelope
