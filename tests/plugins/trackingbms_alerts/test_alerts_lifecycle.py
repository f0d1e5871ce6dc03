"""The lifecycle in the pure engine: acknowledge, reminders, quiet hours, maintenance, rule changes, restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from trackingbms_alerts.engine import AlreadyAcknowledgedError, Policy
from trackingbms_alerts.lifecycle import Battery
from trackingbms_alerts.settings import Settings
from trackingbms_alerts.windows import Calendar, Window

from hub.storage.records import BatteryScope
from tests.plugins.trackingbms_alerts.alerts_synthetic import T0, actions, at, engine, feed, rule


def raise_one(eng: object, seconds: float = 0) -> str:
    got = feed(eng, "cell_max", [(seconds, 3.9), (seconds + 10, 3.9)])  # type: ignore[arg-type]
    assert actions(got) == ["raised"]
    return got[0].alert.id


def test_acknowledge_then_clear() -> None:
    eng = engine(rule())
    alert_id = raise_one(eng)
    ack = eng.acknowledge(alert_id, "ann", "on my way", at(20))
    assert ack is not None and ack.action == "acknowledged" and ack.publish
    assert (ack.alert.state, ack.alert.acknowledged_by, ack.alert.comment) == ("acknowledged", "ann", "on my way")
    assert ack.alert.acknowledged_at == at(20)
    with pytest.raises(AlreadyAcknowledgedError):
        eng.acknowledge(alert_id, "bob", None, at(21))
    assert eng.acknowledge("nope", "ann", None, at(21)) is None
    cleared = feed(eng, "cell_max", [(30, 3.3), (40, 3.3)])
    assert actions(cleared) == ["cleared"]
    assert cleared[0].alert.state == "cleared" and cleared[0].alert.acknowledged_by == "ann"
    assert eng.acknowledge(alert_id, "ann", None, at(50)) is None  # cleared: no longer open


def test_reminders_repeat_while_raised_and_stop_once_acknowledged() -> None:
    eng = engine(rule(), policy=Policy(reminder_interval=600))
    alert_id = raise_one(eng)  # raised at t=10
    assert eng.tick(at(600)) == []
    first = eng.tick(at(611))
    assert actions(first) == ["reminder"] and first[0].reminder and first[0].publish
    assert first[0].alert.details["reminders"] == 1
    assert eng.tick(at(900)) == []
    assert actions(eng.tick(at(1212))) == ["reminder"]
    eng.acknowledge(alert_id, "ann", None, at(1300))
    assert eng.tick(at(5000)) == []  # acknowledged alerts are not reminded by default
    keen = engine(rule(), policy=Policy(reminder_interval=600, remind_acknowledged=True))
    keen_id = raise_one(keen)
    keen.acknowledge(keen_id, "ann", None, at(20))
    assert actions(keen.tick(at(700))) == ["reminder"]


def test_a_rule_may_set_its_own_reminder_interval_or_none() -> None:
    eng = engine(rule(reminder_interval=60), policy=Policy(reminder_interval=3600))
    raise_one(eng)
    assert actions(eng.tick(at(71))) == ["reminder"]
    quiet = engine(rule(reminder_interval=0), policy=Policy(reminder_interval=60))
    raise_one(quiet)
    assert quiet.tick(at(10_000)) == []


NIGHT = Window(start="22:00", end="07:00", timezone="UTC")  # T0 is 12:00 UTC


def night(seconds_after_22h: float) -> float:
    return 10 * 3600 + seconds_after_22h  # seconds from T0 (12:00) to 22:00 plus some


def test_quiet_hours_store_alerts_but_hold_non_critical_events_until_they_end() -> None:
    eng = engine(
        rule(), rule(id="cell-crit", above=3.8, clear=3.6, severity="critical"), policy=Policy(Calendar((NIGHT,)))
    )
    got = feed(eng, "cell_max", [(night(60), 3.9), (night(70), 3.9)])
    by_rule = {d.alert.rule_id: d for d in got}
    assert not by_rule["cell-high"].publish and by_rule["cell-high"].alert.details["held"]
    assert by_rule["cell-crit"].publish  # critical alerts are never held
    assert eng.tick(at(night(3600))) == []  # still night
    released = eng.tick(at(night(9 * 3600 + 1)))  # 07:00:01
    assert actions(released) == ["released"] and released[0].publish
    assert released[0].alert.rule_id == "cell-high" and not released[0].alert.details["held"]
    assert eng.tick(at(night(9 * 3600 + 2))) == []  # published once


def test_an_alert_that_clears_during_quiet_hours_is_never_announced() -> None:
    eng = engine(rule(), policy=Policy(Calendar((NIGHT,))))
    raise_one(eng, night(60))
    cleared = feed(eng, "cell_max", [(night(100), 3.0), (night(110), 3.0)])
    assert actions(cleared) == ["cleared"] and not cleared[0].publish
    assert eng.tick(at(night(10 * 3600))) == []


def test_an_alert_acknowledged_during_quiet_hours_is_not_announced_again() -> None:
    eng = engine(rule(), policy=Policy(Calendar((NIGHT,))))
    alert_id = raise_one(eng, night(60))
    assert eng.acknowledge(alert_id, "ann", None, at(night(120))).publish  # type: ignore[union-attr]
    assert eng.tick(at(night(10 * 3600))) == []


def test_reminders_wait_for_the_end_of_quiet_hours() -> None:
    eng = engine(rule(), policy=Policy(Calendar((NIGHT,)), reminder_interval=600))
    raise_one(eng, night(-7200))  # raised at 20:00, announced
    assert eng.tick(at(night(3600))) == []  # 23:00: due, but quiet
    assert actions(eng.tick(at(night(9 * 3600 + 5)))) == ["reminder"]  # 07:00:05


def test_maintenance_suppresses_raising_for_its_scope_only_and_a_held_condition_raises_after() -> None:
    window = Window(scope={"sites": ["home"]}, begins=at(0), until=at(3600), reason="cell swap")
    batteries = (Battery("one", "One", BatteryScope("home")), Battery("two", "Two", BatteryScope("barn")))
    eng = engine(rule(delay=0), policy=Policy(Calendar(maintenance=(window,))), batteries=batteries)
    assert feed(eng, "cell_max", [(10, 3.9), (1800, 3.9)], battery="one") == []
    assert actions(feed(eng, "cell_max", [(10, 3.9)], battery="two")) == ["raised"]
    assert actions(feed(eng, "cell_max", [(3600, 3.9)], battery="one")) == ["raised"]  # window over


def test_no_reminders_during_maintenance() -> None:
    window = Window(begins=at(100), until=at(5000))
    eng = engine(rule(), policy=Policy(Calendar(maintenance=(window,)), reminder_interval=60))
    raise_one(eng)
    assert eng.tick(at(1000)) == []
    assert actions(eng.tick(at(5001))) == ["reminder"]


@pytest.mark.parametrize(
    ("window", "moment", "active"),
    [
        (NIGHT, datetime(2026, 6, 1, 23, 0, tzinfo=UTC), True),
        (NIGHT, datetime(2026, 6, 2, 6, 59, tzinfo=UTC), True),
        (NIGHT, datetime(2026, 6, 2, 7, 0, tzinfo=UTC), False),
        (NIGHT, datetime(2026, 6, 1, 21, 59, tzinfo=UTC), False),
        # 2026-06-01 is a Monday: a window on Mondays only covers Tuesday early morning, not Monday's.
        (
            Window(start="22:00", end="07:00", days=("mon",), timezone="UTC"),
            datetime(2026, 6, 2, 3, 0, tzinfo=UTC),
            True,
        ),
        (
            Window(start="22:00", end="07:00", days=("mon",), timezone="UTC"),
            datetime(2026, 6, 1, 3, 0, tzinfo=UTC),
            False,
        ),
        (Window(start="09:00", end="17:00", days=("sat", "sun"), timezone="UTC"), T0, False),
        # Paris is UTC+2 in June: 21:30 UTC is 23:30 local.
        (Window(start="23:00", end="23:59", timezone="Europe/Paris"), datetime(2026, 6, 1, 21, 30, tzinfo=UTC), True),
        (Window(start="00:00", end="24:00", timezone="UTC"), T0, True),
    ],
)
def test_window_times_days_and_zones(window: Window, moment: datetime, active: bool) -> None:
    assert window.active(moment) is active


def test_removing_or_disabling_a_rule_closes_its_alerts_and_a_change_keeps_them_open() -> None:
    eng = engine(rule())
    raise_one(eng)
    assert eng.set_rules([rule(above=3.95, clear=3.5)], at(20)) == []  # changed: still open
    assert actions(feed(eng, "cell_max", [(30, 3.9)])) == []  # in the new band: no clear, no raise
    closed = eng.set_rules([rule(above=3.95, enabled=False)], at(40))
    assert actions(closed) == ["cleared"] and closed[0].alert.details["cleared_reason"] == "rule_disabled"
    assert "was disabled" in closed[0].alert.details["clear_message"]["en"]
    eng.set_rules([rule()], at(50))
    raise_one(eng, 60)
    removed = eng.set_rules([], at(80))
    assert actions(removed) == ["cleared"] and removed[0].alert.details["cleared_reason"] == "rule_removed"


def test_open_alerts_taken_over_after_a_restart_are_never_raised_twice() -> None:
    first = engine(rule(delay=0))
    raised = feed(first, "cell_max", [(0, 3.9)])
    second = engine(rule(delay=0))
    second.adopt([raised[0].alert])
    assert feed(second, "cell_max", [(100 + i, 3.9) for i in range(20)]) == []
    cleared = feed(second, "cell_max", [(200, 3.0), (210, 3.0)])
    assert actions(cleared) == ["cleared"] and cleared[0].alert.id == raised[0].alert.id


def test_orphan_alerts_close_only_when_asked() -> None:
    first = engine(rule(delay=0))
    alert = feed(first, "cell_max", [(0, 3.9)])[0].alert
    keep = engine()
    keep.adopt([alert])
    assert keep.set_rules([], at(5)) == []  # the rule may come back once its file is fixed
    close = engine()
    close.adopt([alert])
    assert actions(close.set_rules([], at(5), close_orphans=True)) == ["cleared"]


def test_settings_build_the_calendar_from_the_config_section() -> None:
    settings = Settings.from_config(
        {
            "reminder_interval": "30m",
            "timezone": "Europe/Paris",
            "quiet_hours": [{"start": "22:00", "end": "07:00", "scope": {"sites": ["home"]}}],
            "maintenance": [{"from": "2026-06-01T08:00:00Z", "until": "2026-06-01T12:00:00Z", "reason": "swap"}],
        }
    )
    policy = settings.policy()
    assert policy.reminder_interval == 1800
    home = BatteryScope("home")
    assert policy.calendar.holds("one", home, "warning", datetime(2026, 6, 1, 21, 0, tzinfo=UTC))  # 23:00 Paris
    assert not policy.calendar.holds("one", BatteryScope("barn"), "warning", datetime(2026, 6, 1, 21, 0, tzinfo=UTC))
    assert not policy.calendar.holds("one", home, "critical", datetime(2026, 6, 1, 21, 0, tzinfo=UTC))
    assert policy.calendar.in_maintenance("x", BatteryScope(), T0 - timedelta(hours=1))
    assert not policy.calendar.in_maintenance("x", BatteryScope(), T0)
