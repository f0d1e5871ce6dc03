"""Rule endpoints: list, read, create, replace, delete (API rules only; file rules are read-only), dry runs."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.storage.base import StorageError
from hub.web.api_control import audit
from hub.web.envelope import ApiError, envelope, json_body
from hub.web.params import int_param
from trackingbms_alerts.api import service
from trackingbms_alerts.catalog import RuleExistsError, RuleNotFoundError, RuleReadOnlyError
from trackingbms_alerts.rules import Rule, RuleError, build
from trackingbms_alerts.service import AlertService
from trackingbms_alerts.tester import dry_run, lookback

MAX_LOOKBACK = 7 * 86400


def rule_view(rule: Rule) -> dict[str, Any]:
    """A rule as the API shows it."""
    return {**rule.to_dict(), "writable": rule.writable}


def _rule(svc: AlertService, rule_id: str) -> Rule:
    rule = svc.catalog.get(rule_id)
    if rule is None:
        raise ApiError(404, f"unknown rule {rule_id!r}")
    return rule


def _invalid(err: RuleError) -> ApiError:
    return ApiError(422, f"invalid rule; nothing was changed: {err}", err.to_list())


async def list_rules(request: web.Request) -> web.Response:
    """Every rule, file rules first; ``meta.issues`` lists rules that could not be loaded."""
    svc = service(request)
    data = [rule_view(r) for r in svc.catalog.all()]
    return envelope(request, data, meta={"count": len(data), "issues": svc.catalog.issues})


async def get_rule(request: web.Request) -> web.Response:
    """One rule."""
    return envelope(request, rule_view(_rule(service(request), request.match_info["id"])))


async def create_rule(request: web.Request) -> web.Response:
    """Create an API rule (validated like the rule files); audited."""
    svc = service(request)
    body = await json_body(request)
    target = str(body.get("id")) if isinstance(body, dict) else "?"
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
    await audit(svc.hub, request, "alerts.rule.create", rule.id, "ok")
    return envelope(request, rule_view(rule), status=201, message="created")


async def update_rule(request: web.Request) -> web.Response:
    """Replace an API rule; 409 for a rule from a file."""
    svc = service(request)
    rule_id = request.match_info["id"]
    body = await json_body(request)
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
    await audit(svc.hub, request, "alerts.rule.update", rule_id, "ok")
    return envelope(request, rule_view(rule), message="updated")


async def delete_rule(request: web.Request) -> web.Response:
    """Delete an API rule; its open alerts are cleared."""
    svc = service(request)
    rule_id = request.match_info["id"]
    try:
        await svc.catalog.delete(svc.hub.store, rule_id)
    except RuleNotFoundError as err:
        raise ApiError(404, f"unknown rule {rule_id!r}") from err
    except RuleReadOnlyError as err:
        raise ApiError(409, str(err)) from err
    except StorageError as err:
        raise ApiError(503, f"the rule could not be deleted: {err}") from err
    await svc.rules_changed()
    await audit(svc.hub, request, "alerts.rule.delete", rule_id, "ok")
    return envelope(request, {"id": rule_id}, message="deleted")


async def _dry_run(request: web.Request, svc: AlertService, rule: Rule) -> web.Response:
    battery_id = request.query.get("battery_id") or None
    seconds = int_param(request, "lookback", 0, 0, MAX_LOOKBACK) or None
    span = float(seconds) if seconds is not None else lookback(rule, svc.settings.test_lookback)
    results = await dry_run(svc, rule, battery_id, span)
    if battery_id is not None and not results:
        raise ApiError(404, f"unknown battery {battery_id!r}")
    firing = sum(1 for r in results if r["would_fire"])
    meta = {"rule": rule_view(rule), "lookback_s": span, "count": len(results), "would_fire": firing}
    return envelope(request, results, meta=meta, message="nothing was raised")


async def test_stored_rule(request: web.Request) -> web.Response:
    """What a known rule would do now on each battery."""
    svc = service(request)
    return await _dry_run(request, svc, _rule(svc, request.match_info["id"]))


async def test_new_rule(request: web.Request) -> web.Response:
    """What a rule given in the body would do now on each battery."""
    svc = service(request)
    try:
        rule = build(await json_body(request), "test")
    except RuleError as err:
        raise ApiError(422, f"invalid rule: {err}", err.to_list()) from err
    return await _dry_run(request, svc, rule)


def setup(app: web.Application) -> None:
    """Add the rule routes (before ``/api/v1/alerts/{id}``)."""
    app.router.add_get("/api/v1/alerts/rules", list_rules)
    app.router.add_post("/api/v1/alerts/rules", create_rule)
    app.router.add_post("/api/v1/alerts/rules/test", test_new_rule)
    app.router.add_get("/api/v1/alerts/rules/{id}", get_rule)
    app.router.add_put("/api/v1/alerts/rules/{id}", update_rule)
    app.router.add_delete("/api/v1/alerts/rules/{id}", delete_rule)
    app.router.add_post("/api/v1/alerts/rules/{id}/test", test_stored_rule)
