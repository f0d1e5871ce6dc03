"""Coulomb-counted SOC: counting against capacity, recalibration at full, BMS jumps, drift correction."""

from __future__ import annotations

import math

import pytest
from trackingbms_energy.settings import BatterySettings, is_full
from trackingbms_energy.soc import CoulombSoc

from tests.plugins.trackingbms_energy.energy_synthetic import reading

SETTINGS = BatterySettings()


def run(
    counter: CoulombSoc,
    start: float,
    seconds: float,
    current: float,
    step: float = 30.0,
    soc: float | None = None,
    rated: float = 100.0,
) -> float:
    """Feed a constant current for ``seconds`` from ``start``; return the time reached."""
    t = start
    while t < start + seconds:
        t += step
        counter.update(reading(t, current=current, soc=soc, rated=rated))
    return t


def test_starts_from_the_bms_soc_then_counts_against_the_rated_capacity() -> None:
    soc = CoulombSoc(SETTINGS)
    soc.update(reading(0, current=-20.0, soc=80.0))
    assert soc.soc == 80.0
    run(soc, 0, 3600, -20.0, soc=80.0)  # 20 Ah out of 100 Ah; the BMS SOC is ignored while counting
    assert soc.soc == pytest.approx(60.0)
    run(soc, 3600, 1800, 10.0, soc=80.0)  # 5 Ah in (the sampled step from -20 A to +10 A costs 0.125 %)
    assert soc.soc == pytest.approx(65.0, abs=0.2)


def test_no_count_before_a_starting_point() -> None:
    soc = CoulombSoc(SETTINGS)
    run(soc, 0, 600, -20.0)  # no BMS SOC and never full: unknown
    assert soc.values() == {"soc_coulomb": None}


def test_configured_capacity_overrides_the_bms_rated_capacity() -> None:
    soc = CoulombSoc(BatterySettings(capacity_ah=200.0))
    soc.update(reading(0, current=-20.0, soc=50.0, rated=100.0))
    run(soc, 0, 3600, -20.0, rated=100.0)
    assert soc.soc == pytest.approx(40.0)  # 20 Ah of 200 Ah


def test_recalibrates_to_100_at_full_by_cell_voltage_with_tail_current() -> None:
    soc = CoulombSoc(SETTINGS)
    soc.update(reading(0, current=30.0, soc=70.0))
    t = run(soc, 0, 1800, 30.0)  # counted: 70 + 15 = 85 %
    assert soc.soc == pytest.approx(85.0)
    soc.update(reading(t + 30, current=30.0, cell_max=3.60))  # still charging hard: not full yet
    assert soc.soc is not None and soc.soc < 100.0
    soc.update(reading(t + 60, current=2.0, cell_max=3.56))  # tapered below the 5 A tail: full
    assert soc.soc == 100.0
    assert soc.recalibrations == 1
    soc.update(reading(t + 90, current=1.0, cell_max=3.57))  # staying full is one recalibration
    assert soc.recalibrations == 1


def test_full_by_bms_soc_and_the_conditions_are_configurable() -> None:
    assert is_full(reading(0, current=0.5, soc=99.6), SETTINGS)
    assert not is_full(reading(0, current=0.5, soc=99.0, cell_max=3.50), SETTINGS)
    assert not is_full(reading(0, current=None, soc=100.0), SETTINGS)
    lead_acid_like = BatterySettings(full_soc=None, full_cell_voltage=2.40, tail_current_a=1.0)
    assert not is_full(reading(0, current=0.5, soc=100.0), lead_acid_like)
    assert is_full(reading(0, current=0.5, cell_max=2.41), lead_acid_like)
    assert not is_full(reading(0, current=1.5, cell_max=2.41), lead_acid_like)


def test_clamped_to_0_and_100() -> None:
    soc = CoulombSoc(SETTINGS)
    soc.update(reading(0, current=-50.0, soc=10.0))
    run(soc, 0, 3600, -50.0)
    assert soc.soc == 0.0
    run(soc, 3600, 3 * 3600, 50.0)
    assert soc.soc == 100.0


def test_follows_a_bms_jump_only_when_enabled() -> None:
    for threshold, expected in ((0.0, 50.0), (10.0, 95.0)):
        soc = CoulombSoc(BatterySettings(soc_jump_pct=threshold))
        soc.update(reading(0, current=0.0, soc=50.0))
        soc.update(reading(30, current=0.0, soc=51.0))  # a small step is not a jump
        assert soc.soc == 50.0
        soc.update(reading(60, current=0.0, soc=95.0))  # the BMS recalibrated itself
        assert soc.soc == expected


def test_drift_correction_blends_toward_the_bms_soc() -> None:
    off, on = CoulombSoc(SETTINGS), CoulombSoc(BatterySettings(drift_blend_per_hour=0.5))
    for soc in (off, on):
        soc.update(reading(0, current=0.0, soc=60.0))
        soc.soc = 40.0  # the count has drifted 20 points from the BMS
        run(soc, 0, 3600, 0.0, step=60, soc=60.0)
    assert off.soc == 40.0
    assert on.soc == pytest.approx(40.0 + 20 * (1 - math.exp(-0.5)), abs=0.1)  # 1 - e^-0.5 of the way


def test_soc_state_round_trip() -> None:
    soc = CoulombSoc(SETTINGS)
    soc.update(reading(0, current=1.0, cell_max=3.6))
    run(soc, 0, 3600, -25.0)
    restored = CoulombSoc.from_state(SETTINGS, soc.to_state())
    assert restored.soc == pytest.approx(75.0, abs=0.2) and restored.recalibrations == 1
    restored.update(reading(99999, current=-25.0))  # the first reading after a restart only sets the start
    assert restored.soc == CoulombSoc.from_state(SETTINGS, soc.to_state()).soc
    assert CoulombSoc.from_state(SETTINGS, {"soc": None}).soc is None
    with pytest.raises(ValueError, match="soc"):
        CoulombSoc.from_state(SETTINGS, {"soc": "high"})
