"""Application assembly and the server's life: start-up, serving, graceful shutdown.

Start-up is explicit and in order: configuration → logging → database client (inside the running loop)
→ indexes → (demo seed) → application → listen. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine
from tornado.netutil import bind_sockets
from tornado.routing import PathMatches, Rule
from tornado.web import Application, GZipContentEncoding

from handlers import all_handlers, console
from handlers.base import NotFoundHandler, security_headers
from handlers.openapi import build_openapi
from notify import outbox
from notify.aliyun import AliyunSmsSender
from notify.base import Senders, UnconfiguredSender
from notify.console import console_senders
from notify.wechat import WechatSubscribeSender
from schemas.base import field_errors
from schemas.mediators import RatingScheme, SubsidyRules
from schemas.prevention import RiskRules
from server.assessment import supervision
from server.cases.risk import rule_errors
from server.cases.warnings import WarningsJob, scan
from server.core import indexes
from server.core.config import Config, ConfigError
from server.core.context import Context
from server.core.db import connect, is_memory, redact_uri
from server.core.errors import ValidationFailed
from server.core.logs import log_request
from server.core.looptime import LoopStats
from server.core.outage import DATABASE_DOWN, DatabaseUnreachable
from server.mediators import consultations
from server.mediators.ratings import Schemes
from server.prevention import warnings as prevention

log = logging.getLogger("sanyuan")


class GzipWhenAccepted(GZipContentEncoding):
    """Tornado's gzip of answers (`compress_response`), doing nothing at all for a client that does not ask
    for it. Phones on a weak signal do ask, and a page of cases shrinks to a fifth; a client that does not
    saves the work of marking the answer `Vary` (answers are `no-store`: no cache keeps them anyway)."""

    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        if not self._gzipping:
            return status_code, headers, chunk
        return super().transform_first_chunk(status_code, headers, chunk, finishing)


_LITERAL = re.compile(r"[A-Za-z0-9_/.\-]+")


class LiteralFirst(Application):
    """Tornado's Application, with a path that is some route's whole pattern, letter for letter (most of the
    API's), found in one dictionary lookup. Tornado tries each of the 180 routes' expressions in turn (the
    health check is the 168th): a JSON answer's largest cost after Tornado's own reading and writing. A
    literal route that an earlier route would also take is left to Tornado, and so is every path once
    host-specific routes are added (`add_handlers`), so every request goes where Tornado sends it."""

    def __init__(self, handlers: list[tuple[Any, ...]], **settings: Any) -> None:
        super().__init__(handlers, **settings)
        self.literal: dict[str, Rule] = {}
        rules = self.wildcard_router.rules
        for n, rule in enumerate(rules):
            if not isinstance(rule.matcher, PathMatches) or not isinstance(rule.target, type):
                continue
            path = rule.matcher.regex.pattern.removesuffix("$")
            earlier = rules[:n]
            probe = HTTPServerRequest(
                start_line=RequestStartLine("GET", path, "HTTP/1.1"), headers=HTTPHeaders(Host="localhost")
            )
            if _LITERAL.fullmatch(path) and not any(r.matcher.match(probe) is not None for r in earlier):
                self.literal.setdefault(path, rule)

    def find_handler(self, request: HTTPServerRequest, **kwargs: Any) -> Any:
        rule = self.literal.get(request.path) if len(self.default_router.rules) == 1 else None
        if rule is None:
            return super().find_handler(request, **kwargs)
        return self.get_handler_delegate(request, rule.target, rule.target_kwargs, [], {})


def make_app(ctx: Context, extra_handlers: list[tuple[Any, ...]] | None = None) -> Application:
    app = LiteralFirst(
        [*all_handlers(), *(extra_handlers or [])],
        ctx=ctx,
        default_handler_class=NotFoundHandler,
        transforms=[GzipWhenAccepted],
        log_function=log_request,
        xsrf_cookies=False,  # token auth in a header; no cookies to forge
        security_headers=security_headers(ctx.config.http.hsts),
        console_assets=console.load_assets(ctx.config.login.staff_idle_minutes),
    )
    # Built once, at start-up: an undocumented route stops the server here, not at the first request.
    app.settings["openapi"] = build_openapi(
        app.wildcard_router.rules, {"visit_purposes": list(ctx.config.town.visit_purposes)}
    )
    return app


def production_senders(ctx: Context) -> Senders:
    """Aliyun SMS and WeChat subscribe messages, each where config sets it up."""
    config = ctx.config
    sms = AliyunSmsSender(config.sms) if config.sms.enabled else UnconfiguredSender("sms")
    wechat = (
        WechatSubscribeSender(ctx.wechat, config.wechat.miniprogram_state)
        if config.wechat.enabled
        else UnconfiguredSender("wechat")
    )
    return Senders(sms=sms, wechat=wechat)


# The rounds of the warnings job: the cases' deadlines, the expert consultations', the supervision notices',
# and the risk warnings, clusters, escalations and daily 研判 (server/prevention/warnings.py).
WARNING_SCANS = (scan, consultations.scan, supervision.scan, prevention.scan)


def check_schemes(config: Config) -> None:
    """The configured rating scheme and subsidy rules are checked like an admin's edit, at start-up."""
    models: dict[str, type[RatingScheme] | type[SubsidyRules]] = {
        "rating_scheme": RatingScheme,
        "subsidy_rules": SubsidyRules,
    }
    for key, model in models.items():
        value = getattr(config.mediators, key)
        if value is None:
            continue
        try:
            Schemes.check(key, model.from_stored(value).data())
        except (ValidationError, ValidationFailed) as exc:
            errors = field_errors(exc) if isinstance(exc, ValidationError) else exc.details
            named = "; ".join(f"mediators.{key}.{e['field']}: {e['message']}" for e in errors)
            raise ConfigError(f"配置无效：{named}") from None


def check_risk_rules(config: Config) -> None:
    """The configured risk rules are checked like an admin's edit, at start-up."""
    if config.prevention.risk_rules is None:
        return
    try:
        rules = RiskRules.model_validate(config.prevention.risk_rules).data()
        errors = rule_errors(rules)
    except ValidationError as exc:
        errors = field_errors(exc)
    if errors:
        named = "; ".join(f"prevention.risk_rules.{e['field']}: {e['message']}" for e in errors)
        raise ConfigError(f"配置无效：{named}")


async def open_context(config: Config, senders: Senders | None = None) -> Context:
    """The database client, services and senders (console ones in demo mode), with indexes ensured."""
    check_schemes(config)
    check_risk_rules(config)
    client, db = connect(config.mongodb.uri, config.mongodb.database)
    ctx = Context(config=config, client=client, db=db, senders=senders or console_senders())
    if senders is None and not config.demo:
        ctx.senders = production_senders(ctx)
    try:
        await indexes.ensure_all(db)
    except DATABASE_DOWN as exc:
        await ctx.close()
        where = f"{redact_uri(config.mongodb.uri)}（库 {config.mongodb.database}）"
        raise DatabaseUnreachable(where, exc) from exc
    return ctx


UNLIMITED_AT_THE_SOCKET = 1 << 40


class Server:
    """One listening HTTP server and what it needs to shut down cleanly."""

    def __init__(self, ctx: Context, app: Application) -> None:
        self.ctx = ctx
        self.app = app
        self.http = HTTPServer(
            app,
            xheaders=ctx.config.http.xheaders,
            # Every route is a streaming `BaseHandler`, which refuses a body past its limit (at most
            # `http.max_body_size`) with a 413 in the envelope and stops reading. Tornado's own check would
            # answer a bare 400 behind that 413, so it is set out of the way.
            max_body_size=UNLIMITED_AT_THE_SOCKET,
            idle_connection_timeout=60,
        )
        self.port: int | None = None
        self.base_url = ""  # set by `listen`

    def listen(self, port: int, host: str) -> int:
        """Listen on `port` (0 picks a free one) and return the port."""
        sockets = bind_sockets(port, address=host)
        self.http.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        self.base_url = f"http://{host}:{self.port}"
        return self.port

    async def shutdown(self) -> None:
        """Stop accepting, let requests in flight finish (up to the grace period), then close the database."""
        self.http.stop()
        grace = self.ctx.config.http.shutdown_grace_seconds
        try:
            await asyncio.wait_for(self.ctx.idle.wait(), timeout=grace)
        except TimeoutError:
            log.warning("shutdown: %d request(s) still running after %.0fs; closing anyway", self.ctx.inflight, grace)
        await self.http.close_all_connections()
        await self.ctx.close()
        log.info("shutdown complete")


Seed = Callable[[Context], Awaitable[list[str]]]


async def serve(
    config: Config, *, banner: list[str] | None = None, seed: Seed | None = None, loop_stats: LoopStats | None = None
) -> None:
    """Run until SIGINT/SIGTERM. `seed` (the demo town, passed in by the entry point) runs first if given;
    `loop_stats` is started once the server listens and reported at shutdown."""
    for line in banner or []:
        print(line, flush=True)
    ctx = await open_context(config)
    if not config.demo and not config.sms.enabled:
        log.warning("sms is not configured (sms.access_key_id, sms.access_key_secret, sms.sign_name): SMS login is off")
    if seed is not None:
        for line in await seed(ctx):
            print(line, flush=True)
        # The seeded town lives in this process's memory (the emulation): moved out of the collector's
        # generations, so that a full collection does not walk all of it in the middle of a request.
        gc.collect()
        gc.freeze()
    server = Server(ctx, make_app(ctx))
    port = server.listen(config.http.port, config.http.host)
    loop = asyncio.get_running_loop()
    warnings = WarningsJob(ctx, config.cases.warning_interval_seconds, scans=WARNING_SCANS)
    ctx.background.add(loop.create_task(warnings.run_forever()))
    if config.demo or config.notify.run_in_server:
        ctx.background.add(loop.create_task(outbox.run_forever(ctx)))
    where = "内存数据库（演示）" if is_memory(config.mongodb.uri) else redact_uri(config.mongodb.uri)
    log.info("listening on http://%s:%d  database: %s/%s", config.http.host, port, where, config.mongodb.database)
    if config.demo:
        print(f"PC 工作台（镇办公室、各中心、县综治中心）：http://{config.http.host}:{port}/console/", flush=True)
    if loop_stats is not None:
        loop_stats.install()

    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    if loop_stats is not None:
        log.warning("%s", loop_stats.report())
    await server.shutdown()
