"""The Libre Solar BMS data objects per firmware era, and era detection (legacy.md §2.2, §2.3).

Rows come from tests/fixtures/thingset/libresolar_bms_data_objects.json (extracted from
LibreSolar/bms-firmware ``app/src/data_objects.{c,h}`` at the commits named there).
"""

from __future__ import annotations

from collections.abc import Collection

from trackingbms_thingset.objects import CanReports, DataObject, Era, Kind, obj

__all__ = ["ERAS", "ERA_ALIASES", "detect_era", "era_for_can_reports", "get_era"]

K = Kind

_DEVICE_COMMON = (
    obj(0x40, "Device", "cManufacturer", "string", kind=K.MANUFACTURER),
    obj(0x41, "Device", "cDeviceType", "string", kind=K.DEVICE_TYPE),
    obj(0x42, "Device", "cHardwareVersion", "string", kind=K.HARDWARE_VERSION),
    obj(0x43, "Device", "cFirmwareVersion", "string", kind=K.FIRMWARE_VERSION),
    obj(0x4A, "Device", "xShutdown", "exec", kind=K.SHUTDOWN),
    obj(0x4B, "Device", "xReset", "exec", kind=K.RESET),
)

# Conf (0x05): protection limits and balancing, stored in flash (TS_SUBSET_NVM), same IDs v23.0 -> main.
_CONF_COMMON = (
    obj(0x50, "Conf", "sNominalCapacity_Ah", "float32", 1, K.NOMINAL_CAPACITY),
    obj(0x51, "Conf", "sShortCircuitLimit_A", "float32", 1, K.SETTING),
    obj(0x52, "Conf", "sShortCircuitDelay_us", "uint32", None, K.SETTING),
    obj(0x53, "Conf", "sDisOvercurrent_A", "float32", 1, K.SETTING),
    obj(0x54, "Conf", "sDisOvercurrentDelay_ms", "uint32", None, K.SETTING),
    obj(0x55, "Conf", "sChgOvercurrent_A", "float32", 1, K.SETTING),
    obj(0x56, "Conf", "sChgOvercurrentDelay_ms", "uint32", None, K.SETTING),
    obj(0x58, "Conf", "sDisMaxTemp_degC", "float32", 1, K.SETTING),
    obj(0x59, "Conf", "sDisMinTemp_degC", "float32", 1, K.SETTING),
    obj(0x5A, "Conf", "sChgMaxTemp_degC", "float32", 1, K.SETTING),
    obj(0x5B, "Conf", "sChgMinTemp_degC", "float32", 1, K.SETTING),
    obj(0x5C, "Conf", "sTempLimitHysteresis_degC", "float32", 1, K.SETTING),
    obj(0x60, "Conf", "sCellOvervoltage_V", "float32", 1, K.SETTING),
    obj(0x61, "Conf", "sCellOvervoltageReset_V", "float32", 1, K.SETTING),
    obj(0x62, "Conf", "sCellOvervoltageDelay_ms", "uint32", None, K.SETTING),
    obj(0x63, "Conf", "sCellUndervoltage_V", "float32", 1, K.SETTING),
    obj(0x64, "Conf", "sCellUndervoltageReset_V", "float32", 1, K.SETTING),
    obj(0x65, "Conf", "sCellUndervoltageDelay_ms", "uint32", None, K.SETTING),
    obj(0x68, "Conf", "sBalTargetVoltageDiff_V", "float32", 3, K.SETTING),
    obj(0x69, "Conf", "sBalMinVoltage_V", "float32", 1, K.SETTING),
    obj(0x6A, "Conf", "sBalIdleDelay_s", "uint16", None, K.SETTING),
    obj(0x6B, "Conf", "sBalIdleCurrent_A", "float32", 1, K.SETTING),
    obj(0xA0, "Conf", "xPresetNMC", "exec"),
    obj(0xA2, "Conf", "xPresetLFP", "exec"),
)

_INPUT = (
    obj(0x90, "Input", "wChgEnable", "bool", kind=K.CHG_ENABLE),
    obj(0x91, "Input", "wDisEnable", "bool", kind=K.DIS_ENABLE),
)

_GROUPS = {"Device": 0x04, "Conf": 0x05, "Meas": 0x07, "Input": 0x09}
_LIVE = "SER|CAN"  # TS_SUBSET_LIVE: in the serial mLive report and on CAN

MAIN = Era(
    key="2024",
    label="main (2024 onwards): ThingSet v0.6, thingset-zephyr-sdk + thingset-node-c",
    thingset="v0.6",
    meas_group="Meas",
    report_path="mLive",
    nested_report=True,
    crc=True,
    status_text=False,
    can_reports=CanReports.MULTI_FRAME,
    can_bitrate=500_000,
    can_node=1,
    live_id=0x31,
    group_ids=_GROUPS,
    objects=(
        *_DEVICE_COMMON,
        obj(0x4E, "Device", "xDebugPrintRegisters", "exec"),
        *_CONF_COMMON,
        obj(0xA4, "Conf", "xPresetLTO", "exec"),
        obj(0xB0, "Conf", "sOcvPoints_V", "float32[]", 3, K.SETTING),
        obj(0xB1, "Conf", "sSocPoints_pct", "float32[]", 1, K.SETTING),
        # main swapped the voltage names: rPackVoltage_V is ic_data.total_voltage (the internal
        # stack) and rStackVoltage_V the external pack voltage (fixture "quirk", legacy.md §2.3).
        obj(0x71, "Meas", "rPackVoltage_V", "float32", 2, K.STACK_VOLTAGE, _LIVE),
        obj(0x72, "Meas", "rStackVoltage_V", "float32", 2, K.PACK_VOLTAGE, _LIVE),
        obj(0x73, "Meas", "rPackCurrent_A", "float32", 2, K.CURRENT, _LIVE),
        obj(0x74, "Meas", "rCellTemps_degC", "float32[]", 1, K.CELL_TEMPS, _LIVE),
        obj(0x75, "Meas", "rICTemp_degC", "float32", 1, K.IC_TEMP, _LIVE),
        obj(0x77, "Meas", "rMOSFETTemp_degC", "float32", 1, K.MOSFET_TEMP, _LIVE),
        obj(0x7C, "Meas", "rSOC_pct", "float32", 1, K.SOC, _LIVE),
        obj(0x7E, "Meas", "rErrorFlags", "uint32", None, K.ERROR_FLAGS, _LIVE),
        obj(0x7F, "Meas", "rBmsState", "uint8", None, K.BMS_STATE, _LIVE),
        obj(0x80, "Meas", "rCellVoltages_V", "float32[]", 3, K.CELL_VOLTAGES, _LIVE),
        obj(0x81, "Meas", "rCellAvgVoltage_V", "float32", 3, K.CELL_AVG, _LIVE),
        obj(0x82, "Meas", "rCellMinVoltage_V", "float32", 3, K.CELL_MIN, _LIVE),
        obj(0x83, "Meas", "rCellMaxVoltage_V", "float32", 3, K.CELL_MAX, _LIVE),
        obj(0x84, "Meas", "rBalancingStatus", "uint32", None, K.BALANCING, _LIVE),
        *_INPUT,
    ),
)

V23 = Era(
    key="2023",
    label="v23.0 / v23.1 (2023): r-prefixed v0.6 draft names, single-frame CAN reports",
    thingset="v0.5 (v23.0) / v0.6 draft (v23.1)",
    meas_group="Meas",
    report_path="mLive",
    nested_report=True,  # node-c in v23.1; v23.0's device-library printed it flat (both are parsed)
    crc=False,  # whether v23.x appended the CRC is not established (legacy.md §2.2); accepted either way
    status_text=False,  # v23.1 ":85 {..}"; v23.0 ":85 Content. {..}" is parsed too
    can_reports=CanReports.SINGLE_FRAME,
    can_bitrate=500_000,
    can_node=1,
    live_id=0x31,
    group_ids=_GROUPS,
    objects=(
        *_DEVICE_COMMON,
        obj(0x4C, "Device", "xPrintRegister", "exec"),
        obj(0x4E, "Device", "xPrintRegisters", "exec"),
        *_CONF_COMMON,
        # v23.x: rPackVoltage_V is the external pack voltage, rStackVoltage_V (BQ769x2 only) the
        # stack: the reverse of main (fixture "quirk"; the bms-c1 #45 capture shows 0.47 / 24.87 V).
        obj(0x71, "Meas", "rPackVoltage_V", "float32", 2, K.PACK_VOLTAGE, _LIVE),
        obj(0x72, "Meas", "rStackVoltage_V", "float32", 2, K.STACK_VOLTAGE, _LIVE),
        obj(0x73, "Meas", "rPackCurrent_A", "float32", 2, K.CURRENT, _LIVE),
        obj(0x74, "Meas", "rBatTemp_degC", "float32", 1, K.BAT_TEMP, _LIVE),
        obj(0x75, "Meas", "rICTemp_degC", "float32", 1, K.IC_TEMP, _LIVE),
        obj(0x77, "Meas", "rMOSFETTemp_degC", "float32", 1, K.MOSFET_TEMP, _LIVE),
        obj(0x7C, "Meas", "rSOC_pct", "float32", 1, K.SOC, _LIVE),
        obj(0x7E, "Meas", "rErrorFlags", "uint32", None, K.ERROR_FLAGS, _LIVE),
        obj(0x7F, "Meas", "rBmsState", "uint16", None, K.BMS_STATE, _LIVE),
        obj(0x80, "Meas", "rCellVoltages_V", "float32[]", 3, K.CELL_VOLTAGES, _LIVE),
        obj(0x81, "Meas", "rCellAvgVoltage_V", "float32", 3, K.CELL_AVG, _LIVE),
        obj(0x82, "Meas", "rCellMinVoltage_V", "float32", 3, K.CELL_MIN, _LIVE),
        obj(0x83, "Meas", "rCellMaxVoltage_V", "float32", 3, K.CELL_MAX, _LIVE),
        obj(0x84, "Meas", "rBalancingStatus", "uint32", None, K.BALANCING, _LIVE),
        *_INPUT,
    ),
)


def _legacy_meas(group: str, names: tuple[str, ...], r: str, publish: dict[int, str]) -> tuple[DataObject, ...]:
    """2021-2022 measurement rows: same IDs, names with or without the "r" prefix (§2.3 legacy map).

    Note 0x72 is the current here; from 2023 on it is rStackVoltage_V, a voltage (§2.3).
    """
    ids = (0x71, 0x72, 0x73, 0x74, 0x76, 0x7C, 0x7E, 0x7F, 0x80, 0x9A, 0x9B, 0x9C, 0x9D)
    kinds: tuple[Kind, ...] = (K.STACK_VOLTAGE, K.CURRENT, K.BAT_TEMP, K.IC_TEMP, K.MOSFET_TEMP, K.SOC)
    kinds += (K.ERROR_FLAGS, K.BMS_STATE, K.CELL_VOLTAGES, K.CELL_AVG, K.CELL_MIN, K.CELL_MAX, K.BALANCING)
    types = ("float32",) * 6 + ("uint32", "uint16", "float32[]", "float32", "float32", "float32", "uint32")
    decimals = (2, 2, 1, 1, 1, 1, None, None, 3, 3, 3, 3, None)
    rows = []
    for object_id, name, kind, type_, places in zip(ids, names, kinds, types, decimals, strict=True):
        rows.append(obj(object_id, group, r + name, type_, places, kind, publish.get(object_id, "SER|CAN")))
    return tuple(rows)


_NAMES_2021: tuple[str, ...] = (
    "Bat_V",
    "Bat_A",
    "Bat_degC",
    "IC_degC",
    "MOSFETs_degC",
    "SOC_pct",
    "ErrorFlags",
    "BmsState",
)
_NAMES_2021 += ("Cells_V", "CellAvg_V", "CellMin_V", "CellMax_V", "BalancingStatus")
_NAMES_2022: tuple[str, ...] = (
    "Bat_V",
    "Bat_A",
    "Bat_degC",
    "IC_degC",
    "MOSFET_degC",
    "SOC_pct",
    "ErrorFlags",
    "BmsState",
)
_NAMES_2022 += ("Cells_V", "CellAvg_V", "CellMin_V", "CellMax_V", "BalancingStatus")

V22 = Era(
    key="2022-05",
    label="2022-05 .. 2022-11: device-library v0.5, r-prefixed names (rBat_V), #mSerial reports",
    thingset="v0.5",
    meas_group="Meas",
    report_path="mSerial",
    nested_report=False,
    crc=False,
    status_text=True,
    can_reports=CanReports.LEGACY,  # 0x1F00.. until the library commit of 2022-09-29, 0x1E00.. after
    can_bitrate=500_000,
    can_node=10,
    exec_status=0x83,
    group_ids={"Meas": 0x02},
    objects=_legacy_meas("Meas", _NAMES_2022, "r", {0x74: "", 0x80: "SER"}),
)

V21_10 = Era(
    key="2021-10",
    label="2021-10 .. 2022-05: device-library v0.4, names without prefix (Bat_V), group meas",
    thingset="v0.4",
    meas_group="meas",
    report_path="serial",  # "#serial {..}": medium confidence, the code path looks broken (§2.7)
    nested_report=False,
    crc=False,
    status_text=True,
    can_reports=CanReports.LEGACY,
    can_bitrate=500_000,
    can_node=10,
    exec_status=0x83,
    group_ids={"meas": 0x02},
    objects=_legacy_meas("meas", _NAMES_2021, "", {0x74: "", 0x80: "SER"}),
)

V21 = Era(
    key="2021-05",
    label="v21.0 (2021-05): device-library v0.3, group output, '# {..}' reports, CAN at 250 kbit/s",
    thingset="v0.3",
    meas_group="output",
    report_path="",
    nested_report=False,
    crc=False,
    status_text=True,
    can_reports=CanReports.LEGACY,
    can_bitrate=250_000,  # v21.0 board DTS bus-speed = <250000> (§2.6)
    can_node=10,
    exec_status=0x83,
    group_ids={"output": 0x70},
    objects=_legacy_meas("output", _NAMES_2021, "", {0x74: "", 0x76: "", 0x80: ""}),
)

# Newest first: detection prefers the newest era among equally good matches.
ERAS: dict[str, Era] = {era.key: era for era in (MAIN, V23, V22, V21_10, V21)}
ERA_ALIASES: dict[str, str] = {"main": "2024", "v23": "2023", "v23.0": "2023", "v23.1": "2023", "v21.0": "2021-05"}


def get_era(key: str) -> Era:
    """An era by key or alias; KeyError for unknown keys."""
    return ERAS[ERA_ALIASES.get(key, key)]


def detect_era(names: Collection[str], hint: str | None = None) -> Era | None:
    """The era whose names match best; ``hint`` (report path or group) breaks ties (§2.2).

    2021-05 and 2021-10 share every name: ``# {..}`` / ``output`` mean v21.0, ``#serial`` /
    ``meas`` the later one. 2023 and main differ by rBatTemp_degC / rCellTemps_degC.
    """
    scores = {key: era.known(names) for key, era in ERAS.items()}
    best = max(scores.values(), default=0)
    if best == 0:
        return None
    candidates = [ERAS[key] for key, score in scores.items() if score == best]
    if hint is not None:
        for era in candidates:
            if hint in (era.report_path, era.meas_group):
                return era
    return candidates[0]


def era_for_can_reports(kind: CanReports) -> Era:
    """The era a kind of CAN report implies: 0x1D main, 0x1E v23.x, 0x1F 2021-2022 (§2.6)."""
    if kind is CanReports.MULTI_FRAME:
        return MAIN
    if kind is CanReports.SINGLE_FRAME:
        return V23
    return V22  # 2021-05, 2021-10 and 2022-05 share every ID; only the names differ
