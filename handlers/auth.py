"""The access token's own claims, token refresh and logout.

The login flows themselves (WeChat, SMS code) call `SessionService.start`."""

from __future__ import annotations

from datetime import UTC, datetime

from handlers.base import BaseHandler, api, public
from schemas.auth import RefreshIn, SecondFactorEnrolOut, SecondFactorIn, TokenGrantOut, TokenOut, TokenPairOut
from server.people.second_factor import SecondFactor
from server.people.sessions import SessionService, TokenPair
from server.places.plates import qr_svg


def token_pair_to_json(pair: TokenPair) -> TokenPairOut:
    return TokenPairOut(
        access_token=pair.access_token,
        expires_at=pair.access_expires_at,
        refresh_token=pair.refresh_token,
        refresh_expires_at=pair.refresh_expires_at,
        second_factor_required=pair.second_factor_required,
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


class SecondFactorEnrolHandler(BaseHandler):
    @api(
        "启用第二重验证（管理员）：生成身份验证器密钥和恢复码",
        response=SecondFactorEnrolOut,
        status=201,
        tags=["auth"],
        description="只有需要第二重验证的账号（默认镇、县管理员）可以启用；密钥和恢复码只显示这一次。"
        "随后用 POST /api/auth/second-factor 提交身份验证器上的数字完成启用。",
    )
    async def post(self) -> None:
        enrolled = await SecondFactor(self.ctx).enrol(self.caller)
        svg = (await self.ctx.in_thread(qr_svg, enrolled["otpauth_uri"])).decode()
        self.write_json(SecondFactorEnrolOut(**enrolled, qr_svg=svg), status=201)


class SecondFactorHandler(BaseHandler):
    @api(
        "第二重验证：提交身份验证器上的数字（或一个恢复码），换发带全部角色的令牌",
        request=SecondFactorIn,
        response=TokenPairOut,
        tags=["auth"],
        description="连续输错达到次数后锁定一段时间（429）；每个恢复码只能用一次；同一个数字不能用两次。",
    )
    async def post(self) -> None:
        body = self.read_json(SecondFactorIn)
        pair = await SecondFactor(self.ctx).verify(self.caller, body.code, body.recovery_code)
        self.write_json(token_pair_to_json(pair))


class LogoutHandler(BaseHandler):
    @api("退出登录", status=204, tags=["auth"], description="使当前登录会话的刷新令牌和访问令牌失效。")
    async def post(self) -> None:
        await SessionService(self.ctx).logout(self.caller)
        self.write_empty()


class TokenHandler(BaseHandler):
    uses_database = False

    @api(
        "当前访问令牌：用户、角色与到期时间",
        response=TokenOut,
        tags=["auth"],
        description="只读令牌本身、不查数据库：客户端据此在到期前刷新、决定显示哪些入口。",
    )
    async def get(self) -> None:
        caller = self.caller
        grants = [TokenGrantOut(role=g.role, org_id=g.org_id, liaison_for=g.liaison_for) for g in caller.grants]
        expires_at = datetime.fromtimestamp(caller.expires_at, UTC)
        self.write_json(
            TokenOut(user_id=caller.user_id, session_id=caller.session_id, grants=grants, expires_at=expires_at)
        )


default_handlers = [
    (r"/api/auth/token", TokenHandler),
    (r"/api/auth/refresh", RefreshHandler),
    (r"/api/auth/logout", LogoutHandler),
    (r"/api/auth/second-factor/enrol", SecondFactorEnrolHandler),
    (r"/api/auth/second-factor", SecondFactorHandler),
]
