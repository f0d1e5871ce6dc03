"""Builders shared by the alerts tests: rules, observations and engines on a synthetic clock."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from trackingbms_alerts.engine import Engine, Observation, Policy
from trackingbms_alerts.lifecycle import Battery, Decision
from trackingbms_alerts.rules import Rule, build

from hub.reading import Alarm, AlarmLevel
from hub.storage.records import BatteryScope

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """T0 plus some seconds."""
    return T0 + timedelta(seconds=seconds)


def rule(**definition: Any) -> Rule:
    """A validated rule; a threshold on cell_max above 3.65 (clear 3.5, delay 10 s) by default."""
    base: dict[str, Any] = {
        "id": "cell-high",
        "name": {"en": "Cell high", "fr": "Cellule haute"},
        "kind": "threshold",
        "metric": "cell_max",
        "above": 3.65,
        "clear": 3.5,
        "delay": 10,
        "severity": "warning",
    }
    if definition.get("kind", "threshold") != "threshold":
        base = {k: base[k] for k in ("id", "name")}
    merged = {**base, **definition}
    return build({k: v for k, v in merged.items() if v is not None})  # None removes a default key


def engine(*rules: Rule, policy: Policy | None = None, batteries: tuple[Battery, ...] = ()) -> Engine:
    """An engine with predictable alert ids (a1, a2...) and the given batteries known at T0."""
    counter = itertools.count(1)
    result = Engine(rules, policy, new_id=lambda: f"a{next(counter)}")
    for battery in batteries or (Battery("one", "Pack one", BatteryScope("home", ("acme", "north"))),):
        result.add_battery(battery, T0)
    return result


def obs(seconds: float, battery: str = "one", state: str | None = None, **values: float | None) -> Observation:
    """An observation at T0 + seconds."""
    return Observation(battery, at(seconds), values, state=state, received=at(seconds))


def alarms(seconds: float, *codes: tuple[str, AlarmLevel], battery: str = "one") -> Observation:
    """An observation carrying BMS alarms (code, level)."""
    found = tuple(Alarm(code, code.replace("_", " ").capitalize(), level) for code, level in codes)
    return Observation(battery, at(seconds), {}, alarms=found, received=at(seconds))


def actions(decisions: list[Decision]) -> list[str]:
    """The actions of some decisions, in order."""
    return [d.action for d in decisions]


def feed(
    eng: Engine, metric: str, samples: Sequence[tuple[float, float | None]], battery: str = "one"
) -> list[Decision]:
    """Feed (seconds, value) samples; every decision, in order."""
    out: list[Decision] = []
    for seconds, value in samples:
        out += eng.observe(Observation(battery, at(seconds), {metric: value}, received=at(seconds)))
    return out
