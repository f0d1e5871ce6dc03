"""Endpoint definitions: one record per route that registers it, validates requests and feeds OpenAPI."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import voluptuous as vol
from aiohttp import web

from hub.web.envelope import ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
QUERY: web.RequestKey[dict[str, Any]] = web.RequestKey("query", dict)
BODY: web.RequestKey[Any] = web.RequestKey("body", object)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# JSON Schemas of custom validators (plain functions the OpenAPI converter cannot read).
SCHEMAS_OF_VALIDATORS: dict[Callable[..., Any], dict[str, Any]] = {}


def describe(validator: Callable[..., Any], schema: dict[str, Any]) -> Callable[..., Any]:
    """Record the JSON Schema of a custom validator for the OpenAPI document; returns the validator."""
    SCHEMAS_OF_VALIDATORS[validator] = schema
    return validator


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One API operation: route, policy action, request schemas and the schema of the answer's ``data``."""

    method: str
    path: str
    handler: Handler
    summary: str
    action: str | None
    tags: tuple[str, ...] = ()
    query: Mapping[Any, Any] | None = None
    body: Any = None
    data: Mapping[str, Any] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    raw: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"{self.path}: method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if not self.path.startswith("/"):
            raise ValueError(f"{self.path!r}: path must start with /")

    @property
    def public(self) -> bool:
        """True when no principal is needed (login, health, openapi)."""
        return self.action is None

    def query_schema(self) -> vol.Schema | None:
        """The query schema; undocumented parameters are dropped, never passed on unchecked."""
        return None if self.query is None else vol.Schema(dict(self.query), extra=vol.REMOVE_EXTRA)

    def body_schema(self) -> vol.Schema | None:
        """The body schema as a voluptuous Schema (a plain dict or validator is wrapped)."""
        if self.body is None:
            return None
        return self.body if isinstance(self.body, vol.Schema) else vol.Schema(self.body)


Schemas = tuple[vol.Schema | None, vol.Schema | None]


@dataclass(slots=True)
class _Registry:
    endpoints: list[Endpoint]
    by_route: dict[tuple[str, str], Endpoint]
    # Compiled once at registration (a broken schema fails there, not on a request).
    schemas: dict[tuple[str, str], Schemas]


_REGISTRY: web.AppKey[_Registry] = web.AppKey("endpoints", _Registry)
ENDPOINT: web.RequestKey[Endpoint] = web.RequestKey("endpoint", Endpoint)


def _registry(app: web.Application) -> _Registry:
    if _REGISTRY not in app:
        app[_REGISTRY] = _Registry([], {}, {})
    return app[_REGISTRY]


def add_endpoints(app: web.Application, *endpoints: Endpoint) -> None:
    """Add each endpoint's route to the app and record it for validation, auth and OpenAPI."""
    registry = _registry(app)
    for endpoint in endpoints:
        key = (endpoint.method, endpoint.path)
        if key in registry.by_route:
            raise ValueError(f"endpoint {endpoint.method} {endpoint.path} is defined twice")
        if endpoint.method == "GET":
            app.router.add_get(endpoint.path, endpoint.handler)
        else:
            app.router.add_route(endpoint.method, endpoint.path, endpoint.handler)
        registry.endpoints.append(endpoint)
        registry.by_route[key] = endpoint
        registry.schemas[key] = (endpoint.query_schema(), endpoint.body_schema())


def endpoints_of(app: web.Application) -> list[Endpoint]:
    """Every recorded endpoint, in registration order."""
    return list(_registry(app).endpoints) if _REGISTRY in app else []


def endpoint_for(request: web.Request) -> Endpoint | None:
    """The endpoint matched by a request, or None (static files, UI pages, unknown paths)."""
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return None
    registry = request.config_dict.get(_REGISTRY)
    if registry is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return registry.by_route.get((method, resource.canonical))


def field_errors(err: vol.Invalid, where: str) -> list[dict[str, str]]:
    """A voluptuous error as ``[{"path": "body.a.b", "message": ...}]``, one item per failing field."""
    items = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
    result = []
    for item in items:
        path = ".".join([where, *(str(p) for p in item.path)])
        result.append({"path": path, "message": item.error_message or str(item)})
    return result


def _summary(errors: list[dict[str, str]]) -> str:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid request: {first['path']}: {first['message']}{more}"


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def _read_json(request: web.Request) -> Any:
    if not request.can_read_body:
        return None
    try:
        # NaN and Infinity are Python's extension, not JSON: refused so they never reach an answer.
        return json.loads(await request.text(), parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, f"request body is not valid JSON: {err}") from err


def _schemas(request: web.Request, endpoint: Endpoint) -> Schemas:
    registry = request.config_dict.get(_REGISTRY)
    compiled = registry.schemas.get((endpoint.method, endpoint.path)) if registry is not None else None
    return compiled or (endpoint.query_schema(), endpoint.body_schema())


async def validate_request(request: web.Request, endpoint: Endpoint) -> None:
    """Validate query and body of a request against its endpoint; ApiError(422) lists every bad field."""
    errors: list[dict[str, str]] = []
    query, body = _schemas(request, endpoint)
    if query is not None:
        try:
            # An empty parameter (``?from=``) means "not given", as it always has for this API.
            request[QUERY] = query({k: v for k, v in request.query.items() if v != ""})
        except vol.Invalid as err:
            errors.extend(field_errors(err, "query"))
    if body is not None:
        raw = await _read_json(request)
        try:
            request[BODY] = body(raw)
        except vol.Invalid as err:
            errors.extend(field_errors(err, "body"))
    if errors:
        raise ApiError(422, _summary(errors), errors)


@web.middleware
async def validation_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Runs the endpoint's schemas before its handler; routes without an Endpoint pass through."""
    endpoint = endpoint_for(request)
    if endpoint is not None:
        request[ENDPOINT] = endpoint
        await validate_request(request, endpoint)
    return await handler(request)
