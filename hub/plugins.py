"""Plugin manager: finds entry-point plugins, loads them, and collects what they register."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from hub import hookspecs
from hub.specs import (
    AuthProviderSpec,
    DriverSpec,
    NotifierSpec,
    ProcessorSpec,
    Registry,
    SimulatorSpec,
)

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class PluginInfo:
    """What the hub knows of one plugin."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    state: str  # loaded | disabled | failed
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "state": self.state,
            "error": self.error,
        }


class PluginManager:
    """Wraps pluggy: one entry-point group, per-plugin failure isolation, registries."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.drivers: Registry[DriverSpec] = Registry("driver")
        self.simulators: Registry[SimulatorSpec] = Registry("simulator")
        self.processors: Registry[ProcessorSpec] = Registry("processor")
        self.notifiers: Registry[NotifierSpec] = Registry("notifier")
        self.auth_providers: Registry[AuthProviderSpec] = Registry("auth provider")
        self.schemas: dict[str, Mapping[Any, Any]] = {}
        self._collected = False

    def discover(self, disabled: Iterable[str] = ()) -> None:
        """Load every plugin of the entry-point group, skipping disabled and broken ones."""
        blocked = set(disabled)
        for entry_point in sorted(metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda e: e.name):
            if entry_point.name in self.plugins:
                continue  # the same distribution seen twice on sys.path
            dist = entry_point.dist
            info = PluginInfo(
                entry_point.name,
                entry_point.value,
                dist.name if dist else None,
                dist.version if dist else None,
                "disabled" if entry_point.name in blocked else "loaded",
            )
            self.plugins[info.name] = info
            if info.state == "disabled":
                self.pm.set_blocked(info.name)
                continue
            try:
                self.register(entry_point.load(), info.name)
            except Exception as err:
                self._fail(info.name, err)

    def register(self, plugin: ModuleType | object, name: str) -> None:
        """Register one plugin object or module (entry points and tests use this)."""
        if name not in self.plugins:
            module = getattr(plugin, "__name__", type(plugin).__name__)
            self.plugins[name] = PluginInfo(name, str(module), None, None, "loaded")
        self.pm.register(plugin, name=name)

    def _fail(self, name: str, err: BaseException) -> None:
        _LOGGER.error("Plugin %s failed to load: %s: %s", name, type(err).__name__, err)
        _LOGGER.debug("Plugin %s traceback", name, exc_info=err)
        info = self.plugins[name]
        info.state, info.error = "failed", f"{type(err).__name__}: {err}"
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        self.pm.set_blocked(name)

    def collect(self) -> None:
        """Run the register_* and config_schema hooks, one plugin at a time (once)."""
        if self._collected:
            return
        self._collected = True
        steps: list[tuple[str, Registry[Any]]] = [
            ("register_drivers", self.drivers),
            ("register_simulators", self.simulators),
            ("register_processors", self.processors),
            ("register_notifiers", self.notifiers),
            ("register_auth_providers", self.auth_providers),
        ]
        for name, plugin in list(self.pm.list_name_plugin()):
            try:
                for hook_name, registry in steps:
                    registry.current_plugin = name
                    self.call_one(plugin, hook_name, **{_arg(hook_name): registry})
                schema = self.call_one(plugin, "config_schema")
                if schema is not None:
                    self.schemas[name] = schema
            except Exception as err:
                self._fail(name, err)

    def call_one(self, plugin: object, hook_name: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of a hook (None if it has none)."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin is plugin:
                # Like pluggy, pass only the arguments the implementation asks for.
                return impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        return None

    def loaded(self) -> list[tuple[str, object]]:
        """(name, plugin) of every plugin that loaded."""
        return [(n, p) for n, p in self.pm.list_name_plugin() if p is not None]

    def infos(self) -> list[PluginInfo]:
        """Every plugin seen, with its state."""
        return sorted(self.plugins.values(), key=lambda i: i.name)


def _arg(hook_name: str) -> str:
    return {
        "register_drivers": "drivers",
        "register_simulators": "simulators",
        "register_processors": "processors",
        "register_notifiers": "notifiers",
        "register_auth_providers": "providers",
    }[hook_name]
