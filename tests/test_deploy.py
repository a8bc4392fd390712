"""The deployment guide (docs/deploy.md) as far as a test can run it: its files parse, every command it names
exists with the options it gives, nginx accepts its site (where nginx is installed), and `scripts.doctor`
finds each misconfiguration planted for it."""

from __future__ import annotations

import configparser
import importlib.util
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from notify.outbox import SMS_EVENTS
from scripts.doctor import check_database, check_keys, check_messaging, check_settings, check_storage, diagnose
from server.core.config import Config, build_config
from server.core.context import Context
from tests.conftest import env_for_tests, memory_config_file

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "deploy.md"
FILES = ROOT / "docs" / "deploy"


def commands() -> dict[str, set[str]]:
    """Each `python -m module` the guide (and its files) name, with the options given to it."""
    text = GUIDE.read_text(encoding="utf-8") + "".join(p.read_text(encoding="utf-8") for p in FILES.iterdir())
    found: dict[str, set[str]] = {}
    for module, rest in re.findall(r"python -m ([\w.]+)([^\n`]*)", text):
        found.setdefault(module, set()).update(re.findall(r"(--[a-z][a-z-]*)", rest))
    return found


def test_every_command_the_guide_names_exists_with_its_options() -> None:
    named = commands()
    assert {"server", "notify.worker", "scripts.doctor", "scripts.verify_audit", "scripts.archive_audit"} <= set(named)
    for module, options in sorted(named.items()):
        assert importlib.util.find_spec(module) is not None, module
        if not options:
            continue
        shown = subprocess.run(
            [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
        assert shown.returncode == 0, (module, shown.stderr[-500:])
        for option in options:
            assert option in shown.stdout, (module, option)


def test_the_guides_files_parse() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        assert isinstance(yaml.safe_load(block), dict)
    for block in re.findall(r"```ini\n(.*?)```", text, re.S):
        configparser.ConfigParser().read_string(block)
    assert "scrape_configs" in yaml.safe_load((FILES / "prometheus-sanyuan.yml").read_text(encoding="utf-8"))
    for unit in FILES.glob("*.service"):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(unit, encoding="utf-8")
        command = parser["Service"]["ExecStart"]
        module = re.search(r"-m ([\w.]+)", command)
        assert module is not None, unit.name
        assert importlib.util.find_spec(module.group(1)) is not None, unit.name
    for timer in FILES.glob("*.timer"):
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(timer, encoding="utf-8")
        assert parser["Timer"]["OnCalendar"]
    assert subprocess.run(["sh", "-n", str(FILES / "sanyuan-backup.sh")], check=False).returncode == 0


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sanyuan.example.cn")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    crt, pem = folder / "sanyuan.crt", folder / "sanyuan.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return crt, pem


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    site = (FILES / "nginx-sanyuan.conf").read_text(encoding="utf-8")
    body = "\n".join(line.split("#", 1)[0] for line in site.splitlines())
    assert body.count("{") == body.count("}")
    assert "client_max_body_size 21m;" in site
    assert "X-Real-IP" in site
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None:
        pytest.skip("nginx is not installed here: the braces balance and the settings are there")
    crt, key = self_signed(tmp_path)
    site = site.replace("/etc/nginx/tls/sanyuan.crt", str(crt)).replace("/etc/nginx/tls/sanyuan.key", str(key))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    main = (
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{ include {tmp_path}/site.conf; }}\n"
    )
    (tmp_path / "nginx.conf").write_text(main, encoding="utf-8")
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def production(tmp_path: Path, **sections: dict) -> Config:
    """A complete production-like configuration, with `sections` planting what is wrong."""
    raw: dict = {
        "http": {"xheaders": True, "hsts": True},
        "plates": {"storage_dir": str(tmp_path / "files")},
        "audit": {"archive_dir": str(tmp_path / "archive")},
        "notify": {"metrics_token": "m" * 32},
        "sms": {
            "access_key_id": "id",
            "access_key_secret": "secret",
            "sign_name": "三源共治",
            "templates": {e: "SMS_1" for e in ("login_code", *ALL_SMS_EVENTS)},
        },
        "wechat": {"appid": "wx1", "secret": "s"},
    }
    environ = env_for_tests()  # the test secrets come from the environment, which wins over the file
    for name, values in sections.items():
        if name in ("auth", "crypto", "mongodb"):
            environ |= {f"SYGZ_{name.upper()}__{key.upper()}": value for key, value in values.items()}
        else:
            raw.setdefault(name, {}).update(values)
    return build_config(raw, source="tests", environ=environ).config


ALL_SMS_EVENTS = sorted({e for events in SMS_EVENTS.values() for e in events})


def wrong(findings: list) -> list[str]:
    return [f.zh for f in findings if not f.ok]


def test_the_doctor_finds_each_planted_misconfiguration(tmp_path: Path) -> None:
    good = production(tmp_path)
    assert wrong(check_keys(good) + check_storage(good) + check_messaging(good) + check_settings(good)) == []

    demo = production(tmp_path, auth={"jwt_keys": "demo:" + "A" * 43})
    assert any("演示" in w for w in wrong(check_keys(demo)))
    shared = production(
        tmp_path, crypto={"keys": "c:" + "A" * 43, "hash_key": "A" * 43}, auth={"jwt_keys": "k:" + "A" * 43}
    )
    assert any("多种用途" in w for w in wrong(check_keys(shared)))

    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    assert any("不可写" in w for w in wrong(check_storage(production(tmp_path, plates={"storage_dir": str(blocked)}))))

    templates = {"login_code": "SMS_1"}
    sms = wrong(check_messaging(production(tmp_path, sms={"templates": templates}, wechat={"secret": ""})))
    assert any("短信模板未配置" in w and "case_assigned" in w for w in sms)
    assert any("appid 与 secret" in w for w in sms)
    plain = wrong(check_settings(production(tmp_path, http={"xheaders": False}, login={"second_factor_roles": []})))
    assert any("xheaders" in w for w in plain)
    assert any("第二重验证" in w for w in plain)


async def test_the_doctor_checks_the_database_and_its_indexes(ctx: Context, tmp_path: Path) -> None:
    findings = await diagnose(ctx.config, ctx.db)  # the suite's database: indexes ensured at start
    assert any("内存" in w for w in wrong(findings))  # memory:// is for the demo
    assert not any("索引" in w for w in wrong(findings))
    await ctx.db["audit_log"].drop_index("action_seq")
    missing = wrong(await diagnose(ctx.config, ctx.db))
    assert any("audit_log.action_seq" in w for w in missing)


def test_the_doctor_says_so_and_exits_1(tmp_path: Path) -> None:
    config = memory_config_file(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "scripts.doctor", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**env_for_tests(), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "✗ 数据库为内存模式" in run.stdout
    assert "/ the database is in memory" in run.stdout
    assert "需要处理" in run.stdout


class AnsweringDatabase:
    """Answers `hello` as a MongoDB server would (a replica set's name, its clock) for the doctor's checks."""

    def __init__(self, hello: dict) -> None:
        self.hello = hello

    async def command(self, name: str) -> dict:
        assert name == "hello"
        return self.hello


async def test_the_doctor_wants_a_replica_set_and_a_clock_in_step(tmp_path: Path) -> None:
    config = production(tmp_path, mongodb={"uri": "mongodb://db1.internal:27017"})
    now = datetime.now(UTC)
    healthy = await check_database(config, AnsweringDatabase({"setName": "rs0", "localTime": now}))
    assert wrong(healthy) == []
    alone = await check_database(config, AnsweringDatabase({"localTime": now - timedelta(minutes=2)}))
    assert any("不是副本集" in w for w in wrong(alone))
    assert any("相差 120 秒" in w for w in wrong(alone))
