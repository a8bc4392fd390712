"""The privacy notice and each person's acceptance of it (个人信息保护法 告知同意).

The mini-program shows the notice (`GET /api/privacy-notice`) and, when `/api/me` says the caller has not
accepted the current version, asks before anything else; the acceptance (version, time) is kept on the account
with every earlier one, and audited. A new `privacy.notice_version` asks everyone again. Consent to be
contacted by SMS is kept beside it (notify/inbox.py) and both are in the person's data export.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.core.auth import Principal
from server.core.errors import Conflict
from server.people.users import UserService

if TYPE_CHECKING:
    from server.core.context import Context

NOTICE = """三源共治平台隐私政策

一、我们收集的信息：您反映矛盾纠纷时填写的姓名、手机号、身份证号、住址和纠纷情况；网格员走访时登记的住户信息；您上传的图片、录音等材料。
二、使用目的：仅用于受理、调解、回访您反映的矛盾纠纷，以及依法开展基层社会治理；不用于任何商业用途。
三、保护措施：手机号、身份证号加密保存，页面上默认遮蔽；查看完整信息须有正当理由并记录在案；工作人员只能查看本人管辖范围内的信息。
四、保存期限：已办结的案件按人民调解档案管理规定保存；您注销账号后，不再需要的个人信息将删除或匿名化。
五、您的权利：您可以在小程序中查阅、导出本平台保存的您的个人信息，申请更正住户信息，撤回短信通知同意，或申请注销账号。
六、联系我们：镇三源共治办公室，或拨打 12345 政务服务热线。"""


class PrivacyService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def version(self) -> str:
        return self._ctx.config.privacy.notice_version

    async def notice(self) -> dict[str, str]:
        path = self._ctx.config.privacy.notice_file
        text = await self._ctx.in_thread(Path(path).read_text, "utf-8") if path else NOTICE
        return {"version": self.version, "text": text}

    def needed(self, user: dict[str, Any]) -> bool:
        """Whether the account has not yet accepted the current notice."""
        return (user.get("privacy_consent") or {}).get("version") != self.version

    async def accept(self, principal: Principal, version: str) -> dict[str, Any]:
        if version != self.version:
            raise Conflict(
                "隐私政策已更新，请阅读最新版本后再同意", code="notice_outdated", details={"current": self.version}
            )
        now = self._ctx.clock.now()
        user_id = ObjectId(principal.user_id)
        user = await UserService(self._ctx).record_privacy_consent(user_id, {"version": version, "at": now})
        await self._ctx.audit.record_for(principal, "user.privacy_consent", "user", user_id, now, {"version": version})
        return user
