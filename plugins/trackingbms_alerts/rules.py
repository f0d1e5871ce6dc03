"""Alert rules: the four kinds, their voluptuous schema, and the validated Rule the engine runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import voluptuous as vol

from hub.config.loader import format_path
from hub.storage.records import SEVERITIES
from trackingbms_alerts.metrics import METRICS, STALE_METRIC, is_metric, metric_info
from trackingbms_alerts.validators import duration, number, positive_duration, rule_id, scope

KINDS = ("threshold", "rate", "stale", "bms_alarm")
STATES = ("charging", "discharging", "idle")
ALARM_LEVELS = ("warning", "alarm")
PER_SECONDS = {"s": 1.0, "min": 60.0, "h": 3600.0}


def metric(value: Any) -> str:
    """A reading field, a derived value, or an analytics value."""
    if not isinstance(value, str) or not is_metric(value):
        raise vol.Invalid(f"unknown metric {value!r} (known: {', '.join(METRICS)}, or analytics.<name>)")
    return value


def _states(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or any(i not in STATES for i in items):
        raise vol.Invalid(f"expected one or more of {', '.join(STATES)}")
    return list(items)


_NAME = vol.Any(str, vol.Schema({vol.Required("en"): str, vol.Optional("fr"): str}))
_BASE: dict[Any, Any] = {
    vol.Required("id"): rule_id,
    vol.Optional("name"): _NAME,
    vol.Required("kind"): vol.In(KINDS),
    vol.Optional("scope", default={}): scope,
    vol.Optional("enabled", default=True): vol.Boolean(),
    vol.Optional("description"): vol.Any(None, str),
    vol.Optional("reminder_interval"): vol.Any(None, duration),
}
_SEVERITY = {vol.Optional("severity", default="warning"): vol.In(SEVERITIES)}
_LEVELS: dict[Any, Any] = {
    vol.Required("metric"): metric,
    vol.Optional("above"): number,
    vol.Optional("below"): number,
    vol.Optional("clear"): number,
    vol.Optional("delay", default=0.0): duration,
    vol.Optional("clear_delay"): duration,
    vol.Optional("when"): _states,
}
SCHEMAS: dict[str, vol.Schema] = {
    "threshold": vol.Schema({**_BASE, **_SEVERITY, **_LEVELS}),
    "rate": vol.Schema(
        {
            **_BASE,
            **_SEVERITY,
            **_LEVELS,
            vol.Optional("window", default=300.0): positive_duration,
            vol.Optional("per", default="min"): vol.In(list(PER_SECONDS)),
        }
    ),
    "stale": vol.Schema(
        {**_BASE, **_SEVERITY, vol.Required("after"): positive_duration, vol.Optional("include_asleep"): vol.Boolean()}
    ),
    "bms_alarm": vol.Schema(
        {
            **_BASE,
            # The BMS's own level decides: warning bits raise warnings, alarm bits critical alerts.
            vol.Optional("severity", default={}): {vol.Optional(level): vol.In(SEVERITIES) for level in ALARM_LEVELS},
            vol.Optional("codes", default=[]): [str],
            vol.Optional("exclude", default=[]): [str],
            vol.Optional("levels", default=list(ALARM_LEVELS)): [vol.In(ALARM_LEVELS)],
            vol.Optional("delay", default=0.0): duration,
            vol.Optional("clear_delay"): duration,
        }
    ),
}
DEFAULT_ALARM_SEVERITY = {"warning": "warning", "alarm": "critical"}


class RuleError(Exception):
    """A rule definition is invalid; ``errors`` holds (key path, message) pairs."""

    def __init__(self, errors: Sequence[tuple[list[Any], str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{format_path(p) or 'rule'}: {m}" for p, m in self.errors))

    def to_list(self) -> list[dict[str, str]]:
        """Field errors as the API answers them."""
        return [{"path": format_path(p), "message": m} for p, m in self.errors]


@dataclass(frozen=True, slots=True)
class Rule:
    """A validated rule; ``definition`` is the normalized dict it was built from (stored and shown)."""

    id: str
    kind: str
    name: str
    name_fr: str
    severity: str
    scope: Mapping[str, Sequence[str]]
    definition: Mapping[str, Any]
    enabled: bool = True
    metric: str | None = None
    above: bool = True
    trigger: float = 0.0
    clear: float = 0.0
    delay: float = 0.0
    clear_delay: float = 0.0
    when: tuple[str, ...] = ()
    window: float = 300.0
    per: str = "min"
    after: float = 0.0
    include_asleep: bool = False
    codes: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    levels: tuple[str, ...] = ALARM_LEVELS
    alarm_severity: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ALARM_SEVERITY))
    reminder_interval: float | None = None
    source: str = "api"  # api | file
    file: str | None = None
    line: int | None = None

    @property
    def unit(self) -> str | None:
        """The unit of the watched value (threshold: the metric's; rate: per time; stale: s)."""
        if self.kind == "stale":
            return STALE_METRIC.unit
        if self.metric is None:
            return None
        base = metric_info(self.metric).unit
        if self.kind == "rate":
            return f"{base or ''}/{self.per}" if base else f"/{self.per}"
        return base

    @property
    def writable(self) -> bool:
        """Rules made through the API can be changed there; rules from files cannot."""
        return self.source == "api"

    def to_dict(self) -> dict[str, Any]:
        """The definition with where the rule comes from."""
        return {**self.definition, "source": self.source, "file": self.file, "line": self.line}


def _invalid(err: vol.Invalid) -> list[tuple[list[Any], str]]:
    errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
    out = []
    for one in errors:
        message = one.error_message or str(one.msg)
        out.append((list(one.path), "unknown key" if message == "extra keys not allowed" else message))
    return out


def _check_levels(data: dict[str, Any]) -> None:
    if ("above" in data) == ("below" in data):
        raise vol.Invalid("give exactly one trigger level: above or below", path=["above"])
    above = "above" in data
    trigger = data["above" if above else "below"]
    clear = data.get("clear", trigger)
    if above and clear > trigger:
        raise vol.Invalid(f"the clear level must be at or below the trigger level ({trigger})", path=["clear"])
    if not above and clear < trigger:
        raise vol.Invalid(f"the clear level must be at or above the trigger level ({trigger})", path=["clear"])


def validate(data: Any) -> dict[str, Any]:
    """The normalized definition of a rule; raises RuleError listing every problem."""
    if not isinstance(data, dict):
        raise RuleError([([], "expected a mapping with id, kind and the kind's keys")])
    kind = data.get("kind")
    if kind not in SCHEMAS:
        path: list[Any] = ["kind"]
        raise RuleError([(path, f"expected one of {', '.join(KINDS)}" if "kind" in data else "required key")])
    try:
        result: dict[str, Any] = SCHEMAS[kind](data)
        if kind in ("threshold", "rate"):
            _check_levels(result)
    except vol.Invalid as err:
        raise RuleError(_invalid(err)) from err
    if "delay" in result:
        result.setdefault("clear_delay", result["delay"])
    if kind in ("threshold", "rate"):
        result.setdefault("clear", result.get("above", result.get("below")))
    if kind == "stale":
        result.setdefault("include_asleep", False)
    if kind == "bms_alarm":
        result["severity"] = {**DEFAULT_ALARM_SEVERITY, **result["severity"]}
    result.setdefault("name", result["id"])
    return result


def build(data: Any, source: str = "api", file: str | None = None, line: int | None = None) -> Rule:
    """A Rule from a definition (validated here); raises RuleError."""
    d = validate(data)
    name = d["name"]
    en, fr = (name, name) if isinstance(name, str) else (name["en"], name.get("fr", name["en"]))
    common: dict[str, Any] = {
        "id": d["id"],
        "kind": d["kind"],
        "name": en,
        "name_fr": fr,
        "scope": d["scope"],
        "definition": d,
        "enabled": d["enabled"],
        "reminder_interval": d.get("reminder_interval"),
        "source": source,
        "file": file,
        "line": line,
        "delay": d.get("delay", 0.0),
        "clear_delay": d.get("clear_delay", 0.0),
    }
    if d["kind"] == "bms_alarm":
        return Rule(
            **common,
            severity=d["severity"]["alarm"],
            codes=tuple(d["codes"]),
            exclude=tuple(d["exclude"]),
            levels=tuple(d["levels"]),
            alarm_severity=d["severity"],
        )
    if d["kind"] == "stale":
        return Rule(**common, severity=d["severity"], after=d["after"], include_asleep=d["include_asleep"])
    above = "above" in d
    return Rule(
        **common,
        severity=d["severity"],
        metric=d["metric"],
        above=above,
        trigger=d["above" if above else "below"],
        clear=d["clear"],
        when=tuple(d.get("when") or ()),
        window=d.get("window", 300.0),
        per=d.get("per", "min"),
    )
