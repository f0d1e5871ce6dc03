"""YAML loading with line tracking, ${ENV} expansion, !secret references and section write-back."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECRET_TAG = "!secret"
SECRET_PREFIX = "!secret "
SECRETS_FILE = "secrets.yaml"


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file, located by line and key path."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


def format_path(path: Sequence[Any]) -> str:
    """Render a key path the way users read it: ``batteries[1].port``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _yaml() -> YAML:
    yaml = YAML()  # round-trip mode keeps comments, order and !secret tags for write-back
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


@dataclass(slots=True)
class LoadedConfig:
    """A config file as written (``raw``) and as the hub sees it (``data``, expanded)."""

    path: Path
    raw: CommentedMap
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def display_path(self) -> str:
        """The path as the user named it, relative when possible."""
        try:
            return str(self.path.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)

    def line_of(self, path: Sequence[Any]) -> int | None:
        """1-based line of the deepest node of ``path`` that exists in the file."""
        node: Any = self.raw
        line: int | None = None
        for part in path:
            try:
                if isinstance(node, CommentedMap) and part in node:
                    line = node.lc.key(part)[0] + 1
                elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                    line = node.lc.item(part)[0] + 1
                else:
                    break
                node = node[part]
            except (KeyError, IndexError, TypeError, AttributeError):
                break
        return line

    def issue(self, path: Sequence[Any], message: str) -> ConfigIssue:
        """A ConfigIssue located in this file."""
        return ConfigIssue(self.display_path, self.line_of(path), format_path(path), message)

    def section_as_written(self, name: str) -> Any:
        """A section as JSON-ready data without expanding env vars or secrets."""
        return _plain(self.raw.get(name), keep_references=True)


def load_config(path: str | Path) -> LoadedConfig:
    """Read and expand a config file; raises ConfigError naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([ConfigIssue(str(path), None, "", f"cannot read config: {err.strerror}")]) from err
    try:
        raw = _yaml().load(text) if text.strip() else None
    except MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise ConfigError([ConfigIssue(str(path), line, "", f"YAML syntax error: {err.problem}")]) from err
    if raw is None:  # a blank or comments-only file: every section takes its defaults
        raw = CommentedMap()
    if not isinstance(raw, CommentedMap):
        raise ConfigError([ConfigIssue(str(path), 1, "", "the top level must be a mapping of sections")])
    loaded = LoadedConfig(path, raw)
    issues: list[ConfigIssue] = []
    secrets = load_secrets(path.parent / SECRETS_FILE)
    loaded.data = expand_node(raw, [], loaded, secrets, issues)
    if issues:
        raise ConfigError(issues)
    return loaded


def load_secrets(path: Path) -> dict[str, Any] | None:
    """The secrets file beside the config (None if there is none); raises ConfigError if broken."""
    if not path.exists():
        return None
    try:
        data = _yaml().load(path.read_text(encoding="utf-8")) or {}
    except MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise ConfigError([ConfigIssue(str(path), line, "", f"YAML syntax error: {err.problem}")]) from err
    except OSError as err:
        raise ConfigError([ConfigIssue(str(path), None, "", f"cannot read secrets: {err.strerror}")]) from err
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(str(path), 1, "", "secrets must be a mapping of name: value")])
    return {str(k): _plain(v) for k, v in data.items()}


def expand_node(
    node: Any,
    path: list[Any],
    loaded: LoadedConfig,
    secrets: dict[str, Any] | None,
    issues: list[ConfigIssue],
) -> Any:
    if isinstance(node, CommentedMap):
        return {str(k): expand_node(v, [*path, str(k)], loaded, secrets, issues) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [expand_node(v, [*path, i], loaded, secrets, issues) for i, v in enumerate(node)]
    if isinstance(node, TaggedScalar) and node.tag == SECRET_TAG:
        return _secret(str(node.value), path, loaded, secrets, issues)
    if isinstance(node, str):
        return _expand_env(node, path, loaded, issues)
    return _plain(node)


def _secret(
    name: str,
    path: list[Any],
    loaded: LoadedConfig,
    secrets: dict[str, Any] | None,
    issues: list[ConfigIssue],
) -> Any:
    if secrets is None:
        issues.append(loaded.issue(path, f"!secret {name}: no {SECRETS_FILE} beside the config file"))
    elif name not in secrets:
        issues.append(loaded.issue(path, f"!secret {name}: not defined in {SECRETS_FILE}"))
    else:
        return secrets[name]
    return None


def _expand_env(value: str, path: list[Any], loaded: LoadedConfig, issues: list[ConfigIssue]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        issues.append(loaded.issue(path, f"environment variable {name} is not set"))
        return ""

    return _ENV_PATTERN.sub(replace, value)


def _plain(node: Any, keep_references: bool = False) -> Any:
    """ruamel nodes to plain Python; secret references become ``"!secret name"`` strings."""
    if isinstance(node, dict):
        return {str(k): _plain(v, keep_references) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, keep_references) for v in node]
    if isinstance(node, TaggedScalar):
        return f"{SECRET_PREFIX}{node.value}" if keep_references else node.value
    if isinstance(node, bool | int | float | str) or node is None:
        return node if not isinstance(node, str) else str(node)
    return str(node)


def to_yaml_node(value: Any) -> Any:
    """Plain data back to YAML nodes; ``"!secret name"`` strings become tagged scalars again."""
    if isinstance(value, dict):
        return CommentedMap((k, to_yaml_node(v)) for k, v in value.items())
    if isinstance(value, list):
        return CommentedSeq(to_yaml_node(v) for v in value)
    if isinstance(value, str) and value.startswith(SECRET_PREFIX):
        return TaggedScalar(value[len(SECRET_PREFIX) :], tag=SECRET_TAG)
    return value


def render_with_section(loaded: LoadedConfig, name: str, value: Any) -> str:
    """The file's text with one section replaced; comments elsewhere are kept."""
    raw = loaded.raw
    if value is None:
        raw.pop(name, None)
    else:
        raw[name] = to_yaml_node(value)
    out = io.StringIO()
    _yaml().dump(raw, out)
    return out.getvalue()


def write_atomically(path: Path, text: str) -> None:
    """Replace a file so a crash or a full disk never leaves it half written."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def render_entries(entries: list[dict[str, Any]]) -> str:
    """A ``batteries:`` section as YAML text, for pasting into a config file."""
    out = io.StringIO()
    _yaml().dump({"batteries": to_yaml_node(entries)}, out)
    return out.getvalue()
