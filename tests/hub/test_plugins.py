"""Tests for the plugin manager: failure isolation, duplicate names, partial hook arguments, discovery."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from hub.hookspecs import ENTRY_POINT_GROUP, hookimpl
from hub.plugins import PluginManager
from hub.specs import DriverSpec, NotifierSpec, Registry


def driver(name: str) -> DriverSpec:
    return DriverSpec(name, f"{name} driver", lambda config, context: None)  # type: ignore[arg-type,return-value]


class GivesDriver:
    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    @hookimpl
    def register_drivers(self, drivers: Registry[DriverSpec]) -> None:
        self.calls += 1
        drivers.add(driver(self.name))


class BrokenSimulators:
    """Registers a driver, then fails in a later register hook."""

    @hookimpl
    def register_drivers(self, drivers: Registry[DriverSpec]) -> None:
        drivers.add(driver("half-done"))

    @hookimpl
    def register_simulators(self, simulators: Registry[Any]) -> None:
        raise RuntimeError("simulator table is corrupt")

    @hookimpl
    def hub_started(self, hub: Any, config: Any) -> None:
        raise AssertionError("a failed plugin must not be started")


@pytest.mark.parametrize("broken_first", [True, False], ids=["broken-first", "broken-last"])
def test_plugin_whose_register_hook_raises_is_failed_and_others_load(broken_first: bool) -> None:
    manager = PluginManager()
    good = GivesDriver("good-driver")
    plugins: list[tuple[str, object]] = [("broken", BrokenSimulators()), ("good", good)]
    for name, plugin in plugins if broken_first else reversed(plugins):
        manager.register(plugin, name)
    manager.collect()

    broken = manager.plugins["broken"]
    assert broken.state == "failed"
    assert broken.error == "RuntimeError: simulator table is corrupt"
    assert manager.plugins["good"].state == "loaded"
    assert good.calls == 1
    assert "good-driver" in manager.drivers
    assert [name for name, _ in manager.loaded()] == ["good"]
    # The failed plugin is out of the hook calls from now on.
    assert manager.pm.is_blocked("broken")
    assert all(impl.plugin_name != "broken" for impl in manager.pm.hook.hub_started.get_hookimpls())


def test_duplicate_registration_fails_the_second_plugin() -> None:
    manager = PluginManager()
    first, second = GivesDriver("daly"), GivesDriver("daly")
    manager.register(first, "first")
    manager.register(second, "second")
    manager.collect()
    assert manager.plugins["first"].state == "loaded"
    assert manager.plugins["second"].state == "failed"
    error = manager.plugins["second"].error
    assert error is not None
    assert error.endswith(": driver 'daly' already registered by plugin 'first'")
    assert manager.drivers.owners["daly"] == "first"
    assert [name for name, _ in manager.loaded()] == ["first"]


def test_same_name_in_different_registries_is_fine() -> None:
    class Notifier:
        @hookimpl
        def register_notifiers(self, notifiers: Registry[NotifierSpec]) -> None:
            notifiers.add(NotifierSpec("daly", lambda config: None))

    manager = PluginManager()
    manager.register(GivesDriver("daly"), "drivers")
    manager.register(Notifier(), "notifiers")
    manager.collect()
    assert {info.state for info in manager.infos()} == {"loaded"}


def test_implementation_may_take_only_some_arguments() -> None:
    seen: list[Any] = []

    class Partial:
        @hookimpl
        def hub_started(self, config: Any) -> None:
            seen.append(("started", config))

        @hookimpl
        def hub_stopping(self) -> None:
            seen.append(("stopping",))

        @hookimpl
        def register_notifiers(self) -> None:
            seen.append(("notifiers",))

    plugin = Partial()
    manager = PluginManager()
    manager.register(plugin, "partial")
    manager.collect()
    manager.call_one(plugin, "hub_started", hub=object(), config={"x": 1})
    manager.call_one(plugin, "hub_stopping", hub=object())
    assert seen == [("notifiers",), ("started", {"x": 1}), ("stopping",)]
    assert manager.plugins["partial"].state == "loaded"


def test_implementation_with_an_unknown_argument_is_refused() -> None:
    class Wrong:
        @hookimpl
        def hub_started(self, hub: Any, settings: Any) -> None:
            raise AssertionError("never called")

    manager = PluginManager()
    with pytest.raises(pluggy.PluginValidationError):
        manager.register(Wrong(), "wrong")


def test_collect_runs_once() -> None:
    manager = PluginManager()
    plugin = GivesDriver("once")
    manager.register(plugin, "once")
    manager.collect()
    manager.collect()
    assert plugin.calls == 1
    assert manager.plugins["once"].state == "loaded"


# --- discovery from entry points -----------------------------------------------------------------

GOOD_PLUGIN = """
from hub.hookspecs import hookimpl
from hub.specs import DriverSpec

LOADED = []


@hookimpl
def register_drivers(drivers):
    LOADED.append(True)
    drivers.add(DriverSpec("{driver}", "from an installed package", lambda config, context: None))


@hookimpl
def config_schema():
    return {{"speed": int}}
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for fake installed distributions; their modules are forgotten after."""
    directory = tmp_path / "site"
    directory.mkdir()
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(directory))
    yield directory
    for name in set(sys.modules) - before:
        if name.startswith("tbmstest_"):
            del sys.modules[name]


def install(site: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write a distribution the way pip would: packages plus a .dist-info with entry points."""
    for module, source in modules.items():
        package = site / module
        package.mkdir()
        (package / "__init__.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}", encoding="utf-8")


def test_discover_finds_an_installed_plugin(site: Path) -> None:
    install(
        site,
        "tbmstest-good",
        "0.1",
        {"tbmstest_good": "tbmstest_good_mod"},
        {"tbmstest_good_mod": GOOD_PLUGIN.format(driver="tbmstest-bms")},
    )
    manager = PluginManager()
    manager.discover()
    manager.collect()
    info = manager.plugins["tbmstest_good"]
    assert info.to_dict() == {
        "name": "tbmstest_good",
        "module": "tbmstest_good_mod",
        "distribution": "tbmstest-good",
        "version": "0.1",
        "state": "loaded",
        "error": None,
    }
    assert manager.drivers.owners["tbmstest-bms"] == "tbmstest_good"
    assert manager.schemas["tbmstest_good"] == {"speed": int}
    assert sys.modules["tbmstest_good_mod"].LOADED == [True]


def test_discover_leaves_a_disabled_plugin_blocked_and_unimported(site: Path) -> None:
    install(
        site,
        "tbmstest-off",
        "2.0",
        {"tbmstest_off": "tbmstest_off_mod"},
        {"tbmstest_off_mod": GOOD_PLUGIN.format(driver="tbmstest-off-bms")},
    )
    manager = PluginManager()
    manager.discover(disabled=["tbmstest_off"])
    manager.collect()
    info = manager.plugins["tbmstest_off"]
    assert (info.state, info.error, info.version) == ("disabled", None, "2.0")
    assert manager.pm.is_blocked("tbmstest_off")
    assert "tbmstest_off_mod" not in sys.modules
    assert "tbmstest-off-bms" not in manager.drivers
    assert "tbmstest_off" not in dict(manager.loaded())


def test_broken_entry_point_is_failed_while_others_load(site: Path) -> None:
    install(
        site,
        "tbmstest-mixed",
        "1.0",
        {
            "tbmstest_broken": "tbmstest_broken_mod",
            "tbmstest_fine": "tbmstest_fine_mod",
            "tbmstest_nomodule": "tbmstest_absent_mod",
        },
        {
            "tbmstest_broken_mod": 'raise ImportError("libfoo is not installed")\n',
            "tbmstest_fine_mod": GOOD_PLUGIN.format(driver="tbmstest-fine-bms"),
        },
    )
    manager = PluginManager()
    manager.discover()
    manager.collect()
    broken = manager.plugins["tbmstest_broken"]
    assert broken.state == "failed"
    assert broken.error == "ImportError: libfoo is not installed"
    missing = manager.plugins["tbmstest_nomodule"]
    assert missing.state == "failed"
    assert missing.error is not None
    assert missing.error.startswith("ModuleNotFoundError")
    assert manager.plugins["tbmstest_fine"].state == "loaded"
    assert "tbmstest-fine-bms" in manager.drivers
    loaded = dict(manager.loaded())
    assert "tbmstest_fine" in loaded
    assert "tbmstest_broken" not in loaded


def test_broken_hook_implementation_in_an_entry_point_is_failed(site: Path) -> None:
    install(
        site,
        "tbmstest-badhook",
        "1.0",
        {"tbmstest_badhook": "tbmstest_badhook_mod"},
        {
            "tbmstest_badhook_mod": """
            from hub.hookspecs import hookimpl

            @hookimpl
            def hub_started(hub, settings):
                pass
            """
        },
    )
    manager = PluginManager()
    manager.discover()
    info = manager.plugins["tbmstest_badhook"]
    assert info.state == "failed"
    assert info.error is not None
    assert "settings" in info.error
