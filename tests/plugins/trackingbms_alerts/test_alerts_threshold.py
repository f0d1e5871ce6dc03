"""The pure engine on threshold rules: hysteresis and delays never flap, genuine crossings always fire."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from trackingbms_alerts.lifecycle import Battery

from hub.storage.records import BatteryScope
from tests.plugins.trackingbms_alerts.alerts_synthetic import T0, actions, at, engine, feed, obs, rule


def test_a_crossing_held_for_the_delay_raises_once_and_clears_after_the_clear_delay() -> None:
    eng = engine(rule())
    raised = feed(eng, "cell_max", [(0, 3.60), (1, 3.70), (5, 3.71), (10, 3.69), (11, 3.72), (20, 3.70)])
    assert actions(raised) == ["raised"]
    alert = raised[0].alert
    assert alert.raised_at == at(11)  # held from t=1: 10 s reached at t=11
    assert (alert.value, alert.threshold, alert.metric, alert.severity) == (3.72, 3.65, "cell_max", "warning")
    assert alert.details["unit"] == "V" and alert.details["site_id"] == "home"
    assert alert.details["client_path"] == ["acme", "north"]
    # In the band (3.5 <= v < 3.65) nothing happens; below 3.5 for 10 s clears.
    cleared = feed(eng, "cell_max", [(30, 3.55), (40, 3.49), (45, 3.45), (49, 3.40), (50, 3.41)])
    assert actions(cleared) == ["cleared"]
    assert cleared[0].alert.cleared_at == at(50) and cleared[0].alert.id == alert.id
    assert cleared[0].alert.details["clear_value"] == 3.41
    assert not eng.open


def test_a_signal_oscillating_between_trigger_and_clear_levels_never_flaps() -> None:
    eng = engine(rule(delay=0))
    samples = [(i, 3.70 if i % 2 else 3.52) for i in range(200)]  # above trigger, then in the band
    assert actions(feed(eng, "cell_max", samples)) == ["raised"]  # raised once, never cleared
    eng2 = engine(rule())
    spikes = [(i, 3.70 if i % 3 == 0 else 3.60) for i in range(300)]  # each spike shorter than the delay
    assert feed(eng2, "cell_max", spikes) == []


def test_a_short_spike_resets_the_delay() -> None:
    eng = engine(rule())
    assert feed(eng, "cell_max", [(0, 3.7), (6, 3.7), (9, 3.6), (12, 3.7), (21, 3.7)]) == []
    assert actions(feed(eng, "cell_max", [(22, 3.7)])) == ["raised"]  # 10 s since t=12


def test_a_missing_value_is_no_evidence_and_restarts_the_count() -> None:
    eng = engine(rule())
    assert feed(eng, "cell_max", [(0, 3.7), (5, None), (11, 3.7), (20, 3.7)]) == []
    assert actions(feed(eng, "cell_max", [(21, 3.7)])) == ["raised"]


def test_below_rules_and_a_state_condition() -> None:
    eng = engine(rule(id="cold", metric="temperature_min", above=None, below=0, clear=2, delay=0, when="charging"))
    assert eng.observe(obs(0, state="discharging", temperature_min=-5)) == []
    raised = eng.observe(obs(1, state="charging", temperature_min=-5))
    assert actions(raised) == ["raised"] and "below" in raised[0].alert.message["en"]
    assert actions(eng.observe(obs(2, state="idle", temperature_min=-5))) == ["cleared"]  # no longer charging


def test_equal_levels_without_a_band_still_alternate() -> None:
    eng = engine(rule(clear=3.65, delay=0))
    got = feed(eng, "cell_max", [(0, 3.65), (1, 3.64), (2, 3.65), (3, 3.66)])
    assert actions(got) == ["raised", "cleared", "raised"]


def test_out_of_scope_batteries_are_not_watched_and_leaving_the_scope_closes() -> None:
    batteries = (
        Battery("one", "Pack one", BatteryScope("home", ("acme",))),
        Battery("two", "Two", BatteryScope("barn")),
    )
    eng = engine(rule(delay=0, scope={"clients": ["acme"]}), batteries=batteries)
    assert feed(eng, "cell_max", [(0, 3.9)], battery="two") == []
    assert actions(feed(eng, "cell_max", [(0, 3.9)], battery="one")) == ["raised"]
    eng.add_battery(Battery("one", "Pack one", BatteryScope("barn")), T0)  # moved to another site
    closed = feed(eng, "cell_max", [(1, 3.9)])
    assert actions(closed) == ["cleared"] and closed[0].alert.details["cleared_reason"] == "out_of_scope"


LEVELS = st.sampled_from([3.40, 3.49, 3.50, 3.55, 3.64, 3.65, 3.70, 3.80, None])


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(0.5, 15.0), LEVELS), min_size=1, max_size=80),
    delay=st.sampled_from([0.0, 5.0, 10.0, 30.0]),
    clear_delay=st.sampled_from([0.0, 3.0, 10.0]),
)
def test_property_raises_match_genuine_crossings_held_for_the_delay(
    steps: list[tuple[float, float | None]], delay: float, clear_delay: float
) -> None:
    """Checks each decision against the signal, and that every qualifying run did produce one."""
    eng = engine(rule(delay=delay, clear_delay=clear_delay))
    times, now = [], 0.0
    for dt, _ in steps:
        now += dt
        times.append(now)
    values = [v for _, v in steps]
    per_sample = [actions(eng.observe(obs(t, cell_max=v))) for t, v in zip(times, values, strict=True)]
    flat = [a for acts in per_sample for a in acts]
    assert all(len(acts) <= 1 for acts in per_sample)
    assert flat == ["raised", "cleared"] * (len(flat) // 2) + ["raised"] * (len(flat) % 2)  # never two open

    def run_start(i: int, holds: object) -> int:
        j = i
        while j > 0 and holds(values[j - 1]):  # type: ignore[operator]
            j -= 1
        return j

    def raising(v: float | None) -> bool:
        return v is not None and v >= 3.65

    def clearing(v: float | None) -> bool:
        return v is not None and v < 3.5

    is_open = False
    genuine_runs = 0
    for i, acts in enumerate(per_sample):
        if raising(values[i]) and (i == 0 or not raising(values[i - 1])):
            end = i
            while end + 1 < len(values) and raising(values[end + 1]):
                end += 1
            genuine_runs += times[end] - times[i] >= delay
            if not is_open and times[end] - times[i] >= delay:  # liveness: this run must raise
                assert "raised" in [a for acts2 in per_sample[i : end + 1] for a in acts2]
        if clearing(values[i]) and (i == 0 or not clearing(values[i - 1])) and is_open:
            end = i
            while end + 1 < len(values) and clearing(values[end + 1]):
                end += 1
            if times[end] - times[i] >= clear_delay:
                assert "cleared" in [a for acts2 in per_sample[i : end + 1] for a in acts2]
        if "raised" in acts:
            assert raising(values[i]) and times[i] - times[run_start(i, raising)] >= delay
            is_open = True
        if "cleared" in acts:
            assert clearing(values[i]) and times[i] - times[run_start(i, clearing)] >= clear_delay
            is_open = False
    assert flat.count("raised") <= genuine_runs
    assert len(eng.open) == (1 if is_open else 0)


@settings(max_examples=100, deadline=None)
@given(
    band=st.lists(st.floats(3.5, 3.6499), min_size=1, max_size=60),
    spikes=st.lists(st.integers(0, 59), max_size=20),
)
def test_property_a_signal_in_the_band_with_spikes_shorter_than_the_delay_never_raises(
    band: list[float], spikes: list[int]
) -> None:
    eng = engine(rule(delay=10))
    values = [3.9 if i in spikes and (i - 1) not in spikes else v for i, v in enumerate(band)]
    # One spike sample lasts 0 s (the next sample, 3 s later, is back in the band): never 10 s.
    assert feed(eng, "cell_max", [(i * 3.0, v) for i, v in enumerate(values)]) == []
