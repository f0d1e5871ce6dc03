"""Home Assistant's documented rules for MQTT discovery payloads, as a validator for the tests.

Sources (facts, not code):
- MQTT discovery topic format and id characters: home-assistant.io/integrations/mqtt (Discovery topic).
- Sensor device classes -> units and -> state classes: homeassistant/components/sensor/const.py
  (DEVICE_CLASS_UNITS, DEVICE_CLASS_STATE_CLASSES, NON_NUMERIC_DEVICE_CLASSES).
- MQTT sensor checks (options only with enum and without state class or unit; last_reset only with
  state class total): homeassistant/components/mqtt/sensor.py validate_sensor_state_and_device_class_config.
- Binary sensor device classes: homeassistant/components/binary_sensor (BinarySensorDeviceClass).
- Sensors cannot have the "config" entity category (sensor entity registry rules).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ID = r"[a-zA-Z0-9_-]+"
MEASUREMENT, TOTAL, TOTAL_INCREASING = "measurement", "total", "total_increasing"
STATE_CLASSES = {MEASUREMENT, TOTAL, TOTAL_INCREASING}
# Device class -> allowed units (a subset of HA's table: the classes a battery bridge may use, and a few more).
SENSOR_UNITS: dict[str, set[str | None]] = {
    "battery": {"%"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "current": {"A", "mA"},
    "power": {"W", "kW", "MW", "GW", "TW"},
    "energy": {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"},
    "energy_storage": {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"},
    "temperature": {"°C", "°F", "K"},
    "duration": {"d", "h", "min", "s", "ms"},
    "enum": {None},
    "timestamp": {None},
    "date": {None},
}
SENSOR_STATE_CLASSES: dict[str, set[str]] = {
    "battery": {MEASUREMENT},
    "voltage": {MEASUREMENT},
    "current": {MEASUREMENT},
    "power": {MEASUREMENT},
    "energy": {TOTAL, TOTAL_INCREASING},
    "energy_storage": {MEASUREMENT},
    "temperature": {MEASUREMENT},
    "duration": {MEASUREMENT, TOTAL, TOTAL_INCREASING},
    "enum": set(),
    "timestamp": set(),
    "date": set(),
}
NON_NUMERIC = {"enum", "timestamp", "date"}
BINARY_SENSOR_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door", "gas",
    "heat", "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug", "power",
    "presence", "problem", "running", "safety", "smoke", "sound", "tamper", "update", "vibration", "window",
}  # fmt: skip
REQUIRED = ("name", "unique_id", "device", "state_topic", "availability", "device_class", "value_template")
PAYLOAD_NONE = "None"  # an MQTT sensor or binary sensor shows "unknown" for this rendered value


def _no_wildcards(topic: Any) -> bool:
    return isinstance(topic, str) and bool(topic) and "#" not in topic and "+" not in topic


def _common(topic: str, payload: Mapping[str, Any], prefix: str) -> list[str]:
    problems = []
    match = re.fullmatch(rf"{re.escape(prefix)}/(sensor|binary_sensor)/({_ID})/({_ID})/config", topic)
    if match is None:
        return [f"bad discovery topic {topic!r}"]
    problems += [f"missing {key}" for key in REQUIRED if key not in payload]
    if not isinstance(payload.get("unique_id"), str) or not payload.get("unique_id"):
        problems.append("unique_id must be a non-empty string")
    device = payload.get("device") or {}
    ids = device.get("identifiers")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        problems.append("device.identifiers must be a non-empty list of strings")
    problems += [f"device.{key} missing" for key in ("name", "manufacturer", "model") if not device.get(key)]
    name = payload.get("name")
    if isinstance(name, str) and device.get("name") and name.lower().startswith(str(device["name"]).lower()):
        problems.append("entity name must not repeat the device name (HA prefixes it)")
    if not _no_wildcards(payload.get("state_topic")):
        problems.append("state_topic must be a topic without wildcards")
    availability = payload.get("availability")
    if not isinstance(availability, list) or not availability:
        problems.append("availability must be a non-empty list")
    elif not all(isinstance(a, dict) and _no_wildcards(a.get("topic")) for a in availability):
        problems.append("every availability entry needs a topic without wildcards")
    if payload.get("availability_mode", "latest") not in ("all", "any", "latest"):
        problems.append("availability_mode must be all, any or latest")
    if payload.get("qos", 0) not in (0, 1, 2):
        problems.append("qos must be 0, 1 or 2")
    if not isinstance(payload.get("enabled_by_default", True), bool):
        problems.append("enabled_by_default must be a bool")
    if payload.get("entity_category") not in (None, "diagnostic"):
        problems.append("entity_category of a sensor may only be diagnostic")  # "config" is refused for sensors
    if "json_attributes_template" in payload and not _no_wildcards(payload.get("json_attributes_topic")):
        problems.append("json_attributes_template needs a json_attributes_topic")
    if not isinstance(payload.get("value_template"), str):
        problems.append("value_template must be a string")
    return problems


def _sensor(payload: Mapping[str, Any]) -> list[str]:
    problems = [f"sensor without {key}" for key in ("state_class", "unit_of_measurement") if key not in payload]
    device_class = payload.get("device_class")
    state_class = payload.get("state_class")
    unit = payload.get("unit_of_measurement")
    if state_class is not None and state_class not in STATE_CLASSES:
        problems.append(f"unknown state_class {state_class!r}")
    if device_class is not None:
        if device_class not in SENSOR_UNITS:
            problems.append(f"device_class {device_class!r} not in the validator's table")
        else:
            if unit not in SENSOR_UNITS[device_class]:
                problems.append(f"unit {unit!r} is not valid for device_class {device_class!r}")
            if state_class is not None and state_class not in SENSOR_STATE_CLASSES[device_class]:
                problems.append(f"state_class {state_class!r} is not valid for device_class {device_class!r}")
    options = payload.get("options")
    if options is not None:
        if not options or not all(isinstance(o, str) for o in options):
            problems.append("options must be a non-empty list of strings")
        if state_class or unit:
            problems.append("options cannot be combined with state_class or unit_of_measurement")
        if device_class != "enum":
            problems.append("options need device_class enum")
    elif device_class == "enum":
        problems.append("an enum sensor needs options")
    if "last_reset_value_template" in payload and state_class != TOTAL:
        problems.append("last_reset_value_template needs state_class total")
    return problems


def _binary_sensor(payload: Mapping[str, Any]) -> list[str]:
    problems = [f"binary_sensor must not carry {k}" for k in ("state_class", "unit_of_measurement") if k in payload]
    device_class = payload.get("device_class")
    if device_class is not None and device_class not in BINARY_SENSOR_CLASSES:
        problems.append(f"unknown binary_sensor device_class {device_class!r}")
    return problems


def validate(topic: str, payload: Mapping[str, Any], prefix: str) -> list[str]:
    """Every rule the payload breaks (empty when valid)."""
    problems = _common(topic, payload, prefix)
    component = topic.split("/")[-4] if topic.count("/") >= 4 else ""
    if component == "sensor":
        problems += _sensor(payload)
    elif component == "binary_sensor":
        problems += _binary_sensor(payload)
    return problems


def validate_all(configs: Mapping[str, Mapping[str, Any]], prefix: str) -> dict[str, list[str]]:
    """Validate a set of configs, with the rules that span payloads: unique ids are unique, topics match."""
    found = {topic: validate(topic, payload, prefix) for topic, payload in configs.items()}
    seen: dict[str, str] = {}
    for topic, payload in configs.items():
        unique_id = str(payload.get("unique_id"))
        if unique_id in seen:
            found[topic].append(f"unique_id {unique_id!r} also used by {seen[unique_id]}")
        seen[unique_id] = topic
    return {topic: problems for topic, problems in found.items() if problems}


_ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)


def render(template: str, payload: str) -> str:
    """Render a value_template the way HA does: ``value`` is the raw payload, ``value_json`` its JSON."""
    try:
        value_json = json.loads(payload)
    except ValueError:
        value_json = None
    return _ENV.from_string(template).render(value=payload, value_json=value_json).strip()


def check_rendered(config: Mapping[str, Any], rendered: str, topic: str) -> list[str]:
    """Whether a rendered state is one HA accepts for this entity."""
    if rendered == PAYLOAD_NONE:
        return []
    if topic.split("/")[-4] == "binary_sensor":
        allowed = {config.get("payload_on", "ON"), config.get("payload_off", "OFF")}
        return [] if rendered in allowed else [f"binary state {rendered!r} is not in {sorted(allowed)}"]
    if config.get("device_class") == "enum":
        return [] if rendered in config.get("options", []) else [f"{rendered!r} is not an option"]
    numeric = config.get("state_class") or config.get("unit_of_measurement")
    numeric = numeric or config.get("device_class") not in (None, *NON_NUMERIC)
    if numeric:
        try:
            float(rendered)
        except ValueError:
            return [f"numeric sensor rendered {rendered!r}"]
    return []
