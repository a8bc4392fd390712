"""Tokens, the caller's profile, and login sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from bson import ObjectId
from pydantic import ConfigDict, Field, model_validator

from schemas.base import ObjectIdStr, Phone, Schema, given
from server.core.permissions import capabilities_of
from server.core.pii import mask_phone
from server.people.users import ROLE_NAMES


class RefreshIn(Schema):
    refresh_token: str = Field(min_length=16, max_length=256)


class TokenPairOut(Schema):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_at: datetime = Field(description="访问令牌到期时间")
    refresh_token: str = Field(description="一次性使用；每次刷新都会换发新的")
    refresh_expires_at: datetime
    second_factor_required: bool = Field(
        False, description="管理员角色尚未生效：请完成第二重验证（POST /api/auth/second-factor）"
    )


class LoginOut(TokenPairOut):
    user_id: str
    is_new: bool = Field(description="本次登录新建了账号（首次使用）")
    phone_bound: bool = Field(description="账号已绑定手机号")
    device_token: str | None = Field(
        None, description="短信登录时发给本设备；以后获取验证码时带上，本设备另有额度，不受他人滥发影响"
    )


class WechatLoginIn(Schema):
    code: str = Field(min_length=1, max_length=128, description="小程序 wx.login 取得的 code")


class PhoneCodeIn(Schema):
    code: str = Field(min_length=1, max_length=128, description="小程序手机号按钮取得的 code")


DEVICE_TOKEN = Field(None, min_length=20, max_length=100, description="上次短信登录时取得的 device_token")


class SmsSendIn(Schema):
    phone: Phone
    device_token: str | None = DEVICE_TOKEN


class SmsSendOut(Schema):
    sent: bool
    expires_in: int = Field(description="验证码有效秒数")
    resend_after: int = Field(description="多少秒后可以重新获取")


class SmsVerifyIn(Schema):
    phone: Phone
    code: str = Field(pattern=r"^\d{6}$")
    device_token: str | None = DEVICE_TOKEN


class RenameIn(Schema):
    name: str = Field(min_length=1, max_length=30)


class OrgRef(Schema):
    id: str
    name: str
    kind: str


class RoleOut(Schema):
    role: str
    role_name: str
    org: OrgRef | None = None
    liaison_for: str | None = None


class MyRoleOut(RoleOut):
    capabilities: list[str] = Field(description="这一角色能做的事（权限名）；客户端据此显示入口，服务器仍逐次检查")


class TokenGrantOut(Schema):
    role: str
    org_id: str | None = None
    liaison_for: str | None = None


class TokenOut(Schema):
    user_id: str
    session_id: str
    grants: list[TokenGrantOut] = Field(description="访问令牌携带的角色（角色变更最迟在令牌到期后生效）")
    expires_at: datetime = Field(description="访问令牌到期时间；此前用刷新令牌换取新令牌")


class MeOut(Schema):
    id: str
    name: str
    phone: str | None = Field(description="脱敏后的手机号，如 138****5678")
    roles: list[MyRoleOut]
    scopes: list[OrgRef] = Field(description="可以办理事务的组织范围（含其下级）")
    session_id: str
    privacy_consent_needed: bool = Field(False, description="尚未同意当前版本的隐私政策：请先展示并征得同意")


class SessionOut(Schema):
    id: str
    method: str
    user_agent: str
    created_at: datetime
    last_used_at: datetime
    current: bool


def org_refs(orgs: dict[ObjectId, dict[str, Any]]) -> dict[ObjectId, OrgRef]:
    return {oid: OrgRef(id=str(oid), name=o["name"], kind=o["kind"]) for oid, o in orgs.items()}


def roles_to_json(user: dict[str, Any], refs: dict[ObjectId, OrgRef]) -> list[RoleOut]:
    """A user's grants, each with the role's Chinese name and the unit it covers."""
    return [RoleOut(**_role_fields(g, refs)) for g in user["grants"]]


def _role_fields(grant: dict[str, Any], refs: dict[ObjectId, OrgRef]) -> dict[str, Any]:
    return {
        "role": grant["role"],
        "role_name": ROLE_NAMES[grant["role"]],
        "org": refs.get(grant["org_id"]) if grant.get("org_id") else None,
        "liaison_for": grant.get("liaison_for"),
    }


def me_to_json(
    user: dict[str, Any],
    orgs: dict[ObjectId, dict[str, Any]],
    phone: str | None,
    session_id: str,
    privacy_consent_needed: bool = False,
) -> MeOut:
    refs = org_refs(orgs)
    return MeOut(
        id=str(user["_id"]),
        name=user["name"],
        phone=mask_phone(phone) if phone else None,
        roles=[MyRoleOut(**_role_fields(g, refs), capabilities=capabilities_of(g["role"])) for g in user["grants"]],
        scopes=[refs[oid] for oid in sorted(orgs, key=lambda oid: (len(orgs[oid]["path"]), orgs[oid]["name"]))],
        session_id=session_id,
        privacy_consent_needed=privacy_consent_needed,
    )


def session_to_json(session: dict[str, Any], current_session_id: str) -> SessionOut:
    return SessionOut(
        id=str(session["_id"]),
        method=session["method"],
        user_agent=session["user_agent"],
        created_at=session["created_at"],
        last_used_at=session["last_used_at"],
        current=str(session["_id"]) == current_session_id,
    )


class SecondFactorEnrolOut(Schema):
    secret: str = Field(description="身份验证器（TOTP）密钥；只显示这一次")
    otpauth_uri: str = Field(description="otpauth:// 链接，身份验证器应用可直接导入")
    qr_svg: str = Field(description="同一链接的二维码（SVG），用手机身份验证器扫描")
    recovery_codes: list[str] = Field(description="10 个恢复码，每个只能用一次；只显示这一次，请妥善保存")


class SecondFactorIn(Schema):
    model_config = ConfigDict(json_schema_extra={"oneOf": [given("code"), given("recovery_code")]})

    code: str | None = Field(
        None, min_length=6, max_length=6, pattern=r"^\d{6}$", description="身份验证器上的 6 位数字"
    )
    recovery_code: str | None = Field(None, min_length=11, max_length=11, pattern=r"^[0-9a-f]{5}-[0-9a-f]{5}$")

    @model_validator(mode="after")
    def _one(self) -> SecondFactorIn:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("code 与 recovery_code 须且只须提供一个")
        return self


class PrivacyNoticeOut(Schema):
    version: str
    text: str


class PrivacyConsentIn(Schema):
    version: str = Field(min_length=1, max_length=40, description="同意的隐私政策版本（须为当前版本）")


class PersonalDataOut(Schema):
    """Everything the platform holds about the caller (个人信息保护法 查阅复制权)."""

    account: dict[str, Any]
    consents: dict[str, Any]
    households: list[dict[str, Any]] = Field(description="本人手机号登记为成员的住户（其他成员只列姓名与关系）")
    cases: list[dict[str, Any]] = Field(description="本人反映的矛盾纠纷，含公开的办理过程")
    messages: list[dict[str, Any]]
    devices: list[dict[str, Any]]


class CloseAccountIn(Schema):
    confirm: Literal[True] = Field(description="确认注销：已办结的非协议案件将匿名化，草稿和消息将删除，无法恢复")


class CloseAccountOut(Schema):
    drafts_deleted: int
    cases_anonymised: list[str] = Field(description="已匿名化的案件编号（已办结、非调解协议）")
    cases_kept_open: list[str] = Field(description="仍在办理、暂予保留的案件编号（办结后按规定处理）")
    cases_kept_agreement: list[str] = Field(description="以人民调解协议办结、依法作为调解档案保存的案件编号")
    messages_deleted: int
    messages_cancelled: int


class CorrectionIn(Schema):
    household_id: ObjectIdStr = Field(description="本人手机号登记为成员的住户")
    text: str = Field(min_length=4, max_length=500, description="需要更正的内容，如“户主电话已变更”")


class CorrectionOut(Schema):
    id: str
    household_id: str
    due_on: datetime = Field(description="答复期限")
