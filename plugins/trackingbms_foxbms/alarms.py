"""foxBMS state and error flags turned into readable alarms with stable codes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from hub.reading import Alarm, AlarmLevel
from trackingbms_foxbms.tables import FIELDS, FLAGS, Layout

__all__ = ["NO_ERROR", "flag_alarms", "index_alarm", "state_alarms"]

# (role, signal) -> the newest usable value, or None.
Lookup = Callable[[str, str], float | None]
# f_BmsState.BmsState value table: 10 = ERROR (legacy.md §1.4).
BMS_STATE_ERROR = 10
# f_BmsFatalError value table: 85 = NO_ERROR (DBC VAL_ 546).
NO_ERROR = 85
_TIMING_TASKS = {
    Layout.CURRENT: (
        "TimingViolationEngineTask",
        "TimingViolation1msTask",
        "TimingViolation10msTask",
        "TimingViolation100msTask",
        "TimingViolation100msAlgoTask",
    ),
    Layout.V1_6: (
        "foxBMS_TimingViolationEngine",
        "foxBMS_TimingViolation1ms",
        "foxBMS_TimingViolation10ms",
        "foxBMS_TimingViolation100ms",
        "foxBMS_TimingViolation100msAlgo",
    ),
}


def flag_alarms(layout: Layout, pack: Lookup, strings: Mapping[int, Lookup]) -> list[Alarm]:
    """Alarms for every active 1-bit flag of f_BmsState and of each string's f_StringState."""
    alarms: list[Alarm] = []
    for spec in FLAGS:
        name = spec.names.get(layout)
        if name is None:
            continue
        if spec.role == "bms_state":
            if pack(spec.role, name):
                alarms.append(Alarm(spec.code, spec.text, spec.level))
            continue
        for index in sorted(strings):
            if strings[index](spec.role, name):
                alarms.append(Alarm(spec.code, f"String {index}: {spec.text}", spec.level))
    return alarms


def state_alarms(layout: Layout, pack: Lookup, fatal_label: Callable[[int], str]) -> list[Alarm]:
    """The BMS error state, the last fatal error code and task timing violations."""
    alarms: list[Alarm] = []
    state = pack(*FIELDS["bms_state"][layout])
    if state == BMS_STATE_ERROR:
        alarms.append(Alarm("bms_error_state", "BMS state machine in ERROR", AlarmLevel.ALARM))
    fatal_field = FIELDS["fatal_error"].get(layout)
    fatal = pack(*fatal_field) if fatal_field else None
    if fatal is not None and int(fatal) != NO_ERROR:
        alarms.append(Alarm("fatal_error", f"Fatal error {fatal_label(int(fatal))}", AlarmLevel.ALARM))
    late = [task for task in _TIMING_TASKS[layout] if pack("bms_state_details", task)]
    if late:
        names = ", ".join(t.removeprefix("foxBMS_").removeprefix("TimingViolation") for t in late)
        alarms.append(Alarm("timing_violation", f"Task timing violation: {names}", AlarmLevel.WARNING))
    return alarms


def index_alarm(code: str, what: str, indexes: Iterable[int]) -> Alarm | None:
    """One warning naming the 1-based cells or sensors a flag marks, or None when there are none."""
    listed = sorted(indexes)
    if not listed:
        return None
    shown = ", ".join(str(i) for i in listed[:20]) + (f" and {len(listed) - 20} more" if len(listed) > 20 else "")
    return Alarm(code, f"{what}: {shown}", AlarmLevel.WARNING)
