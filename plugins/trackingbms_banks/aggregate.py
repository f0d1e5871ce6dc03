"""Pure functions that combine member readings into one bank reading (parallel or series)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hub.reading import Alarm, Reading, Temperature

PARALLEL = "parallel"
SERIES = "series"
TOPOLOGIES = (PARALLEL, SERIES)


def _values(readings: Sequence[Reading], get: Callable[[Reading], float | None]) -> list[float] | None:
    """Every member's value, or None when any member lacks it (a partial sum would mislead)."""
    values = [get(r) for r in readings]
    return None if any(v is None for v in values) else [float(v) for v in values if v is not None]


def _sum(readings: Sequence[Reading], get: Callable[[Reading], float | None]) -> float | None:
    values = _values(readings, get)
    return None if values is None else round(sum(values), 4)


def _mean(readings: Sequence[Reading], get: Callable[[Reading], float | None]) -> float | None:
    values = _values(readings, get)
    return None if values is None else round(sum(values) / len(values), 4)


def _min(readings: Sequence[Reading], get: Callable[[Reading], float | None]) -> float | None:
    values = _values(readings, get)
    return None if values is None else min(values)


def weighted_soc(readings: Sequence[Reading]) -> float | None:
    """SOC weighted by rated capacity; equal weights unless every member knows its capacity."""
    socs = _values(readings, lambda r: r.soc)
    if socs is None:
        return None
    rated = _values(readings, lambda r: r.rated_capacity_ah)
    weights = rated if rated is not None and sum(rated) > 0 else [1.0] * len(socs)
    return round(sum(s * w for s, w in zip(socs, weights, strict=True)) / sum(weights), 2)


def all_on(readings: Sequence[Reading], get: Callable[[Reading], bool | None]) -> bool | None:
    """True when every member's switch is on, False when any is off, None when one is unknown."""
    values = [get(r) for r in readings]
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def temperatures(readings: Sequence[Reading]) -> tuple[Temperature, ...]:
    """Every member's sensors in member order, renumbered 1..n so sensor numbers stay unique."""
    sensors = [t for r in readings for t in r.temperatures]
    return tuple(Temperature(t.value, t.kind, i) for i, t in enumerate(sensors, start=1))


def alarms(readings: Sequence[Reading]) -> tuple[Alarm, ...]:
    """The union of member alarms, each code prefixed with its member id (``garage:cell_ov``)."""
    seen: dict[str, Alarm] = {}
    for reading in readings:
        for alarm in reading.alarms:
            code = f"{reading.battery_id}:{alarm.code}"
            seen.setdefault(code, Alarm(code, f"{reading.battery_id}: {alarm.text}", alarm.level))
    return tuple(seen.values())


def balancing(readings: Sequence[Reading]) -> tuple[int, ...]:
    """Balancing cell indices shifted to the bank's concatenated cell numbering."""
    result: list[int] = []
    offset = 0
    for reading in readings:
        result.extend(offset + i for i in reading.balancing)
        offset += len(reading.cells)
    return tuple(result)


def combine(bank_id: str, topology: str, readings: Sequence[Reading]) -> Reading:
    """One bank reading from its members' readings (in member order); sign convention kept."""
    if len(readings) < 2:
        raise ValueError("a bank needs at least two member readings")
    if topology not in TOPOLOGIES:
        raise ValueError(f"unknown topology {topology!r}")
    parallel = topology == PARALLEL
    return Reading(
        battery_id=bank_id,
        timestamp=max(r.timestamp for r in readings),
        voltage=(_mean if parallel else _sum)(readings, lambda r: r.voltage),
        current=(_sum if parallel else _mean)(readings, lambda r: r.current),
        power=_sum(readings, lambda r: r.power),
        soc=weighted_soc(readings) if parallel else _min(readings, lambda r: r.soc),
        soh=_min(readings, lambda r: r.soh),
        cells=tuple(v for r in readings for v in r.cells),
        temperatures=temperatures(readings),
        charge_mos=all_on(readings, lambda r: r.charge_mos),
        discharge_mos=all_on(readings, lambda r: r.discharge_mos),
        balancing=balancing(readings),
        remaining_capacity_ah=(_sum if parallel else _min)(readings, lambda r: r.remaining_capacity_ah),
        rated_capacity_ah=(_sum if parallel else _min)(readings, lambda r: r.rated_capacity_ah),
        alarms=alarms(readings),
    )
