"""Data objects and firmware eras: the declarative vocabulary the era tables are written in."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CanReports", "DataObject", "Era", "Kind", "obj"]


class Kind(enum.StrEnum):
    """What a data object means to the hub, whatever the era calls it."""

    STACK_VOLTAGE = "stack_voltage"  # the cells in series, inside the MOSFETs
    PACK_VOLTAGE = "pack_voltage"  # at the pack terminals, outside the MOSFETs
    CURRENT = "current"  # A, positive while charging
    CELL_TEMPS = "cell_temps"  # array (main)
    BAT_TEMP = "bat_temp"  # one sensor (up to v23.1)
    IC_TEMP = "ic_temp"
    MOSFET_TEMP = "mosfet_temp"
    SOC = "soc"
    ERROR_FLAGS = "error_flags"
    BMS_STATE = "bms_state"
    CELL_VOLTAGES = "cell_voltages"
    CELL_AVG = "cell_avg"
    CELL_MIN = "cell_min"
    CELL_MAX = "cell_max"
    BALANCING = "balancing"
    CHG_ENABLE = "chg_enable"  # Input/wChgEnable: writable (RAM)
    DIS_ENABLE = "dis_enable"
    MANUFACTURER = "manufacturer"
    DEVICE_TYPE = "device_type"
    HARDWARE_VERSION = "hardware_version"
    FIRMWARE_VERSION = "firmware_version"
    RESET = "reset"  # exec
    SHUTDOWN = "shutdown"  # exec
    NOMINAL_CAPACITY = "nominal_capacity"
    SETTING = "setting"  # another stored (flash) setting of Conf
    OTHER = "other"


class CanReports(enum.StrEnum):
    """How an era publishes on CAN (legacy.md §2.6)."""

    MULTI_FRAME = "multi_frame"  # main: the whole mLive report, type 0x1, 0x1D...
    SINGLE_FRAME = "single_frame"  # 2022-10 .. 2023: one frame per item, type 0x2, 0x1E...
    LEGACY = "legacy"  # 2021 .. 2022-09: one frame per item, 0x1F... (J1939 EDP|DP bits)


@dataclass(frozen=True, slots=True)
class DataObject:
    """One ThingSet data object of one firmware era."""

    id: int
    group: str
    name: str
    type: str  # float32, uint32, uint16, uint8, bool, string, float32[], exec
    decimals: int | None = None  # text mode prints floats with this many decimals
    kind: Kind = Kind.OTHER
    serial: bool = False  # in the serial report (mLive / mSerial / serial / "")
    can: bool = False  # published on CAN

    @property
    def path(self) -> str:
        """``Meas/rSOC_pct``."""
        return f"{self.group}/{self.name}" if self.group else self.name

    @property
    def writable(self) -> bool:
        """Name prefixes w (RAM) and s (flash) are writable; r, c and x are not (§2.4 prefixes)."""
        return self.name[:1] in ("w", "s") and self.type != "exec"

    def coerce(self, value: Any) -> Any:
        """A value in this object's type, or None when it does not fit (a write is refused)."""
        return _coerce(self.type, value)


def _coerce(type_: str, value: Any) -> Any:
    if type_ == "bool":
        return value if isinstance(value, bool) else None
    if isinstance(value, bool) or not isinstance(value, int | float | list):
        return None
    if type_ == "float32":
        return float(value) if not isinstance(value, list) and math.isfinite(value) else None
    if type_.startswith("uint"):
        if isinstance(value, list) or not math.isfinite(value) or value != int(value):
            return None
        return int(value) if 0 <= value < 1 << int(type_[4:]) else None
    if type_ == "float32[]" and isinstance(value, list):
        numbers = [_coerce("float32", v) for v in value]
        return None if any(n is None for n in numbers) else numbers
    return None


def obj(
    object_id: int,
    group: str,
    name: str,
    type_: str,
    decimals: int | None = None,
    kind: Kind = Kind.OTHER,
    live: str = "",
) -> DataObject:
    """A table row; ``live`` is "SER", "CAN" or "SER|CAN" (fixture ``published_on``), "" for neither."""
    return DataObject(object_id, group, name, type_, decimals, kind, "SER" in live, "CAN" in live)


@dataclass(frozen=True)
class Era:
    """A firmware era: its names and IDs, report shapes and transport defaults."""

    key: str
    label: str
    thingset: str
    meas_group: str  # GET this group for the measurements
    report_path: str  # "#<path> {..}" on serial
    nested_report: bool  # {"Meas": {..}} (node-c) rather than flat (device-library)
    crc: bool  # the device appends " XXXXXXXX#" to its lines
    status_text: bool  # ":85 Content. {..}" (device-library up to v0.5)
    can_reports: CanReports
    can_bitrate: int
    can_node: int  # default CAN node address
    objects: tuple[DataObject, ...]
    exec_status: int = 0x84  # EXEC success: 0x83 Valid up to v0.5, 0x84 Changed in v0.6 (§2.4)
    live_id: int | None = None  # the mLive subset ID (0x31), the endpoint of binary reports
    group_ids: Mapping[str, int] = field(default_factory=dict)
    _by_name: Mapping[str, DataObject] = field(init=False, repr=False, compare=False)
    _by_id: Mapping[int, DataObject] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # First wins: the preset's fCapacity_Ah parameters repeat a name in other groups.
        by_name: dict[str, DataObject] = {}
        for item in self.objects:
            by_name.setdefault(item.name, item)
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_by_id", {item.id: item for item in self.objects})

    def by_name(self, name: str) -> DataObject | None:
        """The object of this name (names are unique within the groups the hub reads)."""
        return self._by_name.get(name)

    def by_id(self, object_id: int) -> DataObject | None:
        """The object of this ID."""
        return self._by_id.get(object_id)

    def by_kind(self, kind: Kind) -> DataObject | None:
        """The object that measures ``kind`` (None when this era has none)."""
        return next((item for item in self.objects if item.kind is kind), None)

    @property
    def names(self) -> frozenset[str]:
        """Every object name of this era."""
        return frozenset(self._by_name)

    def group_name(self, group_id: int) -> str | None:
        """The name of a group ID (0x07 -> "Meas")."""
        return next((name for name, number in self.group_ids.items() if number == group_id), None)

    def group_objects(self, group: str) -> list[DataObject]:
        """The objects of one group, in table order."""
        return [item for item in self.objects if item.group == group and item.type != "exec"]

    def report_objects(self) -> list[DataObject]:
        """What the serial report carries, in table order."""
        return [item for item in self.objects if item.serial]

    def can_objects(self) -> list[DataObject]:
        """What the era publishes on CAN, in table order."""
        return [item for item in self.objects if item.can]

    def settings(self) -> list[DataObject]:
        """Writable stored settings (``Conf/s...``)."""
        return [item for item in self.objects if item.group == "Conf" and item.name.startswith("s")]

    def known(self, names: Iterable[str]) -> int:
        """How many of ``names`` this era knows (for detection)."""
        return sum(1 for name in names if name in self._by_name)
