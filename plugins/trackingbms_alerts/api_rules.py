"""Rule endpoints: list, read, create, replace, delete (API rules only; file rules are read-only), dry runs."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from aiohttp import web

from hub.auth.policy import visible_batteries
from hub.auth.scope import store_for
from hub.storage.base import StorageError
from hub.web.api import BODY, QUERY, Endpoint, add_endpoints
from hub.web.api_control import audit
from hub.web.envelope import ApiError, envelope
from hub.web.params import int_range
from hub.web.schemas import BOOL, N_INT, N_STR, OBJECT, STR, array, obj
from trackingbms_alerts.api import service
from trackingbms_alerts.catalog import RuleExistsError, RuleNotFoundError, RuleReadOnlyError
from trackingbms_alerts.rules import Rule, RuleError, build
from trackingbms_alerts.service import AlertService
from trackingbms_alerts.tester import dry_run, lookback

MAX_LOOKBACK = 7 * 86400
# The rule itself is checked by the rule builder (same checks as the rule files), field by field.
RULE_BODY = vol.Schema({vol.Required("id"): str, vol.Required("kind"): str}, extra=vol.ALLOW_EXTRA)
TEST_BODY = vol.Schema({vol.Optional("id"): str, vol.Required("kind"): str}, extra=vol.ALLOW_EXTRA)
DRY_RUN_QUERY = {
    vol.Optional("battery_id"): str,
    vol.Optional("lookback", description="seconds of history to replay (default: what the rule needs)"): int_range(
        0, MAX_LOOKBACK
    ),
}


def rule_view(rule: Rule) -> dict[str, Any]:
    """A rule as the API shows it."""
    return {**rule.to_dict(), "writable": rule.writable}


def _rules_are_theirs(request: web.Request, svc: AlertService) -> bool:
    """The rule catalog belongs to the tenant the alert engine runs for (the hub's store): another
    tenant's users must neither see nor change it (its ids, scopes and levels are that tenant's)."""
    return store_for(request).tenant_id == svc.hub.store.tenant_id


def _rule(request: web.Request, svc: AlertService, rule_id: str) -> Rule:
    rule = svc.catalog.get(rule_id) if _rules_are_theirs(request, svc) else None
    if rule is None:
        raise ApiError(404, f"unknown rule {rule_id!r}")
    return rule


def _require_catalog(request: web.Request, svc: AlertService, rule_id: str) -> None:
    """404 for a rule write from another tenant (never reveal that the rule exists)."""
    if not _rules_are_theirs(request, svc):
        raise ApiError(404, f"unknown rule {rule_id!r}")


def _definition(svc: AlertService, rule_id: str) -> dict[str, Any] | None:
    """The rule's definition as the audit log keeps it (None when there is no such rule)."""
    rule = svc.catalog.get(rule_id)
    return None if rule is None else rule.to_dict()


def body_errors(err: RuleError) -> list[dict[str, Any]]:
    """The rule builder's field errors with paths in the request body, like the validation middleware's."""
    return [{**item, "path": f"body.{item['path']}" if item.get("path") else "body"} for item in err.to_list()]


def _invalid(err: RuleError) -> ApiError:
    return ApiError(422, f"invalid rule; nothing was changed: {err}", body_errors(err))


async def list_rules(request: web.Request) -> web.Response:
    """Every rule, file rules first; ``meta.issues`` lists rules that could not be loaded."""
    svc = service(request)
    data = [rule_view(r) for r in svc.catalog.all()] if _rules_are_theirs(request, svc) else []
    return envelope(request, data, meta={"count": len(data), "issues": svc.catalog.issues})


async def get_rule(request: web.Request) -> web.Response:
    """One rule."""
    return envelope(request, rule_view(_rule(request, service(request), request.match_info["id"])))


async def create_rule(request: web.Request) -> web.Response:
    """Create an API rule (validated like the rule files); audited."""
    svc = service(request)
    body = request[BODY]
    target = str(body.get("id")) if isinstance(body, dict) else "?"
    if not _rules_are_theirs(request, svc):
        raise ApiError(403, "alert rules are kept for the hub's own tenant only")
    try:
        rule = await svc.catalog.create(svc.hub.store, body)
    except RuleError as err:
        await audit(svc.hub, request, "alerts.rule.create", target, "rejected", error=str(err))
        raise _invalid(err) from err
    except RuleExistsError as err:
        await audit(svc.hub, request, "alerts.rule.create", target, "rejected", error=str(err))
        raise ApiError(409, str(err)) from err
    except StorageError as err:
        raise ApiError(503, f"the rule could not be stored: {err}") from err
    await svc.rules_changed()
    await audit(svc.hub, request, "alerts.rule.create", rule.id, "ok", after=rule.to_dict())
    return envelope(request, rule_view(rule), status=201, message="created")


async def update_rule(request: web.Request) -> web.Response:
    """Replace an API rule; 409 for a rule from a file."""
    svc = service(request)
    rule_id = request.match_info["id"]
    body = request[BODY]
    _require_catalog(request, svc, rule_id)
    before = _definition(svc, rule_id)
    try:
        rule = await svc.catalog.update(svc.hub.store, rule_id, body)
    except RuleNotFoundError as err:
        raise ApiError(404, f"unknown rule {rule_id!r}") from err
    except RuleReadOnlyError as err:
        raise ApiError(409, str(err)) from err
    except RuleError as err:
        await audit(svc.hub, request, "alerts.rule.update", rule_id, "rejected", error=str(err))
        raise _invalid(err) from err
    except StorageError as err:
        raise ApiError(503, f"the rule could not be stored: {err}") from err
    await svc.rules_changed()
    await audit(svc.hub, request, "alerts.rule.update", rule_id, "ok", before=before, after=rule.to_dict())
    return envelope(request, rule_view(rule), message="updated")


async def delete_rule(request: web.Request) -> web.Response:
    """Delete an API rule; its open alerts are cleared."""
    svc = service(request)
    rule_id = request.match_info["id"]
    _require_catalog(request, svc, rule_id)
    before = _definition(svc, rule_id)
    try:
        await svc.catalog.delete(svc.hub.store, rule_id)
    except RuleNotFoundError as err:
        raise ApiError(404, f"unknown rule {rule_id!r}") from err
    except RuleReadOnlyError as err:
        raise ApiError(409, str(err)) from err
    except StorageError as err:
        raise ApiError(503, f"the rule could not be deleted: {err}") from err
    await svc.rules_changed()
    await audit(svc.hub, request, "alerts.rule.delete", rule_id, "ok", before=before)
    return envelope(request, {"id": rule_id}, message="deleted")


async def _dry_run(request: web.Request, svc: AlertService, rule: Rule) -> web.Response:
    battery_id = request[QUERY].get("battery_id")
    seconds = request[QUERY].get("lookback") or None
    span = float(seconds) if seconds is not None else lookback(rule, svc.settings.test_lookback)
    results = await dry_run(svc, rule, battery_id, span)
    # Rules see every battery of the hub; a user sees results for the batteries they may read.
    mine = await visible_batteries(request, "battery.read")
    if mine is not None:
        results = [r for r in results if r.get("battery_id") in mine]
    if battery_id is not None and not results:
        raise ApiError(404, f"unknown battery {battery_id!r}")
    firing = sum(1 for r in results if r["would_fire"])
    meta = {"rule": rule_view(rule), "lookback_s": span, "count": len(results), "would_fire": firing}
    return envelope(request, results, meta=meta, message="nothing was raised")


async def test_stored_rule(request: web.Request) -> web.Response:
    """What a known rule would do now on each battery."""
    svc = service(request)
    return await _dry_run(request, svc, _rule(request, svc, request.match_info["id"]))


async def test_new_rule(request: web.Request) -> web.Response:
    """What a rule given in the body would do now on each battery."""
    svc = service(request)
    try:
        rule = build(request[BODY], "test")
    except RuleError as err:
        raise ApiError(422, f"invalid rule: {err}", body_errors(err)) from err
    return await _dry_run(request, svc, rule)


RULE = obj(("id", "kind", "source", "writable"), id=STR, kind=STR, source=STR, file=N_STR, line=N_INT, writable=BOOL)
DRY_RUN = array(obj(("battery_id", "would_fire"), battery_id=STR, would_fire=BOOL, alerts=array(OBJECT)))
TAGS = ("rules",)
ROUTE = "/api/v1/alerts/rules"
ONE = ROUTE + "/{id}"
ENDPOINTS = (
    Endpoint("GET", ROUTE, list_rules, "Every rule, file rules first", "alert.read", TAGS, data=array(RULE)),
    Endpoint(
        "POST",
        ROUTE,
        create_rule,
        "Create an API rule (audited)",
        "rule.manage",
        TAGS,
        body=RULE_BODY,
        data=RULE,
        status=201,
        errors=(409, 503),
    ),
    Endpoint(
        "POST",
        ROUTE + "/test",
        test_new_rule,
        "Dry run of a rule given in the body",
        "rule.manage",
        TAGS,
        query=DRY_RUN_QUERY,
        body=TEST_BODY,
        data=DRY_RUN,
        errors=(404,),
    ),
    Endpoint("GET", ONE, get_rule, "One rule", "alert.read", TAGS, data=RULE, errors=(404,)),
    Endpoint(
        "PUT",
        ONE,
        update_rule,
        "Replace an API rule",
        "rule.manage",
        TAGS,
        body=RULE_BODY,
        data=RULE,
        errors=(404, 409, 503),
    ),
    Endpoint(
        "DELETE", ONE, delete_rule, "Delete an API rule", "rule.manage", TAGS, data=obj(id=STR), errors=(404, 409, 503)
    ),
    Endpoint(
        "POST",
        ONE + "/test",
        test_stored_rule,
        "Dry run of a known rule",
        "rule.manage",
        TAGS,
        query=DRY_RUN_QUERY,
        data=DRY_RUN,
        errors=(404,),
    ),
)


def setup(app: web.Application) -> None:
    """Add the rule routes (before ``/api/v1/alerts/{id}``)."""
    add_endpoints(app, *ENDPOINTS)
