"""The pure engine on rate-of-change, freshness (stale) and BMS alarm rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trackingbms_alerts.conditions import Slope

from hub.reading import AlarmLevel
from tests.plugins.trackingbms_alerts.alerts_synthetic import T0, actions, alarms, at, engine, feed, obs, rule

WARN, ALARM = AlarmLevel.WARNING, AlarmLevel.ALARM


def rate_rule(**changes: object) -> object:
    base = {"kind": "rate", "id": "heating", "metric": "temperature_max", "above": 2.0, "clear": 0.5}
    return rule(**{**base, "window": 120, "per": "min", "delay": 0, **changes})


def test_slope_is_the_least_squares_rate_once_half_the_window_is_covered() -> None:
    slope = Slope(window=60)
    assert slope.add(at(0), 20.0) is None
    assert slope.add(at(10), 20.5) is None  # 10 s < half the window
    assert slope.add(at(30), 21.5) == pytest.approx(0.05)
    assert slope.add(at(80), 24.0) == pytest.approx((24.0 - 21.5) / 50)  # t=0 and t=10 left the window
    assert slope.add(at(70), 30.0) is None  # time went back: start over


def test_a_temperature_rising_faster_than_the_limit_raises_and_a_steady_one_clears() -> None:
    eng = engine(rate_rule())  # type: ignore[arg-type]
    rising = [(t, 25.0 + 3.0 * t / 60) for t in range(0, 121, 5)]  # +3 °C/min
    got = feed(eng, "temperature_max", rising)
    assert actions(got) == ["raised"]
    alert = got[0].alert
    assert alert.raised_at == at(60)  # the first sample with half the window covered
    assert alert.value == pytest.approx(3.0) and alert.threshold == 2.0
    assert alert.details["unit"] == "°C/min" and alert.kind == "rate"
    assert "+3.00 °C/min" in alert.message["en"] and "+3,00 °C/min" in alert.message["fr"]
    flat = [(t, 31.0) for t in range(125, 400, 5)]
    assert actions(feed(eng, "temperature_max", flat)) == ["cleared"]


def test_noise_around_a_flat_temperature_never_raises() -> None:
    eng = engine(rate_rule())  # type: ignore[arg-type]
    noisy = [(t, 25.0 + (0.1 if t % 10 else -0.1)) for t in range(0, 1200, 5)]
    assert feed(eng, "temperature_max", noisy) == []


@settings(max_examples=60, deadline=None)
@given(slope=st.floats(-10, 10), noise=st.lists(st.floats(-0.05, 0.05), min_size=30, max_size=30))
def test_property_the_rate_rule_raises_exactly_when_the_sustained_rate_is_beyond_the_limit(
    slope: float, noise: list[float]
) -> None:
    eng = engine(rate_rule(above=None, below=-2.0, clear=-1.0))  # type: ignore[arg-type]
    got = feed(eng, "temperature_max", [(i * 10.0, 20 + slope * i * 10 / 60 + n) for i, n in enumerate(noise)])
    if slope <= -2.2:
        assert actions(got) == ["raised"]
    elif slope >= -1.8:
        assert got == []


def test_no_reading_for_longer_than_after_raises_stale_and_a_reading_clears_it() -> None:
    eng = engine(rule(kind="stale", id="silent", after=60, severity="critical"))
    eng.observe(obs(0, cell_max=3.3))
    assert eng.tick(at(59)) == []
    got = eng.tick(at(61))
    assert actions(got) == ["raised"]
    alert = got[0].alert
    assert (alert.kind, alert.value, alert.threshold, alert.details["unit"]) == ("stale", 61.0, 60.0, "s")
    assert "no reading for 61 s" in alert.message["en"] and "aucune mesure depuis 61 s" in alert.message["fr"]
    assert eng.tick(at(120)) == []  # one open alert, not one per tick
    cleared = eng.observe(obs(130, cell_max=3.3))
    assert actions(cleared) == ["cleared"] and "again" in cleared[0].alert.details["clear_message"]["en"]


def test_stale_counts_from_when_a_battery_became_known_and_respects_sleep_and_stop() -> None:
    eng = engine(rule(kind="stale", id="silent", after=60))  # battery "one" known at T0, no reading yet
    assert actions(eng.tick(at(61))) == ["raised"]
    asleep = engine(rule(kind="stale", id="silent", after=60))
    asleep.link_changed("one", "asleep", T0)
    assert asleep.tick(at(100)) == []  # a sleeping BMS is expected to be silent
    awake = engine(rule(kind="stale", id="silent", after=60, include_asleep=True))
    awake.link_changed("one", "asleep", T0)
    assert actions(awake.tick(at(100))) == ["raised"]
    stopped = engine(rule(kind="stale", id="silent", after=60))
    stopped.link_changed("one", "stopped", T0)
    assert stopped.tick(at(1000)) == []


def test_bms_alarm_bits_become_alerts_by_level_and_clear_when_the_bit_goes() -> None:
    eng = engine(rule(kind="bms_alarm", id="bms"))
    got = eng.observe(alarms(0, ("soc_low", WARN), ("cell_voltage_high", ALARM)))
    assert sorted(actions(got)) == ["raised", "raised"]
    by_rule = {d.alert.rule_id: d.alert for d in got}
    low, high = by_rule["bms:soc_low:warning"], by_rule["bms:cell_voltage_high:alarm"]
    assert (low.severity, high.severity) == ("warning", "critical")
    assert low.message == {"en": "Pack one: BMS warning: Soc low", "fr": "Pack one : avertissement du BMS : SOC bas"}
    assert high.message["fr"] == "Pack one : alarme du BMS : tension de cellule haute"
    assert low.details["alarm"] == {"code": "soc_low", "level": "warning", "text": "Soc low"}
    assert eng.observe(alarms(5, ("soc_low", WARN), ("cell_voltage_high", ALARM))) == []  # still active
    # The warning escalates to the alarm level: a second, critical alert; the warning bit clears.
    got = eng.observe(alarms(10, ("soc_low", ALARM), ("cell_voltage_high", ALARM)))
    assert sorted((d.action, d.alert.rule_id) for d in got) == [
        ("cleared", "bms:soc_low:warning"),
        ("raised", "bms:soc_low:alarm"),
    ]
    cleared = eng.observe(alarms(15))
    assert sorted(actions(cleared)) == ["cleared", "cleared"]
    assert cleared[0].alert.details["clear_message"]["en"].startswith("Pack one: BMS alarm cleared:")
    assert not eng.open


def test_bms_alarm_filters_and_delay() -> None:
    eng = engine(rule(kind="bms_alarm", id="bms", codes=["soc_low"], levels=["alarm"], delay=10))
    assert eng.observe(alarms(0, ("soc_low", ALARM), ("cell_voltage_high", ALARM), ("soc_low", WARN))) == []
    assert eng.observe(alarms(3)) == []  # went away before the delay: no alert
    assert eng.observe(alarms(5, ("soc_low", ALARM))) == []
    got = eng.observe(alarms(15, ("soc_low", ALARM)))
    assert [d.alert.rule_id for d in got] == ["bms:soc_low:alarm"]
    assert set(eng.open) == {("bms:soc_low:alarm", "one")}


def test_analytics_values_can_be_watched() -> None:
    eng = engine(rule(id="worn", metric="soh_estimate", above=None, below=80, clear=82, delay=0))
    got = eng.observe(obs(0, soh_estimate=79.5))
    assert actions(got) == ["raised"] and "estimated state of health" in got[0].alert.message["en"]
    assert eng.observe(obs(1, soh_estimate=None)) == []
    assert eng.observe(obs(2)) == []  # no analytics yet: no evidence
