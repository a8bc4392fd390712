"""From cases to figures, stars and subsidy lines (pure: plain dicts in, plain dicts out).

The services read the cases (by declared indexes) and hand them here; everything a figure or an amount is
made of is computed in these functions, so that unit tests can check them by hand against a few cases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from server.core.vocabulary import CONCLUDE_OUTCOMES
from server.mediators.terms import PENALTIES, RATES, REFERRED_OUTCOMES

Case = dict[str, Any]


@dataclass
class Tally:
    """One mediator's cases of a period, counted."""

    concluded: int = 0
    agreements: int = 0
    on_time: int = 0
    followed_up: int = 0
    satisfied: int = 0
    weighted_volume: int = 0
    judicial: int = 0
    complaints: int = 0
    rated: int = 0
    rating_sum: int = 0

    @property
    def agreement_rate(self) -> float | None:
        return self.agreements / self.concluded if self.concluded else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.concluded if self.concluded else None

    @property
    def satisfaction(self) -> float | None:
        return self.satisfied / self.followed_up if self.followed_up else None

    @property
    def average_rating(self) -> float | None:
        return round(self.rating_sum / self.rated, 2) if self.rated else None

    def indicators(self) -> dict[str, float | int | None]:
        return {
            "concluded": self.concluded,
            "agreement_rate": self.agreement_rate,
            "on_time_rate": self.on_time_rate,
            "satisfaction": self.satisfaction,
            "weighted_volume": self.weighted_volume,
            "judicial": self.judicial,
            "complaints": self.complaints,
        }


def difficulty_of(case: Case) -> str | None:
    """The difficulty the office confirmed at review, else the one the mediator proposed."""
    difficulty = case.get("difficulty") or {}
    return difficulty.get("confirmed") or difficulty.get("proposed")


def tally(cases: Iterable[Case], weights: dict[str, int], only: set[ObjectId] | None = None) -> dict[ObjectId, Tally]:
    """Each mediator's concluded cases among `cases`, counted once for every mediator named on a case."""
    tallies: dict[ObjectId, Tally] = {}
    for case in cases:
        outcome = (case.get("outcome") or {}).get("type")
        if outcome not in CONCLUDE_OUTCOMES or not case.get("concluded_at"):
            continue
        for user_id in case.get("mediator_ids") or []:
            if only is not None and user_id not in only:
                continue
            t = tallies.setdefault(user_id, Tally())
            t.concluded += 1
            t.agreements += outcome == "agreement"
            t.on_time += bool(case.get("on_time"))
            if case.get("satisfied") is not None:
                t.followed_up += 1
                t.satisfied += bool(case["satisfied"])
            t.weighted_volume += weights.get(difficulty_of(case) or "", 1)
            t.judicial += bool(case.get("judicial_confirmation"))
            t.complaints += case.get("complaints") or 0
            if case.get("rating"):
                t.rated += 1
                t.rating_sum += case["rating"]["stars"]
    return tallies


def points(key: str, value: float | int | None, full_at: float | None) -> float:
    """An indicator's value on a 0–100 scale."""
    if value is None:
        return 0.0
    if key in RATES:
        return min(float(value), 1.0) * 100
    assert full_at, key
    if key in PENALTIES:
        return max(0.0, 1 - value / full_at) * 100
    return min(value / full_at, 1.0) * 100


@dataclass(frozen=True)
class Rated:
    indicators: dict[str, float | int | None]
    points: dict[str, float]
    score: float
    level: int | None  # None: too few cases for a star
    note: str


def rate(t: Tally, scheme: dict[str, Any]) -> Rated:
    """The score a tally earns under `scheme` and the star level it reaches."""
    values = t.indicators()
    earned = {i["key"]: round(points(i["key"], values[i["key"]], i.get("full_at")), 1) for i in scheme["indicators"]}
    score = round(sum(earned[i["key"]] * i["weight"] for i in scheme["indicators"]) / 100, 1)
    if t.concluded < scheme["min_cases"]:
        return Rated(values, earned, score, None, f"办结案件 {t.concluded} 件，少于 {scheme['min_cases']} 件，不评星级")
    level = sum(1 for threshold in scheme["thresholds"] if score >= threshold)
    return Rated(
        values, earned, score, level, f"综合得分 {score}，达到 {level} 星分数线" if level else "未达 1 星分数线"
    )


# ---- 以案定补 ---------------------------------------------------------------------------------------------
def shares(total: int, count: int, rule: str, lead_percent: int) -> list[int]:
    """`total` fen split among `count` mediators by the scheme's rule; the remainder goes to the first named."""
    if count == 1:
        return [total]
    if rule == "lead":
        lead = total * lead_percent // 100
        rest = total - lead
        each = rest // (count - 1)
        return [lead + rest - each * (count - 1)] + [each] * (count - 1)
    each = total // count
    return [total - each * (count - 1)] + [each] * (count - 1)


def case_subsidy(case: Case, rules: dict[str, Any]) -> tuple[int, int, list[str]]:
    """(base, bonus, exceptions) of one qualifying case, before the split and the star factor."""
    difficulty = (case.get("difficulty") or {}).get("confirmed")
    outcome = (case.get("outcome") or {}).get("type")
    if difficulty is None:
        return 0, 0, ["missing_difficulty"]
    if outcome == "agreement":
        bonus = rules["judicial_bonus"] if case.get("judicial_confirmation") else 0
        return rules["amounts"][difficulty]["agreement"], bonus, []
    if outcome in REFERRED_OUTCOMES:
        return rules["amounts"][difficulty]["referred"], 0, []
    return 0, 0, ["not_payable"]


def subsidy_lines(
    cases: Iterable[Case], stars: dict[ObjectId, int], rules: dict[str, Any], spent: dict[ObjectId, int] | None = None
) -> list[dict[str, Any]]:
    """One line per mediator and qualifying case, in the order given, with the monthly cap applied: a line
    that would take a mediator past the cap is cut to what is left and marked `over_cap`. `spent` is what
    each mediator has had this month before these cases (nothing, for a statement built whole)."""
    spent = dict(spent or {})
    lines = []
    for case in cases:
        base, bonus, exceptions = case_subsidy(case, rules)
        mediators = list(case.get("mediator_ids") or [])
        if not mediators:
            mediators, exceptions = [None], [*exceptions, "no_mediator"]
        split = shares(base + bonus, len(mediators), rules["split"], rules["lead_percent"])
        for user_id, share in zip(mediators, split, strict=True):
            star = stars.get(user_id, 0) if user_id else 0
            factor = rules["star_factors"][str(star)]
            amount = share * factor // 100 if user_id else 0
            line_exceptions = list(exceptions)
            if user_id is not None:
                left = max(rules["monthly_cap"] - spent.get(user_id, 0), 0)
                if amount > left:
                    amount, line_exceptions = left, [*line_exceptions, "over_cap"]
                spent[user_id] = spent.get(user_id, 0) + amount
            lines.append(
                {
                    "kind": "case",
                    "case_id": case["_id"],
                    "number": case["number"],
                    "unit_id": case.get("assigned_org_id"),
                    "user_id": user_id,
                    "difficulty": (case.get("difficulty") or {}).get("confirmed"),
                    "outcome": (case.get("outcome") or {}).get("type"),
                    "base": base,
                    "bonus": bonus,
                    "share": share,
                    "star": star,
                    "factor": factor,
                    "amount": amount,
                    "exceptions": line_exceptions,
                }
            )
    return lines
