"""The rules engine: pure (no I/O, no clock of its own); fed observations and times, it answers decisions."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.reading import Alarm
from hub.storage.records import AlertRecord, parse_iso
from trackingbms_alerts import lifecycle, messages
from trackingbms_alerts.conditions import Hysteresis, Slope, levels
from trackingbms_alerts.lifecycle import Battery, Decision, base_rule
from trackingbms_alerts.rules import PER_SECONDS, Rule
from trackingbms_alerts.windows import Calendar, in_scope

Key = tuple[str, str]  # (alert rule id, battery id)


@dataclass(frozen=True, slots=True)
class Observation:
    """One processed reading as the engine sees it: metric values, BMS alarms and the pack's state.

    ``received`` is when the hub got it (wall clock; freshness is measured on it), ``time`` the
    reading's own timestamp (conditions and their delays are measured on it)."""

    battery_id: str
    time: datetime
    values: Mapping[str, float | None] = field(default_factory=dict)
    alarms: tuple[Alarm, ...] = ()
    state: str | None = None
    received: datetime | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """What shapes the lifecycle beyond the rules: quiet hours, maintenance, reminders."""

    calendar: Calendar = field(default_factory=Calendar)
    reminder_interval: float = 0.0  # seconds; 0 = no reminders
    remind_acknowledged: bool = False


class AlreadyAcknowledgedError(Exception):
    """The alert was acknowledged before."""


class Engine:
    """Evaluates rules on observations and timer ticks; keeps the open alerts (one per rule and battery)."""

    def __init__(
        self,
        rules: Iterable[Rule] = (),
        policy: Policy | None = None,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.rules: dict[str, Rule] = {r.id: r for r in rules}
        self.policy = policy or Policy()
        self.batteries: dict[str, Battery] = {}
        self.open: dict[Key, AlertRecord] = {}
        self.seen: dict[str, datetime] = {}  # when each tracked battery last sent a reading
        self.links: dict[str, str] = {}
        self._new_id = new_id
        self._trackers: dict[Key, Hysteresis] = {}
        self._slopes: dict[Key, Slope] = {}

    # -- batteries and stored alerts -------------------------------------------------------------

    def add_battery(self, battery: Battery, now: datetime) -> None:
        """Know a battery (name, place); its freshness counts from ``now`` until a reading arrives."""
        self.batteries[battery.id] = battery
        self.seen.setdefault(battery.id, now)

    def battery(self, battery_id: str) -> Battery:
        """A known battery, or a bare one named after its id."""
        return self.batteries.get(battery_id) or Battery(battery_id, battery_id)

    def adopt(self, records: Iterable[AlertRecord]) -> None:
        """Take over open alerts (from storage at start, or from a previous engine)."""
        for record in records:
            if record.open:
                self.open[(record.rule_id, record.battery_id)] = record

    def find(self, alert_id: str) -> AlertRecord | None:
        """An open alert by id."""
        return next((r for r in self.open.values() if r.id == alert_id), None)

    def replace(self, record: AlertRecord) -> None:
        """Put a stored version of an open alert in place of the engine's own (same rule and battery)."""
        self.open[(record.rule_id, record.battery_id)] = record

    # -- rules ------------------------------------------------------------------------------------

    def set_rules(self, rules: Iterable[Rule], now: datetime, close_orphans: bool = False) -> list[Decision]:
        """Replace the rule set; a removed or disabled rule closes its open alerts, a changed rule
        starts its conditions again (its open alerts stay open until the new rule clears them).
        ``close_orphans`` also closes open alerts of rules that are not known at all."""
        new = {r.id: r for r in rules}
        for rule_id, rule in self.rules.items():
            if rule_id not in new or new[rule_id].definition != rule.definition:
                self._forget(rule_id)
        decisions: list[Decision] = []
        for key, record in list(self.open.items()):
            rule_id = base_rule(key[0])
            current, old = new.get(rule_id), self.rules.get(rule_id)
            if current is None and (old is not None or close_orphans):
                decisions.append(self._close(key, old or lifecycle.rule_of(record), now, None, "rule_removed"))
            elif current is not None and not current.enabled:
                decisions.append(self._close(key, current, now, None, "rule_disabled"))
        self.rules = new
        return decisions

    def _forget(self, rule_id: str) -> None:
        for store in (self._trackers, self._slopes):
            for key in [k for k in store if base_rule(k[0]) == rule_id]:
                del store[key]

    def _active(self) -> list[Rule]:
        return [r for r in self.rules.values() if r.enabled]

    # -- readings ---------------------------------------------------------------------------------

    def observe(self, obs: Observation) -> list[Decision]:
        """Evaluate every rule on one reading."""
        battery = self.battery(obs.battery_id)
        self.seen[battery.id] = obs.received or obs.time
        decisions: list[Decision] = []
        for rule in self._active():
            if not in_scope(rule.scope, battery.id, battery.place):
                decisions += self._close_rule(rule, battery.id, obs.time, "out_of_scope")
            elif rule.kind == "threshold":
                decisions += self._threshold(rule, battery, obs)
            elif rule.kind == "rate":
                decisions += self._rate(rule, battery, obs)
            elif rule.kind == "bms_alarm":
                decisions += self._alarms(rule, battery, obs)
            elif (rule.id, battery.id) in self.open:  # stale: a reading ends the silence
                decisions.append(self._close((rule.id, battery.id), rule, obs.time, 0.0, None))
        return decisions

    def _threshold(self, rule: Rule, battery: Battery, obs: Observation) -> list[Decision]:
        key = (rule.id, battery.id)
        value = obs.values.get(rule.metric or "")
        tracker = self._trackers.setdefault(key, Hysteresis())
        if rule.when and obs.state not in rule.when:
            return self._apply(rule, battery, key, tracker, obs.time, (False, True), value)
        if value is None:
            tracker.reset()
            return []
        return self._apply(
            rule, battery, key, tracker, obs.time, levels(value, rule.above, rule.trigger, rule.clear), value
        )

    def _rate(self, rule: Rule, battery: Battery, obs: Observation) -> list[Decision]:
        key = (rule.id, battery.id)
        value = obs.values.get(rule.metric or "")
        tracker = self._trackers.setdefault(key, Hysteresis())
        slope = None if value is None else self._slopes.setdefault(key, Slope(rule.window)).add(obs.time, value)
        if slope is None:
            tracker.reset()
            return []
        rate = slope * PER_SECONDS[rule.per]
        if rule.when and obs.state not in rule.when:
            return self._apply(rule, battery, key, tracker, obs.time, (False, True), rate)
        return self._apply(
            rule, battery, key, tracker, obs.time, levels(rate, rule.above, rule.trigger, rule.clear), rate
        )

    def _apply(
        self,
        rule: Rule,
        battery: Battery,
        key: Key,
        tracker: Hysteresis,
        now: datetime,
        conditions: tuple[bool, bool],
        value: float | None,
    ) -> list[Decision]:
        outcome = tracker.step(now, *conditions, key in self.open, rule.delay, rule.clear_delay)
        if outcome == "raise":
            text = messages.raised(rule, battery.name, value, rule.trigger)
            decision = self._raise(rule, battery, key, now, rule.severity, value, rule.trigger, text)
            return [] if decision is None else [decision]
        if outcome == "clear":
            return [self._close(key, rule, now, value, None)]
        return []

    def _alarms(self, rule: Rule, battery: Battery, obs: Observation) -> list[Decision]:
        active = {
            f"{rule.id}:{a.code}:{a.level.value}": a
            for a in obs.alarms
            if a.level.value in rule.levels and (not rule.codes or a.code in rule.codes) and a.code not in rule.exclude
        }
        known = {
            k for k, b in (*self.open, *self._trackers) if b == battery.id and k != rule.id and base_rule(k) == rule.id
        }
        decisions: list[Decision] = []
        for alert_key in sorted(known | set(active)):
            key = (alert_key, battery.id)
            tracker = self._trackers.setdefault(key, Hysteresis())
            alarm = active.get(alert_key)
            outcome = tracker.step(
                obs.time, alarm is not None, alarm is None, key in self.open, rule.delay, rule.clear_delay
            )
            if outcome == "raise" and alarm is not None:
                info = (alarm.code, alarm.level.value, alarm.text)
                text = messages.raised(rule, battery.name, None, None, info)
                severity = rule.alarm_severity.get(alarm.level.value, rule.severity)
                extra = {"alarm": {"code": alarm.code, "level": alarm.level.value, "text": alarm.text}}
                decision = self._raise(rule, battery, key, obs.time, severity, None, None, text, extra)
                decisions += [] if decision is None else [decision]
            elif outcome == "clear":
                decisions.append(self._close(key, rule, obs.time, None, None))
            if alarm is None and key not in self.open:
                self._trackers.pop(key, None)
        return decisions

    # -- raising and closing ----------------------------------------------------------------------

    def _raise(
        self,
        rule: Rule,
        battery: Battery,
        key: Key,
        now: datetime,
        severity: str,
        value: float | None,
        threshold: float | None,
        text: dict[str, str],
        extra: dict[str, Any] | None = None,
    ) -> Decision | None:
        """Open an alert, unless the battery is under maintenance (then the condition is simply
        kept: if it still holds when the window ends, the alert is raised then)."""
        calendar = self.policy.calendar
        if calendar.in_maintenance(battery.id, battery.place, now):
            return None
        held = calendar.holds(battery.id, battery.place, severity, now)
        decision = lifecycle.new_alert(
            self._new_id(),
            rule,
            battery,
            key[0],
            now,
            severity=severity,
            value=value,
            threshold=threshold,
            message=text,
            held=held,
            extra=extra,
        )
        self.open[key] = decision.alert
        return decision

    def _close(self, key: Key, rule: Rule, now: datetime, value: float | None, reason: str | None) -> Decision:
        record = self.open.pop(key)
        self._trackers.pop(key, None)
        return lifecycle.clear(record, rule, now, value, reason)

    def _close_rule(self, rule: Rule, battery_id: str, now: datetime, reason: str) -> list[Decision]:
        keys = [k for k in self.open if k[1] == battery_id and base_rule(k[0]) == rule.id]
        return [self._close(k, rule, now, None, reason) for k in keys]

    # -- time -------------------------------------------------------------------------------------

    def link_changed(self, battery_id: str, link_state: str, now: datetime) -> None:
        """A battery's link changed: a stopped battery is no longer watched for freshness."""
        self.links[battery_id] = link_state
        if link_state == "stopped":
            self.seen.pop(battery_id, None)
        else:
            self.seen.setdefault(battery_id, now)

    def tick(self, now: datetime) -> list[Decision]:
        """Freshness, reminders and the end of quiet hours, at wall-clock time ``now``."""
        return [*self._stale(now), *self._follow_up(now)]

    def _stale(self, now: datetime) -> list[Decision]:
        decisions: list[Decision] = []
        rules = [r for r in self._active() if r.kind == "stale"]
        for battery_id, last in list(self.seen.items()):
            battery = self.battery(battery_id)
            age = max(0.0, (now - last).total_seconds())
            asleep = self.links.get(battery_id) == "asleep"
            for rule in rules:
                key = (rule.id, battery_id)
                if not in_scope(rule.scope, battery_id, battery.place):
                    continue
                if key in self.open and age < rule.after:
                    decisions.append(self._close(key, rule, now, round(age, 1), None))
                elif key not in self.open and age >= rule.after and (rule.include_asleep or not asleep):
                    text = messages.raised(rule, battery.name, age, rule.after)
                    decision = self._raise(rule, battery, key, now, rule.severity, round(age, 1), rule.after, text)
                    decisions += [] if decision is None else [decision]
        return decisions

    def _follow_up(self, now: datetime) -> list[Decision]:
        decisions: list[Decision] = []
        calendar = self.policy.calendar
        for key, record in list(self.open.items()):
            battery = self.battery(record.battery_id)
            quiet = calendar.holds(battery.id, battery.place, record.severity, now)
            if record.details.get("held"):
                if not quiet:
                    decisions.append(self._update(key, lifecycle.release(record, now)))
                continue
            if quiet or calendar.in_maintenance(battery.id, battery.place, now):
                continue
            if self._reminder_due(record, now):
                decisions.append(self._update(key, lifecycle.remind(record, now)))
        return decisions

    def _reminder_due(self, record: AlertRecord, now: datetime) -> bool:
        rule = self.rules.get(base_rule(record.rule_id))
        interval = self.policy.reminder_interval
        if rule is not None and rule.reminder_interval is not None:
            interval = rule.reminder_interval
        if interval <= 0 or (record.state == "acknowledged" and not self.policy.remind_acknowledged):
            return False
        last = parse_iso(record.details.get("notified_at")) or record.raised_at
        return (now - last).total_seconds() >= interval

    def _update(self, key: Key, decision: Decision) -> Decision:
        self.open[key] = decision.alert
        return decision

    # -- people -----------------------------------------------------------------------------------

    def acknowledge(self, alert_id: str, actor: str, comment: str | None, now: datetime) -> Decision | None:
        """Acknowledge an open alert; None when no open alert has that id."""
        record = self.find(alert_id)
        if record is None:
            return None
        if record.state == "acknowledged":
            raise AlreadyAcknowledgedError(alert_id)
        return self._update((record.rule_id, record.battery_id), lifecycle.acknowledge(record, actor, comment, now))
