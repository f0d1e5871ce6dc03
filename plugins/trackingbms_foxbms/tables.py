"""Declarative name tables: DBC message and signal names per layout, and the flag-to-alarm table."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hub.reading import AlarmLevel

__all__ = [
    "FIELDS",
    "FLAGS",
    "REQUEST_MODES",
    "REQUEST_SIGNALS",
    "ROLES",
    "STRING_FIELDS",
    "STRING_ROLES",
    "FlagSpec",
    "Layout",
]


class Layout(enum.StrEnum):
    """The two message layouts of foxBMS 2 (legacy.md §1.7: v1.7.0 moved every identifier)."""

    CURRENT = "current"  # v1.7.0 … v1.11.0, f_* names
    V1_6 = "v1.6"  # v1.0.0 … v1.6.0, foxBMS_* names


def _both(current: str | None, v16: str | None) -> dict[Layout, str]:
    names = {Layout.CURRENT: current, Layout.V1_6: v16}
    return {layout: name for layout, name in names.items() if name is not None}


# Canonical message roles -> DBC message names. The driver keys every decoded value by
# (role, signal), because one signal name appears in several messages (legacy.md §1.8).
ROLES: dict[str, dict[Layout, str]] = {
    "bms_state": _both("f_BmsState", "foxBMS_BmsState"),
    "bms_state_details": _both("f_BmsStateDetails", "foxBMS_BmsStateDetails"),
    "system_state": _both("f_SystemState", None),
    "fatal_error": _both("f_BmsFatalError", None),
    "pack_values": _both("f_PackValuesP0", "foxBMS_PackValues"),
    "pack_values_p1": _both("f_PackValuesP1", None),
    "pack_minmax_voltage": _both("f_PackMinMaxCellVoltage", "foxBMS_MinimumMaximumValues"),
    "pack_minmax_temperature": _both("f_PackMinMaxCellTemperature", None),
    "pack_limits": _both("f_PackLimits", "foxBMS_LimitValues"),
    "pack_state_estimation": _both("f_PackStateEstimation", "foxBMS_PackStateEstimation"),
    "cell_voltages": _both("f_CellVoltages", "foxBMS_CellVoltages"),
    "cell_temperatures": _both("f_CellTemperatures", "foxBMS_CellTemperatures"),
    "string_state": _both("f_StringState", "foxBMS_StringState"),
    "string_values": _both("f_StringValuesP0", "foxBMS_StringValuesP0"),
    "string_values_p1": _both("f_StringValuesP1", "foxBMS_StringValuesP1"),
    "string_minmax_voltage": _both("f_StringMinMaxCellVoltage", "foxBMS_StringMinMaxValues"),
    "string_minmax_temperature": _both("f_StringMinMaxCellTemperature", None),
    "string_state_estimation": _both("f_StringStateEstimation", "foxBMS_StringStateEstimation"),
    "state_request": _both("f_BmsStateRequest", "foxBMS_BmsStateRequest"),
}
# Messages whose multiplexer is the string index (legacy.md §1.5).
STRING_ROLES = frozenset(role for role in ROLES if role.startswith("string_"))


def _field(
    role_current: str, current: str | None, v16: str | None, role_v16: str | None = None
) -> dict[Layout, tuple[str, str]]:
    out: dict[Layout, tuple[str, str]] = {}
    if current is not None:
        out[Layout.CURRENT] = (role_current, current)
    if v16 is not None:
        out[Layout.V1_6] = (role_v16 or role_current, v16)
    return out


# Pack values: canonical name -> (role, signal) per layout; units as in the DBC (legacy.md §1.4).
FIELDS: dict[str, dict[Layout, tuple[str, str]]] = {
    "voltage": _field("pack_values", "BatteryVoltage", "foxBMS_batteryVoltage"),  # V
    "bus_voltage": _field("pack_values", "BusVoltage", "foxBMS_busVoltage"),  # V
    "current": _field("pack_values", "Current", "foxBMS_packCurrent"),  # A, sign: see CurrentSign
    "power": _field("pack_values", "Power", "foxBMS_packPower"),  # kW
    "soc_min": _field("pack_state_estimation", "MinimumSoc", "foxBMS_packSoc"),  # %
    "soc_max": _field("pack_state_estimation", "MaximumSoc", "foxBMS_packSoc"),
    "soe_min": _field("pack_state_estimation", "MinimumSoe", "foxBMS_packSoe"),
    "soe_max": _field("pack_state_estimation", "MaximumSoe", "foxBMS_packSoe"),
    "soh": _field("pack_state_estimation", "Soh", "foxBMS_packSoh"),
    "energy_kwh": _field("pack_state_estimation", "Energy", "foxBMS_packEnergy"),
    "cell_voltage_max_mv": _field("pack_minmax_voltage", "MaximumCellVoltage", "foxBMS_maximumCellVoltage"),
    "cell_voltage_min_mv": _field("pack_minmax_voltage", "MinimumCellVoltage", "foxBMS_minimumCellVoltage"),
    "cell_temperature_max": _field(
        "pack_minmax_temperature", "MaximumCellTemperature", "foxBMS_maximumCellTemp", "pack_minmax_voltage"
    ),
    "cell_temperature_min": _field(
        "pack_minmax_temperature", "MinimumCellTemperature", "foxBMS_minimumCellTemp", "pack_minmax_voltage"
    ),
    "max_charge_current": _field("pack_limits", "MaximumChargeCurrent", "foxBMS_maxChargeCurrent"),  # A
    "max_discharge_current": _field("pack_limits", "MaximumDischargeCurrent", "foxBMS_maxDischargeCurrent"),
    "max_charge_power_kw": _field("pack_limits", "MaximumChargePower", "foxBMS_maxChargePower"),
    "max_discharge_power_kw": _field("pack_limits", "MaximumDischargePower", "foxBMS_maxDischargePower"),
    "max_battery_voltage": _field("pack_limits", "MaximumBatteryVoltage", "foxBMS_maxBatteryVoltage"),
    "min_battery_voltage": _field("pack_limits", "MinimumBatteryVoltage", "foxBMS_minBatteryVoltage"),
    "bms_state": _field("bms_state", "BmsState", "foxBMS_State"),
    "connected_strings": _field("bms_state", "NumberOfConnectedStrings", "BMS_nrOfConnectedStrings"),
    "insulation_resistance_kohm": _field("bms_state", "InsulationResistance", "foxBMS_insulationResistance"),
    "insulation_monitor_kohm": _field("pack_values_p1", "InsulationResistance", None),  # 7 kOhm steps
    "system_state": _field("system_state", "State", None),
    "fatal_error": _field("fatal_error", "FatalErrorCode", None),
}

# Per-string values (multiplexer = string index). The v1.6 DBC spells the index into the name.
STRING_FIELDS: dict[str, dict[Layout, tuple[str, str]]] = {
    "voltage": _field("string_values", "Voltage", "foxBMS_String0Voltage"),
    "current": _field("string_values", "Current", "foxBMS_String0Current"),
    "power_kw": _field("string_values", "Power", "foxBMS_String0Power"),
    "energy_counter_wh": _field("string_values_p1", "EnergyCounter", "foxBMS_String0EnergyCount"),
    "soc_min": _field("string_state_estimation", "MinimumSoc", "String0_minimumSOC"),
    "soc_max": _field("string_state_estimation", "MaximumSoc", "String0_maximumSOC"),
    "soh": _field("string_state_estimation", "Soh", "String0_SOH"),
    "energy_kwh": _field("string_state_estimation", "Energy", "String0_Energy_kWh"),
    "cell_voltage_max_mv": _field("string_minmax_voltage", "MaximumCellVoltage", "String0_maximumCellVoltage"),
    "cell_voltage_min_mv": _field("string_minmax_voltage", "MinimumCellVoltage", "String0_minimumCellVoltage"),
    "cell_temperature_max": _field(
        "string_minmax_temperature", "MaximumCellTemperature", "String0_maximumCellTemperature", "string_minmax_voltage"
    ),
    "cell_temperature_min": _field(
        "string_minmax_temperature", "MinimumCellTemperature", "String0_minimumCellTemperature", "string_minmax_voltage"
    ),
    "connected": _field("string_state", "IsStringConnected", "String0_stringConnected"),
    "balancing": _field("string_state", "IsBalancingActive", "String0_balancing_active"),
}


@dataclass(frozen=True, slots=True)
class FlagSpec:
    """One 1-bit state flag (1 = active) that becomes an alarm with a stable code."""

    role: str
    code: str
    text: str
    level: AlarmLevel
    names: dict[Layout, str]


_A, _W = AlarmLevel.ALARM, AlarmLevel.WARNING


def _bms(code: str, text: str, level: AlarmLevel, current: str | None, v16: str | None) -> FlagSpec:
    return FlagSpec("bms_state", code, text, level, _both(current, v16))


def _str(code: str, text: str, level: AlarmLevel, current: str | None, v16: str | None) -> FlagSpec:
    return FlagSpec("string_state", code, text, level, _both(current, v16))


def _limits(code: str, text: str, current: str, v16: tuple[str, str, str]) -> tuple[FlagSpec, ...]:
    # MSL (maximum safety limit) flags are errors; MOL and RSL (operating / recommended safety
    # limits) are warnings. Current names are "<base>MslError" etc., cut to 32 characters by the
    # DBC (legacy.md §1.8); the v1.6 names are irregular and listed in full.
    msl, mol, rsl = (f"{current}{suffix}"[:32] for suffix in ("MslError", "MolWarning", "RslWarning"))
    return (
        _str(code, f"{text} (MSL)", _A, msl, f"String0_{v16[0]}"),
        _str(code, f"{text} (MOL)", _W, mol, f"String0_{v16[1]}_MOL"),
        _str(code, f"{text} (RSL)", _W, rsl, f"String0_{v16[2]}_RSL"),
    )


# f_BmsState (0x220) and f_StringState (0x240, mux = string) flags (legacy.md §1.4). The DBC
# cuts names to 32 characters (legacy.md §1.8): the names below are the DBC's, truncated.
FLAGS: tuple[FlagSpec, ...] = (
    _bms("bms_general_error", "BMS general error", _A, "GeneralError", "foxBMS_generalError"),
    _bms("bms_general_warning", "BMS general warning", _W, "GeneralWarning", "foxBMS_generalWarning"),
    _bms("emergency_shutoff", "Emergency shutoff", _A, "EmergencyShutoff", "foxBMS_EmergencyShutoff"),
    _bms("system_monitoring_error", "System monitoring error", _A, "SystemMonitoringError", "foxBMS_SysMonError"),
    _bms(
        "precharge_voltage_error", "Precharge voltage error", _A, "PrechargeVoltageError", "foxBMS_Error_PrechargeVolt"
    ),
    _bms(
        "precharge_current_error",
        "Precharge current error",
        _A,
        "PrechargeCurrentError",
        "foxBMS_Error_PrechargeCurrent",
    ),
    _bms(
        "mcu_temperature", "MCU die temperature error", _A, "McuDieTemperatureError", "foxBMS_Error_dieTemperatureMCU"
    ),
    _bms(
        "board_temperature_high",
        "BMS master board overtemperature",
        _A,
        "BmsMasterPcbOvertemperatureError",
        "foxBMS_Error_OvertempPCB",
    ),
    _bms(
        "board_temperature_low",
        "BMS master board undertemperature",
        _A,
        "BmsMasterPcbUndertemperatureErro",
        "foxBMS_Error_UndertempPCB",
    ),
    _bms("main_fuse_blown", "Main fuse blown", _A, "MainFuseBlown", "foxBMS_MainFuseBlown"),
    # InterlockState: 1 = "Open" (DBC value table).
    _bms("interlock_open", "Interlock open", _A, "InterlockState", "foxBMS_Error_Interlock"),
    _bms("insulation_error", "Insulation error", _A, "InsulationError", "foxBMS_Error_Insulation"),
    # Raised when 0x210 does not arrive every 95-105 ms (legacy.md §1.6).
    _bms("can_timing_error", "CAN timing error (state request 0x210)", _A, "CanTimingError", "foxBMS_Error_Cantiming"),
    _bms(
        "charge_overcurrent",
        "Pack overcurrent while charging",
        _A,
        "PackOvercurrentChargeError",
        "foxBMS_Error_PackOvercurr_Charge",
    ),
    _bms(
        "discharge_overcurrent",
        "Pack overcurrent while discharging",
        _A,
        "PackOvercurrentDischargeError",
        "foxBMS_Error_PackOvercur_Dischrg",
    ),
    _bms("alert_mode", "Alert flag (DIAG alert mode)", _A, "AlertFlag", "foxBMS_alertFlag"),
    _bms("nvram_crc_error", "NVRAM CRC error", _A, "NvramCrcError", "foxBMS_NvramCrcError"),
    _bms("clamp30c_lost", "Clamp 30C supply lost", _A, "Clamp30cError", None),
    _str("deep_discharge", "Deep discharge detected", _A, "DeepDischargeError", "String0_Err_deep_discharge"),
    _str("string_fuse_blown", "String fuse blown", _A, "IsStringFuseBlown", "String0_fuseBlown"),
    *_limits(
        "cell_voltage_high",
        "Cell overvoltage",
        "Overvoltage",
        ("Err_Overvoltage", "Warning_overvoltage", "Wrng_overvoltage"),
    ),
    *_limits(
        "cell_voltage_low",
        "Cell undervoltage",
        "Undervoltage",
        ("Err_Undervoltage", "Warning_undervoltage", "Wrng_undervoltage"),
    ),
    *_limits(
        "charge_temperature_high",
        "Overtemperature while charging",
        "OvertemperatureCharge",
        ("Err_overtemp_charge", "Wrng_chargeOverTemp", "Wrng_chargeOverTemp"),
    ),
    *_limits(
        "charge_temperature_low",
        "Undertemperature while charging",
        "UndertemperatureCharge",
        ("Err_undertemp_charge", "Wrng_chargeUnderTemp", "Wrng_chargeUnderTemp"),
    ),
    *_limits(
        "discharge_temperature_high",
        "Overtemperature while discharging",
        "OvertemperatureDischarge",
        ("Err_overtemp_discharge", "Wrng_dischrgOverTemp", "Wrng_dischrgOverTemp"),
    ),
    *_limits(
        "discharge_temperature_low",
        "Undertemperature while discharging",
        "UndertemperatureDischarge",
        ("Err_undertemp_discharge", "Wrng_dischrgUnderTmp", "Wrng_dischrgUnderTmp"),
    ),
    *_limits(
        "cell_charge_overcurrent",
        "Cell overcurrent while charging",
        "CellOvercurrentCharge",
        ("Err_Overcurrent_charge", "Wrng_chargeOverCur", "Wrng_chargeOverCur"),
    ),
    *_limits(
        "cell_discharge_overcurrent",
        "Cell overcurrent while discharging",
        "CellOvercurrentDischarge",
        ("Err_Overcurre_discharge", "Wrng_dischargOverCur", "Wrng_dischargOverCur"),
    ),
    _str(
        "afe_voltage_out_of_range",
        "AFE voltage measurement out of range",
        _A,
        "DaisyChainBaseVoltMeasOorError",
        "String0_Err_dsyPrim_voltMeasOor",
    ),
    _str(
        "afe_temperature_out_of_range",
        "AFE temperature measurement out of range",
        _A,
        "DaisyChainBaseTempMeasOorError",
        "String0_Err_dsyPrim_tempMeasOor",
    ),
    _str("afe_crc_error", "AFE daisy chain CRC error", _A, "DaisyChainBaseCrcError", "String0_Err_dsyChainPrim_CRC"),
    _str(
        "afe_communication_error",
        "AFE daisy chain communication error",
        _A,
        "DaisyChainBaseCommunicationError",
        "String0_Err_dsyChainBase_Comm",
    ),
    _str("slave_hardware_error", "BMS slave hardware error", _A, "SlaveHardwareError", "String0_Err_slave_hardware"),
    _str(
        "negative_contactor_error",
        "Negative contactor feedback error",
        _A,
        "NegativeContactorError",
        "String0_Err_negativeContactor",
    ),
    _str(
        "positive_contactor_error",
        "Positive contactor feedback error",
        _A,
        "PositiveContactorError",
        "String0_Err_positiveContactor",
    ),
    _str(
        "current_measurement_error",
        "String current measurement error",
        _A,
        "StringCurrentMeasurementError",
        "String0_Err_CS_currentMeas",
    ),
    _str(
        "coulomb_counting_error",
        "Coulomb counting measurement error",
        _A,
        "CoulombCountingMeasurementError",
        "String0_Err_CS_coulombCountMeas",
    ),
    _str(
        "energy_counting_error",
        "Energy counting measurement error",
        _A,
        "EnergyCountingMeasurementError",
        "String0_Err_CS_energyCountMeas",
    ),
    _str(
        "string_voltage_measurement_error",
        "String voltage measurement error",
        _A,
        "StringVoltageMeasurementError",
        "String0_Err_CS_voltage1Meas",
    ),
    _str(
        "fused_voltage_measurement_error",
        "Fused string voltage measurement error",
        _A,
        "FusedStringVoltageMeasurementErr",
        "String0_Err_CS_voltage2Meas",
    ),
    _str(
        "pack_voltage_measurement_error",
        "Pack voltage measurement error",
        _A,
        "PackVoltageMeasurementError",
        "String0_Err_CS_voltage3Meas",
    ),
    _str("open_wire", "Open wire detected", _A, "OpenWireError", "String0_Err_openWire"),
    _str(
        "cell_voltage_plausibility",
        "Cell voltage plausibility error",
        _A,
        "CellVoltagePlausibilityError",
        "String0_Err_plaus_cell_volt",
    ),
    _str(
        "cell_temperature_plausibility",
        "Cell temperature plausibility error",
        _A,
        "CellTemperaturePlausibilityError",
        "String0_Err_plaus_cell_temp",
    ),
    _str(
        "string_voltage_plausibility",
        "String voltage plausibility error",
        _A,
        "StringVoltagePlausibilityError",
        "String0_Err_plaus_string_volt",
    ),
    _str(
        "voltage_spread_plausibility",
        "Cell voltage spread plausibility error",
        _A,
        "VoltageSpreadPlausibilityError",
        "String0_Err_plaus_volt_spread",
    ),
    _str(
        "temperature_spread_plausibility",
        "Cell temperature spread plausibility error",
        _A,
        "TemperatureSpreadPlausibilityErr",
        "String0_Err_plaus_temp_spread",
    ),
    _str("string_overcurrent", "String overcurrent", _A, "StringOvercurrentError", None),
)

# f_BmsStateRequest (0x210; 0x230 before v1.7) signals: mode, balancing on/off, threshold (legacy.md §1.6).
REQUEST_SIGNALS: dict[Layout, tuple[str, str, str]] = {
    Layout.CURRENT: ("RequestBmsMode", "ActivateBalancing", "SetBalancingThreshold"),
    Layout.V1_6: ("foxBMS_modeRequest", "foxBMS_activateBalancing", "foxBMS_balancingThreshold"),
}
# RequestBmsMode values: 0 STANDBY, 1 NORMAL (DBC label "Discharge"), 2 CHARGE (CANRX_HandleModeRequest).
REQUEST_MODES = {"standby": 0, "normal": 1, "charge": 2}
