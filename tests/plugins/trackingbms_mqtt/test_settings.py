"""The ``mqtt:`` section: defaults, validation inside a real hub config, and the bridge staying off without a host."""

from __future__ import annotations

from pathlib import Path

import pytest
import voluptuous as vol
from trackingbms_mqtt.plugin import bridge_of
from trackingbms_mqtt.settings import CONFIG_SCHEMA, MqttSettings, node_id

from hub.config import ConfigError
from hub.core import Hub
from tests.helpers import SIMULATED_CONFIG, HubFactory, write_config


def test_defaults_leave_the_bridge_off() -> None:
    settings = MqttSettings.from_config({})
    assert not settings.active
    assert (settings.base_topic, settings.discovery_prefix, settings.qos) == ("trackingbms", "homeassistant", 1)
    assert settings.discovery and settings.commands and settings.retain
    assert settings.batteries is None and settings.selects("anything")
    assert (settings.port, settings.publish_interval, settings.locale) == (1883, 0.0, "en")
    assert MqttSettings.from_config({"host": "broker"}).active
    assert not MqttSettings.from_config({"host": "broker", "enabled": False}).active


def test_tls_is_implied_by_certificates_and_batteries_can_be_chosen() -> None:
    assert not MqttSettings.from_config({"host": "b"}).uses_tls
    assert MqttSettings.from_config({"host": "b", "ca_file": "/etc/ca.pem"}).uses_tls
    assert MqttSettings.from_config({"host": "b", "tls": True}).uses_tls
    chosen = MqttSettings.from_config({"batteries": ["garage", "shed"]})
    assert chosen.batteries == ("garage", "shed") and chosen.selects("shed") and not chosen.selects("attic")
    assert MqttSettings.from_config({"reconnect_min": 5, "reconnect_max": 1}).reconnect_max == 5


@pytest.mark.parametrize(
    "bad",
    [
        {"base_topic": "a/#"},
        {"base_topic": "a/+/b"},
        {"base_topic": "/a"},
        {"base_topic": "a/"},
        {"base_topic": "a//b"},
        {"base_topic": ""},
        {"discovery_prefix": "ha/#"},
        {"qos": 3},
        {"port": 0},
        {"batteries": ["Not An Id"]},
        {"batteries": "some"},
        {"publish_interval": -1},
        {"devices": {"garage": {"colour": "red"}}},
        {"brokers": []},
    ],
)
def test_invalid_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(vol.Invalid):
        vol.Schema(CONFIG_SCHEMA)(bad)


def test_node_ids_keep_only_characters_home_assistant_accepts() -> None:
    assert node_id("site/bms") == "site_bms"
    assert node_id("Ferme Électrique/2") == "Ferme_lectrique_2"
    assert node_id("///") == "trackingbms"


def test_a_bad_section_is_reported_with_its_path(tmp_path: Path) -> None:
    hub = Hub(write_config(tmp_path, SIMULATED_CONFIG + "\nmqtt:\n  host: broker\n  qos: 5\n"), console_logs=False)
    with pytest.raises(ConfigError) as caught:
        hub.load()
    assert any(issue.path == "mqtt.qos" for issue in caught.value.issues), caught.value.issues


async def test_a_hub_without_a_broker_runs_without_the_bridge(start_hub: HubFactory) -> None:
    hub = await start_hub(SIMULATED_CONFIG)
    assert bridge_of(hub) is None
    service = hub.registry.get("plugin.mqtt")
    assert service is not None and service.health.value == "ok"
    assert service.details["bridge"] == "not configured (no host)"
