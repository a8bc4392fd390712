"""The incentive scheme's vocabulary and rules as data (pure: no database, no HTTP).

A rating scheme and a subsidy rule set are settings of a town (county defaults, `server.orgs.settings`),
seeded from `config.yaml` (`mediators.rating_scheme`, `mediators.subsidy_rules`) and checked here, field by
field, wherever they come from. Money is in fen (integers) and factors in percent, so that no float ever
touches an amount.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from server.core.errors import ValidationFailed
from server.core.vocabulary import DIFFICULTIES

# 人民调解员 / 行业调解 / 专业调解 / 律师调解 / 专职调解员
MediatorKind = Literal["people", "industry", "professional", "lawyer", "full_time"]
# 在职 / 暂停 / 退出
ProfileStatus = Literal["active", "suspended", "retired"]
# 法律 / 医疗 / 心理 / 土地 / 劳动 / 建设工程 / 财会 / 其他
ExpertField = Literal["law", "medical", "psychology", "land", "labour", "construction", "finance", "other"]

# 办结案件数 / 调解成功率 / 按期办结率 / 回访满意率 / 难度加权案件量 / 司法确认数 / 投诉成立数
Indicator = Literal[
    "concluded", "agreement_rate", "on_time_rate", "satisfaction", "weighted_volume", "judicial", "complaints"
]
RATES = frozenset({"agreement_rate", "on_time_rate", "satisfaction"})  # 0..1, worth their share in full at 1
PENALTIES = frozenset({"complaints"})  # full points at 0, none at `full_at`
# The others are counts, worth their share in full at `full_at`.

DEFAULT_SCHEME: dict[str, Any] = {
    "indicators": [
        {"key": "concluded", "weight": 20, "full_at": 30},
        {"key": "agreement_rate", "weight": 25},
        {"key": "on_time_rate", "weight": 15},
        {"key": "satisfaction", "weight": 15},
        {"key": "weighted_volume", "weight": 15, "full_at": 60},
        {"key": "judicial", "weight": 5, "full_at": 5},
        {"key": "complaints", "weight": 5, "full_at": 3},
    ],
    "difficulty_weights": {"simple": 1, "ordinary": 2, "complex": 3, "major": 5},
    "thresholds": [40, 55, 70, 82, 92],  # the score (0–100) for 1, 2, 3, 4 and 5 stars
    "min_cases": 5,  # fewer concluded cases in the period: no star
}

SplitRule = Literal["equal", "lead"]
DEFAULT_SUBSIDY: dict[str, Any] = {
    # fen per case, by difficulty and outcome: "agreement" (调解成功) and "referred" (未成但依法引导或移交)
    "amounts": {
        "simple": {"agreement": 5000, "referred": 2000},
        "ordinary": {"agreement": 10000, "referred": 3000},
        "complex": {"agreement": 20000, "referred": 5000},
        "major": {"agreement": 40000, "referred": 8000},
    },
    "judicial_bonus": 5000,  # fen added to an agreement that was judicially confirmed
    "star_factors": {"0": 100, "1": 100, "2": 110, "3": 120, "4": 135, "5": 150},  # percent, by star level
    "monthly_cap": 300000,  # fen per mediator and month (corrections not counted)
    "split": "equal",  # several mediators on a case: "equal" shares, or "lead" (the first named takes lead_percent)
    "lead_percent": 60,
}
REFERRED_OUTCOMES = frozenset({"failed_litigation", "failed_arbitration", "transferred_admin"})


def _error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def scheme_errors(scheme: dict[str, Any]) -> list[dict[str, str]]:
    """What is wrong with a rating scheme, field by field (the types are the schema's business)."""
    errors = []
    indicators = scheme.get("indicators") or []
    keys = [i["key"] for i in indicators]
    if len(set(keys)) != len(keys):
        errors.append(_error("indicators", "指标不能重复"))
    if sum(i["weight"] for i in indicators) != 100:
        errors.append(_error("indicators", f"各指标权重之和须为 100（现为 {sum(i['weight'] for i in indicators)}）"))
    for index, item in enumerate(indicators):
        if item["key"] not in RATES and not item.get("full_at"):
            errors.append(_error(f"indicators.{index}.full_at", "数量类指标须填写满分值"))
    thresholds = scheme.get("thresholds") or []
    if len(thresholds) != 5 or any(b <= a for a, b in itertools.pairwise(thresholds)):
        errors.append(_error("thresholds", "须为 1 至 5 星的 5 个分数线，依次递增"))
    elif not all(0 < t <= 100 for t in thresholds):
        errors.append(_error("thresholds", "分数线须在 0 到 100 之间"))
    if set(scheme.get("difficulty_weights") or {}) != set(DIFFICULTIES):
        errors.append(_error("difficulty_weights", "须为简易、一般、疑难、重大各给出权重"))
    return errors


def subsidy_errors(rules: dict[str, Any]) -> list[dict[str, str]]:
    errors = []
    if set(rules.get("amounts") or {}) != set(DIFFICULTIES):
        errors.append(_error("amounts", "须为简易、一般、疑难、重大各定标准"))
    if set(rules.get("star_factors") or {}) != {str(n) for n in range(6)}:
        errors.append(_error("star_factors", "须为 0 至 5 星各定系数"))
    return errors


# ---- periods ---------------------------------------------------------------------------------------------
_PERIOD = re.compile(r"^(20\d{2})(?:-H([12]))?$")
_MONTH = re.compile(r"^(20\d{2})-(0[1-9]|1[0-2])$")


def period_range(period: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A rating period ("2025" a year, "2025-H1"/"2025-H2" a half-year) as [start, end) in the town's time."""
    match = _PERIOD.match(period)
    if match is None:
        raise ValidationFailed(details=[_error("period", "评定周期须为年度（2025）或半年度（2025-H1、2025-H2）")])
    year, half = int(match[1]), match[2]
    if half is None:
        return datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)
    if half == "1":
        return datetime(year, 1, 1, tzinfo=tz), datetime(year, 7, 1, tzinfo=tz)
    return datetime(year, 7, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)


def month_range(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    match = _MONTH.match(month)
    if match is None:
        raise ValidationFailed(details=[_error("month", "月份格式为 2026-10")])
    start = datetime(int(match[1]), int(match[2]), 1, tzinfo=tz)
    return start, (start + timedelta(days=32)).replace(day=1)


def next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def month_of(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m")
