"""SMS through Aliyun (aliyun-python-sdk-core, `CommonRequest` → `SendSms`).

The SDK is blocking, so each send runs in a small thread pool of its own. Endpoint and protocol come from
config, so tests aim the real SDK, signing included, at a loopback fake. A business failure arrives as
HTTP 200 with `Code != "OK"`: it is a failure here, classified as permanent (do not retry) or not. The
SDK's own retry is off: SendSms is not idempotent, and a timeout is reported as `uncertain`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from notify.base import SendResult, SmsMessage
from server.core.config import SmsConfig

log = logging.getLogger("sanyuan.sms")

API_VERSION = "2017-05-25"
# Codes that will fail the same way however often they are retried.
PERMANENT_CODES = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.SMS_SIGNATURE_SCENE_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.INVALID_PARAMETERS",
        "isv.PARAM_LENGTH_LIMIT",
        "isp.RAM_PERMISSION_DENY",
        "isv.BLACK_KEY_CONTROL_LIMIT",
        "template_not_configured",
    }
)


class AliyunSmsSender:
    def __init__(self, config: SmsConfig) -> None:
        self._config = config
        timeout = config.timeout_seconds
        self._client = AcsClient(
            config.access_key_id,
            config.access_key_secret,
            config.region,
            auto_retry=False,
            timeout=timeout,
            connect_timeout=timeout,
        )
        self._executor = ThreadPoolExecutor(max_workers=config.executor_threads, thread_name_prefix="aliyun-sms")

    async def send(self, message: SmsMessage) -> SendResult:
        template_code = self._config.templates.get(message.template)
        if not template_code:
            log.error("no SMS template configured for %s", message.template)
            return SendResult(ok=False, error_code="template_not_configured", permanent=True)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._send_blocking, message, template_code)

    async def was_sent(self, phone: str, day: str, out_id: str) -> bool | None:
        """Reconcile after a timeout: QuerySendDetails lists the day's messages to `phone` with their OutId."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._was_sent_blocking, phone, day, out_id)

    def _was_sent_blocking(self, phone: str, day: str, out_id: str) -> bool | None:
        page = 1
        while True:
            request = CommonRequest(domain=self._config.endpoint, version=API_VERSION, action_name="QuerySendDetails")
            request.set_method("POST")
            request.set_protocol_type(self._config.protocol)
            request.set_accept_format("json")
            for key, value in (
                ("PhoneNumber", phone),
                ("SendDate", day),
                ("PageSize", "50"),
                ("CurrentPage", str(page)),
            ):
                request.add_query_param(key, value)
            try:
                answer = json.loads(self._client.do_action_with_exception(request))
            except Exception:  # noqa: BLE001 - any failure: we cannot tell yet, so neither resend nor give up
                log.warning("QuerySendDetails failed; will reconcile later")
                return None
            if answer.get("Code") != "OK":
                return None
            records = (answer.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
            if any(r.get("OutId") == out_id for r in records):
                return True
            if len(records) < 50:
                return False
            page += 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._client.session.close()  # the SDK keeps a pool of keep-alive connections

    def _request(self, message: SmsMessage, template_code: str) -> CommonRequest:
        request = CommonRequest(domain=self._config.endpoint, version=API_VERSION, action_name="SendSms")
        request.set_method("POST")
        request.set_protocol_type(self._config.protocol)
        request.set_accept_format("json")
        request.add_query_param("PhoneNumbers", message.phone)
        request.add_query_param("SignName", self._config.sign_name)
        request.add_query_param("TemplateCode", template_code)
        request.add_query_param("TemplateParam", json.dumps(message.params, ensure_ascii=False))
        if message.out_id:
            request.add_query_param("OutId", message.out_id)
        return request

    def _send_blocking(self, message: SmsMessage, template_code: str) -> SendResult:
        try:
            body = self._client.do_action_with_exception(self._request(message, template_code))
        except ServerException as exc:
            code = exc.get_error_code()
            status = exc.get_http_status() or 0
            permanent = code in PERMANENT_CODES or (400 <= status < 500 and code != "Throttling")
            return SendResult(ok=False, error_code=code, permanent=permanent, detail=f"HTTP {status}")
        except ClientException as exc:
            return SendResult(ok=False, error_code=exc.get_error_code(), uncertain=True, detail="no answer")
        except Exception:  # the SDK failing in its own code: we cannot know whether the message went out
            log.exception("aliyun sdk failed while sending %s", message.template)
            return SendResult(ok=False, error_code="sdk_error", uncertain=True)
        try:
            answer = json.loads(body)
        except ValueError:
            return SendResult(ok=False, error_code="bad_answer", uncertain=True)
        code = answer.get("Code")
        if code == "OK":
            return SendResult(ok=True, provider_id=answer.get("BizId"))
        return SendResult(
            ok=False, error_code=code, permanent=code in PERMANENT_CODES, detail=answer.get("Message", "")
        )
