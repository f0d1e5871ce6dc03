"""Configuration: YAML files validated against the core schema and each plugin's schema."""

from hub.config.loader import ConfigError, ConfigIssue, LoadedConfig, format_path, load_config
from hub.config.manager import ConfigManager
from hub.config.schema import CORE_SECTIONS, validate_config

__all__ = [
    "CORE_SECTIONS",
    "ConfigError",
    "ConfigIssue",
    "ConfigManager",
    "LoadedConfig",
    "format_path",
    "load_config",
    "validate_config",
]
