"""Reads, validates and rewrites the hub's config file, one section at a time."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

from hub.config.loader import (
    ConfigError,
    LoadedConfig,
    expand_node,
    load_config,
    load_secrets,
    render_with_section,
    to_yaml_node,
    write_atomically,
)
from hub.config.schema import CORE_SECTIONS, validate_config
from hub.plugins import PluginManager


class ConfigManager:
    """The config file behind a running hub: validated data plus safe write-back."""

    def __init__(self, path: str | Path, plugins: PluginManager) -> None:
        self.path = Path(path)
        self.plugins = plugins
        self.loaded: LoadedConfig | None = None
        self.data: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    def load(self) -> dict[str, Any]:
        """Read and validate the file; raises ConfigError and keeps the old data on errors."""
        loaded = load_config(self.path)
        data = validate_config(loaded, self.plugins)
        self.loaded, self.data = loaded, data
        return data

    def sections(self) -> list[str]:
        """Every section name a module answers for."""
        return [*CORE_SECTIONS, *sorted(self.plugins.plugins)]

    def section_as_written(self, name: str) -> Any:
        """A section as in the file: env references and secrets are not expanded."""
        assert self.loaded is not None
        return self.loaded.section_as_written(name)

    async def update_section(self, name: str, value: Any) -> dict[str, Any]:
        """Validate the config with a new section, then write it back; returns the new data."""
        if name not in self.sections():
            raise KeyError(name)
        async with self._lock:
            assert self.loaded is not None
            candidate = self._candidate(name, value)
            data = validate_config(candidate, self.plugins)
            text = render_with_section(copy.deepcopy(self.loaded), name, value)
            await asyncio.get_running_loop().run_in_executor(None, write_atomically, self.path, text)
            self.loaded = load_config(self.path)
            self.data = data
            return data

    def _candidate(self, name: str, value: Any) -> LoadedConfig:
        assert self.loaded is not None
        raw = copy.deepcopy(self.loaded.raw)
        raw[name] = to_yaml_node(value)
        candidate = LoadedConfig(self.path, raw)
        issues: list[Any] = []
        secrets = load_secrets(self.path.parent / "secrets.yaml")
        expanded = expand_node(raw[name], [name], candidate, secrets, issues)
        if issues:
            raise ConfigError(issues)
        candidate.data = {**self.loaded.data, name: expanded}
        return candidate
