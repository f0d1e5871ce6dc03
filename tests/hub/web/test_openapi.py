"""GET /api/v1/openapi.json of a running hub: a valid OpenAPI 3.1 document covering every route."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import jsonschema
import pytest
import voluptuous as vol
from openapi_spec_validator import validate

from hub.core import Hub
from hub.web.openapi import body_json_schema, json_schema, openapi_path
from hub.web.params import int_range, iso_time
from tests.helpers import HubFactory, wait_for

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
# GET endpoints of the simulated hub whose live answers are checked against the document.
LIVE_PATHS = (
    ("/api/v1/core/health", "/api/v1/core/health"),
    ("/api/v1/core/services", "/api/v1/core/services"),
    ("/api/v1/core/logs?per_page=5", "/api/v1/core/logs"),
    ("/api/v1/bms", "/api/v1/bms"),
    ("/api/v1/bms/types", "/api/v1/bms/types"),
    ("/api/v1/bms/status/one", "/api/v1/bms/status/{id}"),
    ("/api/v1/bms/data/one", "/api/v1/bms/data/{id}"),
    ("/api/v1/bms/data/one/history?limit=3", "/api/v1/bms/data/{id}/history"),
    ("/api/v1/bms/data/one/history?resolution=5m", "/api/v1/bms/data/{id}/history"),
    ("/api/v1/bms/cells/one", "/api/v1/bms/cells/{id}"),
    ("/api/v1/bms/temperatures/one", "/api/v1/bms/temperatures/{id}"),
    ("/api/v1/bms/alarms/one", "/api/v1/bms/alarms/{id}"),
    ("/api/v1/alerts", "/api/v1/alerts"),
    ("/api/v1/alerts/rules", "/api/v1/alerts/rules"),
)


async def fetch(http: aiohttp.ClientSession, hub: Hub, path: str) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{hub.http_url}{path}") as response:
        return response.status, await response.json()


async def test_document_is_valid_openapi_31(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub()
    status, doc = await fetch(http, hub, "/api/v1/openapi.json")
    assert status == 200
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert "x-schema-error" not in json.dumps(doc), "a request schema could not be converted"
    assert doc["openapi"] == "3.1.0" and doc["info"]["version"] == hub.version
    assert set(doc["components"]["securitySchemes"]) == {"bearerAuth", "cookieAuth"}
    configure = doc["paths"]["/api/v1/bms/configure/{id}"]["post"]
    assert configure["x-action"] == "battery.control" and "security" not in configure  # the global one
    assert {"401", "403", "404", "422", "200"} <= set(configure["responses"])
    body = configure["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["action"] and "soc" in body["properties"]["action"]["enum"]
    assert body["additionalProperties"] is False  # the server answers 422 to an unknown key
    assert doc["paths"]["/api/v1/core/health"]["get"]["security"] == []
    logs = {p["name"]: p for p in doc["paths"]["/api/v1/core/logs"]["get"]["parameters"]}
    assert logs["per_page"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
    assert logs["since"]["schema"] == {"type": "string", "format": "date-time"}


async def test_every_route_is_in_the_document(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub()
    _, doc = await fetch(http, hub, "/api/v1/openapi.json")
    assert hub.web_runner is not None
    routes = set()
    for route in hub.web_runner.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method in METHODS and path and path.startswith("/api/"):
            routes.add((openapi_path(path), route.method.lower()))
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert routes, "no API route found"
    assert routes - documented == set(), "routes registered without an Endpoint"
    assert documented - routes == set()
    for path, method in documented:
        operation = doc["paths"][path][method]
        assert operation["summary"] and operation["responses"], (path, method)
        assert ("x-action" in operation) != (operation.get("security") == []), (path, method)


async def test_live_answers_match_their_schemas(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub()
    _, doc = await fetch(http, hub, "/api/v1/openapi.json")

    async def read() -> bool:
        return (await fetch(http, hub, "/api/v1/bms/data/one"))[0] == 200

    await wait_for(read)
    for url, path in LIVE_PATHS:
        status, body = await fetch(http, hub, url)
        assert status == 200, (url, body)
        schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        jsonschema.Draft202012Validator(schema).validate(body)


def test_converter_writes_31_types_and_described_validators() -> None:
    schema = vol.Schema({vol.Required("a"): vol.Any(None, str), vol.Optional("t"): iso_time, "n": int_range(1, 5)})
    converted = json_schema(schema)
    assert converted["properties"]["t"] == {"type": "string", "format": "date-time"}
    assert converted["properties"]["n"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert converted["properties"]["a"] == {"anyOf": [{"type": "null"}, {"type": "string"}]}
    assert converted["required"] == ["a"]
    assert json_schema(vol.In(["x", None])) == {"type": ["string", "null"], "enum": ["x", None]}
    assert openapi_path("/files/{name:.*}") == "/files/{name}"


def test_a_body_closed_to_unknown_keys_says_so_at_every_level_but_where_extra_keys_are_allowed() -> None:
    open_part = vol.Schema({"free": str}, extra=vol.ALLOW_EXTRA)
    schema = vol.Schema({vol.Required("a"): {"b": int, "c": [{"d": str}]}, "e": open_part, "m": {str: int}})
    closed = body_json_schema(schema)
    nested = closed["properties"]["a"]
    assert closed["additionalProperties"] is False and nested["additionalProperties"] is False
    assert nested["properties"]["c"]["items"]["additionalProperties"] is False
    assert closed["properties"]["e"]["additionalProperties"] is True  # allows extra keys: left as is
    assert closed["properties"]["m"]["additionalProperties"] == {"type": "integer"}  # a mapping of any keys
    for document, body in ((closed, {"a": {"b": 1, "x": 2}}), (closed, {"z": 1})):
        with pytest.raises(vol.Invalid):  # what the document refuses, voluptuous refuses too
            schema(body)
        assert not jsonschema.Draft202012Validator(document).is_valid(body)
    allowed = vol.Schema({"a": int}, extra=vol.ALLOW_EXTRA)
    assert body_json_schema(allowed).get("additionalProperties", True) is True
