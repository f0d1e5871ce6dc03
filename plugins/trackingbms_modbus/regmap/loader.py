"""Find, read and validate a register map; every problem is reported as ``file:line: path: message``."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import voluptuous as vol
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from hub.config.loader import ConfigError, ConfigIssue, LoadedConfig, format_path, load_config
from trackingbms_modbus.regmap.build import build_defaults, build_register
from trackingbms_modbus.regmap.checks import check_registers
from trackingbms_modbus.regmap.model import Function, Register, RegisterMap
from trackingbms_modbus.regmap.schema import MAP_SCHEMA

__all__ = ["MAPS_DIR", "MapError", "describe_issues", "load_map", "map_reference", "resolve_map", "shipped_maps"]

MAPS_DIR = Path(__file__).resolve().parent.parent / "maps"


class MapError(ConfigError):
    """A register map cannot be used; ``issues`` locate each problem by file, line and key path."""


def shipped_maps() -> list[str]:
    """Names of the maps that come with the plugin."""
    return sorted(p.stem for p in MAPS_DIR.glob("*.yaml"))


def _is_name(reference: str) -> bool:
    return "/" not in reference and "\\" not in reference and not reference.endswith((".yaml", ".yml"))


def resolve_map(reference: str, base_dirs: Sequence[Path] = ()) -> Path:
    """The file of a map: a shipped map's name, an absolute path, or a path relative to one of ``base_dirs``."""
    if _is_name(reference):
        path = MAPS_DIR / f"{reference}.yaml"
        if not path.is_file():
            raise MapError(
                [
                    ConfigIssue(
                        reference, None, "", f"no shipped map {reference!r} (shipped: {', '.join(shipped_maps())})"
                    )
                ]
            )
        return path
    path = Path(reference).expanduser()
    if path.is_absolute():
        return path
    tried = [base / path for base in base_dirs] or [path]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    where = ", ".join(str(c.parent) for c in tried)
    raise MapError([ConfigIssue(reference, None, "", f"map file not found (looked in {where})")])


def load_map(reference: str | Path, base_dirs: Sequence[Path] = ()) -> RegisterMap:
    """Load and validate a map; raises MapError listing every problem found."""
    path = reference if isinstance(reference, Path) else resolve_map(reference, base_dirs)
    stat = path.stat() if path.exists() else None
    # Maps are read once per change: many batteries may share one map file.
    return _load_cached(str(path.resolve()), stat.st_mtime_ns if stat else 0)


@functools.lru_cache(maxsize=32)
def _load_cached(path: str, _mtime: int) -> RegisterMap:
    try:
        loaded = load_config(path)
    except ConfigError as err:
        raise MapError(err.issues) from err
    return _validate(loaded)


def _validate(loaded: LoadedConfig) -> RegisterMap:
    issues: list[ConfigIssue] = []

    def issue(path: list[Any], message: str) -> None:
        # Bit and enum keys read as text ("3") from the schema: show them as bits[3] like list items.
        shown = [int(p) if isinstance(p, str) and p.isdigit() else p for p in path]
        issues.append(ConfigIssue(loaded.display_path, _line_of(loaded, path), format_path(shown), message))

    try:
        data: dict[str, Any] = MAP_SCHEMA(loaded.data)
    except vol.MultipleInvalid as err:
        for error in err.errors:
            message = error.error_message or str(error.msg)
            issue(list(error.path), "unknown key" if message == "extra keys not allowed" else message)
        raise MapError(_sorted(issues)) from err
    registers = [build_register(r, data, ["registers", i], issue) for i, r in enumerate(data["registers"])]
    check_registers(registers, data["max_registers"], data["max_bits"], issue)
    if issues:
        raise MapError(_sorted(issues))
    return RegisterMap(
        name=data.get("name") or loaded.path.stem,
        registers=tuple(registers),
        description=data["description"],
        sources=tuple(data["source"]),
        path=str(loaded.path),
        max_registers=data["max_registers"],
        max_bits=data["max_bits"],
        max_gap=data["max_gap"],
        unreadable=tuple(_unreadable(u) for u in data["unreadable"]),
        inter_frame_delay=data["inter_frame_delay"],
        current_sign=data["current_sign"],
        soc_from_capacity=data["soc_from_capacity"],
        defaults=build_defaults(data["defaults"]),
    )


def _unreadable(entry: dict[str, Any]) -> tuple[Function | None, int, int]:
    return entry.get("function"), entry["first"], entry.get("last", entry["first"])


def _sorted(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(issues, key=lambda i: (i.line or 0, i.path))


def _line_of(loaded: LoadedConfig, path: Sequence[Any]) -> int | None:
    """1-based line of the deepest node of ``path`` in the file (keys compared as text: bits: {3: ...})."""
    node: Any = loaded.raw
    line: int | None = None
    for part in path:
        key: Any = part
        if isinstance(node, CommentedMap):
            key = next((k for k in node if str(k) == str(part)), None)
            if key is None:
                break
            line = node.lc.key(key)[0] + 1
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
        else:
            break
        node = node[key]
    return line


def map_reference(value: Any) -> str:
    """Voluptuous validator for a battery's ``map``: a shipped name or a path; checked now when it can be."""
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid("expected a shipped map name or a map file path")
    reference = value.strip()
    if _is_name(reference) or Path(reference).expanduser().is_absolute():
        try:
            load_map(reference)
        except MapError as err:
            raise vol.Invalid(describe_issues(err)) from err
    return reference


def describe_issues(err: MapError) -> str:
    """The issues on one line; a problem finding the file is shown without a file prefix."""
    return "; ".join(str(i) if i.line is not None or i.path else i.message for i in err.issues)


def describe_register(register: Register) -> str:
    """A short text for logs and errors: ``pack_voltage (FC04 0x1000)``."""
    return f"{register.name} (FC{int(register.function):02d} {register.address:#06x})"
