"""The energy: config section: defaults, per-battery overrides, rejected values."""

from __future__ import annotations

import pytest
import voluptuous as vol
from trackingbms_energy.settings import CONFIG_SCHEMA, BatterySettings, EnergySettings, depth_of_discharge

from tests.plugins.trackingbms_energy.energy_synthetic import reading


def validate(section: object) -> EnergySettings:
    return EnergySettings.from_config(vol.Schema(CONFIG_SCHEMA)(section))


def test_an_empty_section_gives_the_documented_defaults() -> None:
    settings = validate({})
    assert settings.defaults == BatterySettings()
    assert (settings.save_interval_s, settings.save_every) == (60.0, 0)
    defaults = settings.for_battery("any")
    assert defaults.max_gap_s == 300.0 and defaults.full_cell_voltage == 3.55 and defaults.full_soc == 99.5
    assert defaults.capacity_ah is None and defaults.drift_blend_per_hour == 0.0 and defaults.soc_jump_pct == 0.0


def test_per_battery_overrides_apply_to_that_battery_only() -> None:
    settings = validate(
        {
            "tail_current_a": 3,
            "batteries": {"garage": {"capacity_ah": 280, "full_cell_voltage": 3.5}, "shed": {"full_soc": None}},
        }
    )
    garage, shed, other = (settings.for_battery(b) for b in ("garage", "shed", "other"))
    assert (garage.capacity_ah, garage.full_cell_voltage, garage.tail_current_a) == (280.0, 3.5, 3.0)
    assert shed.full_soc is None and shed.capacity_ah is None
    assert other == settings.defaults and other.tail_current_a == 3.0


@pytest.mark.parametrize(
    "section",
    [
        {"max_gap_s": 0},
        {"save_interval_s": -1},
        {"save_every": -2},
        {"full_soc": 120},
        {"soh_ema_alpha": 0},
        {"soh_min_dod_pct": 5},
        {"unknown": 1},
        {"batteries": {"garage": {"capacity_ah": -280}}},
        {"batteries": {"garage": {"save_interval_s": 5}}},  # saving is not per battery
    ],
)
def test_invalid_values_are_rejected(section: dict[str, object]) -> None:
    with pytest.raises(vol.Invalid):
        vol.Schema(CONFIG_SCHEMA)(section)


def test_depth_of_discharge_from_cells_then_soc() -> None:
    settings = BatterySettings()
    assert depth_of_discharge(reading(0, soc=30.0, cell_min=3.2), settings) == 70.0
    assert depth_of_discharge(reading(0, soc=30.0, cell_min=2.75), settings) == 100.0
    assert depth_of_discharge(reading(0, cell_min=3.2), settings) is None
    assert depth_of_discharge(reading(0, soc=5.0, cell_min=2.5), BatterySettings(empty_cell_voltage=None)) == 95.0
