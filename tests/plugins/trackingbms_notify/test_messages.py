"""Texts per locale: number and date formatting, templates, fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trackingbms_notify.delivery import Delivery
from trackingbms_notify.messages import moment, number, one_line, quantity, render, render_user

from tests.plugins.trackingbms_notify.notify_helpers import alert_event


def delivery(locale: str = "en", event: str = "generated", **alert: Any) -> Delivery:
    return Delivery(
        id="d1",
        notifier="n",
        event=event,
        event_name="data.alert.generated",
        alert=alert_event(**alert),
        locale=locale,
        attempt=1,
        queued_at=datetime(2026, 5, 1, tzinfo=UTC),
    )


def test_numbers_and_quantities() -> None:
    assert number(3.66, "en") == "3.66" and number(3.66, "fr") == "3,66"
    assert number(100.0, "en") == "100" and number(-0.0001, "en") == "0" and number(1 / 3, "fr") == "0,333"
    assert number(None, "en") == "" and number(True, "en") == "True"
    assert quantity(58, "°C", "fr") == "58 °C" and quantity(None, "V", "en") == "-" and quantity(12, None, "en") == "12"


def test_moments() -> None:
    assert moment("2026-05-01T12:00:00Z", "en") == "2026-05-01 12:00:00 UTC"
    assert moment("2026-05-01T14:00:00+02:00", "fr") == "01/05/2026 12:00:00 UTC"
    assert moment(None, "fr") == "" and moment("yesterday", "en") == "yesterday"


def test_lines_per_locale_and_event() -> None:
    assert one_line(render("line", delivery())) == "CRITICAL Alert raised - Pack one: Cell 3 at 3.66 V, above 3.65 V"
    reminder = one_line(render("line", delivery("fr", "reminder", severity="warning")))
    assert reminder.startswith("AVERTISSEMENT Rappel : alerte toujours active - Pack one : Cellule 3")
    cleared = one_line(render("subject", delivery("en", "cleared", severity="info")))
    assert cleared.startswith("[TrackingBMS] INFO - Alert cleared - Pack one:")


def test_missing_locale_falls_back_to_english() -> None:
    only_english = delivery("fr", message={"en": "Cell high"})
    assert only_english.text == "Cell high"
    german = delivery("de")  # no templates for it: English ones
    assert one_line(render("line", german)).startswith("CRITICAL Alert raised")


def test_user_templates_are_sandboxed() -> None:
    assert (
        render_user("{{ severity_label }}/{{ alert.battery_id }}/{{ value }}", delivery("fr")) == "CRITIQUE/one/3,66 V"
    )
    assert render_user("{{ alert.nothing.deeper }}x", delivery()) == "x"  # missing keys render empty
    escaped = render_user("{{ ''.__class__.__mro__ }}", delivery())
    assert "object" not in escaped  # the sandbox hides dunder attributes
