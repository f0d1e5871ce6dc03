"""The Hub: owns the bus, plugins, config, storage and lifecycle; everything else is a plugin."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

from hub import __version__
from hub.auth.provider import AuthProvider, start_provider
from hub.batteries import BatteryManager
from hub.bus import (
    SYSTEM_CONFIG_CHANGED,
    SYSTEM_HUB_STARTED,
    SYSTEM_HUB_STOPPING,
    SYSTEM_MODULE_STARTED,
    SYSTEM_MODULE_STOPPED,
    EventBus,
)
from hub.config import ConfigManager, load_config
from hub.logs import LogSetup
from hub.pipeline import Pipeline
from hub.plugins import PluginManager
from hub.registry import Health, ServiceRegistry
from hub.specs import DriverContext, Simulator
from hub.storage.backup import BackupOutcome, BackupScheduler
from hub.storage.base import DEFAULT_TENANT, Storage, TenantStore
from hub.storage.factory import build_backup_scheduler, build_storage
from hub.storage.recorder import Recorder
from hub.storage.retention import MaintenanceOutcome, Pruner

_LOGGER = logging.getLogger(__name__)
DEFAULT_CONFIG = Path("config/trackingbms.yaml")
MAINTENANCE = "core.storage.maintenance"  # health of the background compaction and retention runs
# Sections that take effect only at the next start (they own sockets or files held open).
RESTART_SECTIONS = frozenset({"hub", "http", "storage", "auth", "plugins"})


class Hub:
    """One running hub instance."""

    def __init__(
        self,
        config_path: str | Path = DEFAULT_CONFIG,
        *,
        data_dir: str | Path | None = None,
        http_host: str | None = None,
        http_port: int | None = None,
        plugins: PluginManager | None = None,
        console_logs: bool = True,
    ) -> None:
        self.version = __version__
        self.bus = EventBus()
        self.registry = ServiceRegistry(self.bus)
        self.plugins = plugins or PluginManager()
        self.config = ConfigManager(config_path, self.plugins)
        self.logs = LogSetup()
        self._data_dir_override = data_dir
        self._http_override = (http_host, http_port)
        self._console_logs = console_logs
        self.data_dir = Path(".")
        self.storage: Storage | None = None
        self.recorder: Recorder | None = None
        self.auth_provider: AuthProvider | None = None  # None: auth not required, or its provider failed
        self.auth_required = True  # auth.required as started with (a change needs a restart)
        self.backups: BackupScheduler | None = None
        self.pipeline = Pipeline(self.bus, self.registry)
        self.batteries: BatteryManager | None = None
        self.simulators: list[Simulator] = []
        self.web_runner: web.AppRunner | None = None
        self.http_url: str | None = None
        self._stopped = asyncio.Event()

    def load(self, discover: bool = True) -> dict[str, Any]:
        """Load plugins and validate the config; raises ConfigError."""
        if discover:
            disabled = load_config(self.config.path).data.get("plugins", {}) or {}
            self.plugins.discover(disabled.get("disabled", []) if isinstance(disabled, dict) else [])
        self.plugins.collect()
        data = self.config.load()
        self.data_dir = Path(self._data_dir_override or data["hub"]["data_dir"]).expanduser()
        self.auth_required = bool(data["auth"]["required"])
        return data

    @property
    def role(self) -> str:
        """``all``, ``edge`` (polls and forwards) or ``central`` (ingests, stores and serves)."""
        return str(self.config.data["hub"]["role"])

    @property
    def store(self) -> TenantStore:
        """The default tenant's store (the accounts issue adds per-request scopes)."""
        assert self.storage is not None
        return self.storage.for_tenant(DEFAULT_TENANT)

    async def start(self) -> None:
        """Start every module; a failing plugin is reported and skipped."""
        data = self.config.data or self.load()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs.apply(data["logging"], self.data_dir, console=self._console_logs)
        _LOGGER.info("TrackingBMS %s starting (config %s, data %s)", self.version, self.config.path, self.data_dir)
        self._register_plugin_services()
        await self._start_storage(data["storage"])
        await self._start_auth(data["auth"], data["http"])
        self.pipeline.build(self.plugins.processors, data)
        await self.pipeline.attach(self.store)
        if self.role != "edge":  # an edge only polls: its readings are processed where they are stored
            self.pipeline.start()
        gate = self.recorder.wait_for_room if self.recorder is not None else None
        self.batteries = BatteryManager(
            self.bus, self.registry, self.plugins.drivers, DriverContext(self.data_dir), gate=gate
        )
        self.batteries.start_listening()
        await self._start_simulators(data["simulators"])
        await self._apply_batteries(data["batteries"])
        for name, plugin in self.plugins.loaded():
            await self._start_plugin(name, plugin)
        if data["http"]["enabled"]:
            await self._start_web(data["http"])
        self.bus.publish(SYSTEM_HUB_STARTED, {"version": self.version, "url": self.http_url})

    def _register_plugin_services(self) -> None:
        for info in self.plugins.infos():
            health = {"loaded": Health.STARTING, "disabled": Health.DISABLED}.get(info.state, Health.FAILED)
            self.registry.register(f"plugin.{info.name}", "plugin", health)
            if health == Health.FAILED:
                self.registry.set_health(f"plugin.{info.name}", Health.FAILED, info.error)

    async def _start_storage(self, config: dict[str, Any]) -> None:
        self.storage = build_storage(config, self.data_dir)  # storage.backend: sqlite or postgresql
        await self.storage.open()
        self.registry.register("core.storage", "core", Health.OK)
        pruner: Pruner | None = getattr(self.storage, "pruner", None)
        if pruner is not None:
            self.registry.register(MAINTENANCE, "core", Health.OK)
            pruner.on_result = self._maintenance_done
        self.recorder = Recorder(
            self.bus,
            self.registry,
            self.store,
            batch_size=config["batch_size"],
            flush_interval=config["flush_interval"],
            queue_size=config["queue_size"],
        )
        await self.recorder.start()
        if config["backups"]["enabled"]:
            self.registry.register("core.backups", "core", Health.OK)
            self.backups = build_backup_scheduler(config, self.data_dir, self._backup_done)
            self.backups.start()

    async def _start_auth(self, config: dict[str, Any], http: dict[str, Any]) -> None:
        """The configured auth provider (after storage: it keeps users there). When it fails, the hub
        still runs and every protected request is refused (503), never let through."""
        self.auth_required = bool(config["required"])
        if not self.auth_required:
            # Fine for a single user on this machine; anyone who can reach the port is administrator.
            local = (self._http_override[0] or http["host"]) in ("127.0.0.1", "localhost", "::1")
            level = logging.INFO if local or not http["enabled"] else logging.WARNING
            _LOGGER.log(level, "auth.required is false: every request acts as the local administrator")
            return
        self.registry.register("core.auth", "core", Health.STARTING)
        try:
            self.auth_provider = await start_provider(self, config)
        except Exception as err:
            _LOGGER.exception("Auth provider %r failed to start", config["provider"])
            self.registry.set_health("core.auth", Health.FAILED, f"{type(err).__name__}: {err}")
            return
        self.registry.set_health("core.auth", Health.OK)

    def _maintenance_done(self, outcome: MaintenanceOutcome) -> None:
        """A compaction and retention run ended: a failure degrades it until a run succeeds."""
        health = Health.OK if outcome.error is None else Health.DEGRADED
        when = outcome.finished_at.isoformat()
        self.registry.set_health(
            MAINTENANCE, health, outcome.error, last_run=when, compacted=outcome.compacted, pruned=dict(outcome.pruned)
        )

    def _backup_done(self, outcome: BackupOutcome) -> None:
        """A scheduled backup ended: a failure degrades core.backups until the next one succeeds."""
        health = Health.OK if outcome.ok else Health.DEGRADED
        path = str(outcome.path) if outcome.path else None
        self.registry.set_health("core.backups", health, None if outcome.ok else outcome.message, last=path)

    async def _start_simulators(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            spec = self.plugins.simulators.get(entry["kind"])
            assert spec is not None  # the config schema only accepts registered kinds
            name = f"simulator.{entry['kind']}.{entry.get('link', len(self.simulators))}"
            self.registry.register(name, "simulator")
            try:
                simulator = spec.factory(entry, self.data_dir)
                await simulator.start()
                self.simulators.append(simulator)
                self.registry.set_health(name, Health.OK, None, link=simulator.link)
            except Exception as err:
                _LOGGER.exception("Simulator %s failed to start", name)
                self.registry.set_health(name, Health.FAILED, f"{type(err).__name__}: {err}")

    async def _apply_batteries(self, entries: list[dict[str, Any]]) -> None:
        assert self.batteries is not None
        for entry in entries:
            await self.store.ensure_battery(entry["id"], entry["name"], entry["driver"])
        await self.batteries.apply(entries)

    async def _start_plugin(self, name: str, plugin: object) -> None:
        service = f"plugin.{name}"
        try:
            result = self.plugins.call_one(plugin, "hub_started", hub=self, config=self.config.data.get(name, {}))
            if inspect.isawaitable(result):
                await result
        except Exception as err:
            _LOGGER.exception("Plugin %s failed to start", name)
            self.registry.set_health(service, Health.FAILED, f"{type(err).__name__}: {err}")
            return
        current = self.registry.get(service)
        if current is None or current.health in (Health.STARTING, Health.STOPPED):
            self.registry.set_health(service, Health.OK)  # a health the plugin set itself while starting stays
        self.bus.publish(SYSTEM_MODULE_STARTED, {"name": service})

    async def _stop_plugin(self, name: str, plugin: object) -> None:
        try:
            result = self.plugins.call_one(plugin, "hub_stopping", hub=self)
            if inspect.isawaitable(result):
                await result
        except Exception:
            _LOGGER.exception("Plugin %s failed while stopping", name)
        self.registry.set_health(f"plugin.{name}", Health.STOPPED)
        self.bus.publish(SYSTEM_MODULE_STOPPED, {"name": f"plugin.{name}"})

    async def _start_web(self, config: dict[str, Any]) -> None:
        from hub.web.app import build_app  # the web layer imports Hub; import late to avoid a cycle

        self.web_runner = web.AppRunner(build_app(self), access_log=None, handle_signals=False)
        await self.web_runner.setup()
        host = self._http_override[0] or config["host"]
        port = self._http_override[1] if self._http_override[1] is not None else config["port"]
        site = web.TCPSite(self.web_runner, str(host), int(port))
        await site.start()
        bound = self.web_runner.addresses[0][1] if self.web_runner.addresses else port
        self.http_url = f"http://{host}:{bound}"
        self.registry.register("core.http", "core", Health.OK)
        _LOGGER.info("Web UI and API on %s", self.http_url)

    async def reload_section(self, name: str) -> dict[str, Any]:
        """Apply a changed section to the running hub; says when a restart is needed."""
        result = await self._apply_section(name)
        self.bus.publish(SYSTEM_CONFIG_CHANGED, {"section": name, **result})
        return result

    async def _apply_section(self, name: str) -> dict[str, Any]:
        data = self.config.data
        if name in RESTART_SECTIONS:
            return {"applied": False, "restart_required": True}
        if name == "logging":
            self.logs.apply(data["logging"], self.data_dir, console=self._console_logs)
        elif name == "batteries":
            await self._apply_batteries(data["batteries"])
        elif name == "simulators":
            await self._stop_simulators()
            await self._start_simulators(data["simulators"])
        elif name in dict(self.plugins.loaded()):
            plugin = dict(self.plugins.loaded())[name]
            await self._stop_plugin(name, plugin)
            await self._start_plugin(name, plugin)
            if name in self.plugins.processors.owners.values():
                # Processors read their section once: rebuild them, saving and reloading their state.
                await self.pipeline.close()
                self.pipeline.build(self.plugins.processors, data)
                await self.pipeline.attach(self.store)
        return {"applied": True, "restart_required": False}

    async def reload_all(self) -> dict[str, list[str]]:
        """Re-read the config file and reload every section that changed."""
        before = self.config.data
        after = self.config.load()
        changed = [name for name in self.config.sections() if before.get(name) != after.get(name)]
        result: dict[str, list[str]] = {"reloaded": [], "restart_required": []}
        for name in changed:
            applied = await self.reload_section(name)
            result["restart_required" if applied["restart_required"] else "reloaded"].append(name)
        return result

    async def _stop_simulators(self) -> None:
        for simulator in self.simulators:
            with contextlib.suppress(Exception):
                await simulator.stop()
        self.simulators = []

    async def stop(self) -> None:
        """Graceful shutdown: stop polling, flush pending writes, stop plugins, close storage."""
        if self._stopped.is_set():
            return
        _LOGGER.info("TrackingBMS stopping")
        self.bus.publish(SYSTEM_HUB_STOPPING, {})
        if self.batteries is not None:
            await self.batteries.stop()
        await self.pipeline.drain()
        self.pipeline.stop()
        await self.pipeline.close()
        if self.backups is not None:
            await self.backups.stop()
            self.registry.set_health("core.backups", Health.STOPPED)
        if self.recorder is not None:
            await self.recorder.stop()
        for name, plugin in reversed(self.plugins.loaded()):
            await self._stop_plugin(name, plugin)
        if self.web_runner is not None:
            await self.web_runner.cleanup()
        await self._stop_simulators()
        if self.auth_provider is not None:
            with contextlib.suppress(Exception):
                await self.auth_provider.stop()
        if self.storage is not None:
            await self.storage.close()
        self.bus.close()
        _LOGGER.info("TrackingBMS stopped")
        self.logs.close()
        self._stopped.set()

    async def run_forever(self) -> None:
        """Start, serve until SIGINT/SIGTERM, then stop gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await self.start()
        await stop.wait()
        await asyncio.wait_for(self.stop(), timeout=self.config.data["hub"]["shutdown_timeout"])
