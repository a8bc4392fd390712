"""The incentive rules, pure: indicators, scores and stars, shares and caps, the schemes' checks, periods and
money. Every expected number is worked out by hand in the comment beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from bson import ObjectId

from server.core.errors import ValidationFailed
from server.mediators.scoring import Tally, rate, shares, subsidy_lines, tally
from server.mediators.terms import (
    DEFAULT_SCHEME,
    DEFAULT_SUBSIDY,
    month_range,
    next_month,
    period_range,
    scheme_errors,
    subsidy_errors,
)

A, B = ObjectId(), ObjectId()
WHEN = datetime(2026, 5, 1, tzinfo=UTC)


def case(outcome: str, *mediators: ObjectId, **fields: object) -> dict[str, object]:
    return {
        "_id": ObjectId(),
        "number": f"SY-{ObjectId()}",
        "mediator_ids": list(mediators),
        "outcome": {"type": outcome},
        "concluded_at": WHEN,
        "assigned_org_id": None,
        **fields,
    }


def test_a_tally_counts_each_mediator_named_on_a_case() -> None:
    cases = [
        case("agreement", A, B, on_time=True, satisfied=True, difficulty={"confirmed": "major"}, rating={"stars": 4}),
        case("failed_litigation", A, on_time=False, satisfied=False, complaints=1, difficulty={"proposed": "simple"}),
        case("agreement", A, judicial_confirmation=True),  # no difficulty: weighs 1
        case("withdrawn", A),  # not a conclusion: not counted
    ]
    tallies = tally(cases, DEFAULT_SCHEME["difficulty_weights"])
    a = tallies[A]
    # 3 concluded, 2 agreements, 1 on time, 2 followed up of which 1 satisfied, weights 5 + 1 + 1, 1 judicial.
    assert (a.concluded, a.agreements, a.on_time, a.followed_up, a.satisfied) == (3, 2, 1, 2, 1)
    assert (a.weighted_volume, a.judicial, a.complaints, a.average_rating) == (7, 1, 1, 4.0)
    assert a.agreement_rate == pytest.approx(2 / 3)
    assert a.satisfaction == 0.5
    assert (tallies[B].concluded, tallies[B].weighted_volume) == (1, 5)
    assert tally(cases, DEFAULT_SCHEME["difficulty_weights"], only={B}).keys() == {B}


def test_a_score_is_the_weighted_points_and_the_stars_its_thresholds() -> None:
    scheme = {
        "indicators": [
            {"key": "concluded", "weight": 40, "full_at": 10},
            {"key": "agreement_rate", "weight": 40},
            {"key": "complaints", "weight": 20, "full_at": 4},
        ],
        "difficulty_weights": DEFAULT_SCHEME["difficulty_weights"],
        "thresholds": [20, 40, 60, 80, 95],
        "min_cases": 5,
    }
    # 5 of 10 → 50 points; 4 of 5 agreements → 80; 1 of 4 complaints → 75. (50×40 + 80×40 + 75×20)/100 = 67.
    rated = rate(Tally(concluded=5, agreements=4, complaints=1), scheme)
    assert (rated.points, rated.score, rated.level) == (
        {"concluded": 50.0, "agreement_rate": 80.0, "complaints": 75.0},
        67.0,
        3,
    )
    # Four cases: scored, but below the minimum for a star.
    assert rate(Tally(concluded=4, agreements=4), scheme).level is None
    # Everything at the top: 100 → five stars; nothing at all but enough cases → 0 points, no star reached.
    assert rate(Tally(concluded=10, agreements=10), scheme).level == 5
    assert rate(Tally(concluded=5), scheme | {"indicators": scheme["indicators"][:2]}).level == 1  # 20 points


def test_shares_keep_every_fen() -> None:
    assert shares(10001, 3, "equal", 60) == [3335, 3333, 3333]
    assert shares(10000, 3, "lead", 60) == [6000, 2000, 2000]
    assert shares(10001, 3, "lead", 60) == [6001, 2000, 2000]  # 6000 + the odd fen of the rest
    assert shares(999, 1, "lead", 60) == [999]


def test_subsidy_lines_apply_the_factor_the_split_and_the_cap() -> None:
    rules = DEFAULT_SUBSIDY | {"monthly_cap": 50000}
    cases = [
        # 重大 agreement 40,000 + judicial 5,000 = 45,000; split equally 22,500 each; A at 5 stars ×150 % = 33,750,
        # B without a star ×100 % = 22,500.
        case("agreement", A, B, difficulty={"confirmed": "major"}, judicial_confirmation=True),
        # 一般 agreement 10,000 → A ×150 % = 15,000: A has 33,750, the cap is 50,000: all 15,000 fits (48,750).
        case("agreement", A, difficulty={"confirmed": "ordinary"}),
        # 疑难 referral 5,000 → A ×150 % = 7,500, but only 1,250 is left under the cap.
        case("failed_arbitration", A, difficulty={"confirmed": "complex"}),
        # No confirmed difficulty: nothing, and said why.
        case("agreement", B, difficulty={"proposed": "simple", "confirmed": None}),
    ]
    lines = subsidy_lines(cases, {A: 5}, rules)
    got = [(line["user_id"], line["share"], line["factor"], line["amount"], line["exceptions"]) for line in lines]
    assert got == [
        (A, 22500, 150, 33750, []),
        (B, 22500, 100, 22500, []),
        (A, 10000, 150, 15000, []),
        (A, 5000, 150, 1250, ["over_cap"]),
        (B, 0, 100, 0, ["missing_difficulty"]),
    ]


def test_the_schemes_are_checked_field_by_field() -> None:
    assert scheme_errors(DEFAULT_SCHEME) == []
    assert subsidy_errors(DEFAULT_SUBSIDY) == []
    uneven = DEFAULT_SCHEME | {"indicators": [{"key": "concluded", "weight": 60, "full_at": 3}]}
    assert [e["field"] for e in scheme_errors(uneven)] == ["indicators"]
    no_full = DEFAULT_SCHEME | {"indicators": [{"key": "judicial", "weight": 100}]}
    assert [e["field"] for e in scheme_errors(no_full)] == ["indicators.0.full_at"]
    assert [e["field"] for e in scheme_errors(DEFAULT_SCHEME | {"thresholds": [50, 40, 60, 70, 80]})] == ["thresholds"]
    assert [e["field"] for e in scheme_errors(DEFAULT_SCHEME | {"thresholds": [0, 40, 60, 70, 80]})] == ["thresholds"]
    assert [e["field"] for e in subsidy_errors(DEFAULT_SUBSIDY | {"star_factors": {"0": 100}})] == ["star_factors"]


def test_periods_and_months() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    assert period_range("2025", tz) == (datetime(2025, 1, 1, tzinfo=tz), datetime(2026, 1, 1, tzinfo=tz))
    assert period_range("2025-H2", tz) == (datetime(2025, 7, 1, tzinfo=tz), datetime(2026, 1, 1, tzinfo=tz))
    assert month_range("2026-12", tz) == (datetime(2026, 12, 1, tzinfo=tz), datetime(2027, 1, 1, tzinfo=tz))
    assert (next_month("2026-12"), next_month("2026-01")) == ("2027-01", "2026-02")
    for bad in ("2025-H3", "25", "2025-1"):
        with pytest.raises(ValidationFailed):
            period_range(bad, tz)
    with pytest.raises(ValidationFailed):
        month_range("2026-13", tz)
