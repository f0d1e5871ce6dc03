"""Control commands received on ``<base>/<battery_id>/set/<action>``: parsed, applied, audited, answered."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hub.reading import utc_now
from hub.specs import CONTROL_ACTIONS, ControlError, LinkError
from hub.storage.base import AuditEntry

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
ACTOR = "mqtt"
_ON = {"on", "true", "1"}
_OFF = {"off", "false", "0"}
# A Home Assistant MQTT button sends "PRESS" by default; restart never runs on an empty or arbitrary payload.
_PRESS = {"press", "restart", "null", "{}"}


class InvalidCommandError(ValueError):
    """A payload that is not a valid value for its action."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a command; published on ``.../set/<action>/result``."""

    battery_id: str
    action: str
    value: Any
    result: str  # ok | rejected | failed (as in the audit log)
    status: int  # the HTTP status the REST API gives for the same outcome
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready payload."""
        return {
            "battery_id": self.battery_id,
            "action": self.action,
            "value": self.value,
            "result": self.result,
            "status": self.status,
            "message": self.message,
            "details": self.details,
            "timestamp": utc_now().isoformat().replace("+00:00", "Z"),
        }


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError as err:
        raise InvalidCommandError("the payload is not UTF-8 text") from err


def parse_value(action: str, payload: bytes) -> Any:
    """The value of a command payload: ON/OFF/true/false/1/0 for MOSFETs, 0-100 for soc, PRESS for restart."""
    text = _text(payload)
    if action in ("charge_mos", "discharge_mos"):
        if text.lower() in _ON:
            return True
        if text.lower() in _OFF:
            return False
        raise InvalidCommandError(f"expected ON or OFF, got {text[:40]!r}")
    if action == "soc":
        try:
            number = json.loads(text)
        except ValueError as err:
            raise InvalidCommandError(f"expected a number 0-100, got {text[:40]!r}") from err
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            raise InvalidCommandError(f"expected a number 0-100, got {text[:40]!r}")
        if not 0 <= number <= 100:
            raise InvalidCommandError(f"expected a number 0-100, got {text[:40]!r}")
        return float(number)
    if action == "restart":
        if text.lower() not in _PRESS:
            raise InvalidCommandError(f"expected PRESS, got {text[:40]!r}")
        return None
    raise InvalidCommandError(f"unknown action {action!r} (actions: {', '.join(CONTROL_ACTIONS)})")


class CommandHandler:
    """Runs one command through the battery's coordinator, which refuses unless ``control: true``."""

    def __init__(self, hub: Hub, selects: Callable[[str], bool]) -> None:
        self.hub = hub
        self.selects = selects

    async def handle(self, battery_id: str, action: str, payload: bytes, retained: bool) -> Outcome:
        """Validate, apply, audit; never raises."""
        asked: dict[str, Any] = {"action": action, "value": None}
        try:
            outcome = await self._apply(battery_id, action, payload, retained, asked)
        except Exception as err:  # contained: a driver bug must not kill the receiver
            _LOGGER.exception("MQTT command %s on %s failed", action, battery_id)
            outcome = Outcome(battery_id, action, asked["value"], "failed", 500, f"{type(err).__name__}: {err}")
        await self.audit(outcome, asked)
        return outcome

    async def _apply(
        self, battery_id: str, action: str, payload: bytes, retained: bool, asked: dict[str, Any]
    ) -> Outcome:
        if retained:
            # A retained command would run again at every reconnect: never act on one.
            return Outcome(
                battery_id, action, None, "rejected", 400, "retained commands are ignored; publish with retain off"
            )
        coordinators = self.hub.batteries.coordinators if self.hub.batteries is not None else {}
        if battery_id not in coordinators or not self.selects(battery_id):
            return Outcome(battery_id, action, None, "rejected", 404, f"unknown battery {battery_id!r}")
        try:
            asked["value"] = value = parse_value(action, payload)
        except InvalidCommandError as err:
            return Outcome(battery_id, action, None, "rejected", 422, str(err))
        try:
            result = await coordinators[battery_id].control(action, value)
        except ControlError as err:
            outcome = "rejected" if err.status in (403, 422) else "failed"
            return Outcome(battery_id, action, value, outcome, err.status, str(err))
        except LinkError as err:
            return Outcome(battery_id, action, value, "failed", 504, f"the BMS did not answer: {err}")
        return Outcome(battery_id, action, value, "ok", 200, "confirmed", dict(result))

    async def audit(self, outcome: Outcome, asked: dict[str, Any]) -> None:
        """Record the attempt in the audit log (actor ``mqtt``); a failing store is logged, never raised."""
        details: dict[str, Any] = {"channel": "mqtt", "status": outcome.status}
        if outcome.result == "ok":
            details["outcome"] = outcome.details
        else:
            details["error"] = outcome.message
        entry = AuditEntry(
            actor=ACTOR,
            action=f"bms.{outcome.action}",
            target=outcome.battery_id,
            result=outcome.result,
            request=asked,
            details=details,
        )
        try:
            await self.hub.store.add_audit(entry)
        except Exception:
            _LOGGER.exception("Could not audit the MQTT command %s on %s", outcome.action, outcome.battery_id)
