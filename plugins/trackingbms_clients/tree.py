"""The hierarchical display: clients > sites > batteries with counts and the worst open alert per node."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.storage.base import TenantStore
from hub.storage.records import AlertRecord, iso

RANK = {"info": 1, "warning": 2, "critical": 3}
_PAGE = 1000


async def open_alerts(store: TenantStore) -> list[AlertRecord]:
    """Every open alert of the tenant, read a page at a time."""
    found: list[AlertRecord] = []
    while True:
        page, total = await store.alerts(state="open", limit=_PAGE, offset=len(found))
        found.extend(page)
        if not page or len(found) >= total:
            return found


def worse(a: AlertRecord | None, b: AlertRecord | None) -> AlertRecord | None:
    """The more severe alert; on a tie the one raised first (it has waited longest)."""
    if a is None or b is None:
        return a or b
    key_a, key_b = (-RANK.get(a.severity, 0), a.raised_at, a.id), (-RANK.get(b.severity, 0), b.raised_at, b.id)
    return a if key_a <= key_b else b


@dataclass
class Node:
    """One node of the tree while it is built."""

    type: str
    id: str
    name: str
    children: list[Node] = field(default_factory=list)
    alerts: list[AlertRecord] = field(default_factory=list)
    worst: AlertRecord | None = None  # set by to_dict

    def to_dict(self) -> dict[str, Any]:
        """The node with its subtree's counts and worst open alert."""
        kids = [c.to_dict() for c in self.children]
        counts = {"clients": 0, "sites": 0, "batteries": 0, "open_alerts": len(self.alerts)}
        worst: AlertRecord | None = None
        for alert in self.alerts:
            worst = worse(worst, alert)
        for child, kid in zip(self.children, kids, strict=True):
            counts[{"client": "clients", "site": "sites", "battery": "batteries"}[child.type]] += 1
            for key in counts:
                counts[key] += kid["counts"][key]
            worst = worse(worst, child.worst)
        self.worst = worst
        return {
            "type": self.type,
            "id": self.id,
            "name": self.name,
            "counts": counts,
            "worst_alert": None if worst is None else alert_brief(worst),
            "children": kids,
        }


def alert_brief(alert: AlertRecord) -> dict[str, Any]:
    """What the tree shows of an alert."""
    return {
        "id": alert.id,
        "severity": alert.severity,
        "state": alert.state,
        "battery_id": alert.battery_id,
        "rule_id": alert.rule_id,
        "raised_at": iso(alert.raised_at),
    }


def build(
    rows: dict[str, list[tuple[str, str, str | None]]],
    alerts: list[AlertRecord],
) -> list[Node]:
    """The roots of the tree of the given nodes: ``rows`` maps client/site/battery to (id, name,
    parent id) of the visible nodes; a node whose parent is not among them is a root."""
    nodes = {(kind, i): Node(kind, i, name) for kind, items in rows.items() for i, name, _ in items}
    for alert in alerts:
        battery = nodes.get(("battery", alert.battery_id))
        if battery is not None:
            battery.alerts.append(alert)
    parent_kind = {"client": "client", "site": "client", "battery": "site"}
    roots: list[Node] = []
    for kind in ("client", "site", "battery"):  # clients first: a client's sites follow its clients
        for node_id, _, parent in rows.get(kind, []):
            above = nodes.get((parent_kind[kind], parent)) if parent is not None else None
            (above.children if above is not None else roots).append(nodes[(kind, node_id)])
    return roots
