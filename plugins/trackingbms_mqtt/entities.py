"""The Home Assistant entities of a battery, declared as tables and grown from what its readings carry."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.reading import BatteryState, Reading

# Sources: which bridge topic an entity reads (see Topics).
STATE, ANALYTICS, OPEN_ALERTS, AVAILABILITY, LINK = "state", "analytics", "open_alerts", "availability", "link"
DIAGNOSTIC = "diagnostic"
LINK_STATES = ("connecting", "online", "offline", "asleep", "stale", "stopped")


@dataclass(frozen=True, slots=True)
class Entity:
    """One sensor or binary sensor of a battery's device."""

    key: str  # object id in the discovery topic, suffix of the unique id
    component: str  # "sensor" or "binary_sensor"
    name: str  # HA prefixes the device name
    source: str
    template: str  # value_template; renders "None" for an absent value (HA then shows "unknown")
    device_class: str | None = None
    state_class: str | None = None
    unit: str | None = None
    enabled: bool = True
    category: str | None = None
    icon: str | None = None
    options: tuple[str, ...] = ()
    attributes: str | None = None  # json_attributes_template over the same topic
    needs_link: bool = True  # unavailable while the battery's link is down (not the link entities)


def _value(name: str) -> str:
    return "{{ value_json.%s }}" % name  # noqa: UP031 - Jinja braces make f-strings unreadable


def _switch(name: str) -> str:
    return "{%% if value_json.%s is none %%}None{%% elif value_json.%s %%}ON{%% else %%}OFF{%% endif %%}" % (name, name)  # noqa: UP031


def _extreme(name: str) -> str:
    return "{{ value_json.%s.voltage if value_json.%s else None }}" % (name, name)  # noqa: UP031


def _sensor(
    key: str,
    name: str,
    device_class: str | None,
    state_class: str | None,
    unit: str | None,
    *,
    template: str | None = None,
    category: str | None = None,
    icon: str | None = None,
    options: tuple[str, ...] = (),
    attributes: str | None = None,
) -> Entity:
    """A sensor over the state topic."""
    return Entity(
        key,
        "sensor",
        name,
        STATE,
        template or _value(key),
        device_class,
        state_class,
        unit,
        category=category,
        icon=icon,
        options=options,
        attributes=attributes,
    )


M, TI = "measurement", "total_increasing"
# Reading fields -> entity, created once a reading carried the field (HA device/state classes and units:
# homeassistant/components/sensor/const.py DEVICE_CLASS_UNITS and DEVICE_CLASS_STATE_CLASSES).
READING_ENTITIES: dict[str, Entity] = {
    "voltage": _sensor("voltage", "Voltage", "voltage", M, "V"),
    "current": _sensor("current", "Current", "current", M, "A"),
    "power": _sensor("power", "Power", "power", M, "W"),
    "soc": _sensor("soc", "State of charge", "battery", M, "%"),
    "soh": _sensor("soh", "State of health", None, M, "%", icon="mdi:battery-heart-variant"),
    "remaining_capacity_ah": _sensor("remaining_capacity_ah", "Remaining capacity", None, M, "Ah"),
    "rated_capacity_ah": _sensor("rated_capacity_ah", "Rated capacity", None, M, "Ah", category=DIAGNOSTIC),
    # A BMS cycle counter only grows; a decrease (BMS replaced or reset) starts a new meter cycle in HA.
    "cycles": _sensor("cycles", "Charge cycles", None, TI, None, icon="mdi:battery-sync"),
    "cell_min": _sensor("cell_min", "Lowest cell voltage", "voltage", M, "V", template=_extreme("cell_min")),
    "cell_max": _sensor("cell_max", "Highest cell voltage", "voltage", M, "V", template=_extreme("cell_max")),
    "cell_delta": _sensor("cell_delta", "Cell voltage spread", "voltage", M, "V"),
    "state": _sensor(
        "state",
        "Battery state",
        "enum",
        None,
        None,
        template="{{ value_json.state if value_json.state else None }}",
        options=tuple(s.value for s in BatteryState),
    ),
    "charge_mos": Entity(
        "charge_mos", "binary_sensor", "Charge MOSFET", STATE, _switch("charge_mos"), icon="mdi:battery-arrow-up"
    ),
    "discharge_mos": Entity(
        "discharge_mos",
        "binary_sensor",
        "Discharge MOSFET",
        STATE,
        _switch("discharge_mos"),
        icon="mdi:battery-arrow-down",
    ),
}
ALWAYS: tuple[Entity, ...] = (
    _sensor(
        "alarms",
        "BMS alarms",
        None,
        M,
        None,
        template="{{ value_json.alarms | length }}",
        attributes="{{ {'alarms': value_json.alarms} | tojson }}",
        icon="mdi:alert-circle-outline",
    ),
    Entity(
        "open_alerts",
        "sensor",
        "Open alerts",
        OPEN_ALERTS,
        _value("count"),
        state_class=M,
        icon="mdi:bell-alert",
        attributes="{{ {'highest_severity': value_json.highest_severity, 'alerts': value_json.alerts} | tojson }}",
    ),
    Entity("alert", "binary_sensor", "Alert", OPEN_ALERTS, "{{ 'ON' if value_json.count > 0 else 'OFF' }}", "problem"),
    Entity(
        "connected",
        "binary_sensor",
        "Connected",
        AVAILABILITY,
        "{{ 'ON' if value == 'online' else 'OFF' }}",
        "connectivity",
        category=DIAGNOSTIC,
        needs_link=False,
    ),
    Entity(
        "link_state",
        "sensor",
        "Link state",
        LINK,
        _value("link_state"),
        "enum",
        options=LINK_STATES,
        category=DIAGNOSTIC,
        needs_link=False,
        icon="mdi:lan-connect",
    ),
)
# The energy plugin's data.bms.analytics fields (plugins/trackingbms_energy/board.py FIELDS). kWh counters
# with device_class energy and state_class total_increasing are what HA's Energy dashboard accepts.
ANALYTICS_ENTITIES: tuple[Entity, ...] = (
    Entity("energy_charged", "sensor", "Energy charged", ANALYTICS, _value("energy_charged_kwh"), "energy", TI, "kWh"),
    Entity(
        "energy_discharged",
        "sensor",
        "Energy discharged",
        ANALYTICS,
        _value("energy_discharged_kwh"),
        "energy",
        TI,
        "kWh",
    ),
    Entity(
        "soc_coulomb",
        "sensor",
        "State of charge (coulomb counting)",
        ANALYTICS,
        _value("soc_coulomb"),
        "battery",
        M,
        "%",
    ),
    Entity(
        "equivalent_cycles",
        "sensor",
        "Equivalent full cycles",
        ANALYTICS,
        _value("equivalent_cycles"),
        None,
        TI,
        None,
        icon="mdi:battery-sync",
    ),
    Entity(
        "soh_estimate",
        "sensor",
        "State of health estimate",
        ANALYTICS,
        _value("soh_estimate"),
        None,
        M,
        "%",
        icon="mdi:battery-heart-variant",
    ),
    Entity(
        "capacity_measured",
        "sensor",
        "Measured capacity",
        ANALYTICS,
        _value("capacity_measured_ah"),
        None,
        M,
        "Ah",
        category=DIAGNOSTIC,
    ),
)
_TEMPERATURE_NAMES = {"cell": "Cell temperature", "mos": "MOSFET temperature", "board": "Board temperature"}


def _temperature(kind: str, sensor: int, numbered: bool) -> Entity:
    name = _TEMPERATURE_NAMES.get(kind, f"{kind.capitalize()} temperature")
    # Found by kind and sensor number, not by position, so a reading that lacks a sensor never shifts the others.
    template = (
        "{% set t = value_json.temperatures | selectattr('kind', 'eq', '" + kind + "') "
        "| selectattr('sensor', 'eq', " + str(sensor) + ") | list %}{{ t[0].value if t else None }}"
    )
    key = f"temperature_{kind}_{sensor}"
    return Entity(key, "sensor", f"{name} {sensor}" if numbered else name, STATE, template, "temperature", M, "°C")


def _cell(index: int, width: int) -> Entity:
    template = "{{ value_json.cells[%d] if value_json.cells | length > %d else None }}" % (index, index)  # noqa: UP031
    number = index + 1
    # Per-cell sensors exist for diagnosis but stay disabled: 16+ entities per pack would swamp HA by default.
    return Entity(
        f"cell_{number:0{width}d}",
        "sensor",
        f"Cell {number} voltage",
        STATE,
        template,
        "voltage",
        M,
        "V",
        enabled=False,
    )


@dataclass(slots=True)
class Layout:
    """What a battery's readings have carried so far; it only grows, so entities never flap."""

    fields: set[str] = field(default_factory=set)
    cells: int = 0
    temperatures: list[tuple[str, int]] = field(default_factory=list)
    analytics: bool = False

    def add_reading(self, reading: Reading) -> bool:
        """Merge a reading; True when new entities appeared."""
        before = (len(self.fields), self.cells, len(self.temperatures))
        self.fields.update(name for name in READING_ENTITIES if getattr(reading, name) is not None)
        self.cells = max(self.cells, len(reading.cells))
        for temperature in reading.temperatures:
            ident = (temperature.kind.value, temperature.sensor)
            if ident not in self.temperatures:
                self.temperatures.append(ident)
        return before != (len(self.fields), self.cells, len(self.temperatures))

    def add_analytics(self) -> bool:
        """The battery has analytics; True the first time."""
        added, self.analytics = not self.analytics, True
        return added

    def entities(self) -> list[Entity]:
        """Every entity of the battery, in a stable order."""
        found = [entity for name, entity in READING_ENTITIES.items() if name in self.fields]
        if self.cells:
            found.append(
                Entity(
                    "balancing",
                    "binary_sensor",
                    "Balancing",
                    STATE,
                    "{{ 'ON' if value_json.balancing else 'OFF' }}",
                    "running",
                    icon="mdi:scale-balance",
                )
            )
        kinds = [kind for kind, _ in self.temperatures]
        found += [_temperature(kind, sensor, kinds.count(kind) > 1) for kind, sensor in self.temperatures]
        width = max(2, len(str(self.cells)))
        found += [_cell(index, width) for index in range(self.cells)]
        found += ALWAYS
        if self.analytics:
            found += ANALYTICS_ENTITIES
        return found
