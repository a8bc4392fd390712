"""Typed configuration, validated at start-up.

Values come from `config.yaml`; any key can be overridden by an environment variable named
`SYGZ_<SECTION>__<KEY>` (for example `SYGZ_AUTH__JWT_KEYS`), which is how secrets are meant to be given.
A missing or invalid setting stops start-up with a message naming the key, the file and the variable.
Secrets are never invented, except in demo mode, where the data dies with the process anyway.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from server.core.errors import ValidationFailed
from server.core.permissions import STAFF
from server.core.routing_rules import check_rules

ENV_PREFIX = "SYGZ_"
MIN_SECRET_BYTES = 32
DEFAULT_CONFIG_FILE = "config.yaml"


class ConfigError(Exception):
    """The configuration cannot be used; the message tells an operator what to change."""


def parse_keyring(value: str, *, min_bytes: int = MIN_SECRET_BYTES, exact_bytes: int | None = None) -> dict[str, bytes]:
    """Parse `kid:base64secret[,kid:base64secret…]`; the first key is the active one."""
    if not value.strip():
        raise ValueError("未填写（必填的密钥）")
    ring: dict[str, bytes] = {}
    for item in (part.strip() for part in value.split(",")):
        kid, sep, encoded = item.partition(":")
        if not sep or not kid or not encoded:
            raise ValueError("格式应为 key_id:base64密钥，多个用逗号分隔")
        key = decode_secret(encoded, min_bytes=min_bytes, exact_bytes=exact_bytes)
        if kid in ring:
            raise ValueError(f"密钥编号 {kid} 重复")
        ring[kid] = key
    return ring


def decode_secret(encoded: str, *, min_bytes: int = MIN_SECRET_BYTES, exact_bytes: int | None = None) -> bytes:
    if not encoded.strip():
        raise ValueError("未填写（必填的密钥）")
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("密钥不是有效的 base64") from exc
    if exact_bytes is not None and len(key) != exact_bytes:
        raise ValueError(f"密钥解码后必须正好 {exact_bytes} 字节")
    if len(key) < min_bytes:
        raise ValueError(f"密钥解码后至少需要 {min_bytes} 字节")
    return key


def new_secret(nbytes: int = MIN_SECRET_BYTES) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode().rstrip("=")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HttpConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_body_size: int = Field(20 * 1024 * 1024, ge=1024)
    max_json_body: int = Field(1024 * 1024, ge=1024)
    xheaders: bool = False
    hsts: bool = False
    shutdown_grace_seconds: float = Field(10.0, ge=0)


class MongoConfig(_Section):
    uri: str
    database: str = "sanyuan"
    cache_check_seconds: float = Field(2.0, gt=0, le=10)

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, uri: str) -> str:
        if not uri.startswith(("mongodb://", "mongodb+srv://", "memory://")):
            raise ValueError("应以 mongodb://、mongodb+srv:// 或 memory:// 开头")
        return uri


class AuthConfig(_Section):
    issuer: str = "sanyuan"
    audience: str = "sanyuan-api"
    jwt_keys: str
    access_ttl_seconds: int = Field(900, ge=60, le=86400)
    refresh_ttl_days: int = Field(30, ge=1, le=365)
    token_cache_size: int = Field(10000, ge=0)
    # How often a process reads the sessions revoked by the others (logout, deactivation, refresh reuse).
    revocation_check_seconds: float = Field(2.0, gt=0, le=5)

    @field_validator("jwt_keys")
    @classmethod
    def _valid_ring(cls, value: str) -> str:
        parse_keyring(value)
        return value

    @property
    def keyring(self) -> dict[str, bytes]:
        return parse_keyring(self.jwt_keys)


class CryptoConfig(_Section):
    keys: str
    hash_key: str

    @field_validator("keys")
    @classmethod
    def _valid_ring(cls, value: str) -> str:
        parse_keyring(value, exact_bytes=32)
        return value

    @field_validator("hash_key")
    @classmethod
    def _valid_hash_key(cls, value: str) -> str:
        decode_secret(value)
        return value

    @property
    def keyring(self) -> dict[str, bytes]:
        return parse_keyring(self.keys, exact_bytes=32)

    @property
    def hash_key_bytes(self) -> bytes:
        return decode_secret(self.hash_key)


DEFAULT_VISIT_PURPOSES = {
    "policy": "政策宣传到户",
    "dispute_check": "矛盾排查到户",
    "safety": "安全巡查到户",
    "service": "服务代办到户",
    "opinion": "民情收集到户",
}


class TownConfig(_Section):
    name: str = "示范镇"
    hotline: str = "12345"
    timezone: str = "Asia/Shanghai"
    visit_purposes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_VISIT_PURPOSES), min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("未知时区") from exc
        return value


class WechatTemplate(_Section):
    template_id: str
    data: dict[str, str] = Field(description="field name → value pattern such as {number}")


class WechatConfig(_Section):
    appid: str = ""
    secret: str = ""
    base_url: str = "https://api.weixin.qq.com"
    timeout_seconds: float = Field(5.0, gt=0)
    miniprogram_state: Literal["formal", "trial", "developer"] = "formal"
    case_page: str = "pages/case/detail?id={case_id}"
    templates: dict[str, WechatTemplate] = Field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.appid and self.secret)


class SmsConfig(_Section):
    access_key_id: str = ""
    access_key_secret: str = ""
    region: str = "cn-hangzhou"
    endpoint: str = "dysmsapi.aliyuncs.com"
    protocol: Literal["https", "http"] = "https"
    sign_name: str = ""
    templates: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(10.0, gt=0)
    executor_threads: int = Field(16, ge=1, le=64)

    @property
    def enabled(self) -> bool:
        return bool(self.access_key_id and self.access_key_secret and self.sign_name)


class LoginConfig(_Section):
    code_ttl_seconds: int = Field(300, ge=60, le=1800)
    code_max_attempts: int = Field(5, ge=1, le=10)
    phone_per_minute: int = Field(1, ge=1)
    phone_per_hour: int = Field(5, ge=1)
    phone_per_day: int = Field(10, ge=1)
    ip_per_hour: int = Field(30, ge=1)
    ip_per_day: int = Field(100, ge=1)
    # 等保 身份鉴别: these roles confirm a second factor (TOTP) after the SMS code before their grants count.
    second_factor_roles: list[str] = Field(default_factory=lambda: ["town_admin", "county_admin"])
    second_factor_max_failures: int = Field(5, ge=1, le=20, description="wrong codes in a row before the lock")
    second_factor_lock_minutes: int = Field(15, ge=1, le=1440)
    staff_idle_minutes: int = Field(30, ge=5, le=1440, description="a staff session unused this long ends")

    @field_validator("second_factor_roles")
    @classmethod
    def _known_roles(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(STAFF))
        if unknown:
            raise ValueError(f"unknown roles: {', '.join(unknown)}")
        return value


class PlatesConfig(_Section):
    url_prefix: str = "https://sanyuan.example.cn"
    storage_dir: str = "data/files"

    @field_validator("url_prefix")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("应为 https:// 开头的网址（与小程序“扫普通链接二维码打开小程序”配置一致）")
        return value.rstrip("/")


class CasesConfig(_Section):
    warning_interval_seconds: float = Field(60.0, ge=1)
    routing_rules: list[dict[str, Any]] | None = None
    deadlines: dict[str, Any] | None = None

    @field_validator("routing_rules")
    @classmethod
    def _routable(cls, rules: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if rules is not None:
            try:
                check_rules(rules)
            except ValidationFailed as exc:
                problems = "；".join(f"{d['field']} {d['message']}" for d in exc.details)
                raise ValueError(f"分流规则无效：{problems}") from exc
        return rules


class MediatorsConfig(_Section):
    """The county's default star-rating scheme and subsidy rules (towns may keep their own as settings);
    empty: the built-in ones (`server/mediators/terms.py`). Checked at start-up."""

    rating_scheme: dict[str, Any] | None = None
    subsidy_rules: dict[str, Any] | None = None


class PreventionConfig(_Section):
    """主动治理: how far back a new case looks for the same dispute, the county's default risk rules (towns
    may keep their own as settings; empty: the built-in ones, `server/cases/risk.py`; checked at start-up),
    group-dispute clusters, the morning's 研判 and how long a critical warning may wait before the county hears."""

    link_window_days: int = Field(180, ge=1, le=730)
    risk_rules: dict[str, Any] | None = None
    cluster_window_days: int = Field(30, ge=1, le=365)
    cluster_min_complainants: int = Field(5, ge=2, le=1000)
    briefing_at: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="local time of the daily 研判")
    critical_escalation_hours: float = Field(4.0, gt=0, le=720)


class NotifyConfig(_Section):
    quiet_hours: str = Field("22:00-07:00", pattern=r"^(\d{2}:\d{2}-\d{2}:\d{2})?$", description="empty: none")
    lease_seconds: float = Field(60.0, ge=1)
    max_age_hours: float = Field(24.0, gt=0)
    backoff_seconds: float = Field(30.0, gt=0)
    backoff_max_seconds: float = Field(3600.0, gt=0)
    reconcile_after_seconds: float = Field(60.0, ge=0)
    concurrency: int = Field(16, ge=1, le=64)
    claim_batch: int = Field(32, ge=1, le=500)
    poll_seconds: float = Field(2.0, gt=0)
    run_in_server: bool = Field(False, description="also dispatch inside the web server (always on in demo mode)")
    metrics_token: str = ""


class Open311Config(_Section):
    """The Open311 GeoReport v2 door for partner systems (`/open311/v2/`) and their webhooks."""

    public_reads: bool = Field(True, description="anyone may read the civic-map view of requests without a key")
    requests_per_minute: int = Field(60, ge=1, le=10000, description="per api_key (per address without one)")
    list_days: int = Field(90, ge=1, le=90, description="a listing's default and longest span (the spec's 90 days)")
    list_limit: int = Field(1000, ge=1, le=1000, description="at most this many requests per listing (the spec's)")
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60)
    webhook_allow_http: bool = Field(False, description="plain-http webhook URLs (a test bench; never in production)")


class PrivacyConfig(_Section):
    """The privacy notice (个人信息保护法): its version (a new one asks every user again) and its text."""

    notice_version: str = Field("2026-11", min_length=1, max_length=40)
    notice_file: str = Field("", description="a UTF-8 text file with the notice; empty: the built-in text")
    correction_days: int = Field(15, ge=1, le=60, description="a household correction request is answered in this")


class AuditConfig(_Section):
    """The audit log (等保 安全审计): how long records stay in the database before they may be archived."""

    retention_days: int = Field(365, ge=183, le=3650, description="at least six months, as 等保 asks")
    archive_dir: str = "data/audit-archive"


class LogConfig(_Section):
    level: str = "INFO"


class Config(_Section):
    http: HttpConfig = HttpConfig()
    mongodb: MongoConfig
    auth: AuthConfig
    crypto: CryptoConfig
    town: TownConfig = TownConfig()
    wechat: WechatConfig = WechatConfig()
    sms: SmsConfig = SmsConfig()
    login: LoginConfig = LoginConfig()
    plates: PlatesConfig = PlatesConfig()
    cases: CasesConfig = CasesConfig()
    mediators: MediatorsConfig = MediatorsConfig()
    prevention: PreventionConfig = PreventionConfig()
    notify: NotifyConfig = NotifyConfig()
    open311: Open311Config = Open311Config()
    audit: AuditConfig = AuditConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    log: LogConfig = LogConfig()
    demo: bool = False


@dataclass
class Loaded:
    config: Config
    source: str
    generated: list[str] = field(default_factory=list)


def _env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"环境变量 {name} 与配置文件的结构不符")
        node[path[-1]] = value


def _env_name(loc: tuple[Any, ...]) -> str:
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc)


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"配置无效（{source}）："]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "missing":
            lines.append(f"  - {key}: 缺少此设置。请在 {source} 中填写 {key}，或设置环境变量 {_env_name(err['loc'])}")
        elif err["type"] == "extra_forbidden":
            lines.append(f"  - {key}: 未知的设置项（请对照 config.example.yaml）")
        else:
            reason = err["msg"].removeprefix("Value error, ")
            lines.append(f"  - {key}: {reason}（在 {source} 或环境变量 {_env_name(err['loc'])} 中修改）")
    return "\n".join(lines)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    demo: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Loaded:
    """Read the file, apply environment overrides and validate.

    Without demo mode a file is required (`config.yaml` unless `path` says otherwise). In demo mode the file
    is optional, the database is in memory and missing secrets are generated for this process only; the
    names of generated settings are returned so start-up can say so.
    """
    if path is None and not demo:
        path = DEFAULT_CONFIG_FILE
    if path is None:
        return build_config({}, source="环境变量", demo=demo, environ=environ)
    file = Path(path)
    if not file.is_file():
        raise ConfigError(
            f"找不到配置文件 {file}。请复制 config.example.yaml 为 {file} 并填写，"
            "或用 --config 指定文件，或用 --demo 以演示模式运行。"
        )
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"配置文件 {file} 不是有效的 YAML：{exc}") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"配置文件 {file} 的顶层必须是键值映射")
    return build_config(loaded or {}, source=str(file), demo=demo, environ=environ)


def build_config(
    raw: dict[str, Any],
    *,
    source: str,
    demo: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Loaded:
    """Validate settings already read (`raw`), after applying `SYGZ_*` overrides from `environ`."""
    _env_overrides(raw, os.environ if environ is None else environ)
    generated: list[str] = []
    if demo:
        raw["demo"] = True
        raw.setdefault("mongodb", {}).setdefault("uri", "memory://")
        # Someone trying the demo at night should still see the messages appear on the console.
        raw.setdefault("notify", {}).setdefault("quiet_hours", "")
        # The demo's admin accounts work without an authenticator app (a real deployment asks for one).
        raw.setdefault("login", {}).setdefault("second_factor_roles", [])
        for section, key, maker in (
            ("auth", "jwt_keys", lambda: f"demo:{new_secret()}"),
            ("crypto", "keys", lambda: f"demo:{new_secret(32)}"),
            ("crypto", "hash_key", new_secret),
        ):
            node = raw.setdefault(section, {})
            if not node.get(key):
                node[key] = maker()
                generated.append(f"{section}.{key}")
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
    return Loaded(config=config, source=source, generated=generated)
