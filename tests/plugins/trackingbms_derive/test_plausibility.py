"""The plausibility check: its quick test never passes a reading the full check would drop."""

from __future__ import annotations

import itertools
import logging
import math
from typing import Any

import pytest
from trackingbms_derive.plugin import Derive, Plausibility

from hub.reading import CellExtreme, Reading, Temperature

NAN, INF = math.nan, math.inf
GOOD: dict[str, Any] = {
    "voltage": 52.0,
    "current": -10.0,
    "power": -520.0,
    "soc": 50.0,
    "soh": 98.0,
    "cell_delta": 0.01,
    "remaining_capacity_ah": 100.0,
    "rated_capacity_ah": 280.0,
    "cells": (3.3, 3.31, 3.29),
    "temperatures": (Temperature(25.0), Temperature(30.0)),
    "balancing": (1, 2),
}
BAD: dict[str, list[Any]] = {
    "voltage": [NAN, INF, -1.0, 1001.0],
    "current": [NAN, -INF, 5001.0],
    "power": [NAN, INF],
    "soc": [NAN, -0.1, 100.1],
    "soh": [NAN, -INF],
    "cell_delta": [NAN],
    "remaining_capacity_ah": [INF],
    "rated_capacity_ah": [NAN],
    # NaN where min() and max() do not see it (it never compares smaller or larger), inf, out of range
    "cells": [(3.3, NAN), (NAN, 3.3), (3.3, INF), (3.3, -0.1), (10.5,), (3.3, NAN, 12.0)],
    "temperatures": [(Temperature(25.0), Temperature(NAN)), (Temperature(-61.0),), (Temperature(INF),)],
    "balancing": [(0,), (256,)],
}


def test_a_good_reading_passes_and_every_impossible_value_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    check = Plausibility({})
    good = Reading("b", **GOOD)
    assert check.plausible(good) and check.process(good) is good
    for field, values in BAD.items():
        for value in values:
            reading = Reading("b", **{**GOOD, field: value})
            assert check.problem(reading) is not None, (field, value)
            assert not check.plausible(reading), (field, value)
            with caplog.at_level(logging.WARNING):
                assert check.process(reading) is None
    assert check.rejected == sum(len(values) for values in BAD.values())


def test_infinite_limits_still_drop_infinite_values() -> None:
    """Configured limits of inf let an infinite voltage through the range test, not the finiteness one."""
    check = Plausibility({"max_pack_voltage": INF, "max_abs_current": INF})
    for field, value in itertools.product(("voltage", "current"), (INF, NAN)):
        reading = Reading("b", **{**GOOD, field: value})
        assert not check.plausible(reading)
        assert check.problem(reading) == "non-finite value"
        assert check.process(reading) is None


def test_derive_fills_the_first_extreme_cells_and_keeps_given_values() -> None:
    derived = Derive().process(Reading("b", voltage=10.0, current=0.1, cells=(3.2, 3.1, 3.3, 3.1, 3.3)))
    assert derived.cell_min == CellExtreme(3.1, 2) and derived.cell_max == CellExtreme(3.3, 3)
    assert derived.cell_delta == pytest.approx(0.2) and derived.power == 1.0
    complete = Reading("b", power=1.0, cells=(3.0,), cell_min=CellExtreme(3.0, 1), cell_max=CellExtreme(3.0, 1))
    complete = complete.replace(cell_delta=0.0, state=derived.state)
    assert Derive().process(complete) is complete
