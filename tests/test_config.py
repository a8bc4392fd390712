"""Configuration: typed, validated at start-up, secrets from the environment, loud when something is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from server.core.config import ConfigError, load_config
from tests.conftest import TEST_ENV

ROOT = Path(__file__).resolve().parent.parent
GOOD_FILE = """
mongodb:
  uri: mongodb://db.example:27017
auth:
  jwt_keys: "k1:{jwt}"
crypto:
  keys: "c1:{enc}"
  hash_key: "{hash}"
town:
  hotline: "0571-12345"
""".format(jwt="A" * 43, enc="B" * 43, hash="C" * 43)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_complete_once_secrets_are_given() -> None:
    env = {k: v for k, v in TEST_ENV.items()}
    loaded = load_config(ROOT / "config.example.yaml", environ=env)
    assert loaded.config.mongodb.uri == "mongodb://localhost:27017"
    assert loaded.config.http.max_json_body == 1024 * 1024
    assert loaded.generated == []


def test_example_config_without_secrets_names_each_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(ROOT / "config.example.yaml", environ={})
    message = str(caught.value)
    for key, variable in (
        ("auth.jwt_keys", "SYGZ_AUTH__JWT_KEYS"),
        ("crypto.keys", "SYGZ_CRYPTO__KEYS"),
        ("crypto.hash_key", "SYGZ_CRYPTO__HASH_KEY"),
    ):
        assert key in message
        assert variable in message


def test_file_values_are_typed(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD_FILE), environ={}).config
    assert config.town.hotline == "0571-12345"
    assert config.auth.keyring == {"k1": b"\x00" * 32}  # 43 base64 "A"s decode to 32 zero bytes
    assert config.demo is False


def test_environment_overrides_file(tmp_path: Path) -> None:
    env = {"SYGZ_MONGODB__URI": "mongodb+srv://u:p@cluster.example", "SYGZ_HTTP__PORT": "9090"}
    config = load_config(write(tmp_path, GOOD_FILE), environ=env).config
    assert config.mongodb.uri == "mongodb+srv://u:p@cluster.example"
    assert config.http.port == 9090


def test_missing_mongodb_uri_is_named(tmp_path: Path) -> None:
    text = GOOD_FILE.replace("mongodb:\n  uri: mongodb://db.example:27017\n", "")
    with pytest.raises(ConfigError, match=r"mongodb: 缺少此设置.*SYGZ_MONGODB"):
        load_config(write(tmp_path, text), environ={})


@pytest.mark.parametrize(
    ("replace", "by", "named"),
    [
        ("k1:" + "A" * 43, "k1:c2hvcnQ", "auth.jwt_keys"),  # "short": far below 32 bytes
        ("c1:" + "B" * 43, "c1:" + "B" * 60, "crypto.keys"),  # not exactly 32 bytes for AES-256
        ("mongodb://db.example", "postgres://db.example", "mongodb.uri"),
        ('hotline: "0571-12345"', 'hotline: "1"\n  timezone: Mars/Base', "town.timezone"),
        ("town:", "tonw:", "tonw"),
    ],
)
def test_invalid_values_are_named(tmp_path: Path, replace: str, by: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, GOOD_FILE.replace(replace, by)), environ={})
    assert named in str(caught.value)


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.example\.yaml"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_demo_generates_missing_secrets_and_says_which() -> None:
    loaded = load_config(None, demo=True, environ={})
    assert loaded.config.demo is True
    assert loaded.config.mongodb.uri == "memory://"
    assert loaded.generated == ["auth.jwt_keys", "crypto.keys", "crypto.hash_key"]
    again = load_config(None, demo=True, environ={})
    assert again.config.auth.jwt_keys != loaded.config.auth.jwt_keys


def test_demo_uses_given_secrets() -> None:
    loaded = load_config(None, demo=True, environ=TEST_ENV)
    assert loaded.generated == []
    assert loaded.config.auth.jwt_keys == TEST_ENV["SYGZ_AUTH__JWT_KEYS"]


@pytest.mark.subprocess
def test_server_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_FILE.replace('  hash_key: "' + "C" * 43 + '"\n', ""))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYGZ_")}
    result = subprocess.run(
        [sys.executable, "-m", "server", "--config", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "crypto.hash_key" in result.stderr
    assert "SYGZ_CRYPTO__HASH_KEY" in result.stderr
    assert str(path) in result.stderr


def test_routing_rules_in_config_are_checked_at_start_up(tmp_path: Path) -> None:
    bad = (
        GOOD_FILE
        + "cases:\n  routing_rules:\n    - {name: x, when: {weather: [rain]}, target: {kind: moon}, tier: town}\n"
    )
    with pytest.raises(ConfigError, match=r"cases\.routing_rules.*分流规则无效"):
        load_config(write(tmp_path, bad), environ={})


@pytest.mark.parametrize(
    ("scheme", "named"),
    [
        ("rating_scheme", "thresholds"),  # out of order
        ("subsidy_rules", "star_factors"),  # a level without a factor
    ],
)
def test_a_configured_scheme_is_checked_at_start_up(tmp_path: Path, scheme: str, named: str) -> None:
    from server.app import check_schemes
    from server.mediators.terms import DEFAULT_SCHEME, DEFAULT_SUBSIDY

    good = {"rating_scheme": DEFAULT_SCHEME, "subsidy_rules": DEFAULT_SUBSIDY}
    bad = {
        "rating_scheme": DEFAULT_SCHEME | {"thresholds": [50, 40, 60, 70, 80]},
        "subsidy_rules": DEFAULT_SUBSIDY | {"star_factors": {"0": 100, "1": 100}},
    }
    loaded = load_config(write(tmp_path, GOOD_FILE), environ={})
    check_schemes(loaded.config.model_copy(update={"mediators": loaded.config.mediators.model_copy(update=good)}))
    config = loaded.config.model_copy(
        update={"mediators": loaded.config.mediators.model_copy(update={scheme: bad[scheme]})}
    )
    with pytest.raises(ConfigError, match=f"mediators\\.{scheme}\\.{named}"):
        check_schemes(config)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"lexicon": [{"label": "坏", "pattern": "(", "points": 10}]}, "lexicon.0.pattern"),  # not an expression
        ({"levels": {"medium": 50, "high": 40, "critical": 70}}, "levels"),  # out of order
        ({"overdue_points": 500}, "overdue_points"),  # out of range
    ],
)
def test_configured_risk_rules_are_checked_at_start_up(tmp_path: Path, change: dict[str, Any], named: str) -> None:
    from server.app import check_risk_rules
    from server.cases.risk import DEFAULT_RULES

    loaded = load_config(write(tmp_path, GOOD_FILE), environ={})
    good = loaded.config.prevention.model_copy(update={"risk_rules": DEFAULT_RULES})
    check_risk_rules(loaded.config.model_copy(update={"prevention": good}))
    bad = loaded.config.prevention.model_copy(update={"risk_rules": DEFAULT_RULES | change})
    with pytest.raises(ConfigError, match=f"prevention\\.risk_rules\\.{named}"):
        check_risk_rules(loaded.config.model_copy(update={"prevention": bad}))
