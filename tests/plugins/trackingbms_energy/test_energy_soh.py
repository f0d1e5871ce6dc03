"""SOH estimate: capacity measured over discharge windows from full, compared to the rated capacity."""

from __future__ import annotations

import pytest
from trackingbms_energy.settings import BatterySettings
from trackingbms_energy.soh import SohEstimator

from tests.plugins.trackingbms_energy.energy_synthetic import full_then_discharge, reading, then_charge

SETTINGS = BatterySettings()


def feed(estimator: SohEstimator, readings: object) -> None:
    for r in readings:  # type: ignore[attr-defined]
        estimator.update(r)


@pytest.mark.parametrize("with_soc", [True, False], ids=["bms-soc", "cell-voltage-only"])
def test_a_full_cycle_of_a_pack_at_90_percent_gives_90_percent(with_soc: bool) -> None:
    estimator = SohEstimator(SETTINGS)
    feed(estimator, full_then_discharge(true_capacity_ah=90.0, with_soc=with_soc))  # down to the empty cell voltage
    assert estimator.window is None and estimator.samples == 1
    assert estimator.capacity_measured_ah == pytest.approx(90.0, abs=0.2)
    assert estimator.values()["soh_estimate"] == pytest.approx(90.0, abs=0.2)


def test_a_partial_discharge_is_extrapolated_to_100_percent() -> None:
    estimator = SohEstimator(SETTINGS)
    discharge = list(full_then_discharge(true_capacity_ah=90.0, stop_soc=20.0))  # 80 % DoD: 72 Ah
    feed(estimator, discharge)
    assert estimator.samples == 0 and estimator.window is not None  # open until recharging
    feed(estimator, then_charge(discharge[-1], current_a=40.0, seconds=900))  # 10 Ah back in
    assert estimator.samples == 1
    assert estimator.capacity_measured_ah == pytest.approx(90.0, abs=0.2)
    assert estimator.estimate == pytest.approx(90.0, abs=0.2)


def test_a_shallow_window_gives_no_sample() -> None:
    estimator = SohEstimator(SETTINGS)
    discharge = list(full_then_discharge(true_capacity_ah=90.0, stop_soc=50.0))  # 50 % < 70 % DoD
    feed(estimator, [*discharge, *then_charge(discharge[-1], current_a=40.0, seconds=900)])
    assert estimator.samples == 0 and estimator.estimate is None
    assert estimator.values() == {"soh_estimate": None, "capacity_measured_ah": None}


def test_a_gap_during_the_window_discards_it() -> None:
    estimator = SohEstimator(SETTINGS)
    readings = list(full_then_discharge(true_capacity_ah=90.0))
    feed(estimator, readings[:300] + [r.replace(timestamp=r.timestamp.replace(year=2027)) for r in readings[300:]])
    assert estimator.samples == 0


def test_windows_are_smoothed_with_an_ema() -> None:
    estimator = SohEstimator(BatterySettings(soh_ema_alpha=0.5))
    feed(estimator, full_then_discharge(true_capacity_ah=90.0, current_a=-50.0))
    first = estimator.soh
    later = (r.replace(timestamp=r.timestamp.replace(month=2)) for r in full_then_discharge(true_capacity_ah=80.0))
    feed(estimator, later)
    assert first == pytest.approx(90.0, abs=0.2)
    assert estimator.samples == 2
    assert estimator.soh == pytest.approx(85.0, abs=0.2)  # halfway from 90 toward the new 80
    assert estimator.capacity_measured_ah == pytest.approx(80.0, abs=0.2)


def test_a_pack_above_its_rating_is_published_as_100() -> None:
    estimator = SohEstimator(SETTINGS)
    feed(estimator, full_then_discharge(true_capacity_ah=104.0, current_a=-52.0))
    assert estimator.soh == pytest.approx(104.0, abs=0.2)
    assert estimator.estimate == 100.0


def test_fills_soh_only_when_the_bms_gives_none() -> None:
    estimator = SohEstimator(SETTINGS)
    assert estimator.fill(reading(0)).soh is None
    feed(estimator, full_then_discharge(true_capacity_ah=90.0))
    filled = estimator.fill(reading(1))
    assert filled.soh == pytest.approx(90.0, abs=0.2)
    assert estimator.fill(reading(2, soh=97.0)).soh == 97.0


def test_soh_state_round_trip_does_not_resume_an_open_window() -> None:
    estimator = SohEstimator(SETTINGS)
    feed(estimator, full_then_discharge(true_capacity_ah=90.0))
    feed(estimator, [reading(99000, current=1.0, soc=100.0)])  # full again: a new window opens
    restored = SohEstimator.from_state(SETTINGS, estimator.to_state())
    assert (restored.soh, restored.capacity_measured_ah, restored.samples) == (
        estimator.soh,
        estimator.capacity_measured_ah,
        1,
    )
    assert estimator.window is not None and restored.window is None
