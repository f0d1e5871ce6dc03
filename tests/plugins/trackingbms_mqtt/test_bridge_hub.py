"""A hub on simulated Daly packs bridged to the real Mosquitto: state, availability, discovery, alerts, HA restarts."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from trackingbms_mqtt.plugin import bridge_of
from trackingbms_mqtt.settings import node_id

from hub.reading import Reading
from hub.registry import Health
from tests.helpers import wait_for
from tests.plugins.trackingbms_mqtt.conftest import BridgeEnv
from tests.plugins.trackingbms_mqtt.ha_rules import check_rendered, render, validate_all
from tests.plugins.trackingbms_mqtt.mqtt_helpers import publish, retained, retained_when
from tests.plugins.trackingbms_mqtt.test_alerts_and_commands import alert


def configs_of(snapshot: dict[str, bytes], prefix: str) -> dict[str, dict[str, Any]]:
    return {t: json.loads(p) for t, p in snapshot.items() if t.startswith(f"{prefix}/") and p}


async def test_readings_availability_and_valid_discovery_reach_the_broker(env: BridgeEnv) -> None:
    hub = await env.start()
    base, prefix, node = env.base, env.prefix, node_id(env.base)
    for battery, cells in (("one", 16), ("two", 4)):
        data = (await env.watcher.wait(f"{base}/{battery}/state")).json()
        assert data["battery_id"] == battery and len(data["cells"]) == cells
        assert data == Reading.from_dict(data).to_dict()  # exactly the normalized reading's JSON
        assert await wait_for(partial(hub.store.latest, battery))  # and the hub stored readings as usual
    for battery in ("one", "two"):  # the energy plugin's analytics, and their Energy dashboard sensors
        await env.watcher.wait(f"{base}/{battery}/analytics", lambda m: "energy_charged_kwh" in m.json())
        await env.watcher.wait(f"{prefix}/sensor/{node}_{battery}/energy_discharged/config")

    online = {f"{base}/status": b"online", f"{base}/one/availability": b"online", f"{base}/two/availability": b"online"}
    snapshot = await retained_when(env.filters, lambda found: online.items() <= found.items())
    assert json.loads(snapshot[f"{base}/one/link"])["link_state"] == "online"
    assert json.loads(snapshot[f"{base}/two/alerts/open"])["count"] == 0
    configs = configs_of(snapshot, prefix)
    assert validate_all(configs, prefix) == {}
    for battery, cells in (("one", 16), ("two", 4)):
        mine = {t.split("/")[-2]: c for t, c in configs.items() if f"/{node}_{battery}/" in t}
        assert len([k for k, c in mine.items() if k.startswith("cell_") and not c["enabled_by_default"]]) == cells
        assert {"voltage", "current", "power", "soc", "cell_min", "cell_max", "cell_delta"} <= set(mine)
        assert {"charge_mos", "discharge_mos", "energy_charged", "temperature_cell_1"} <= set(mine)
        assert {c["device"]["name"] for c in mine.values()} == {"Pack one" if battery == "one" else "two"}
    for topic, config in configs.items():  # every template renders a value HA accepts from the real payloads
        value = render(config["value_template"], snapshot[config["state_topic"]].decode())
        assert check_rendered(config, value, topic) == [], (topic, value)
    service = hub.registry.get("plugin.mqtt")
    assert service is not None and service.health == Health.OK and service.details["connected"] is True

    await hub.stop()
    snapshot = await retained(env.filters)
    assert snapshot[f"{base}/status"] == b"offline"
    assert snapshot[f"{base}/one/availability"] == b"offline"
    assert json.loads(snapshot[f"{base}/one/link"])["link_state"] == "stopped"
    assert configs_of(snapshot, prefix).keys() == configs.keys()  # discovery stays for HA's next start


async def test_alert_events_and_open_alerts_in_the_chosen_locale(env: BridgeEnv) -> None:
    devices = (
        "devices:\n  one:\n    name: Garage\n    manufacturer: Acme\n    model: LFP 16S"  # no braces: see write_config
    )
    hub = await env.start(extra=f"batteries: [one]\nlocale: fr\n{devices}")
    base, watcher = env.base, env.watcher
    await watcher.wait(f"{base}/one/state")
    config = (await watcher.wait(f"{env.prefix}/sensor/{node_id(base)}_one/soc/config")).json()
    assert config["device"] == {
        "identifiers": [f"{node_id(base)}_one"],
        "name": "Garage",
        "manufacturer": "Acme",
        "model": "LFP 16S",
    }
    hub.bus.publish("data.alert.generated", alert(1, battery_id="one"), origin="plugin.alerts")
    hub.bus.publish("data.alert.generated", alert(2, id="other", battery_id="two"), origin="plugin.alerts")
    event = await watcher.wait(f"{base}/one/alerts/event")
    assert not event.retain
    payload = event.json()
    assert payload["event"] == "generated" and payload["text"] == "Cellule haute"
    assert {k: payload[k] for k in ("id", "rule_id", "severity", "value", "threshold", "unit")} == {
        "id": "a1",
        "rule_id": "cell-high",
        "severity": "warning",
        "value": 3.65,
        "threshold": 3.6,
        "unit": "V",
    }
    await watcher.wait(f"{base}/one/alerts/open", lambda m: m.json()["count"] == 1)
    hub.bus.publish("data.alert.acknowledged", alert(3, "acknowledged", battery_id="one", acknowledged_by="ana"))
    opened = await watcher.wait(f"{base}/one/alerts/open", lambda m: m.json()["alerts"][:1] != [] and
                                m.json()["alerts"][0]["state"] == "acknowledged")  # fmt: skip
    assert opened.json()["highest_severity"] == "warning"
    seen = watcher.on(f"{base}/one/alerts/open").index(opened) + 1
    hub.bus.publish("data.alert.cleared", alert(4, "cleared", battery_id="one", cleared_at="2026-11-24T12:10:00Z"))
    cleared = await watcher.wait(f"{base}/one/alerts/open", lambda m: m.json()["count"] == 0, after=seen)
    assert cleared.json()["alerts"] == [] and cleared.json()["highest_severity"] is None
    events = [m.json()["event"] for m in watcher.on(f"{base}/one/alerts/event")]
    assert events == ["generated", "acknowledged", "cleared"]
    # Only the chosen battery is bridged: nothing at all for "two", not even its alert (handled before the ack).
    assert not [m.topic for m in watcher.messages if m.topic.startswith(f"{base}/two/") or "_two/" in m.topic]


async def test_discovery_is_published_again_when_home_assistant_comes_online(env: BridgeEnv) -> None:
    hub = await env.start()
    topic = f"{env.prefix}/sensor/{node_id(env.base)}_one/voltage/config"
    original = await env.watcher.wait(topic)
    await publish(topic, b"", retain=True)  # as if the broker lost it
    deleted = await env.watcher.wait(topic, lambda m: m.payload == b"")
    assert topic not in await retained(env.filters)
    await publish(f"{env.prefix}/status", b"online")  # HA's birth message
    seen = env.watcher.on(topic).index(deleted) + 1
    again = await env.watcher.wait(topic, lambda m: m.payload != b"", after=seen)
    assert json.loads(again.payload) == json.loads(original.payload)
    assert (await retained(env.filters))[topic] == original.payload
    bridge = bridge_of(hub)
    assert bridge is not None and bridge.link.connects == 1  # no reconnect involved


async def test_reloading_the_section_moves_the_bridge(env: BridgeEnv) -> None:
    hub = await env.start()
    await env.watcher.wait(f"{env.base}/one/state")
    moved = f"{env.base}/moved"  # under the watched filter, so the fixture cleans it up too
    section = dict(hub.config.section_as_written("mqtt"))
    await hub.config.update_section("mqtt", {**section, "base_topic": moved})
    assert (await hub.reload_section("mqtt"))["applied"]
    await env.watcher.wait(f"{moved}/one/state")
    status = {f"{env.base}/status": b"offline", f"{moved}/status": b"online"}
    await retained_when(env.filters, lambda found: status.items() <= found.items())
    bridge = bridge_of(hub)
    assert bridge is not None and bridge.settings.base_topic == moved
