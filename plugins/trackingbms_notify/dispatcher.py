"""The dispatcher: routes alert events from the bus to each notifier's channel, never waiting on one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hub.bus import Event, Subscription
from hub.registry import Health
from hub.specs import NotifierSpec, Registry
from trackingbms_notify.channel import Channel
from trackingbms_notify.delivery import Notifier
from trackingbms_notify.routing import event_kind
from trackingbms_notify.settings import NotifierEntry

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
SERVICE_KIND = "notifier"
PATTERN = "data.alert.*"


def build_notifier(spec: NotifierSpec, entry: NotifierEntry) -> Notifier:
    """Call the kind's factory with the entry; the result must have ``async send(delivery)``."""
    notifier = spec.factory(entry.options)
    if not isinstance(notifier, Notifier):
        raise TypeError(f"notifier kind {entry.kind!r} built a {type(notifier).__name__} without send(delivery)")
    return notifier


class Dispatcher:
    """Everything the ``notify`` plugin runs in one hub."""

    def __init__(self, hub: Hub, entries: Sequence[NotifierEntry], kinds: Registry[NotifierSpec]) -> None:
        self.hub = hub
        self.entries = list(entries)
        self.kinds = kinds
        self.channels: dict[str, Channel] = {}
        self.subscription: Subscription | None = None

    async def start(self) -> None:
        """Register one service per notifier, start the enabled ones, then subscribe to alert events."""
        registry = self.hub.registry
        wanted = {f"notifier.{entry.name}" for entry in self.entries}
        for service in registry.all():  # notifiers removed from the config by a reload
            if service.kind == SERVICE_KIND and service.name not in wanted:
                registry.remove(service.name)
        for entry in self.entries:
            self._start_one(entry)
        # The handler only routes and queues: quick and never blocking, so the bus queue stays short.
        self.subscription = self.hub.bus.subscribe(PATTERN, self.route, name="notify.dispatcher")

    def _start_one(self, entry: NotifierEntry) -> None:
        service = f"notifier.{entry.name}"
        registry = self.hub.registry
        if not entry.enabled:
            registry.register(service, SERVICE_KIND, Health.DISABLED)
            return
        registry.register(service, SERVICE_KIND)
        spec = self.kinds.get(entry.kind)
        try:
            if spec is None:  # validated at load time; a kind's plugin may have failed since
                raise LookupError(f"notifier kind {entry.kind!r} is not registered")
            notifier = build_notifier(spec, entry)
        except Exception as err:
            _LOGGER.exception("Notifier %s failed to start", entry.name)
            registry.set_health(service, Health.FAILED, f"{type(err).__name__}: {err}")
            return
        assert self.hub.storage is not None  # plugins start after the storage
        channel = Channel(entry, notifier, self.hub.storage, registry)
        self.channels[entry.name] = channel
        channel.start()
        registry.set_health(service, Health.OK, None, kind=entry.kind, **channel.counts)

    def route(self, event: Event) -> None:
        """Bus handler: hand the event to every notifier whose route matches."""
        kind = event_kind(event.name, event.data)
        if kind is None:
            return
        for channel in self.channels.values():
            if channel.entry.route.matches(kind, event.data):
                channel.offer(kind, event.data)

    async def stop(self) -> None:
        """Route what the bus still holds, persist every queue, stop the channels."""
        if self.subscription is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self.subscription.drain()
            self.subscription.cancel()
            self.subscription = None
        await asyncio.gather(*(channel.stop() for channel in self.channels.values()))
        for channel in self.channels.values():
            self.hub.registry.set_health(channel.service, Health.STOPPED, None, **channel.counts)
        self.channels = {}
