"""Commands over the real Mosquitto, applied through the coordinator of a simulated Daly board and audited."""

from __future__ import annotations

import textwrap
from typing import Any

from trackingbms_daly.simulator import DalySimulator

from hub.core import Hub
from hub.storage.base import AuditEntry
from tests.plugins.trackingbms_mqtt.conftest import BridgeEnv
from tests.plugins.trackingbms_mqtt.mqtt_helpers import publish, retained

# Two batteries on one simulated board (as in tests/hub/web/test_control_api.py): only one may write.
CONFIG = textwrap.dedent("""
    hub: {{data_dir: {data_dir}}}
    http: {{port: 0}}
    logging: {{file: null}}
    simulators:
      - {{kind: daly, link: sim/a, cells: 8, temps: 1, seed: 5}}
    batteries:
      - {{id: writable, driver: daly, port: sim/a, poll_interval: 0.3, control: true}}
      - {{id: readonly, driver: daly, port: sim/a, poll_interval: 0.3}}
""")


async def command(env: BridgeEnv, battery: str, action: str, payload: str, retain: bool = False) -> dict[str, Any]:
    """Send a command as a user would, and wait for its result."""
    topic = f"{env.base}/{battery}/set/{action}/result"
    seen = len(env.watcher.on(topic))
    await publish(f"{env.base}/{battery}/set/{action}", payload, retain=retain)
    result: dict[str, Any] = (await env.watcher.wait(topic, after=seen)).json()
    return result


async def audit(hub: Hub, target: str) -> list[AuditEntry]:
    entries, _ = await hub.store.audit(50, 0, target)
    return entries


async def test_commands_apply_only_where_control_is_enabled(env: BridgeEnv) -> None:
    hub = await env.start(CONFIG)
    pack = hub.simulators[0]
    assert isinstance(pack, DalySimulator)
    await env.watcher.wait(f"{env.base}/writable/state")

    result = await command(env, "writable", "charge_mos", "OFF")
    assert (result["result"], result["status"], result["value"]) == ("ok", 200, False)
    assert result["details"] == {"requested": False, "read_back": False, "confirmed": True}
    assert pack.device.pack.charge_mos is False
    # The MOSFET state then shows in the readings HA's binary sensor reads.
    await env.watcher.wait(f"{env.base}/writable/state", lambda m: m.json()["charge_mos"] is False)

    result = await command(env, "writable", "soc", "42.5")
    assert result["result"] == "ok" and result["details"]["read_back"] == 42.5

    result = await command(env, "readonly", "discharge_mos", "OFF")
    assert (result["result"], result["status"]) == ("rejected", 403) and "control: true" in result["message"]
    assert pack.device.pack.discharge_mos is True

    entries = await audit(hub, "writable")
    assert [(e.action, e.result, e.actor) for e in entries] == [
        ("bms.soc", "ok", "mqtt"),
        ("bms.charge_mos", "ok", "mqtt"),
    ]
    assert entries[1].request == {"action": "charge_mos", "value": False}
    assert entries[1].details["outcome"]["confirmed"] is True
    readonly = await audit(hub, "readonly")
    assert [(e.action, e.result, e.actor) for e in readonly] == [("bms.discharge_mos", "rejected", "mqtt")]


async def test_bad_unknown_and_retained_commands_are_refused_and_audited(env: BridgeEnv) -> None:
    # A retained command left on the broker reaches the bridge when it subscribes: stale, so refused.
    stale = f"{env.base}/writable/set/discharge_mos"
    await publish(stale, "OFF", retain=True)
    hub = await env.start(CONFIG)
    pack = hub.simulators[0]
    assert isinstance(pack, DalySimulator)
    result = (await env.watcher.wait(f"{stale}/result")).json()
    assert (result["result"], result["status"]) == ("rejected", 400)
    assert result["message"].startswith("retained commands are ignored")
    await env.watcher.wait(f"{env.base}/writable/state")
    assert pack.device.pack.discharge_mos is True

    result = await command(env, "writable", "soc", "120")
    assert (result["result"], result["status"]) == ("rejected", 422)
    result = await command(env, "writable", "fly", "1")
    assert (result["result"], result["status"]) == ("rejected", 422) and "unknown action" in result["message"]
    result = await command(env, "ghost", "restart", "PRESS")
    assert (result["result"], result["status"]) == ("rejected", 404)
    # Sent live with retain, a command runs once; the bridge then deletes the retained copy so it never replays.
    result = await command(env, "writable", "charge_mos", "OFF", retain=True)
    assert result["result"] == "ok" and pack.device.pack.charge_mos is False
    assert not [t for t in await retained(env.filters) if "/set/" in t]

    entries = await audit(hub, "writable")
    assert [(e.action, e.result) for e in entries] == [
        ("bms.charge_mos", "ok"),
        ("bms.fly", "rejected"),
        ("bms.soc", "rejected"),
        ("bms.discharge_mos", "rejected"),
    ]
    assert entries[-1].details["status"] == 400 and entries[-1].actor == "mqtt"
    assert [(e.action, e.result) for e in await audit(hub, "ghost")] == [("bms.restart", "rejected")]
