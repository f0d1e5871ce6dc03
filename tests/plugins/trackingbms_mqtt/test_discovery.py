"""Discovery payloads built from readings pass HA's rules, and their templates render what HA accepts."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from trackingbms_mqtt.discovery import DeviceInfo, Discovery
from trackingbms_mqtt.entities import Layout
from trackingbms_mqtt.settings import MqttSettings
from trackingbms_mqtt.throttle import to_json
from trackingbms_mqtt.topics import Topics

from hub.reading import Alarm, AlarmLevel, BatteryState, Reading, Temperature, TemperatureKind
from tests.plugins.trackingbms_mqtt.ha_rules import check_rendered, render, validate, validate_all

PREFIX = "homeassistant"
CELLS = tuple(3.30 + i / 1000 for i in range(16))
FULL = Reading(
    battery_id="garage",
    timestamp=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
    voltage=53.1,
    current=-12.5,
    soc=81.0,
    soh=97.0,
    cells=CELLS,
    temperatures=(
        Temperature(21.0, TemperatureKind.CELL, 1),
        Temperature(22.0, TemperatureKind.CELL, 2),
        Temperature(30.5, TemperatureKind.MOS, 1),
        Temperature(25.0, TemperatureKind.BOARD, 1),
        Temperature(18.0, TemperatureKind.AMBIENT, 1),
    ),
    charge_mos=True,
    discharge_mos=False,
    balancing=(3, 7),
    cycles=12,
    remaining_capacity_ah=81.0,
    rated_capacity_ah=100.0,
    alarms=(Alarm("cell_overvoltage_l1", "Cell overvoltage", AlarmLevel.WARNING),),
).with_derived()
# Everything optional absent, one cell temperature gone: templates must render "None", never fail.
SPARSE = Reading(battery_id="garage", timestamp=FULL.timestamp, cells=CELLS[:4], temperatures=FULL.temperatures[1:2])
ANALYTICS = {
    "battery_id": "garage",
    "timestamp": "2026-11-24T12:00:00Z",
    "energy_charged_kwh": 1.25,
    "energy_discharged_kwh": 0.5,
    "soc_coulomb": 80.2,
    "equivalent_cycles": 0.01,
    "soh_estimate": None,
    "capacity_measured_ah": None,
}


def build() -> tuple[Discovery, dict[str, dict[str, Any]]]:
    settings = MqttSettings.from_config({"host": "broker", "base_topic": "site/bms"})
    discovery = Discovery(settings, Topics(settings.base_topic, settings.discovery_prefix), "0.1.0")
    layout = Layout()
    assert layout.add_reading(FULL)
    assert not layout.add_reading(SPARSE)  # nothing new: the layout only grows
    assert layout.add_analytics()
    device = DeviceInfo("garage", "Garage pack", "Daly", "Daly smart BMS")
    return discovery, discovery.configs(layout, device)


def sources(discovery: Discovery, reading: Reading) -> dict[str, str]:
    topics = discovery.topics
    return {
        topics.state("garage"): to_json(reading.to_dict()),
        topics.analytics("garage"): to_json(ANALYTICS),
        topics.open_alerts("garage"): to_json({"count": 1, "highest_severity": "warning", "alerts": []}),
        topics.availability("garage"): "online",
        topics.link("garage"): to_json({"battery_id": "garage", "link_state": "asleep", "previous": "online"}),
    }


def test_every_payload_follows_home_assistant_rules() -> None:
    _, configs = build()
    assert validate_all(configs, PREFIX) == {}
    by_key = {topic.split("/")[-2]: config for topic, config in configs.items()}
    cells = [k for k in by_key if k.startswith("cell_") and k[5:].isdigit()]
    assert len(cells) == 16 and all(by_key[k]["enabled_by_default"] is False for k in cells)
    assert by_key["voltage"]["enabled_by_default"] is True
    for key in ("energy_charged", "energy_discharged"):  # what HA's Energy dashboard needs
        config = by_key[key]
        assert (config["device_class"], config["state_class"], config["unit_of_measurement"]) == (
            "energy",
            "total_increasing",
            "kWh",
        )
    assert {k for k in by_key if k.startswith("temperature_")} == {
        "temperature_cell_1",
        "temperature_cell_2",
        "temperature_mos_1",
        "temperature_board_1",
        "temperature_ambient_1",
    }
    assert by_key["temperature_mos_1"]["name"] == "MOSFET temperature"
    assert by_key["temperature_cell_2"]["name"] == "Cell temperature 2"
    assert {by_key[k]["device"]["identifiers"][0] for k in by_key} == {"site_bms_garage"}
    assert all(t.startswith(f"{PREFIX}/") for t in configs)


@pytest.mark.parametrize("reading", [FULL, SPARSE], ids=["full", "sparse"])
def test_templates_render_values_home_assistant_accepts(reading: Reading) -> None:
    discovery, configs = build()
    payloads = sources(discovery, reading)
    rendered = {}
    for topic, config in configs.items():
        value = render(config["value_template"], payloads[config["state_topic"]])
        assert check_rendered(config, value, topic) == [], (topic, value)
        rendered[topic.split("/")[-2]] = value
        if "json_attributes_template" in config:
            render(config["json_attributes_template"], payloads[config["json_attributes_topic"]])
    if reading is FULL:
        assert rendered["voltage"] == "53.1" and rendered["cell_min"] == "3.3" and rendered["cell_16"] == "3.315"
        assert rendered["temperature_mos_1"] == "30.5" and rendered["temperature_cell_2"] == "22.0"
        assert (rendered["charge_mos"], rendered["discharge_mos"], rendered["balancing"]) == ("ON", "OFF", "ON")
        assert rendered["state"] == BatteryState.DISCHARGING.value and rendered["alarms"] == "1"
        assert rendered["energy_charged"] == "1.25" and rendered["soh_estimate"] == "None"
        assert (rendered["connected"], rendered["link_state"], rendered["alert"]) == ("ON", "asleep", "ON")
    else:
        assert rendered["voltage"] == "None" and rendered["cell_min"] == "None" and rendered["cell_05"] == "None"
        assert rendered["temperature_cell_1"] == "None" and rendered["temperature_cell_2"] == "22.0"
        assert (rendered["charge_mos"], rendered["state"]) == ("None", "None")


def _config(key: str) -> tuple[str, dict[str, Any]]:
    _, configs = build()
    topic = next(t for t in configs if t.split("/")[-2] == key)
    return topic, copy.deepcopy(configs[topic])


@pytest.mark.parametrize(
    ("key", "change", "problem"),
    [
        ("voltage", {"unit_of_measurement": "kWh"}, "not valid for device_class 'voltage'"),
        ("voltage", {"state_class": "total_increasing"}, "state_class 'total_increasing' is not valid"),
        ("energy_charged", {"state_class": "measurement"}, "state_class 'measurement' is not valid"),
        ("soc", {"unit_of_measurement": "V"}, "not valid for device_class 'battery'"),
        ("temperature_mos_1", {"unit_of_measurement": "C"}, "not valid for device_class 'temperature'"),
        ("state", {"state_class": "measurement"}, "options cannot be combined"),
        ("state", {"options": None}, "an enum sensor needs options"),
        ("voltage", {"options": ["a"]}, "options need device_class enum"),
        ("voltage", {"last_reset_value_template": "{{ 0 }}"}, "needs state_class total"),
        ("voltage", {"unique_id": ""}, "unique_id"),
        ("voltage", {"device": {"identifiers": [], "name": "x", "manufacturer": "m", "model": "m"}}, "identifiers"),
        ("voltage", {"name": "Garage pack voltage"}, "must not repeat the device name"),
        ("voltage", {"state_topic": "site/+/state"}, "state_topic"),
        ("voltage", {"entity_category": "config"}, "entity_category"),
        ("charge_mos", {"unit_of_measurement": "V"}, "binary_sensor must not carry"),
        ("charge_mos", {"device_class": "mosfet"}, "unknown binary_sensor device_class"),
    ],
)
def test_the_validator_catches_broken_payloads(key: str, change: dict[str, Any], problem: str) -> None:
    topic, config = _config(key)
    assert validate(topic, config, PREFIX) == []
    config.update(change)
    assert any(problem in p for p in validate(topic, config, PREFIX)), validate(topic, config, PREFIX)


def test_the_validator_catches_missing_keys_bad_topics_and_duplicates() -> None:
    topic, config = _config("voltage")
    for key in ("unique_id", "state_class", "unit_of_measurement", "availability", "value_template"):
        broken = {k: v for k, v in config.items() if k != key}
        assert validate(topic, broken, PREFIX), key
    assert validate(topic.replace("site_bms_garage", "site/bms"), config, PREFIX)
    assert validate(topic, config, "other-prefix")
    other = topic.replace("/voltage/", "/voltage2/")
    assert list(validate_all({topic: config, other: config}, PREFIX)) == [other]
    topic, config = _config("soc")
    assert check_rendered(config, "n/a", topic) and not check_rendered(config, "81.5", topic)
