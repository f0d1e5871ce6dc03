"""Message texts: jinja2 templates per locale (templates/<name>.<locale>.<ext>) and value formatting."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import voluptuous as vol
from jinja2.sandbox import SandboxedEnvironment

from trackingbms_notify.delivery import Delivery

LOCALES = ("en", "fr")
TEMPLATES = Path(__file__).parent / "templates"
LABELS: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "severity": {"info": "INFO", "warning": "WARNING", "critical": "CRITICAL"},
        "event": {
            "generated": "Alert raised",
            "reminder": "Reminder: alert still open",
            "acknowledged": "Alert acknowledged",
            "cleared": "Alert cleared",
        },
    },
    "fr": {
        "severity": {"info": "INFO", "warning": "AVERTISSEMENT", "critical": "CRITIQUE"},
        "event": {
            "generated": "Alerte déclenchée",
            "reminder": "Rappel : alerte toujours active",
            "acknowledged": "Alerte acquittée",
            "cleared": "Alerte terminée",
        },
    },
}
_DATE_FORMATS = {"en": "%Y-%m-%d %H:%M:%S UTC", "fr": "%d/%m/%Y %H:%M:%S UTC"}
# ChainableUndefined: a key missing from an event renders empty instead of failing the delivery.
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=jinja2.ChainableUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
# Templates written in the config (a custom subject) run sandboxed: the config can be edited over the API.
_USER_ENV = SandboxedEnvironment(undefined=jinja2.ChainableUndefined, autoescape=False)
_SPACES = re.compile(r"\s+")


def number(value: Any, locale: str) -> str:
    """A reading value with at most 3 decimals, with the locale's decimal mark (3.66 / 3,66)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    text = "0" if text == "-0" else text
    return text.replace(".", ",") if locale == "fr" else text


def quantity(value: Any, unit: Any, locale: str) -> str:
    """A value with its unit ("3.66 V"), or "-" when absent."""
    if value is None:
        return "-"
    return f"{number(value, locale)} {unit}" if unit else number(value, locale)


def moment(text: Any, locale: str) -> str:
    """An ISO 8601 UTC timestamp as the locale writes it; "" when absent, the text when unparsable."""
    if not text:
        return ""
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    return parsed.astimezone(UTC).strftime(_DATE_FORMATS.get(locale, _DATE_FORMATS["en"]))


def context(delivery: Delivery) -> dict[str, Any]:
    """What every template sees: the raw alert plus localized labels and formatted values."""
    alert, locale = delivery.alert, delivery.locale
    labels = LABELS.get(locale, LABELS["en"])
    severity = str(alert.get("severity", ""))
    return {
        "alert": alert,
        "delivery_id": delivery.id,
        "notifier": delivery.notifier,
        "event": delivery.event,
        "locale": locale,
        "text": delivery.text,
        "severity": severity,
        "severity_label": labels["severity"].get(severity, severity.upper()),
        "event_label": labels["event"].get(delivery.event, delivery.event),
        "value": quantity(alert.get("value"), alert.get("unit"), locale),
        "threshold": quantity(alert.get("threshold"), alert.get("unit"), locale),
        "raised_at": moment(alert.get("raised_at"), locale),
        "acknowledged_at": moment(alert.get("acknowledged_at"), locale),
        "cleared_at": moment(alert.get("cleared_at"), locale),
    }


@functools.lru_cache(maxsize=64)
def _template_name(name: str, locale: str, ext: str) -> str:
    wanted = f"{name}.{locale}.{ext}"
    return wanted if (TEMPLATES / wanted).is_file() else f"{name}.en.{ext}"


def render(name: str, delivery: Delivery, ext: str = "txt") -> str:
    """Render a packaged template in the delivery's locale (English when the locale has none)."""
    return _ENV.get_template(_template_name(name, delivery.locale, ext)).render(context(delivery))


def one_line(text: str) -> str:
    """Collapse whitespace and line breaks (subjects, SMS)."""
    return _SPACES.sub(" ", text).strip()


@functools.lru_cache(maxsize=64)
def user_template(source: str) -> jinja2.Template:
    """A template written in the config, compiled once."""
    return _USER_ENV.from_string(source)


def render_user(source: str, delivery: Delivery) -> str:
    """Render a template written in the config with the same context as the packaged ones."""
    return user_template(source).render(context(delivery))


def template_text(value: Any) -> str:
    """Config validator: a jinja2 template that compiles."""
    if not isinstance(value, str):
        raise vol.Invalid("expected a template string")
    try:
        user_template(value)
    except jinja2.TemplateSyntaxError as err:
        raise vol.Invalid(f"template error: {err.message} (line {err.lineno})") from err
    return value
