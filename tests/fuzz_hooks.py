"""Schemathesis hooks for `tests/test_fuzz.py` (loaded through SCHEMATHESIS_HOOKS=tests.fuzz_hooks).

The API document names the resident ID number's format `cn-resident-id`: 17 digits and a check digit that
no pattern can express. This teaches the generator to make valid ones, as it makes valid dates.
"""

from __future__ import annotations

from datetime import date

import schemathesis
from hypothesis import strategies as st

from server.core.pii import id_check_digit


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["110101", "330782", "440305"]))
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2026, 1, 1)))
    serial = f"{draw(st.integers(0, 999)):03d}"
    first17 = f"{region}{born:%Y%m%d}{serial}"
    return first17 + id_check_digit(first17)


schemathesis.openapi.format("cn-resident-id", resident_ids())
