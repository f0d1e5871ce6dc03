"""Alert endpoints: list, detail with history, acknowledge (audited)."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from aiohttp import web

from hub.auth.policy import require_battery, visible_batteries
from hub.auth.principal import principal_of
from hub.auth.scope import store_for
from hub.storage.records import ALERT_STATES, SEVERITIES, AlertRecord
from hub.web import app as app_module
from hub.web.api import BODY, QUERY, Endpoint, add_endpoints
from hub.web.api_control import audit
from hub.web.envelope import ApiError, envelope
from hub.web.params import iso_time, page_query, pagination
from hub.web.schemas import ANY, N_NUM, N_STR, OBJECT, STR, TIME, array, nullable, obj
from trackingbms_alerts.engine import AlreadyAcknowledgedError
from trackingbms_alerts.payload import alert_payload
from trackingbms_alerts.service import AlertsDisabledError, AlertService, service_of

MAX_COMMENT = 2000


_COMMENT = vol.Any(
    None, vol.All(str, vol.Length(max=MAX_COMMENT)), msg=f"expected text of at most {MAX_COMMENT} characters, or null"
)
# No body at all acknowledges without a comment.
ACK_SCHEMA = vol.Schema(vol.Any(None, {vol.Optional("comment", default=None): _COMMENT}))
LIST_QUERY = {
    **page_query(),
    vol.Optional("battery_id"): str,
    vol.Optional("state"): vol.In([*ALERT_STATES, "open"]),
    vol.Optional("severity"): vol.In(list(SEVERITIES)),
    vol.Optional("rule_id"): str,
    vol.Optional("from"): iso_time,
    vol.Optional("to"): iso_time,
}


def service(request: web.Request) -> AlertService:
    """The alert service of the hub serving this request."""
    return service_of(app_module.get_hub(request))


def alert_view(svc: AlertService, record: AlertRecord) -> dict[str, Any]:
    """An alert as the API shows it: the event payload's keys plus its details."""
    current = svc.current(record)
    return {**alert_payload(current, svc.hub.store.tenant_id), "details": current.details}


async def list_alerts(request: web.Request) -> web.Response:
    """Alerts, newest raised first, filtered and paginated."""
    svc = service(request)
    query = request[QUERY]
    page, per_page = query["page"], query["per_page"]
    records, total = await store_for(request).alerts(
        battery_id=query.get("battery_id"),
        battery_ids=await visible_batteries(request, "alert.read"),  # only the caller's nodes' alerts
        state=query.get("state"),
        severity=query.get("severity"),
        rule_id=query.get("rule_id"),
        start=query.get("from"),
        end=query.get("to"),
        limit=per_page,
        offset=(page - 1) * per_page,
    )
    meta = {"pagination": pagination(page, per_page, total)}
    return envelope(request, [alert_view(svc, r) for r in records], meta=meta)


async def get_alert(request: web.Request) -> web.Response:
    """One alert with its history, oldest step first."""
    svc = service(request)
    alert_id = request.match_info["id"]
    store = store_for(request)
    record = await store.get_alert(alert_id)
    if record is None and svc.engine is not None and store.tenant_id == svc.hub.store.tenant_id:
        record = svc.engine.find(alert_id)  # raised a moment ago, not stored yet
    if record is None:
        raise ApiError(404, f"unknown alert {alert_id!r}")
    await require_battery(request, "alert.read", record.battery_id)
    history = [e.to_dict() for e in await store.alert_events(alert_id)]
    return envelope(request, {**alert_view(svc, record), "history": history})


async def acknowledge(request: web.Request) -> web.Response:
    """Acknowledge an open alert; audited."""
    svc = service(request)
    hub = svc.hub
    alert_id = request.match_info["id"]
    body = request[BODY] or {"comment": None}
    await _require_alert(request, svc, alert_id)
    asked = {"comment": body["comment"]}
    try:
        outcome = await svc.acknowledge(alert_id, principal_of(request).username, body["comment"])
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


async def _require_alert(request: web.Request, svc: AlertService, alert_id: str) -> None:
    """404 for an alert outside the caller's tenant, 403 when its battery is not the caller's to acknowledge."""
    store = store_for(request)
    record = await store.get_alert(alert_id)
    if record is None and svc.engine is not None and store.tenant_id == svc.hub.store.tenant_id:
        record = svc.engine.find(alert_id)
    if record is None:
        raise ApiError(404, f"unknown alert {alert_id!r}")
    await require_battery(request, "alert.acknowledge", record.battery_id)


ALERT = obj(
    id=STR,
    tenant_id=STR,
    rule_id=STR,
    rule_name=STR,
    kind=STR,
    battery_id=STR,
    battery_name=STR,
    site_id=N_STR,
    client_path=array(STR),
    severity=STR,
    state=STR,
    metric=N_STR,
    value=N_NUM,
    threshold=N_NUM,
    unit=N_STR,
    message=OBJECT,
    raised_at=nullable(TIME),
    acknowledged_at=nullable(TIME),
    acknowledged_by=N_STR,
    comment=N_STR,
    cleared_at=nullable(TIME),
    details=ANY,
)
ALERT_DETAIL = {**ALERT, "properties": {**ALERT["properties"], "history": array(OBJECT)}}
TAGS = ("alerts",)
ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/alerts",
        list_alerts,
        "Alerts, newest first",
        "alert.read",
        TAGS,
        query=LIST_QUERY,
        data=array(ALERT),
    ),
    Endpoint(
        "GET",
        "/api/v1/alerts/{id}",
        get_alert,
        "An alert with its history",
        "alert.read",
        TAGS,
        data=ALERT_DETAIL,
        errors=(404,),
    ),
    Endpoint(
        "POST",
        "/api/v1/alerts/{id}/acknowledge",
        acknowledge,
        "Acknowledge an open alert (audited)",
        "alert.acknowledge",
        TAGS,
        body=ACK_SCHEMA,
        data=ALERT,
        errors=(404, 409, 503),
    ),
)


def setup(app: web.Application) -> None:
    """Add the alert routes (after the rule routes: ``/alerts/rules`` must not match ``/alerts/{id}``)."""
    add_endpoints(app, *ENDPOINTS)
