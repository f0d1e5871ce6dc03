"""The energy and cycle counters on synthetic readings with known answers; monotonic whatever the input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trackingbms_energy.counters import CycleCounter, EnergyCounter, reading_power
from trackingbms_energy.integrate import Interval, Skip, Trapezoid, split_trapezoid
from trackingbms_energy.settings import BatterySettings

from tests.plugins.trackingbms_energy.energy_synthetic import reading

SETTINGS = BatterySettings()


def feed(counter: EnergyCounter | CycleCounter, readings: list[tuple[float, float | None]], kind: str) -> None:
    for t, value in readings:
        counter.update(reading(t, power=value) if kind == "power" else reading(t, current=value))


def test_constant_power_for_one_hour_is_exact() -> None:
    charging = EnergyCounter(SETTINGS)
    feed(charging, [(t, 1000.0) for t in range(0, 3601, 10)], "power")
    assert charging.charged_kwh == pytest.approx(1.0, rel=1e-12)
    assert charging.discharged_kwh == 0.0

    discharging = EnergyCounter(SETTINGS)
    feed(discharging, [(t, -2500.0) for t in range(0, 3601, 1)], "power")
    assert discharging.discharged_kwh == pytest.approx(2.5, rel=1e-12)
    assert discharging.charged_kwh == 0.0


def test_linear_ramp_uses_the_trapezoid_rule() -> None:
    counter = EnergyCounter(SETTINGS)
    feed(counter, [(0, 0.0), (60, 600.0), (120, 1200.0)], "power")  # the mean power is 600 W for 2 min
    assert counter.charged_kwh == pytest.approx(600 * 120 / 3600 / 1000)


def test_voltage_times_current_when_the_driver_gives_no_power() -> None:
    assert reading_power(reading(0, voltage=52.0, current=-10.0)) == pytest.approx(-520.0)
    assert reading_power(reading(0, voltage=52.0, current=-10.0, power=-500.0)) == -500.0
    assert reading_power(reading(0, voltage=52.0)) is None
    counter = EnergyCounter(SETTINGS)
    for t in range(0, 3601, 60):
        counter.update(reading(t, voltage=50.0, current=-20.0))
    assert counter.discharged_kwh == pytest.approx(1.0)


def test_a_sign_change_is_split_at_the_zero_crossing() -> None:
    counter = EnergyCounter(SETTINGS)
    feed(counter, [(0, 1000.0), (72, -1000.0)], "power")  # crosses zero after 36 s
    assert counter.charged_kwh == pytest.approx(1000 * 36 / 2 / 3600 / 1000)
    assert counter.discharged_kwh == pytest.approx(counter.charged_kwh)
    assert split_trapezoid(-3.0, 1.0, 4.0) == pytest.approx((0.5, 4.5))
    assert split_trapezoid(2.0, 4.0, 1.0) == (3.0, 0.0)
    assert split_trapezoid(-2.0, -4.0, 1.0) == (0.0, 3.0)


def test_gaps_longer_than_max_gap_are_not_integrated() -> None:
    counter = EnergyCounter(BatterySettings(max_gap_s=300))
    feed(counter, [(0, 3600.0), (60, 3600.0), (1000, 3600.0), (1060, 3600.0)], "power")
    assert counter.charged_kwh == pytest.approx(3.6 * 120 / 3600)  # twice 60 s, not the 940 s outage


def test_duplicate_and_backward_timestamps_are_ignored() -> None:
    counter = EnergyCounter(SETTINGS)
    feed(counter, [(0, 1800.0), (60, 1800.0), (60, 99999.0), (30, 99999.0), (120, 1800.0)], "power")
    assert counter.charged_kwh == pytest.approx(1.8 * 120 / 3600)


def test_a_missing_value_restarts_the_integration() -> None:
    counter = EnergyCounter(SETTINGS)
    feed(counter, [(0, 3600.0), (60, None), (120, 3600.0), (180, 3600.0)], "power")
    assert counter.charged_kwh == pytest.approx(3.6 * 60 / 3600)


def test_trapezoid_says_why_a_sample_added_nothing() -> None:
    trapezoid = Trapezoid(max_gap_s=10)

    def skipped(t: float, value: float) -> Skip | None:
        assert trapezoid.step(t, value) is None
        return trapezoid.skipped

    assert skipped(0, 1.0) == Skip.START
    assert skipped(0, 2.0) == Skip.STALE
    assert skipped(20, 2.0) == Skip.GAP
    assert skipped(21, float("nan")) == Skip.MISSING
    assert skipped(22, 2.0) == Skip.START
    interval = trapezoid.step(25.6, 2.0)
    assert isinstance(interval, Interval) and trapezoid.skipped is None
    assert (interval.hours, interval.positive, interval.negative) == pytest.approx((0.001, 0.002, 0.0))
    crossing = trapezoid.step(29.2, -2.0)  # 2 → -2: half above zero, half below
    assert crossing is not None and (crossing.positive, crossing.negative) == pytest.approx((0.0005, 0.0005))


SAMPLES = st.lists(
    st.tuples(
        st.floats(min_value=-200, max_value=1000, allow_nan=False),  # seconds since the previous sample
        st.one_of(st.none(), st.floats(min_value=-20000, max_value=20000, allow_nan=False)),  # watts
    ),
    max_size=60,
)


@given(SAMPLES)
def test_energy_counters_never_decrease_and_conserve_net_energy(samples: list[tuple[float, float | None]]) -> None:
    counter = EnergyCounter(BatterySettings(max_gap_s=300))
    offset, net_wh = 0.0, 0.0
    last: tuple[float, float] | None = None  # a reference integration, written the plain way
    for step, power in samples:
        offset += step
        sample = reading(offset, power=power)
        t = sample.timestamp.timestamp()
        charged, discharged = counter.charged_kwh, counter.discharged_kwh
        counter.update(sample)
        assert counter.charged_kwh >= charged and counter.discharged_kwh >= discharged
        if power is None:
            last = None
        elif last is None or t > last[0]:
            if last is not None and t - last[0] <= 300:
                net_wh += (last[1] + power) / 2 * (t - last[0]) / 3600
            last = (t, power)
    assert counter.charged_kwh - counter.discharged_kwh == pytest.approx(net_wh / 1000, abs=1e-9)


def test_energy_state_round_trip_and_validation() -> None:
    counter = EnergyCounter(SETTINGS)
    feed(counter, [(t, 1000.0) for t in range(0, 3601, 60)], "power")
    restored = EnergyCounter.from_state(SETTINGS, counter.to_state())
    assert (
        restored.values()
        == counter.values()
        == {"energy_charged_kwh": pytest.approx(1.0), "energy_discharged_kwh": 0.0}
    )
    assert EnergyCounter.from_state(SETTINGS, None).values()["energy_charged_kwh"] == 0.0
    for bad in ({"charged_kwh": -1.0}, {"charged_kwh": "3"}, {"discharged_kwh": float("inf")}):
        with pytest.raises(ValueError, match="non-negative"):
            EnergyCounter.from_state(SETTINGS, bad)


def test_equivalent_cycles_are_discharged_ah_over_capacity() -> None:
    counter = CycleCounter(SETTINGS)
    for t in range(0, 4 * 3600 + 1, 30):  # 50 A out for 4 h: 200 Ah from a 100 Ah pack
        counter.update(reading(t, current=-50.0))
    for t in range(4 * 3600 + 30, 6 * 3600, 30):  # charging adds no cycles
        counter.update(reading(t, current=40.0))
    assert counter.discharged_ah == pytest.approx(200.0, rel=1e-3)
    assert counter.values() == {"equivalent_cycles": pytest.approx(2.0, rel=1e-3)}


def test_cycles_use_the_configured_capacity_and_survive_a_restart() -> None:
    counter = CycleCounter(BatterySettings(capacity_ah=280.0))
    for t in range(0, 3600 + 1, 60):
        counter.update(reading(t, current=-140.0, rated=100.0))  # the configured 280 Ah wins
    assert counter.cycles == pytest.approx(0.5)
    restored = CycleCounter.from_state(counter.settings, counter.to_state())
    assert (restored.cycles, restored.discharged_ah) == (counter.cycles, counter.discharged_ah)


def test_cycles_wait_for_a_known_capacity() -> None:
    counter = CycleCounter(SETTINGS)
    for t in range(0, 3601, 60):
        counter.update(reading(t, current=-10.0, rated=None))
    assert counter.cycles == 0.0 and counter.discharged_ah == pytest.approx(10.0)
