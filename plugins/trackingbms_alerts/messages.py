"""Readable one-line alert texts in English and French."""

from __future__ import annotations

from trackingbms_alerts.metrics import STALE_METRIC, metric_info
from trackingbms_alerts.rules import Rule

LOCALES = ("en", "fr")
Texts = dict[str, str]
AlarmInfo = tuple[str, str, str]  # code, level (warning | alarm), the driver's text

# French texts of the BMS alarm codes the drivers report (Daly 0x98 table, daly.md §1.4 0x98);
# another code keeps the driver's English text.
ALARM_FR: dict[str, str] = {
    "cell_voltage_high": "tension de cellule haute",
    "cell_voltage_low": "tension de cellule basse",
    "pack_voltage_high": "tension totale haute",
    "pack_voltage_low": "tension totale basse",
    "charge_temperature_high": "température de charge haute",
    "charge_temperature_low": "température de charge basse",
    "discharge_temperature_high": "température de décharge haute",
    "discharge_temperature_low": "température de décharge basse",
    "charge_overcurrent": "surintensité en charge",
    "discharge_overcurrent": "surintensité en décharge",
    "soc_high": "SOC haut",
    "soc_low": "SOC bas",
    "cell_voltage_difference": "écart de tension entre cellules élevé",
    "temperature_difference": "écart de température élevé",
    "charge_mos_temperature_high": "température du MOS de charge haute",
    "discharge_mos_temperature_high": "température du MOS de décharge haute",
    "charge_mos_temperature_sensor": "capteur de température du MOS de charge en défaut",
    "discharge_mos_temperature_sensor": "capteur de température du MOS de décharge en défaut",
    "charge_mos_adhesion": "MOS de charge collé",
    "discharge_mos_adhesion": "MOS de décharge collé",
    "charge_mos_open_circuit": "MOS de charge en circuit ouvert",
    "discharge_mos_open_circuit": "MOS de décharge en circuit ouvert",
    "afe_error": "erreur de la puce AFE",
    "cell_voltage_collection_dropped": "perte de la mesure des tensions de cellules",
    "cell_temperature_sensor": "capteur de température de cellule en défaut",
    "eeprom_error": "erreur EEPROM",
    "rtc_error": "erreur d'horloge (RTC)",
    "precharge_failure": "échec de la précharge",
    "vehicle_communication": "défaut de communication avec le véhicule",
    "internal_communication": "défaut de communication interne",
    "current_module_fault": "défaut du module de courant",
    "pack_voltage_detect_fault": "défaut de mesure de la tension totale",
    "short_circuit_protect_fault": "défaut de la protection contre les courts-circuits",
    "low_voltage_charge_forbidden": "tension basse : charge interdite",
}


def number(value: float | None, decimals: int, unit: str | None, locale: str, signed: bool = False) -> str:
    """A value with its unit, written the locale's way (decimal comma in French)."""
    if value is None:
        return "?"
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    if locale == "fr":
        text = text.replace(".", ",")
    return f"{text} {unit}" if unit else text


def _level_texts(rule: Rule, value: float | None, threshold: float | None) -> tuple[Texts, Texts, Texts]:
    """(label, value, threshold) per locale of a threshold or rate rule."""
    info = metric_info(rule.metric or "")
    rate = rule.kind == "rate"
    decimals = info.decimals + 1 if rate else info.decimals
    label = {"en": info.en, "fr": info.fr}
    values = {loc: number(value, decimals, rule.unit, loc, signed=rate) for loc in LOCALES}
    limits = {loc: number(threshold, decimals, rule.unit, loc, signed=rate) for loc in LOCALES}
    return label, values, limits


def raised(
    rule: Rule, battery: str, value: float | None, threshold: float | None, alarm: AlarmInfo | None = None
) -> Texts:
    """The text of a raised alert."""
    if rule.kind == "stale":
        age = {loc: number(value, 0, STALE_METRIC.unit, loc) for loc in LOCALES}
        limit = {loc: number(threshold, 0, STALE_METRIC.unit, loc) for loc in LOCALES}
        return {
            "en": f"{battery}: no reading for {age['en']} (limit {limit['en']}) ({rule.name})",
            "fr": f"{battery} : aucune mesure depuis {age['fr']} (limite {limit['fr']}) ({rule.name_fr})",
        }
    if rule.kind == "bms_alarm":
        return _alarm_texts(battery, alarm, "", "")
    label, values, limits = _level_texts(rule, value, threshold)
    if rule.kind == "rate":
        return {
            "en": f"{battery}: {label['en']} changing at {values['en']}, faster than {limits['en']} ({rule.name})",
            "fr": f"{battery} : {label['fr']} varie de {values['fr']}, plus vite que {limits['fr']} ({rule.name_fr})",
        }
    side_en, side_fr = ("above", "au-dessus de") if rule.above else ("below", "en dessous de")
    return {
        "en": f"{battery}: {label['en']} {values['en']}, {side_en} {limits['en']} ({rule.name})",
        "fr": f"{battery} : {label['fr']} {values['fr']}, {side_fr} {limits['fr']} ({rule.name_fr})",
    }


def cleared(
    rule: Rule, battery: str, value: float | None, reason: str | None = None, alarm: AlarmInfo | None = None
) -> Texts:
    """The text of a cleared alert (``reason``: why it was closed without its condition clearing)."""
    if reason in ("rule_removed", "rule_disabled"):
        en, fr = ("removed", "supprimée") if reason == "rule_removed" else ("disabled", "désactivée")
        return {
            "en": f"{battery}: closed, the rule {rule.name} was {en}",
            "fr": f"{battery} : close, la règle {rule.name_fr} a été {fr}",
        }
    if reason == "out_of_scope":
        return {
            "en": f"{battery}: closed, the battery left the scope of {rule.name}",
            "fr": f"{battery} : close, la batterie n'est plus concernée par {rule.name_fr}",
        }
    if rule.kind == "stale":
        return {
            "en": f"{battery}: readings are coming in again ({rule.name} cleared)",
            "fr": f"{battery} : les mesures arrivent de nouveau (fin de l'alerte {rule.name_fr})",
        }
    if rule.kind == "bms_alarm":
        return _alarm_texts(battery, alarm, " cleared", " terminé")
    label, values, _ = _level_texts(rule, value, None)
    return {
        "en": f"{battery}: {label['en']} back to {values['en']} ({rule.name} cleared)",
        "fr": f"{battery} : {label['fr']} revenu à {values['fr']} (fin de l'alerte {rule.name_fr})",
    }


def _alarm_texts(battery: str, alarm: AlarmInfo | None, end_en: str, end_fr: str) -> Texts:
    code, level, text = alarm or ("", "alarm", "")
    what_en = "BMS warning" if level == "warning" else "BMS alarm"
    what_fr = "avertissement du BMS" if level == "warning" else "alarme du BMS"
    end_fr_agreed = end_fr + "e" if end_fr and level != "warning" else end_fr  # une alarme terminée
    return {
        "en": f"{battery}: {what_en}{end_en}: {text or code}",
        "fr": f"{battery} : {what_fr}{end_fr_agreed} : {ALARM_FR.get(code, text or code)}",
    }


def reminder(message: Texts) -> Texts:
    """A reminder of an open alert."""
    return {"en": f"Reminder: {message.get('en', '')}", "fr": f"Rappel : {message.get('fr', '')}"}


def acknowledged(message: Texts, actor: str) -> Texts:
    """An acknowledged alert."""
    return {
        "en": f"Acknowledged by {actor}: {message.get('en', '')}",
        "fr": f"Acquittée par {actor} : {message.get('fr', '')}",
    }
