"""Rule definitions and rule files: validation, normalized definitions, ``file:line: path: message`` errors."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import trackingbms_alerts.plugin as alerts_plugin
from trackingbms_alerts.files import load_rules_dir
from trackingbms_alerts.rules import RuleError, build, validate

from hub.config import ConfigError, load_config, validate_config
from hub.plugins import PluginManager

REPO = Path(__file__).resolve().parents[3]


def errors(definition: Any) -> list[tuple[str, str]]:
    with pytest.raises(RuleError) as caught:
        validate(definition)
    return [(item["path"], item["message"]) for item in caught.value.to_list()]


def test_each_kind_is_normalized_with_its_defaults() -> None:
    threshold = validate({"id": "t", "kind": "threshold", "metric": "soc", "below": 10, "delay": "2m"})
    assert threshold == {
        "id": "t",
        "name": "t",
        "kind": "threshold",
        "metric": "soc",
        "below": 10.0,
        "clear": 10.0,
        "delay": 120.0,
        "clear_delay": 120.0,
        "severity": "warning",
        "scope": {},
        "enabled": True,
    }
    rate = build({"id": "r", "kind": "rate", "metric": "temperature_max", "above": 1, "window": "10m", "per": "h"})
    assert (rate.window, rate.per, rate.unit, rate.trigger) == (600.0, "h", "°C/h", 1.0)
    stale = build({"id": "s", "kind": "stale", "after": "90s", "scope": {"sites": "home"}})
    assert (stale.after, stale.include_asleep, stale.scope, stale.unit) == (90.0, False, {"sites": ["home"]}, "s")
    alarm = build({"id": "b", "kind": "bms_alarm", "severity": {"warning": "info"}})
    assert alarm.alarm_severity == {"warning": "info", "alarm": "critical"} and alarm.levels == ("warning", "alarm")
    named = build({"id": "n", "name": {"en": "Hot", "fr": "Chaud"}, "kind": "stale", "after": 5})
    assert (named.name, named.name_fr) == ("Hot", "Chaud")
    assert build({"id": "a", "kind": "threshold", "metric": "analytics.future_value", "above": 1}).unit is None


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ({"kind": "threshold"}, [("id", "required key not provided"), ("metric", "required key not provided")]),
        ({"id": "x"}, [("kind", "required key")]),
        ({"id": "x", "kind": "magic"}, [("kind", "expected one of threshold, rate, stale, bms_alarm")]),
        (
            {"id": "Bad Id", "kind": "stale", "after": 1},
            [("id", "expected an id of lower-case letters, digits, '_', '-' or '.' (max 64)")],
        ),
        (
            {"id": "x", "kind": "threshold", "metric": "cell_maxx", "above": 1},
            [("metric", "unknown metric 'cell_maxx'")],
        ),
        (
            {"id": "x", "kind": "threshold", "metric": "soc", "above": 1, "below": 2},
            [("above", "give exactly one trigger level: above or below")],
        ),
        (
            {"id": "x", "kind": "threshold", "metric": "soc"},
            [("above", "give exactly one trigger level: above or below")],
        ),
        (
            {"id": "x", "kind": "threshold", "metric": "soc", "above": 90, "clear": 95},
            [("clear", "the clear level must be at or below the trigger level (90.0)")],
        ),
        (
            {"id": "x", "kind": "threshold", "metric": "soc", "below": 10, "clear": 5},
            [("clear", "the clear level must be at or above the trigger level (10.0)")],
        ),
        (
            {"id": "x", "kind": "threshold", "metric": "soc", "above": 1, "delay": "soon"},
            [("delay", "expected a duration such as 30s, 5m or 1h")],
        ),
        ({"id": "x", "kind": "threshold", "metric": "soc", "above": "high"}, [("above", "expected a number")]),
        (
            {"id": "x", "kind": "threshold", "metric": "soc", "above": 1, "when": "sleeping"},
            [("when", "expected one or more of charging, discharging, idle")],
        ),
        ({"id": "x", "kind": "stale", "after": 0}, [("after", "expected a duration above zero")]),
        ({"id": "x", "kind": "stale", "after": 5, "colour": "red"}, [("colour", "unknown key")]),
        ({"id": "x", "kind": "stale", "after": 5, "scope": {"planets": ["mars"]}}, [("scope.planets", "unknown key")]),
        (
            {"id": "x", "kind": "bms_alarm", "levels": ["fatal"]},
            [("levels[0]", "value must be one of ['alarm', 'warning']")],
        ),
        (
            {"id": "x", "kind": "stale", "after": 5, "severity": "panic"},
            [("severity", "value must be one of ['critical', 'info', 'warning']")],
        ),
        ("cell_max > 3.6", [("", "expected a mapping with id, kind and the kind's keys")]),
    ],
)
def test_invalid_rules_name_the_field(definition: Any, expected: list[tuple[str, str]]) -> None:
    got = errors(definition)
    assert len(got) == len(expected)
    for (path, message), (want_path, want_message) in zip(sorted(got), sorted(expected), strict=True):
        assert path == want_path
        assert message.startswith(want_message)


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_rule_file_errors_carry_file_line_and_path_and_the_good_rules_still_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cells.yaml",
        """
        rules:
          - id: ok
            kind: stale
            after: 60
          - id: wrong-side
            kind: threshold
            metric: cell_max
            above: 3.6
            clear: 3.7
          - id: typo
            kind: threshold
            metrc: cell_max
            above: 3.6
        colour: red
        """,
    )
    found = load_rules_dir(tmp_path)
    assert [r.id for r in found.rules] == ["ok"]
    assert (found.rules[0].file, found.rules[0].line) == (str(path), 2)
    assert [str(i) for i in found.issues] == [
        f"{path}:9: rules[1].clear: the clear level must be at or below the trigger level (3.6)",
        f"{path}:10: rules[2].metric: required key not provided",
        f"{path}:12: rules[2].metrc: unknown key",
        f"{path}:14: colour: unknown key (a rule file has rules and defaults)",
    ]


def test_yaml_syntax_errors_and_duplicate_ids_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", "rules:\n  - {id: same, kind: stale, after: 5}\n")
    second = write(tmp_path, "b.yml", "rules:\n  - {id: same, kind: stale, after: 9}\n")
    broken = write(tmp_path, "c.yaml", "rules:\n  - id: x\n    kind: [stale\n")
    found = load_rules_dir(tmp_path)
    assert [(r.id, r.after) for r in found.rules] == [("same", 5.0)]
    texts = [str(i) for i in found.issues]
    assert f"{second}:2: duplicate rule id 'same' (first in {first}:2)" in texts
    assert any(t.startswith(f"{broken}:") and "YAML syntax error" in t for t in texts)
    assert load_rules_dir(tmp_path / "missing").rules == []


def test_file_defaults_apply_to_every_rule(tmp_path: Path) -> None:
    write(
        tmp_path,
        "d.yaml",
        "defaults: {enabled: false, severity: critical}\nrules:\n  - {id: s, kind: stale, after: 5}\n",
    )
    (rule,) = load_rules_dir(tmp_path).rules
    assert (rule.enabled, rule.severity, rule.source, rule.writable) == (False, "critical", "file", False)


def test_the_shipped_rule_files_load_cleanly() -> None:
    found = load_rules_dir(REPO / "config" / "alerts")
    assert found.issues == []
    ids = {r.id for r in found.rules}
    assert {
        "no-readings",
        "bms-alarms",
        "lfp-cell-overvoltage",
        "nmc-cell-overvoltage",
        "temperature-rising-fast",
    } <= ids
    assert {r.kind for r in found.rules} == {"threshold", "rate", "stale", "bms_alarm"}
    assert all(r.name != r.name_fr for r in found.rules)  # every default rule is named in both languages
    assert not any(r.enabled for r in found.rules if r.id.startswith("nmc-"))  # NMC limits are opt-in
    lfp = {r.id: r for r in found.rules}["lfp-cell-overvoltage"]
    assert (lfp.metric, lfp.trigger, lfp.severity) == ("cell_max", 3.65, "critical")


def test_the_config_section_is_validated_by_the_core_with_lines(tmp_path: Path) -> None:
    manager = PluginManager()
    manager.register(alerts_plugin, "alerts")
    manager.collect()
    path = write(
        tmp_path,
        "trackingbms.yaml",
        """
        alerts:
          reminder_interval: often
          quiet_hours:
            - start: "25:00"
              end: "07:00"
          maintenance:
            - from: 2026-06-01T12:00:00Z
              until: 2026-06-01T08:00:00Z
        """,
    )
    with pytest.raises(ConfigError) as caught:
        validate_config(load_config(path), manager)
    texts = [str(i) for i in caught.value.issues]
    assert any(t.endswith(":2: alerts.reminder_interval: expected a duration such as 30s, 5m or 1h") for t in texts)
    assert any(":4: alerts.quiet_hours[0].start: expected a time of day such as 22:00" in t for t in texts)
    assert any(":8: alerts.maintenance[0].until: must be after 'from'" in t for t in texts)
    good = write(tmp_path, "good.yaml", "alerts:\n  quiet_hours:\n    - {start: '22:00', end: '07:00'}\n")
    data = validate_config(load_config(good), manager)
    assert data["alerts"]["rules_dir"] == "alerts" and data["alerts"]["quiet_hours"][0]["hold"] == ["info", "warning"]
