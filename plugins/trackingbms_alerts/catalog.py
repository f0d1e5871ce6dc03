"""The rule catalog: read-only rules from the rule files plus rules made through the API (stored)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from hub.config.loader import ConfigIssue
from hub.storage.base import TenantStore
from trackingbms_alerts.files import RuleFiles, load_rules_dir
from trackingbms_alerts.rules import Rule, RuleError, build

_LOGGER = logging.getLogger(__name__)


class RuleNotFoundError(KeyError):
    """No rule has that id."""


class RuleReadOnlyError(Exception):
    """The rule comes from a rule file: change the file, not the API."""


class RuleExistsError(Exception):
    """A rule with that id exists already."""


class RuleCatalog:
    """Every rule of the tenant; a file rule wins over a stored rule of the same id (reported)."""

    def __init__(self) -> None:
        self.files = RuleFiles()
        self.api: dict[str, Rule] = {}
        self.stored_issues: list[str] = []

    async def load(self, store: TenantStore, directory: Path) -> None:
        """Read the rule files (in an executor: file I/O) and the stored API rules."""
        self.files = await asyncio.get_running_loop().run_in_executor(None, load_rules_dir, directory)
        for issue in self.files.issues:
            _LOGGER.error("Alert rule file: %s", issue)
        self.api, self.stored_issues = {}, []
        file_ids = {r.id for r in self.files.rules}
        for rule_id, definition in (await store.rules()).items():
            try:
                rule = build(definition, "api")
            except RuleError as err:
                self.stored_issues.append(f"stored rule {rule_id}: {err}")
                continue
            if rule_id in file_ids:
                self.stored_issues.append(f"stored rule {rule_id}: hidden by the rule file rule of the same id")
                continue
            self.api[rule_id] = rule
        for text in self.stored_issues:
            _LOGGER.error("Alert rules: %s", text)

    @property
    def issues(self) -> list[str]:
        """Every problem, as text (``file:line: path: message`` for rule files)."""
        return [*(str(i) for i in self.files.issues), *self.stored_issues]

    @property
    def file_issues(self) -> list[ConfigIssue]:
        """The rule files' problems."""
        return list(self.files.issues)

    def all(self) -> list[Rule]:
        """File rules, then API rules."""
        return [*self.files.rules, *self.api.values()]

    def get(self, rule_id: str) -> Rule | None:
        """A rule by id."""
        return next((r for r in self.files.rules if r.id == rule_id), None) or self.api.get(rule_id)

    def _writable(self, rule_id: str) -> Rule:
        rule = self.get(rule_id)
        if rule is None:
            raise RuleNotFoundError(rule_id)
        if not rule.writable:
            raise RuleReadOnlyError(f"rule {rule_id!r} comes from {rule.file}:{rule.line}; change it there")
        return rule

    async def create(self, store: TenantStore, definition: Any) -> Rule:
        """Validate and store a new rule; RuleError, RuleExistsError."""
        rule = build(definition, "api")
        if self.get(rule.id) is not None:
            raise RuleExistsError(f"rule {rule.id!r} exists already")
        await store.save_rule(rule.id, dict(rule.definition))
        self.api[rule.id] = rule
        return rule

    async def update(self, store: TenantStore, rule_id: str, definition: Any) -> Rule:
        """Replace an API rule; the body's id, if any, must be the rule's. RuleNotFoundError,
        RuleReadOnlyError, RuleError."""
        self._writable(rule_id)
        if isinstance(definition, dict):
            if definition.get("id", rule_id) != rule_id:
                raise RuleError([(["id"], f"must be {rule_id!r}, the id in the path")])
            definition = {**definition, "id": rule_id}
        rule = build(definition, "api")
        await store.save_rule(rule_id, dict(rule.definition))
        self.api[rule_id] = rule
        return rule

    async def delete(self, store: TenantStore, rule_id: str) -> Rule:
        """Delete an API rule; RuleNotFoundError, RuleReadOnlyError."""
        rule = self._writable(rule_id)
        await store.delete_rule(rule_id)
        del self.api[rule_id]
        return rule
