"""Every hook a plugin can implement is called with the arguments hub/hookspecs.py documents."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import pytest
from aiohttp import web

from hub import hookspecs
from hub.hookspecs import hookimpl
from hub.plugins import PluginManager
from hub.specs import (
    AuthProviderSpec,
    DriverSpec,
    NotifierSpec,
    ProcessorSpec,
    Registry,
    SimulatorSpec,
)

# The public plugin API: hook name -> argument names (what docs/hooks.md promises plugin authors).
DOCUMENTED_ARGUMENTS = {
    "config_schema": (),
    "register_drivers": ("drivers",),
    "register_simulators": ("simulators",),
    "register_processors": ("processors",),
    "register_notifiers": ("notifiers",),
    "register_auth_providers": ("providers",),
    "register_routes": ("app", "hub"),
    "hub_started": ("hub", "config"),
    "hub_stopping": ("hub",),
}

SCHEMA = {"threshold": int}


def _hookspec_names() -> set[str]:
    marker = f"{hookspecs.PROJECT}_spec"
    return {name for name, obj in vars(hookspecs).items() if inspect.isfunction(obj) and hasattr(obj, marker)}


class Everything:
    """A plugin implementing every hook and remembering what it was given."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}

    @hookimpl
    def config_schema(self) -> Mapping[Any, Any]:
        self.calls["config_schema"] = {}
        return SCHEMA

    @hookimpl
    def register_drivers(self, drivers: Registry[DriverSpec]) -> None:
        self.calls["register_drivers"] = {"drivers": drivers}
        drivers.add(DriverSpec("every-driver", "d", lambda config, context: None))  # type: ignore[arg-type,return-value]

    @hookimpl
    def register_simulators(self, simulators: Registry[SimulatorSpec]) -> None:
        self.calls["register_simulators"] = {"simulators": simulators}
        simulators.add(SimulatorSpec("every-sim", "s", lambda options, data_dir: None))  # type: ignore[arg-type,return-value]

    @hookimpl
    def register_processors(self, processors: Registry[ProcessorSpec]) -> None:
        self.calls["register_processors"] = {"processors": processors}
        processors.add(ProcessorSpec("every-step", lambda config: None, order=150))  # type: ignore[arg-type,return-value]

    @hookimpl
    def register_notifiers(self, notifiers: Registry[NotifierSpec]) -> None:
        self.calls["register_notifiers"] = {"notifiers": notifiers}
        notifiers.add(NotifierSpec("every-notifier", lambda config: None))

    @hookimpl
    def register_auth_providers(self, providers: Registry[AuthProviderSpec]) -> None:
        self.calls["register_auth_providers"] = {"providers": providers}
        providers.add(AuthProviderSpec("every-auth", lambda config: None))

    @hookimpl
    def register_routes(self, app: web.Application, hub: Any) -> None:
        self.calls["register_routes"] = {"app": app, "hub": hub}

        async def hello(request: web.Request) -> web.Response:
            return web.Response(text="hi")

        app.router.add_get("/plugins/every/hello", hello, name="every-hello")

    @hookimpl
    def hub_started(self, hub: Any, config: Mapping[str, Any]) -> None:
        self.calls["hub_started"] = {"hub": hub, "config": config}

    @hookimpl
    def hub_stopping(self, hub: Any) -> None:
        self.calls["hub_stopping"] = {"hub": hub}


@pytest.fixture
def plugin() -> Everything:
    return Everything()


@pytest.fixture
def manager(plugin: Everything) -> PluginManager:
    manager = PluginManager()
    manager.register(plugin, "every")
    manager.collect()
    return manager


def test_every_hookspec_is_covered_here() -> None:
    assert _hookspec_names() == set(DOCUMENTED_ARGUMENTS)
    assert {name for name in vars(Everything) if not name.startswith("_")} == set(DOCUMENTED_ARGUMENTS)


@pytest.mark.parametrize("hook", sorted(DOCUMENTED_ARGUMENTS))
def test_hookspec_arguments_are_the_documented_ones(hook: str) -> None:
    spec = getattr(PluginManager().pm.hook, hook).spec
    assert spec is not None
    assert tuple(spec.argnames) == DOCUMENTED_ARGUMENTS[hook]


@pytest.mark.parametrize(
    ("hook", "argument", "registry", "spec_name"),
    [
        ("register_drivers", "drivers", "drivers", "every-driver"),
        ("register_simulators", "simulators", "simulators", "every-sim"),
        ("register_processors", "processors", "processors", "every-step"),
        ("register_notifiers", "notifiers", "notifiers", "every-notifier"),
        ("register_auth_providers", "providers", "auth_providers", "every-auth"),
    ],
)
def test_register_hooks_get_the_managers_registry(
    plugin: Everything, manager: PluginManager, hook: str, argument: str, registry: str, spec_name: str
) -> None:
    target: Registry[Any] = getattr(manager, registry)
    assert plugin.calls[hook] == {argument: target}
    assert spec_name in target
    assert target.owners[spec_name] == "every"
    assert manager.plugins["every"].state == "loaded"


def test_config_schema_is_kept_under_the_plugin_name(plugin: Everything, manager: PluginManager) -> None:
    assert "config_schema" in plugin.calls
    assert manager.schemas == {"every": SCHEMA}


def test_register_routes_receives_the_app_and_hub(plugin: Everything, manager: PluginManager) -> None:
    app = web.Application()
    hub = object()
    assert manager.call_one(plugin, "register_routes", app=app, hub=hub) is None
    assert plugin.calls["register_routes"]["app"] is app
    assert plugin.calls["register_routes"]["hub"] is hub
    assert app.router["every-hello"].url_for().path == "/plugins/every/hello"


def test_hub_started_receives_hub_and_own_section(plugin: Everything, manager: PluginManager) -> None:
    hub = object()
    section = {"threshold": 3}
    manager.call_one(plugin, "hub_started", hub=hub, config=section)
    assert plugin.calls["hub_started"] == {"hub": hub, "config": section}


def test_hub_stopping_receives_the_hub(plugin: Everything, manager: PluginManager) -> None:
    hub = object()
    manager.call_one(plugin, "hub_stopping", hub=hub)
    assert plugin.calls["hub_stopping"] == {"hub": hub}


async def test_async_hub_started_and_stopping_return_awaitables() -> None:
    calls: list[tuple[str, Any]] = []

    class AsyncPlugin:
        @hookimpl
        async def hub_started(self, hub: Any, config: Mapping[str, Any]) -> None:
            calls.append(("started", config))

        @hookimpl
        async def hub_stopping(self, hub: Any) -> None:
            calls.append(("stopping", hub))

    plugin = AsyncPlugin()
    manager = PluginManager()
    manager.register(plugin, "async")
    manager.collect()
    hub = object()
    started = manager.call_one(plugin, "hub_started", hub=hub, config={"a": 1})
    assert inspect.isawaitable(started)
    assert calls == []  # nothing ran until the hub awaits it
    await started
    await manager.call_one(plugin, "hub_stopping", hub=hub)
    assert calls == [("started", {"a": 1}), ("stopping", hub)]


def test_call_one_returns_none_for_a_hook_the_plugin_does_not_implement(manager: PluginManager) -> None:
    class Quiet:
        @hookimpl
        def hub_stopping(self, hub: Any) -> None:
            raise AssertionError("not this one")

    quiet = Quiet()
    manager.register(quiet, "quiet")
    assert manager.call_one(quiet, "hub_started", hub=object(), config={}) is None
