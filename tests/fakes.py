"""Fake outside services, run for real on loopback so the application's real HTTP code talks to them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections import Counter
from typing import Any
from urllib.parse import quote

from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application, RequestHandler

APPID, APP_SECRET = "wx-test-app", "wx-test-secret"


class FakeWechat:
    """The WeChat server APIs the backend uses, with scripted answers.

    js_code `ok-<name>` logs in as openid `o-<name>` (once: a second use is 40163); `union-<name>` adds a
    unionid; `err<code>` answers that errcode. Phone codes map to numbers in `phones`. Access tokens are
    `tok-<n>`; `invalidate()` makes the current one fail with 40001, as after a renewal elsewhere.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.force_refreshes = 0
        self.used_codes: set[str] = set()
        self.phones: dict[str, dict[str, str]] = {}
        self.current_token: str | None = None
        self.valid_tokens: set[str] = set()
        self.token_delay = 0.05
        self.subscribe_sent: list[dict[str, Any]] = []
        self.subscribe_script: list[int] = []
        self.server: HTTPServer | None = None
        self.base_url = ""

    def invalidate(self) -> None:
        self.valid_tokens.clear()

    def start(self) -> None:
        fake = self

        class Code2Session(RequestHandler):
            def get(self) -> None:
                fake.calls["jscode2session"] += 1
                args = {k: self.get_argument(k) for k in ("appid", "secret", "js_code", "grant_type")}
                code = args["js_code"]
                if (args["appid"], args["secret"], args["grant_type"]) != (APPID, APP_SECRET, "authorization_code"):
                    self.write({"errcode": 40013, "errmsg": "invalid appid"})
                elif code.startswith("err"):
                    self.write({"errcode": int(code[3:]), "errmsg": "scripted error"})
                elif code in fake.used_codes:
                    self.write({"errcode": 40163, "errmsg": "code been used"})
                else:
                    fake.used_codes.add(code)
                    kind, _, name = code.partition("-")
                    answer = {"openid": f"o-{name}", "session_key": "SESSION-KEY-NEVER-LEAVES"}
                    if kind == "union":
                        answer["unionid"] = f"u-{name}"
                    self.write(answer)

        class StableToken(RequestHandler):
            async def post(self) -> None:
                fake.calls["stable_token"] += 1
                body = json.loads(self.request.body)
                assert (body["appid"], body["secret"], body["grant_type"]) == (APPID, APP_SECRET, "client_credential")
                await asyncio.sleep(fake.token_delay)
                if body.get("force_refresh"):
                    fake.force_refreshes += 1
                if body.get("force_refresh") or fake.current_token not in fake.valid_tokens:
                    fake.current_token = f"tok-{fake.calls['stable_token']}"
                    fake.valid_tokens = {fake.current_token}
                self.write({"access_token": fake.current_token, "expires_in": 7200})

        class PhoneNumber(RequestHandler):
            def post(self) -> None:
                fake.calls["getuserphonenumber"] += 1
                if self.get_argument("access_token") not in fake.valid_tokens:
                    self.write({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
                    return
                code = json.loads(self.request.body)["code"]
                if code not in fake.phones:
                    self.write({"errcode": 40029, "errmsg": "invalid code"})
                    return
                self.write({"errcode": 0, "errmsg": "ok", "phone_info": fake.phones.pop(code)})

        class SubscribeSend(RequestHandler):
            def post(self) -> None:
                fake.calls["subscribe_send"] += 1
                if self.get_argument("access_token") not in fake.valid_tokens:
                    self.write({"errcode": 40001, "errmsg": "invalid credential"})
                    return
                errcode = fake.subscribe_script.pop(0) if fake.subscribe_script else 0
                if errcode == 0:
                    fake.subscribe_sent.append(json.loads(self.request.body))
                self.write({"errcode": errcode, "errmsg": "ok" if errcode == 0 else "scripted"})

        app = Application(
            [
                (r"/cgi-bin/message/subscribe/send", SubscribeSend),
                (r"/sns/jscode2session", Code2Session),
                (r"/cgi-bin/stable_token", StableToken),
                (r"/wxa/business/getuserphonenumber", PhoneNumber),
            ]
        )
        sock, port = bind_unused_port()
        self.server = HTTPServer(app)
        self.server.add_sockets([sock])
        self.base_url = f"http://127.0.0.1:{port}"

    def add_phone(self, code: str, phone: str, country: str = "86") -> None:
        self.phones[code] = {"phoneNumber": phone, "purePhoneNumber": phone, "countryCode": country}

    async def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            await self.server.close_all_connections()


def wechat_config(base_url: str) -> dict[str, Any]:
    return {"appid": APPID, "secret": APP_SECRET, "base_url": base_url, "timeout_seconds": 2}


ALIYUN_KEY_ID, ALIYUN_SECRET = "LTAI-test", "aliyun-test-secret"


class FakeAliyunSms:
    """Aliyun's SMS API (RPC style, signature V1), checking each request's signature like the real one.

    `script` holds the `Code`s to answer SendSms with, in order (then "OK"); `delay` slows every answer
    before anything happens, `answer_delay` after a message was accepted. Every accepted SendSms is kept in
    `sent`, and QuerySendDetails reports them with their OutId, as Aliyun's delivery records do.
    """

    def __init__(self, secret: str = ALIYUN_SECRET) -> None:
        self.secret = secret
        self.sent: list[dict[str, str]] = []
        self.requests = 0
        self.queries = 0
        self.script: list[str] = []
        self.delay = 0.0
        self.answer_delay = 0.0  # after accepting a SendSms: the message counts as sent even if we time out
        self.server: HTTPServer | None = None
        self.endpoint = ""

    def start(self) -> None:
        fake = self

        class Rpc(RequestHandler):
            async def post(self) -> None:
                fake.requests += 1
                params = {k: self.get_query_argument(k) for k in self.request.query_arguments}
                if fake.delay:
                    await asyncio.sleep(fake.delay)
                expected = fake.string_to_sign(self.request.method or "POST", params)
                if not fake.signature_ok(expected, params):
                    self.set_status(400)
                    message = (
                        f"Specified signature is not matched with our calculation. server string to sign is:{expected}"
                    )
                    self.write({"Code": "SignatureDoesNotMatch", "Message": message, "RequestId": "r"})
                    return
                assert params["Version"] == "2017-05-25"
                if params["Action"] == "QuerySendDetails":
                    fake.queries += 1
                    records = [
                        {
                            "PhoneNum": m["PhoneNumbers"],
                            "OutId": m.get("OutId", ""),
                            "SendStatus": 3,
                            "TemplateCode": m["TemplateCode"],
                        }
                        for m in fake.sent
                        if m["PhoneNumbers"] == params["PhoneNumber"]
                    ]
                    self.write(
                        {"Code": "OK", "TotalCount": len(records), "SmsSendDetailDTOs": {"SmsSendDetailDTO": records}}
                    )
                    return
                assert params["Action"] == "SendSms"
                code = fake.script.pop(0) if fake.script else "OK"
                if code != "OK":
                    self.write({"Code": code, "Message": "scripted", "RequestId": "r"})
                    return
                fake.sent.append(params)  # accepted before answering: a slow answer can still mean "sent"
                if fake.answer_delay:
                    await asyncio.sleep(fake.answer_delay)
                self.write({"Code": "OK", "Message": "OK", "BizId": f"biz^{len(fake.sent)}", "RequestId": "r"})

        sock, port = bind_unused_port()
        self.server = HTTPServer(Application([(r"/", Rpc)]))
        self.server.add_sockets([sock])
        self.endpoint = f"127.0.0.1:{port}"

    @staticmethod
    def string_to_sign(method: str, params: dict[str, str]) -> str:
        def enc(value: str) -> str:
            return quote(value, safe="~")

        canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()) if k != "Signature")
        return f"{method}&{enc('/')}&{enc(canonical)}"

    def signature_ok(self, string_to_sign: str, params: dict[str, str]) -> bool:
        digest = hmac.new(f"{self.secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(base64.b64encode(digest).decode(), params.get("Signature", ""))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            await self.server.close_all_connections()


def sms_config(endpoint: str, secret: str = ALIYUN_SECRET) -> dict[str, Any]:
    return {
        "access_key_id": ALIYUN_KEY_ID,
        "access_key_secret": secret,
        "sign_name": "示范镇",
        "endpoint": endpoint,
        "protocol": "http",
        "templates": {"login_code": "SMS_100001"},
        "timeout_seconds": 0.5,
    }


class FakePartner:
    """A partner system's webhook receiver: keeps every POST (headers and body) and answers with the statuses
    in `script`, in order (then 200)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.script: list[int] = []
        self.server: HTTPServer | None = None
        self.url = ""

    def start(self) -> None:
        fake = self

        class Hook(RequestHandler):
            def post(self) -> None:
                fake.received.append({"headers": dict(self.request.headers), "body": self.request.body})
                self.set_status(fake.script.pop(0) if fake.script else 200)
                self.finish()

        sock, port = bind_unused_port()
        self.server = HTTPServer(Application([(r"/hook", Hook)]))
        self.server.add_sockets([sock])
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            await self.server.close_all_connections()
