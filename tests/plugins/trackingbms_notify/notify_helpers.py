"""Helpers for the notify tests: alert events as the alerts plugin publishes them, a real HTTP receiver."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from trackingbms_notify.plugin import dispatcher_of

from hub.bus import DATA_ALERT_GENERATED
from hub.core import Hub
from hub.storage.records import AlertRecord, parse_iso
from tests.helpers import wait_for

DOCS = Path(__file__).resolve().parents[3] / "docs" / "notifications.md"
# The hub's own config head for these tests: no web server, and the plugins that could publish
# alert events of their own (rules on the simulated batteries) or need a broker are disabled.
HUB_HEAD = """
hub:
  data_dir: {data_dir}
http:
  enabled: false
logging:
  level: INFO
  file: null
plugins:
  disabled:
    - alerts
    - mqtt
"""
ACK = "data.alert.acknowledged"
CLEARED = "data.alert.cleared"
_sequence = iter(range(1, 1_000_000))


def alert_event(**changes: Any) -> dict[str, Any]:
    """An alert event payload with every key of the contract (docs/notifications.md, "The alert")."""
    sequence = next(_sequence)
    payload: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "tenant_id": "default",
        "rule_id": f"cell_high_{sequence}",  # the store keeps one open alert per rule and battery
        "rule_name": "Cell voltage high",
        "kind": "threshold",
        "battery_id": "one",
        "battery_name": "Pack one",
        "site_id": None,
        "client_path": [],
        "severity": "critical",
        "state": "raised",
        "metric": "cell_max",
        "value": 3.66,
        "threshold": 3.65,
        "unit": "V",
        "message": {"en": "Cell 3 at 3.66 V, above 3.65 V", "fr": "Cellule 3 à 3,66 V, au-dessus de 3,65 V"},
        "raised_at": "2026-05-01T12:00:00Z",
        "acknowledged_at": None,
        "acknowledged_by": None,
        "comment": None,
        "cleared_at": None,
        "reminder": False,
        "sequence": sequence,
    }
    payload.update(changes)
    return payload


def later(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The next event of the same alert (acknowledged, cleared, a reminder), with its own sequence."""
    return {**payload, **changes, "sequence": next(_sequence)}


def _record(payload: dict[str, Any]) -> AlertRecord:
    raised = parse_iso(payload["raised_at"].replace("Z", "+00:00"))
    assert isinstance(raised, datetime)
    return AlertRecord(
        id=payload["id"],
        rule_id=payload["rule_id"],
        kind=payload["kind"],
        battery_id=payload["battery_id"],
        severity=payload["severity"],
        state=payload["state"],
        raised_at=raised,
        metric=payload["metric"],
        value=payload["value"],
        threshold=payload["threshold"],
        message=payload["message"],
    )


async def publish(hub: Hub, payload: dict[str, Any], name: str = DATA_ALERT_GENERATED) -> dict[str, Any]:
    """Store the alert (as the alerts plugin does before publishing), then publish its event."""
    assert hub.storage is not None
    await hub.storage.for_tenant(payload["tenant_id"]).save_alert(_record(payload))
    hub.bus.publish(name, payload, origin="plugin.alerts")
    return payload


async def history(hub: Hub, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The alert's delivery history as dicts (kind plus details)."""
    assert hub.storage is not None
    events = await hub.storage.for_tenant(payload["tenant_id"]).alert_events(payload["id"])
    return [{"kind": e.kind, **e.details} for e in events]


async def settle(hub: Hub, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait until every routed event was handled: written to the outbox, then sent or dropped."""
    dispatcher = dispatcher_of(hub)
    assert dispatcher is not None and dispatcher.subscription is not None and hub.storage is not None
    await dispatcher.subscription.drain()
    storage = hub.storage

    async def idle() -> bool:
        for channel in dispatcher.channels.values():
            await channel.queue.join()
            for tenant in channel.tenants:
                if await storage.for_tenant(tenant).outbox_pending(channel.outbox):
                    return False
        return True

    await wait_for(idle, timeout=timeout)


def free_port() -> int:
    """A TCP port nothing listens on right now (for a server that starts later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def doc_snippet(marker: str, language: str = "python") -> str:
    """The code block that follows an HTML comment marker in docs/notifications.md."""
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(rf"<!-- {re.escape(marker)} -->\s*```{language}\n(.*?)```", text, re.S)
    assert found is not None, f"no snippet {marker!r} in {DOCS}"
    return found.group(1)


@dataclass
class Request:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)


Behaviour = Callable[[Request], Awaitable[web.StreamResponse]]


async def accept(request: Request) -> web.StreamResponse:
    """Answer 200."""
    return web.json_response({"ok": True})


class Receiver:
    """A real aiohttp server that records every request and answers as ``behaviour`` says."""

    def __init__(self, behaviour: Behaviour = accept) -> None:
        self.behaviour = behaviour
        self.requests: list[Request] = []
        self.completed: list[Request] = []
        self.release = asyncio.Event()  # lets hanging behaviours return before the server stops
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        form = (
            {k: str(v) for k, v in (await request.post()).items()}
            if request.content_type.endswith("urlencoded")
            else {}
        )
        captured = Request(request.path, dict(request.headers), body, form)
        self.requests.append(captured)
        response = await self.behaviour(captured)
        self.completed.append(captured)
        return response

    async def start(self, port: int = 0) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's name
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        parsed = []
        for envelope in self.envelopes:
            content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
            message = email.message_from_bytes(content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed
