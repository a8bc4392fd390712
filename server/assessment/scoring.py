"""The assessment scheme (考核方案) and how it scores a unit: plain functions, no database, no HTTP.

A scheme belongs to a county and a year. Each indicator names a figure, a weight (its full score), a target
and a rule: `linear` scores from nothing at the floor to the full weight at the target (either direction:
a figure where lower is better has its floor above its target), `pass_fail` scores the full weight when the
target is met. A figure with no data scores nothing and says so. Deductions take points per occurrence
(each 民转刑 incident, each supervised case past its deadline, each notice not rectified in time); bonus
items, entered with their evidence, add points up to the scheme's cap. Units are ranked by total; equal
totals share a rank.
"""

from __future__ import annotations

from typing import Any, Literal

# The figures a scheme may score, with the direction that is better (see server/assessment/figures.py).
SOURCE_KEYS = ("dispute_calls", "civil_filings", "petitions", "irregular_petitions")
SCORABLE: dict[str, str] = {
    "accepted_on_time": "higher",
    "concluded_on_time": "higher",
    "agreement_rate": "higher",
    "satisfaction_rate": "higher",
    "average_rating": "higher",
    "village_resolution": "higher",
    "town_resolution": "higher",
    "county_resolution": "higher",
    "average_days": "lower",
    "supervised_on_time": "higher",
    "visit_coverage": "higher",
    "spot_check_confirmed": "higher",
    "litigation_rate": "lower",
    **{f"{key}_change_year": "lower" for key in SOURCE_KEYS},
    **{f"{key}_change_previous": "lower" for key in SOURCE_KEYS},
}
Deduction = Literal["criminal_incidents", "supervised_overdue", "notices_overdue"]
DEDUCTIONS: dict[Deduction, str] = {
    "criminal_incidents": "每起民转刑案件",
    "supervised_overdue": "每件督办超期案件",
    "notices_overdue": "每件逾期未整改的督查通报",
}
DEFAULT_SCHEME: dict[str, Any] = {
    "indicators": [
        {"figure": "agreement_rate", "weight": 20, "target": 0.9, "floor": 0.6, "rule": "linear"},
        {"figure": "concluded_on_time", "weight": 15, "target": 0.95, "floor": 0.7, "rule": "linear"},
        {"figure": "satisfaction_rate", "weight": 15, "target": 0.95, "floor": 0.7, "rule": "linear"},
        {"figure": "village_resolution", "weight": 15, "target": 0.8, "floor": 0.5, "rule": "linear"},
        {"figure": "visit_coverage", "weight": 10, "target": 0.9, "floor": 0.5, "rule": "linear"},
        {"figure": "dispute_calls_change_year", "weight": 10, "target": -0.1, "floor": 0.1, "rule": "linear"},
        {"figure": "petitions_change_year", "weight": 10, "target": -0.1, "floor": 0.1, "rule": "linear"},
        {"figure": "spot_check_confirmed", "weight": 5, "target": 0.9, "floor": None, "rule": "pass_fail"},
    ],
    "deductions": [
        {"kind": "criminal_incidents", "points": 10},
        {"kind": "supervised_overdue", "points": 2},
        {"kind": "notices_overdue", "points": 2},
    ],
    "bonus_cap": 5,
}


def scheme_errors(scheme: dict[str, Any]) -> list[dict[str, str]]:
    """What is wrong with a scheme, each naming its field."""
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, indicator in enumerate(scheme["indicators"]):
        where = f"indicators.{index}"
        figure = indicator["figure"]
        if figure not in SCORABLE:
            errors.append({"field": f"{where}.figure", "message": "不能用于考核的指标"})
            continue
        if figure in seen:
            errors.append({"field": f"{where}.figure", "message": "指标重复"})
        seen.add(figure)
        if indicator["rule"] == "linear":
            floor, target = indicator.get("floor"), indicator["target"]
            if floor is None:
                errors.append({"field": f"{where}.floor", "message": "线性计分须设定起评值"})
            elif (floor >= target) if SCORABLE[figure] == "higher" else (floor <= target):
                better = "低于" if SCORABLE[figure] == "higher" else "高于"
                errors.append({"field": f"{where}.floor", "message": f"起评值须{better}目标值"})
    kinds = [d["kind"] for d in scheme["deductions"]]
    for index, kind in enumerate(kinds):
        if kinds.index(kind) != index:
            errors.append({"field": f"deductions.{index}.kind", "message": "扣分项重复"})
    return errors


def indicator_score(indicator: dict[str, Any], value: float | None) -> tuple[float, str]:
    """The points an indicator gives for `value`, and why."""
    weight, target = float(indicator["weight"]), float(indicator["target"])
    if value is None:
        return 0.0, "无数据"
    higher = SCORABLE[indicator["figure"]] == "higher"
    if indicator["rule"] == "pass_fail":
        met = value >= target if higher else value <= target
        return (weight, "达标") if met else (0.0, "未达标")
    floor = float(indicator["floor"])
    share = min(max((value - floor) / (target - floor), 0.0), 1.0)
    note = "达到目标" if share >= 1 else ("低于起评值" if share <= 0 else "按比例计分")
    return round(weight * share, 2), note


def values_of(figures: list[dict[str, Any]]) -> dict[str, float | None]:
    """The scorable values among a unit's figures (a source's change is its own value)."""
    values: dict[str, float | None] = {}
    for figure in figures:
        values[figure["key"]] = figure["value"]
        if figure["key"] in SOURCE_KEYS:
            values[f"{figure['key']}_change_year"] = figure.get("change_year")
            values[f"{figure['key']}_change_previous"] = figure.get("change_previous")
    return values


def score(scheme: dict[str, Any], figures: list[dict[str, Any]], bonus: list[dict[str, Any]]) -> dict[str, Any]:
    """A unit's score under `scheme`: each indicator, each deduction, the bonus (capped) and the total."""
    values = values_of(figures)
    counts = {f["key"]: int(f["numerator"] or 0) for f in figures if f["key"] in DEDUCTIONS}
    indicators = []
    for indicator in scheme["indicators"]:
        points, note = indicator_score(indicator, values.get(indicator["figure"]))
        indicators.append(
            {
                "figure": indicator["figure"],
                "value": values.get(indicator["figure"]),
                "weight": indicator["weight"],
                "score": points,
                "note": note,
            }
        )
    deductions = [
        {
            "kind": d["kind"],
            "count": counts.get(d["kind"], 0),
            "points": round(counts.get(d["kind"], 0) * d["points"], 2),
        }
        for d in scheme["deductions"]
    ]
    bonus_points = min(round(sum(b["points"] for b in bonus), 2), float(scheme["bonus_cap"]))
    total = sum(i["score"] for i in indicators) - sum(d["points"] for d in deductions) + bonus_points
    return {
        "indicators": indicators,
        "deductions": deductions,
        "bonus_points": bonus_points,
        "total": round(total, 2),
    }


def rank(totals: list[float]) -> list[int]:
    """Competition ranking (1, 1, 3): equal totals share a rank."""
    ordered = sorted(totals, reverse=True)
    return [ordered.index(total) + 1 for total in totals]
