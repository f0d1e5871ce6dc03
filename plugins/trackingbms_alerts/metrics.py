"""The values a rule can watch: reading fields, values derived from a reading, and published analytics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hub.reading import Reading


@dataclass(frozen=True, slots=True)
class Metric:
    """A watchable value: its unit, how many decimals a message shows, and its label per locale."""

    unit: str | None
    decimals: int
    en: str
    fr: str


# Values taken from the normalized reading (hub/reading.py, DESIGN §4).
READING_METRICS: dict[str, Metric] = {
    "voltage": Metric("V", 2, "pack voltage", "tension du pack"),
    "current": Metric("A", 1, "current", "courant"),
    "power": Metric("W", 0, "power", "puissance"),
    "soc": Metric("%", 1, "state of charge", "état de charge"),
    "soh": Metric("%", 1, "state of health", "état de santé"),
    "cell_max": Metric("V", 3, "highest cell voltage", "tension de cellule la plus haute"),
    "cell_min": Metric("V", 3, "lowest cell voltage", "tension de cellule la plus basse"),
    "cell_delta": Metric("V", 3, "cell voltage spread", "écart de tension entre cellules"),
    "temperature_max": Metric("°C", 1, "highest temperature", "température la plus haute"),
    "temperature_min": Metric("°C", 1, "lowest temperature", "température la plus basse"),
    "cycles": Metric(None, 0, "BMS cycle count", "nombre de cycles du BMS"),
    "remaining_capacity_ah": Metric("Ah", 1, "remaining capacity", "capacité restante"),
}
# Values the energy plugin publishes as data.bms.analytics (docs/analytics.md); any other numeric
# analytics value can be watched as ``analytics.<name>``.
ANALYTICS_METRICS: dict[str, Metric] = {
    "energy_charged_kwh": Metric("kWh", 3, "energy charged", "énergie chargée"),
    "energy_discharged_kwh": Metric("kWh", 3, "energy discharged", "énergie déchargée"),
    "soc_coulomb": Metric("%", 1, "coulomb-counted state of charge", "état de charge (comptage coulométrique)"),
    "equivalent_cycles": Metric(None, 2, "equivalent full cycles", "cycles complets équivalents"),
    "soh_estimate": Metric("%", 1, "estimated state of health", "état de santé estimé"),
    "capacity_measured_ah": Metric("Ah", 1, "measured capacity", "capacité mesurée"),
}
METRICS: dict[str, Metric] = {**READING_METRICS, **ANALYTICS_METRICS}
ANALYTICS_PREFIX = "analytics."
STALE_METRIC = Metric("s", 0, "time since the last reading", "temps depuis la dernière mesure")


def metric_info(name: str) -> Metric:
    """The description of a metric; an ``analytics.<name>`` value is shown plainly."""
    known = METRICS.get(name)
    if known is not None:
        return known
    plain = name.removeprefix(ANALYTICS_PREFIX)
    return METRICS.get(plain) or Metric(None, 3, plain, plain)


def is_metric(name: str) -> bool:
    """Whether a rule may watch this name."""
    return name in METRICS or (name.startswith(ANALYTICS_PREFIX) and len(name) > len(ANALYTICS_PREFIX))


def reading_values(reading: Reading, analytics: Mapping[str, object] | None = None) -> dict[str, float | None]:
    """Every metric of a reading (absent values are None), plus the latest analytics of its battery."""
    temps = [t.value for t in reading.temperatures]
    values: dict[str, float | None] = {
        "voltage": reading.voltage,
        "current": reading.current,
        "power": reading.power,
        "soc": reading.soc,
        "soh": reading.soh,
        "cell_max": reading.cell_max.voltage if reading.cell_max else (max(reading.cells) if reading.cells else None),
        "cell_min": reading.cell_min.voltage if reading.cell_min else (min(reading.cells) if reading.cells else None),
        "cell_delta": reading.cell_delta,
        "temperature_max": max(temps) if temps else None,
        "temperature_min": min(temps) if temps else None,
        "cycles": None if reading.cycles is None else float(reading.cycles),
        "remaining_capacity_ah": reading.remaining_capacity_ah,
    }
    if values["cell_delta"] is None and reading.cells:
        values["cell_delta"] = round(max(reading.cells) - min(reading.cells), 4)
    for key, value in (analytics or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[key] = float(value)
            values[f"{ANALYTICS_PREFIX}{key}"] = float(value)
        elif value is None and key in ANALYTICS_METRICS:
            values[key] = None
    return values
