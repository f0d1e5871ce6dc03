"""Alert payloads and the open-alert summary; command payload parsing (tables and fuzzing)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trackingbms_mqtt.alerts import OpenAlerts, event_payload, localized
from trackingbms_mqtt.commands import InvalidCommandError, parse_value
from trackingbms_mqtt.topics import Topics

from hub.specs import CONTROL_ACTIONS


def alert(sequence: int, state: str = "raised", **changes: Any) -> dict[str, Any]:
    """A payload with every key of the alerts contract."""
    data: dict[str, Any] = {
        "id": "a1",
        "tenant_id": "default",
        "rule_id": "cell-high",
        "rule_name": "Cell too high",
        "kind": "threshold",
        "battery_id": "garage",
        "battery_name": "Garage",
        "site_id": None,
        "client_path": [],
        "severity": "warning",
        "state": state,
        "metric": "cell_max",
        "value": 3.65,
        "threshold": 3.6,
        "unit": "V",
        "message": {"en": "Cell high", "fr": "Cellule haute"},
        "raised_at": "2026-11-24T12:00:00Z",
        "acknowledged_at": None,
        "acknowledged_by": None,
        "comment": None,
        "cleared_at": None,
        "reminder": False,
        "sequence": sequence,
    }
    data.update(changes)
    return data


def test_text_follows_the_locale_with_english_as_fallback() -> None:
    message = {"en": "Cell high", "fr": "Cellule haute"}
    assert localized(message, "fr") == "Cellule haute"
    assert localized(message, "fr-BE") == "Cellule haute"
    assert localized(message, "de") == "Cell high"
    assert localized({"fr": "seul"}, "de") == "seul"
    assert localized({}, "en") is None and localized(None, "en") is None
    payload = event_payload("data.alert.generated", alert(1), "fr")
    assert payload["event"] == "generated" and payload["text"] == "Cellule haute" and payload["sequence"] == 1


def test_the_summary_follows_raise_acknowledge_clear_and_ignores_late_events() -> None:
    alerts = OpenAlerts("en")
    assert alerts.summary("garage")["count"] == 0
    assert alerts.apply("data.alert.generated", alert(1))
    critical = alert(2, id="a2", severity="critical", raised_at="2026-11-24T12:05:00Z")
    assert alerts.apply("data.alert.generated", critical)
    summary = alerts.summary("garage")
    assert summary["count"] == 2 and summary["highest_severity"] == "critical"
    assert [a["id"] for a in summary["alerts"]] == ["a1", "a2"] and summary["alerts"][0]["text"] == "Cell high"
    assert alerts.apply("data.alert.acknowledged", alert(3, "acknowledged", acknowledged_at="2026-11-24T12:06:00Z"))
    assert alerts.summary("garage")["alerts"][0]["state"] == "acknowledged"
    assert alerts.apply("data.alert.cleared", alert(4, "cleared"))
    assert not alerts.apply("data.alert.generated", alert(1))  # older than the clear: ignored
    summary = alerts.summary("garage")
    assert summary["count"] == 1 and summary["highest_severity"] == "critical"
    assert alerts.summary("shed")["count"] == 0


@pytest.mark.parametrize(
    ("action", "payload", "value"),
    [
        ("charge_mos", b"ON", True),
        ("charge_mos", b"off", False),
        ("discharge_mos", b" true\n", True),
        ("discharge_mos", b"0", False),
        ("soc", b"42.5", 42.5),
        ("soc", b"100", 100.0),
        ("soc", b"0", 0.0),
        ("restart", b"PRESS", None),
        ("restart", b"restart", None),
    ],
)
def test_valid_payloads(action: str, payload: bytes, value: Any) -> None:
    assert parse_value(action, payload) == value


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("charge_mos", b"maybe"),
        ("charge_mos", b""),
        ("soc", b"120"),
        ("soc", b"-1"),
        ("soc", b"NaN"),
        ("soc", b"Infinity"),
        ("soc", b"true"),
        ("soc", b'"50"'),
        ("restart", b""),
        ("restart", b"now please"),
        ("fly", b"1"),
        ("soc", b"\xff\xfe"),
    ],
)
def test_invalid_payloads(action: str, payload: bytes) -> None:
    with pytest.raises(InvalidCommandError):
        parse_value(action, payload)


@given(action=st.sampled_from([*CONTROL_ACTIONS, "bogus"]), payload=st.binary(max_size=64))
def test_any_payload_gives_a_value_or_the_one_error(action: str, payload: bytes) -> None:
    try:
        value = parse_value(action, payload)
    except InvalidCommandError:
        return
    if action == "soc":
        assert isinstance(value, float) and 0 <= value <= 100
    elif action == "restart":
        assert value is None
    else:
        assert isinstance(value, bool)


def test_command_topics_parse_only_at_the_command_level() -> None:
    topics = Topics("site/bms")
    assert topics.parse_command("site/bms/garage/set/charge_mos") == ("garage", "charge_mos")
    assert topics.parse_command("site/bms/garage/set/charge_mos/result") is None
    assert topics.parse_command("site/bms/garage/state") is None
    assert topics.parse_command("other/garage/set/soc") is None
    assert topics.parse_command("site/bms//set/soc") is None
    assert topics.command_filter == "site/bms/+/set/+"
