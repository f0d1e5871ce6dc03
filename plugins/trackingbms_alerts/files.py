"""Rule files: every ``*.yaml`` of the rules directory, validated with ``file:line: path: message`` issues."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.config.loader import ConfigError, ConfigIssue, LoadedConfig, load_config
from trackingbms_alerts.rules import Rule, RuleError, build

TOP_KEYS = ("rules", "defaults")


@dataclass(slots=True)
class RuleFiles:
    """The rules found in a directory, and the problems of those that could not be used."""

    rules: list[Rule] = field(default_factory=list)
    issues: list[ConfigIssue] = field(default_factory=list)


def load_rules_dir(directory: Path) -> RuleFiles:
    """Read every rule file (sorted by name); an invalid rule is left out and reported, the others load.

    A missing directory is no error: there are simply no file rules."""
    found = RuleFiles()
    if not directory.is_dir():
        return found
    seen: dict[str, Rule] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            loaded = load_config(path)
        except ConfigError as err:
            found.issues += err.issues
            continue
        for rule in _file_rules(loaded, found.issues):
            first = seen.get(rule.id)
            if first is not None:
                where = f"{first.file}:{first.line}"
                found.issues.append(
                    ConfigIssue(loaded.display_path, rule.line, "", f"duplicate rule id {rule.id!r} (first in {where})")
                )
                continue
            seen[rule.id] = rule
            found.rules.append(rule)
    found.issues.sort(key=lambda i: (i.file, i.line or 0))
    return found


def _file_rules(loaded: LoadedConfig, issues: list[ConfigIssue]) -> list[Rule]:
    data = loaded.data
    for key in data:
        if key not in TOP_KEYS:
            issues.append(loaded.issue([key], f"unknown key (a rule file has {' and '.join(TOP_KEYS)})"))
    defaults = data.get("defaults") or {}
    entries = data.get("rules") or []
    if not isinstance(defaults, dict):
        issues.append(loaded.issue(["defaults"], "expected a mapping of keys every rule of the file gets"))
        defaults = {}
    if not isinstance(entries, list):
        issues.append(loaded.issue(["rules"], "expected a list of rules"))
        return []
    rules = []
    for index, entry in enumerate(entries):
        merged: Any = {**defaults, **entry} if isinstance(entry, dict) else entry
        try:
            rules.append(build(merged, "file", loaded.display_path, loaded.line_of(["rules", index])))
        except RuleError as err:
            issues += [loaded.issue(["rules", index, *path], message) for path, message in err.errors]
    return rules
