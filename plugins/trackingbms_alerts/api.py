"""Alert endpoints: list, detail with history, acknowledge (audited)."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from aiohttp import web

from hub.storage.records import ALERT_STATES, SEVERITIES, AlertRecord
from hub.web import app as app_module
from hub.web.api_control import audit
from hub.web.envelope import ApiError, envelope, json_body
from hub.web.params import int_param, time_param
from trackingbms_alerts.engine import AlreadyAcknowledgedError
from trackingbms_alerts.payload import alert_payload
from trackingbms_alerts.service import AlertsDisabledError, AlertService, service_of

ACTOR = "anonymous"  # until accounts exist (the accounts issue), like every audited write
MAX_COMMENT = 2000


def _comment(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_COMMENT):
        raise vol.Invalid(f"expected text of at most {MAX_COMMENT} characters, or null")
    return value


ACK_SCHEMA = vol.Schema({vol.Optional("comment", default=None): _comment})


def service(request: web.Request) -> AlertService:
    """The alert service of the hub serving this request."""
    return service_of(app_module.get_hub(request))


def alert_view(svc: AlertService, record: AlertRecord) -> dict[str, Any]:
    """An alert as the API shows it: the event payload's keys plus its details."""
    current = svc.current(record)
    return {**alert_payload(current, svc.hub.store.tenant_id), "details": current.details}


def _choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query.get(name)
    if not raw:
        return None
    if raw not in choices:
        raise ApiError(422, f"{name} must be one of {', '.join(choices)}", {name: raw})
    return raw


async def list_alerts(request: web.Request) -> web.Response:
    """Alerts, newest raised first, filtered and paginated."""
    svc = service(request)
    page = int_param(request, "page", 1, 1, 1_000_000)
    per_page = int_param(request, "per_page", 100, 1, 1000)
    records, total = await svc.hub.store.alerts(
        battery_id=request.query.get("battery_id") or None,
        state=_choice(request, "state", (*ALERT_STATES, "open")),
        severity=_choice(request, "severity", SEVERITIES),
        rule_id=request.query.get("rule_id") or None,
        start=time_param(request, "from"),
        end=time_param(request, "to"),
        limit=per_page,
        offset=(page - 1) * per_page,
    )
    pages = (total + per_page - 1) // per_page
    meta = {"pagination": {"page": page, "per_page": per_page, "total": total, "pages": pages}}
    return envelope(request, [alert_view(svc, r) for r in records], meta=meta)


async def get_alert(request: web.Request) -> web.Response:
    """One alert with its history, oldest step first."""
    svc = service(request)
    alert_id = request.match_info["id"]
    record = await svc.hub.store.get_alert(alert_id)
    if record is None and svc.engine is not None:
        record = svc.engine.find(alert_id)  # raised a moment ago, not stored yet
    if record is None:
        raise ApiError(404, f"unknown alert {alert_id!r}")
    history = [e.to_dict() for e in await svc.hub.store.alert_events(alert_id)]
    return envelope(request, {**alert_view(svc, record), "history": history})


async def _ack_body(request: web.Request) -> dict[str, Any]:
    body = await json_body(request) if request.can_read_body else {}
    try:
        result: dict[str, Any] = ACK_SCHEMA(body if body is not None else {})
    except vol.Invalid as err:
        path = ".".join(str(p) for p in err.path) or "body"
        raise ApiError(
            422, f"invalid acknowledgement: {path}: {err.error_message}", [{"path": path, "message": err.error_message}]
        ) from err
    return result


async def acknowledge(request: web.Request) -> web.Response:
    """Acknowledge an open alert; audited."""
    svc = service(request)
    hub = svc.hub
    alert_id = request.match_info["id"]
    body = await _ack_body(request)
    asked = {"comment": body["comment"]}
    try:
        outcome = await svc.acknowledge(alert_id, ACTOR, body["comment"])
    except AlreadyAcknowledgedError as err:
        await audit(hub, request, "alerts.acknowledge", alert_id, "rejected", asked=asked, error="already acknowledged")
        raise ApiError(409, f"alert {alert_id!r} is already acknowledged") from err
    except AlertsDisabledError as err:
        raise ApiError(503, str(err)) from err
    if outcome is None:
        stored = await hub.store.get_alert(alert_id)
        if stored is None:
            raise ApiError(404, f"unknown alert {alert_id!r}")
        await audit(
            hub, request, "alerts.acknowledge", alert_id, "rejected", asked=asked, error=f"alert is {stored.state}"
        )
        raise ApiError(409, f"alert {alert_id!r} is {stored.state}")
    record, saved = outcome
    await audit(hub, request, "alerts.acknowledge", alert_id, "ok", asked=asked, battery_id=record.battery_id)
    return envelope(request, alert_view(svc, record), message="acknowledged", meta={"stored": saved})


def setup(app: web.Application) -> None:
    """Add the alert routes (after the rule routes: ``/alerts/rules`` must not match ``/alerts/{id}``)."""
    app.router.add_get("/api/v1/alerts", list_alerts)
    app.router.add_get("/api/v1/alerts/{id}", get_alert)
    app.router.add_post("/api/v1/alerts/{id}/acknowledge", acknowledge)
