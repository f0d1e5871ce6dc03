"""The notify plugin: email, SMS and webhook notifier kinds, and the dispatcher of alert events to notifiers."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hub.hookspecs import hookimpl
from hub.specs import NotifierSpec, Registry
from trackingbms_notify import mail, settings, sms, webhook
from trackingbms_notify.dispatcher import Dispatcher

if TYPE_CHECKING:
    from hub.core import Hub


def builtin_specs() -> list[NotifierSpec]:
    """The kinds this plugin provides."""
    return [mail.spec(), sms.spec(), webhook.spec()]


class _Kinds:
    """The notifier registry a config schema checks ``kind`` against, read at validation time.

    ``config_schema`` takes no argument, but the plugin manager runs this plugin's
    ``register_notifiers`` just before its ``config_schema``: the registry seen there is kept, and
    read when the config is validated, after every plugin (a third-party kind too) registered.
    """

    def __init__(self, registry: Registry[NotifierSpec] | None) -> None:
        self.registry = registry

    def __call__(self) -> Registry[NotifierSpec]:
        if self.registry is None:  # config_schema called on its own: the built-in kinds only
            registry: Registry[NotifierSpec] = Registry("notifier")
            for spec in builtin_specs():
                registry.add(spec)
            self.registry = registry
        return self.registry


_last_registry = _Kinds(None)  # the registry of the plugin manager collecting right now
_dispatchers: weakref.WeakKeyDictionary[Hub, Dispatcher] = weakref.WeakKeyDictionary()


@hookimpl
def register_notifiers(notifiers: Registry[NotifierSpec]) -> None:
    """email, sms and webhook."""
    for spec in builtin_specs():
        notifiers.add(spec)
    _last_registry.registry = notifiers


@hookimpl
def config_schema() -> Mapping[Any, Any]:
    """``notify: {notifications: [...]}``: one entry per notifier (docs/notifications.md)."""
    # A snapshot per call: each plugin manager (each hub) keeps its own registry.
    return settings.section_schema(_Kinds(_last_registry.registry))


@hookimpl
async def hub_started(hub: Hub, config: Mapping[str, Any]) -> None:
    """Start one channel per enabled notifier and route alert events to them."""
    dispatcher = Dispatcher(hub, settings.entries(config), hub.plugins.notifiers)
    _dispatchers[hub] = dispatcher
    await dispatcher.start()


@hookimpl
async def hub_stopping(hub: Hub) -> None:
    """Persist what is queued and stop every channel."""
    dispatcher = _dispatchers.pop(hub, None)
    if dispatcher is not None:
        await dispatcher.stop()


def dispatcher_of(hub: Hub) -> Dispatcher | None:
    """The running dispatcher of a hub (tests and diagnostics)."""
    return _dispatchers.get(hub)
