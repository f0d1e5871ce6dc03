"""A hub running the real alerts plugin on a simulated Daly pack whose SOC the test moves across a rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trackingbms_daly.simulator import DalySimulator

from hub.core import Hub
from hub.storage.records import AlertRecord

# The hub's head: the real alerts plugin with its rules in <config dir>/alerts, no web server.
HEAD = """
hub:
  data_dir: {data_dir}
http:
  enabled: false
logging:
  level: INFO
  file: null
simulators:
  - kind: daly
    link: sim/one
    cells: 4
    temps: 1
    seed: 1
batteries:
  - id: one
    name: Pack one
    driver: daly
    port: sim/one
    poll_interval: 0.2
alerts:
  check_interval: 0.1
  reminder_interval: 0
"""
# The simulated pack starts at 60 % SOC: the rule fires only when the test sets it above 90 %.
SOC_RULE = """
rules:
  - id: soc-high
    name: {en: SOC high, fr: SOC élevé}
    kind: threshold
    metric: soc
    above: 90
    clear: 80
    severity: critical
"""


def write_rules(config_dir: Path) -> None:
    """The rule file the alerts plugin reads (rules_dir defaults to ``alerts`` next to the config)."""
    rules = config_dir / "alerts"
    rules.mkdir(exist_ok=True)
    (rules / "soc.yaml").write_text(SOC_RULE, encoding="utf-8")


def set_soc(hub: Hub, soc: float) -> None:
    """Recalibrate the simulated pack, as a BMS 'set SOC' command would."""
    simulator = hub.simulators[0]
    assert isinstance(simulator, DalySimulator)
    simulator.device.pack.set_soc(soc)


async def alerts_in(hub: Hub, state: str) -> list[AlertRecord]:
    """The soc-high alerts of battery one in a state ("open" or "cleared")."""
    found, _ = await hub.store.alerts(rule_id="soc-high", state=state)
    return found


async def stored_steps(hub: Hub, alert_id: str) -> list[str]:
    """The alert's history kinds, oldest first."""
    return [step.kind for step in await hub.store.alert_events(alert_id)]


def bodies(requests: list[Any]) -> list[dict[str, Any]]:
    """The JSON bodies of webhook requests."""
    return [json.loads(request.body) for request in requests]
