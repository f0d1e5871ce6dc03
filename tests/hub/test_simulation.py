"""Tests for the simulated battery pack, driven by an injected clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.simulation import PackModel, PackSnapshot, ocv


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def constant(amperes: float) -> Callable[[float], float]:
    return lambda _elapsed: amperes


def make_pack(clock: FakeClock, current: float, **kwargs: float | int) -> PackModel:
    return PackModel(
        **{"cells": 4, "temps": 2, "capacity_ah": 100.0, "seed": 3, **kwargs},  # type: ignore[arg-type]
        clock=clock,
        current_profile=constant(current),
    )


def run(pack: PackModel, clock: FakeClock, seconds: float, step: float = 60.0) -> list[PackSnapshot]:
    """Advance the clock in steps, taking a snapshot after each."""
    snapshots = []
    elapsed = 0.0
    while elapsed < seconds:
        clock.now += step
        elapsed += step
        snapshots.append(pack.snapshot())
    return snapshots


def test_soc_rises_while_charging() -> None:
    clock = FakeClock()
    pack = make_pack(clock, 50.0, soc=20.0)
    assert pack.snapshot().soc == 20.0  # no time has passed yet
    snapshots = run(pack, clock, 3600)
    socs = [s.soc for s in snapshots]
    assert socs == sorted(socs)
    assert socs[0] > 20.0
    # 50 A for one hour into 100 Ah is +50 %.
    assert socs[-1] == pytest.approx(70.0, abs=0.11)
    assert all(s.current == 50.0 for s in snapshots)


def test_soc_falls_while_discharging() -> None:
    clock = FakeClock()
    pack = make_pack(clock, -25.0, soc=80.0)
    snapshots = run(pack, clock, 3600)
    socs = [s.soc for s in snapshots]
    assert socs == sorted(socs, reverse=True)
    assert socs[-1] == pytest.approx(55.0, abs=0.11)
    assert snapshots[-1].remaining_capacity_ah == pytest.approx(55.0, abs=0.11)
    assert all(s.current == -25.0 for s in snapshots)


def test_soc_does_not_move_without_current() -> None:
    clock = FakeClock()
    pack = make_pack(clock, 0.0, soc=42.0)
    assert {s.soc for s in run(pack, clock, 600)} == {42.0}


def test_charge_mosfet_off_stops_charging() -> None:
    clock = FakeClock()
    pack = make_pack(clock, 50.0, soc=30.0)
    pack.charge_mos = False
    snapshots = run(pack, clock, 3600)
    assert {s.current for s in snapshots} == {0.0}
    assert {s.soc for s in snapshots} == {30.0}
    assert snapshots[-1].charge_mos is False


def test_discharge_mosfet_off_stops_discharging_but_not_charging() -> None:
    clock = FakeClock()
    pack = make_pack(clock, -30.0, soc=50.0)
    pack.discharge_mos = False
    assert {s.current for s in run(pack, clock, 600)} == {0.0}

    charging_clock = FakeClock()
    charging = make_pack(charging_clock, 30.0, soc=50.0)
    charging.discharge_mos = False
    snapshots = run(charging, charging_clock, 600)
    assert snapshots[-1].current == 30.0
    assert snapshots[-1].soc > 50.0


def test_full_pack_stops_taking_charge_and_empty_pack_stops_giving() -> None:
    clock = FakeClock()
    full = make_pack(clock, 50.0, soc=99.0)
    snapshots = run(full, clock, 3600)
    assert snapshots[-1].soc == 100.0
    assert snapshots[-1].current == 0.0

    empty_clock = FakeClock()
    empty = make_pack(empty_clock, -50.0, soc=1.0)
    snapshots = run(empty, empty_clock, 3600)
    assert snapshots[-1].soc == 0.0
    assert snapshots[-1].current == 0.0


def test_set_soc_recalibrates() -> None:
    clock = FakeClock()
    pack = make_pack(clock, 0.0, soc=10.0)
    pack.set_soc(90.0)
    assert pack.snapshot().soc == 90.0


def test_ocv_is_monotonic_and_clamped() -> None:
    values = [ocv(step / 10) for step in range(1001)]
    assert values == sorted(values)
    assert ocv(0) == pytest.approx(2.50)
    assert ocv(100) == pytest.approx(3.55)
    assert ocv(50) == pytest.approx(3.29)
    assert ocv(-20) == ocv(0)
    assert ocv(140) == ocv(100)


@given(st.floats(-10, 110), st.floats(-10, 110))
def test_ocv_never_decreases_with_soc(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert ocv(low) <= ocv(high)


@pytest.mark.parametrize(("cells", "temps"), [(1, 0), (4, 1), (16, 2), (48, 16)])
def test_cell_and_sensor_counts_are_honoured(cells: int, temps: int) -> None:
    clock = FakeClock()
    pack = PackModel(cells=cells, temps=temps, soc=50.0, seed=7, clock=clock, current_profile=constant(0.0))
    snapshot = pack.snapshot()
    assert len(snapshot.cell_voltages) == cells
    assert len(snapshot.temperatures) == temps
    assert snapshot.voltage == pytest.approx(sum(snapshot.cell_voltages))
    # At rest every cell sits on the LFP open-circuit curve, within the manufacturing spread.
    assert all(abs(v - ocv(50.0)) < 0.01 for v in snapshot.cell_voltages)


def test_charging_lifts_cell_voltage_above_discharging() -> None:
    charge_clock, discharge_clock = FakeClock(), FakeClock()
    charging = make_pack(charge_clock, 100.0, soc=50.0, seed=1)
    discharging = make_pack(discharge_clock, -100.0, soc=50.0, seed=1)
    charge_clock.now += 1
    discharge_clock.now += 1
    assert charging.snapshot().voltage > discharging.snapshot().voltage


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cells": 0}, "cells"),
        ({"cells": 49}, "cells"),
        ({"temps": -1}, "temps"),
        ({"temps": 17}, "temps"),
    ],
)
def test_invalid_pack_shapes_are_rejected(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PackModel(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("soc", [-0.1, 100.1])
def test_set_soc_rejects_values_outside_0_100(soc: float) -> None:
    pack = PackModel(cells=4, temps=1, clock=FakeClock())
    with pytest.raises(ValueError, match="soc"):
        pack.set_soc(soc)
