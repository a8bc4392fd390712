"""Login: WeChat mini-program, SMS verification code."""

from __future__ import annotations

from handlers.auth import token_pair_to_json
from handlers.base import BaseHandler, api, public
from notify.outbox import tell_new_device
from schemas.auth import LoginOut, SmsSendIn, SmsSendOut, SmsVerifyIn, WechatLoginIn
from server.people.login import Login, LoginService
from server.people.second_factor import SecondFactor


def login_to_json(login: Login) -> LoginOut:
    pair = token_pair_to_json(login.tokens)
    return LoginOut(
        **pair.model_dump(),
        user_id=str(login.user["_id"]),
        is_new=login.is_new,
        phone_bound="phone_hash" in login.user,
        device_token=login.device_token,
    )


class WechatLoginHandler(BaseHandler):
    @public
    @api("微信小程序登录", request=WechatLoginIn, response=LoginOut, tags=["auth"])
    async def post(self) -> None:
        body = self.read_json(WechatLoginIn)
        login = await LoginService(self.ctx).wechat(body.code, user_agent=self.user_agent, ip=self.client_ip)
        self.write_json(login_to_json(login))


class SmsSendHandler(BaseHandler):
    @public
    @api(
        "发送短信验证码",
        request=SmsSendIn,
        response=SmsSendOut,
        status=202,
        tags=["auth"],
        description="每个手机号每分钟 1 条、每小时 5 条、每天 10 条；同一网络另有上限。"
        "带上次登录取得的 device_token 时，本设备另有同样的额度（不计网络上限），他人滥发不影响本人登录。"
        "无论手机号是否已注册，答复相同。",
    )
    async def post(self) -> None:
        body = self.read_json(SmsSendIn)
        expires_in = await LoginService(self.ctx).send_code(
            body.phone, ip=self.client_ip, device_token=body.device_token
        )
        self.write_json(SmsSendOut(sent=True, expires_in=expires_in, resend_after=60), status=202)


class SmsVerifyHandler(BaseHandler):
    @public
    @api("短信验证码登录", request=SmsVerifyIn, response=LoginOut, tags=["auth"])
    async def post(self) -> None:
        body = self.read_json(SmsVerifyIn)
        login = await LoginService(self.ctx).verify_code(
            body.phone, body.code, user_agent=self.user_agent, ip=self.client_ip, device_token=body.device_token
        )
        if login.new_device and SecondFactor(self.ctx).required_for(login.user):
            await tell_new_device(self.ctx, login.user, self.user_agent)
        self.write_json(login_to_json(login))


default_handlers = [
    (r"/api/auth/wechat", WechatLoginHandler),
    (r"/api/auth/sms/send", SmsSendHandler),
    (r"/api/auth/sms/verify", SmsVerifyHandler),
]
