"""Check a deployment before it starts: `python -m scripts.doctor [--config FILE]`.

Each check prints ✓ or ✗ with what it found, in Chinese and English: the database is reachable and a replica
set (transactions and retryable writes need one), every declared index exists, the keys are not the demo's
and not shared between uses, the file directories are writable, SMS and WeChat are set up completely, the
server's clock agrees with the database's, and the settings a production server behind nginx needs. Exits 1
if anything is wrong (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo.errors import PyMongoError

from notify.outbox import SMS_EVENTS
from server.core import indexes
from server.core.config import Config, ConfigError, load_config
from server.core.db import connect, is_memory, redact_uri

CLOCK_TOLERANCE_SECONDS = 5


@dataclass(frozen=True)
class Finding:
    ok: bool
    zh: str
    en: str

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.zh} / {self.en}"


def ok(zh: str, en: str) -> Finding:
    return Finding(True, zh, en)


def bad(zh: str, en: str) -> Finding:
    return Finding(False, zh, en)


async def check_database(config: Config, db: Any) -> list[Finding]:
    where = redact_uri(config.mongodb.uri)
    if is_memory(config.mongodb.uri):
        return [bad("数据库为内存模式（memory://），只能用于演示", "the database is in memory (memory://): demo only")]
    try:
        hello = await db.command("hello")
    except PyMongoError as exc:  # unreachable, refused, not authorised: the finding
        return [bad(f"无法连接数据库 {where}：{type(exc).__name__}", f"cannot reach the database {where}")]
    found = [ok(f"数据库 {where} 可以连接", f"the database {where} answers")]
    if hello.get("setName"):
        found.append(ok(f"副本集 {hello['setName']}", f"replica set {hello['setName']}"))
    else:
        found.append(bad("数据库不是副本集：事务和可重试写入需要副本集", "not a replica set: transactions need one"))
    server_time = hello.get("localTime")
    if isinstance(server_time, datetime):
        moment = server_time if server_time.tzinfo else server_time.replace(tzinfo=UTC)
        skew = abs((datetime.now(UTC) - moment).total_seconds())
        if skew > CLOCK_TOLERANCE_SECONDS:
            found.append(
                bad(f"本机时钟与数据库相差 {skew:.0f} 秒，请校准（NTP）", f"clock is {skew:.0f} s off the database's")
            )
        else:
            found.append(ok("本机时钟与数据库一致", "the clock agrees with the database's"))
    return found


async def check_indexes(db: Any) -> list[Finding]:
    indexes.load_all()
    missing = []
    for collection, models in sorted(indexes.declared().items()):
        present = {index["name"] async for index in await db[collection].list_indexes()}
        missing += [f"{collection}.{m.document['name']}" for m in models if m.document["name"] not in present]
    if missing:
        shown = "、".join(missing[:5]) + (" 等" if len(missing) > 5 else "")
        return [
            bad(
                f"缺少 {len(missing)} 个索引（{shown}）：请运行 python -m scripts.ensure_indexes",
                f"{len(missing)} indexes missing: run python -m scripts.ensure_indexes",
            )
        ]
    return [ok("索引齐全", "every declared index exists")]


def check_keys(config: Config) -> list[Finding]:
    found = []
    jwt, sealing = config.auth.keyring, config.crypto.keyring
    if "demo" in jwt or "demo" in sealing:
        found.append(bad("使用了演示模式的密钥：请用 python -m scripts.gen_keys 生成", "demo keys in use"))
    secrets = [*jwt.values(), *sealing.values(), config.crypto.hash_key_bytes]
    if len(set(secrets)) != len(secrets):
        found.append(bad("同一个密钥用于多种用途：签名、加密、查找哈希须各用各的", "one key serves two purposes"))
    if not found:
        found.append(ok("密钥不是演示用的，且各不相同", "keys are not the demo's and are distinct"))
    return found


def check_storage(config: Config) -> list[Finding]:
    found = []
    for label, path in (("上传文件目录", config.plates.storage_dir), ("审计归档目录", config.audit.archive_dir)):
        try:
            Path(path).mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path):
                pass
        except OSError as exc:
            found.append(bad(f"{label} {path} 不可写：{exc.strerror}", f"{path} is not writable"))
        else:
            found.append(ok(f"{label} {path} 可写", f"{path} is writable"))
    return found


def check_messaging(config: Config) -> list[Finding]:
    found = []
    sms = config.sms
    if not sms.enabled:
        found.append(
            bad("短信未配置（access_key_id、access_key_secret、sign_name）：无法发送登录验证码", "SMS not set up")
        )
    else:
        events = {"login_code", *(e for events in SMS_EVENTS.values() for e in events)}
        missing = sorted(e for e in events if not sms.templates.get(e))
        if missing:
            found.append(bad(f"短信模板未配置：{'、'.join(missing)}", f"SMS templates missing: {', '.join(missing)}"))
        else:
            found.append(ok("短信配置完整", "SMS is set up"))
    wechat = config.wechat
    if bool(wechat.appid) != bool(wechat.secret):
        found.append(bad("微信小程序 appid 与 secret 须同时填写", "WeChat appid and secret go together"))
    elif not wechat.enabled:
        found.append(bad("微信小程序未配置：居民无法用微信登录", "WeChat not set up"))
    else:
        found.append(ok("微信小程序已配置", "WeChat is set up"))
    return found


def check_settings(config: Config) -> list[Finding]:
    found = []
    if not config.http.xheaders:
        found.append(bad("http.xheaders 未开启：在 nginx 之后无法得到群众的真实地址", "http.xheaders is off"))
    if not config.http.hsts:
        found.append(bad("http.hsts 未开启", "http.hsts is off"))
    if not config.notify.metrics_token:
        found.append(bad("notify.metrics_token 为空：无法监控", "notify.metrics_token is empty"))
    if config.open311.webhook_allow_http:
        found.append(bad("open311.webhook_allow_http 已开启：生产环境须用 https", "plain-http webhooks allowed"))
    if not config.login.second_factor_roles:
        found.append(bad("login.second_factor_roles 为空：管理员没有第二重验证", "no second factor for admins"))
    return found or [ok("生产设置齐全", "production settings are in place")]


async def diagnose(config: Config, db: Any = None) -> list[Finding]:
    """Every check; against `db` if given (an open database), else one connected from the config."""
    client = None
    if db is None:
        client, db = connect(config.mongodb.uri, config.mongodb.database)
    try:
        found = await check_database(config, db)
        if found[0].ok or is_memory(config.mongodb.uri):  # reachable (memory always is): are its indexes there?
            found += await check_indexes(db)
    finally:
        if client is not None:
            await client.close()
    return found + check_keys(config) + check_storage(config) + check_messaging(config) + check_settings(config)


async def _main(path: str | None) -> int:
    try:
        config = load_config(path, environ=os.environ).config
    except ConfigError as exc:
        print(f"✗ 配置无效 / invalid configuration: {exc}")
        return 1
    findings = await diagnose(config)
    print("\n".join(f.line() for f in findings))
    wrong = sum(not f.ok for f in findings)
    print(f"共 {wrong} 项需要处理 / {wrong} to fix." if wrong else "一切就绪 / all good.")
    return 1 if wrong else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="部署前检查：数据库、索引、密钥、存储、短信与微信、时钟")
    parser.add_argument("--config", help="配置文件（默认 config.yaml）")
    sys.exit(asyncio.run(_main(parser.parse_args().config)))
