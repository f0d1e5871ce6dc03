"""JSON Schema (OpenAPI 3.1) building blocks for the ``data`` of API answers."""

from __future__ import annotations

from typing import Any

ANY: dict[str, Any] = {}
STR: dict[str, Any] = {"type": "string"}
NUM: dict[str, Any] = {"type": "number"}
INT: dict[str, Any] = {"type": "integer"}
BOOL: dict[str, Any] = {"type": "boolean"}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
OBJECT: dict[str, Any] = {"type": "object"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema, or null."""
    return {"anyOf": [schema, {"type": "null"}]}


def array(items: dict[str, Any]) -> dict[str, Any]:
    """A list of ``items``."""
    return {"type": "array", "items": items}


def obj(required: tuple[str, ...] | None = None, **properties: dict[str, Any]) -> dict[str, Any]:
    """An object with these properties (all required unless ``required`` names some); others allowed."""
    names = tuple(properties) if required is None else required
    return {"type": "object", "properties": properties, "required": list(names)}


N_NUM = nullable(NUM)
N_STR = nullable(STR)
N_INT = nullable(INT)
N_BOOL = nullable(BOOL)
EXTREME = nullable(obj(index=INT, voltage=NUM))
TEMPERATURE = obj(value=NUM, kind=STR, sensor=N_INT)
ALARM = obj(code=STR, text=STR, level=STR)
READING = obj(
    battery_id=STR,
    timestamp=TIME,
    voltage=N_NUM,
    current=N_NUM,
    power=N_NUM,
    soc=N_NUM,
    soh=N_NUM,
    cells=array(NUM),
    temperatures=array(TEMPERATURE),
    cell_min=EXTREME,
    cell_max=EXTREME,
    cell_delta=N_NUM,
    charge_mos=N_BOOL,
    discharge_mos=N_BOOL,
    balancing=array(INT),
    state=N_STR,
    cycles=N_INT,
    remaining_capacity_ah=N_NUM,
    rated_capacity_ah=N_NUM,
    alarms=array(ALARM),
)
BATTERY = obj(
    id=STR,
    name=N_STR,
    driver=STR,
    link_state=STR,
    poll_interval=N_NUM,
    last_reading_at=nullable(TIME),
)
SERVICE = obj(name=STR, kind=STR, health=STR, reason=N_STR, since=TIME, details=ANY)
PLUGIN = obj(name=STR, module=STR, distribution=N_STR, version=N_STR, state=STR, error=N_STR)
AUDIT_ENTRY = obj(
    timestamp=TIME,
    actor=STR,
    source_ip=N_STR,
    action=STR,
    target=STR,
    request=OBJECT,
    result=STR,
    details=OBJECT,
)
BATTERY_ENTRY = obj(("id", "driver"), id=STR, driver=STR)
COUNTS = {"type": "object", "additionalProperties": INT}
