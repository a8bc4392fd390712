"""The assessment's rules without a database: periods and their comparisons, scoring under a scheme, ranking,
a spot check's allocation and draw."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from server.assessment.periods import parse_period
from server.assessment.scoring import DEFAULT_SCHEME, indicator_score, rank, scheme_errors, score
from server.assessment.spot_checks import allocate, draw, mismatch
from server.core.errors import ValidationFailed

TZ = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("label", "first", "last", "previous", "year_before"),
    [
        ("2026-03", date(2026, 3, 1), date(2026, 3, 31), "2026-02", "2025-03"),
        ("2026-01", date(2026, 1, 1), date(2026, 1, 31), "2025-12", "2025-01"),
        ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31), "2025-Q4", "2025-Q1"),
        ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30), "2026-Q2", "2025-Q3"),
        ("2026", date(2026, 1, 1), date(2026, 12, 31), "2025", "2025"),
        (
            "2026-10-01..2026-10-10",
            date(2026, 10, 1),
            date(2026, 10, 10),
            "2026-09-21..2026-09-30",
            "2025-10-01..2025-10-10",
        ),
        (
            "2024-02-29..2024-03-01",
            date(2024, 2, 29),
            date(2024, 3, 1),
            "2024-02-27..2024-02-28",
            "2023-02-28..2023-03-01",
        ),
    ],
)
def test_a_period_its_days_and_what_it_is_compared_with(label, first, last, previous, year_before) -> None:
    period = parse_period(label, TZ)
    assert (period.first, period.last) == (first, last)
    assert (period.previous().label, period.year_before().label) == (previous, year_before)
    assert period.start == datetime(first.year, first.month, first.day, tzinfo=TZ)


def test_a_period_is_half_open_in_local_time_and_knows_its_months() -> None:
    october = parse_period("2026-10", TZ)
    assert october.end == datetime(2026, 11, 1, tzinfo=TZ)
    assert not october.ended(datetime(2026, 10, 31, 23, 59, tzinfo=TZ))
    assert october.ended(datetime(2026, 11, 1, tzinfo=TZ))
    assert parse_period("2026-11-20..2027-01-05", TZ).months() == ["2026-11", "2026-12", "2027-01"]


def test_a_range_is_the_days_between_its_dates_and_a_day_past_the_month_end_is_its_last() -> None:
    assert parse_period("2026-10-15..2026-10-01", TZ).label == "2026-10-01..2026-10-15"
    assert parse_period("2026-02-30..2026-04-31", TZ).label == "2026-02-28..2026-04-30"
    assert parse_period("2024-02-30..2024-03-01", TZ).first == date(2024, 2, 29)


@pytest.mark.parametrize(
    "label", ["2026-13", "2026-Q5", "26-10", "2026-10-1..2026-10-05", "2026-10-32..2026-11-01", "1999", "2026-10.."]
)
def test_a_bad_period_names_its_field(label: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_period(label, TZ, field="period")
    assert refused.value.details[0]["field"] == "period"


def test_linear_scoring_runs_from_the_floor_to_the_target_in_either_direction() -> None:
    higher = {"figure": "agreement_rate", "weight": 20, "target": 0.9, "floor": 0.5, "rule": "linear"}
    assert indicator_score(higher, 0.7) == (10.0, "按比例计分")
    assert indicator_score(higher, 0.95) == (20.0, "达到目标")
    assert indicator_score(higher, 0.4) == (0.0, "低于起评值")
    assert indicator_score(higher, None) == (0.0, "无数据")
    lower = {"figure": "average_days", "weight": 10, "target": 5, "floor": 15, "rule": "linear"}
    assert indicator_score(lower, 10) == (5.0, "按比例计分")
    assert indicator_score(lower, 3) == (10.0, "达到目标")
    passing = {"figure": "litigation_rate", "weight": 5, "target": 20, "floor": None, "rule": "pass_fail"}
    assert indicator_score(passing, 20) == (5.0, "达标")
    assert indicator_score(passing, 21) == (0.0, "未达标")


def test_a_unit_is_scored_with_deductions_and_a_capped_bonus() -> None:
    figures = [
        {"key": "agreement_rate", "value": 0.75, "numerator": 3},
        {"key": "dispute_calls", "value": 9, "numerator": 9, "change_year": -0.1, "change_previous": 0.0},
        {"key": "criminal_incidents", "value": 2.0, "numerator": 2},
        {"key": "supervised_overdue", "value": 1.0, "numerator": 1},
    ]
    scheme = {
        "indicators": [
            {"figure": "agreement_rate", "weight": 50, "target": 1.0, "floor": 0.5, "rule": "linear"},
            {"figure": "dispute_calls_change_year", "weight": 50, "target": -0.1, "floor": None, "rule": "pass_fail"},
        ],
        "deductions": [{"kind": "criminal_incidents", "points": 10}, {"kind": "supervised_overdue", "points": 2}],
        "bonus_cap": 3,
    }
    scored = score(scheme, figures, [{"points": 2}, {"points": 2}])
    assert [i["score"] for i in scored["indicators"]] == [25.0, 50.0]
    assert [d["points"] for d in scored["deductions"]] == [20.0, 2.0]
    assert (scored["bonus_points"], scored["total"]) == (3.0, 56.0)


def test_equal_totals_share_a_rank() -> None:
    assert rank([80.0, 95.5, 80.0, 60.0]) == [2, 1, 2, 4]


def test_the_default_scheme_is_valid_and_a_bad_one_names_each_field() -> None:
    assert scheme_errors(DEFAULT_SCHEME) == []
    bad = {
        "indicators": [
            {"figure": "agreement_rate", "weight": 10, "target": 0.8, "floor": 0.9, "rule": "linear"},
            {"figure": "average_days", "weight": 10, "target": 10, "floor": 5, "rule": "linear"},
            {"figure": "agreement_rate", "weight": 10, "target": 0.8, "floor": None, "rule": "pass_fail"},
            {"figure": "received", "weight": 10, "target": 1, "floor": None, "rule": "pass_fail"},
        ],
        "deductions": [{"kind": "criminal_incidents", "points": 1}, {"kind": "criminal_incidents", "points": 2}],
        "bonus_cap": 0,
    }
    assert [e["field"] for e in scheme_errors(bad)] == [
        "indicators.0.floor",
        "indicators.1.floor",
        "indicators.2.figure",
        "indicators.3.figure",
        "deductions.1.kind",
    ]


def test_a_sample_is_allocated_by_share_with_the_largest_remainders() -> None:
    assert allocate({"a": 6, "b": 3, "c": 1}, 5) == {"a": 3, "b": 2, "c": 0}
    assert allocate({"a": 1, "b": 1}, 5) == {"a": 1, "b": 1}  # never more than there are
    assert allocate({}, 3) == {}


def test_the_same_seed_draws_the_same_sample_whatever_the_order_of_the_cases() -> None:
    cases = [
        {"_id": n, "number": f"SY-{n:04d}", "village_id": "甲" if n % 3 else "乙", "outcome": {"type": "agreement"}}
        for n in range(30)
    ]
    first = draw(cases, 6, seed=7)
    assert [c["number"] for c in draw(list(reversed(cases)), 6, seed=7)] == [c["number"] for c in first]
    assert [c["number"] for c in draw(cases, 6, seed=8)] != [c["number"] for c in first]
    assert sum(c["village_id"] == "甲" for c in first) == 4  # 20 of 30 → 4 of 6


def test_a_contradiction_needs_a_reached_resident() -> None:
    satisfied_case = {"satisfied": True}
    assert mismatch(satisfied_case, {"reached": True, "confirms_outcome": False})
    assert mismatch(satisfied_case, {"reached": True, "confirms_outcome": True, "satisfied": False})
    assert not mismatch({"satisfied": None}, {"reached": True, "confirms_outcome": True, "satisfied": False})
    assert not mismatch(satisfied_case, {"reached": False, "confirms_outcome": False})
