"""Token refresh and logout. The login flows themselves (WeChat, SMS code) call `SessionService.start`."""

from __future__ import annotations

from handlers.base import BaseHandler, api, public
from schemas.auth import RefreshIn, TokenPairOut
from server.people.sessions import SessionService, TokenPair


def token_pair_to_json(pair: TokenPair) -> TokenPairOut:
    return TokenPairOut(
        access_token=pair.access_token,
        expires_at=pair.access_expires_at,
        refresh_token=pair.refresh_token,
        refresh_expires_at=pair.refresh_expires_at,
    )


class RefreshHandler(BaseHandler):
    @public
    @api(
        "换发令牌",
        request=RefreshIn,
        response=TokenPairOut,
        tags=["auth"],
        description="刷新令牌只能使用一次；重复使用旧令牌会使整个登录会话失效。",
    )
    async def post(self) -> None:
        body = self.read_json(RefreshIn)
        pair = await SessionService(self.ctx).refresh(body.refresh_token)
        self.write_json(token_pair_to_json(pair))


class LogoutHandler(BaseHandler):
    @api("退出登录", status=204, tags=["auth"], description="使当前登录会话的刷新令牌和访问令牌失效。")
    async def post(self) -> None:
        await SessionService(self.ctx).logout(self.caller)
        self.write_empty()


default_handlers = [
    (r"/api/auth/refresh", RefreshHandler),
    (r"/api/auth/logout", LogoutHandler),
]
