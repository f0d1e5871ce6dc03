"""Endpoint definitions on a real aiohttp server: registration, lookup and 422 field errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import voluptuous as vol
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.web.api import BODY, QUERY, Endpoint, add_endpoints, endpoint_for, endpoints_of, validation_middleware
from hub.web.envelope import envelope, envelope_middleware
from hub.web.params import int_range, iso_time

SEEN: web.AppKey[list[Endpoint | None]] = web.AppKey("seen", list)


async def echo(request: web.Request) -> web.Response:
    request.app[SEEN].append(endpoint_for(request))
    return envelope(request, {"query": request.get(QUERY), "body": request.get(BODY)})


async def plain(request: web.Request) -> web.Response:
    request.app[SEEN].append(endpoint_for(request))
    return web.Response(text="not recorded")


ECHO = Endpoint(
    "POST",
    "/things/{id}",
    echo,
    "Echo",
    "battery.read",
    query={vol.Optional("limit", default=10): int_range(1, 100), vol.Optional("since"): iso_time},
    body={vol.Required("name"): str, vol.Optional("inner"): {vol.Required("x"): int}},
)
LISTING = Endpoint("GET", "/things", echo, "List", "battery.read", query={vol.Required("kind"): vol.In(["a", "b"])})


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application(middlewares=[envelope_middleware, validation_middleware])
    app[SEEN] = []
    add_endpoints(app, ECHO, LISTING)
    app.router.add_get("/plain", plain)
    async with TestServer(app) as running:
        yield running


async def call(server: TestServer, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, str(server.make_url(path)), **kwargs) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_valid_request_reaches_handler_with_converted_values(server: TestServer) -> None:
    status, body = await call(
        server, "POST", "/things/7?limit=5&since=2026-01-02T03:04:05Z&other=x", json={"name": "n"}
    )
    assert status == 200, body
    assert body["data"]["query"] == {"limit": 5, "since": "2026-01-02 03:04:05+00:00"}  # undocumented "other" dropped
    assert body["data"]["body"] == {"name": "n"}
    assert server.app[SEEN] == [ECHO]


async def test_every_bad_field_is_listed_with_its_path(server: TestServer) -> None:
    status, body = await call(server, "POST", "/things/7?limit=500&since=soon", json={"inner": {"x": "y"}, "extra": 1})
    assert status == 422 and body["status"] == "error" and body["code"] == 422
    paths = {error["path"]: error["message"] for error in body["data"]}
    assert set(paths) == {"query.limit", "query.since", "body.name", "body.inner.x", "body.extra"}
    assert paths["body.name"] == "required key not provided"
    assert paths["body.extra"] == "extra keys not allowed"
    assert "ISO-8601" in paths["query.since"]
    assert body["message"].startswith("invalid request: ")
    assert server.app[SEEN] == []  # the handler never ran


async def test_body_that_is_not_json_or_missing(server: TestServer) -> None:
    status, body = await call(
        server, "POST", "/things/7", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and "not valid JSON" in body["message"]
    status, body = await call(server, "POST", "/things/7", data='{"name": NaN}')
    assert status == 400 and "NaN" in body["message"]
    status, body = await call(server, "POST", "/things/7")
    assert status == 422 and body["data"][0]["path"] == "body"


async def test_empty_parameter_counts_as_absent_and_required_ones_are_checked(server: TestServer) -> None:
    status, body = await call(server, "POST", "/things/7?limit=", json={"name": "n"})
    assert status == 200 and body["data"]["query"] == {"limit": 10}
    status, body = await call(server, "GET", "/things")
    assert status == 422 and body["data"] == [{"path": "query.kind", "message": "required key not provided"}]
    status, body = await call(server, "HEAD", "/things?kind=a")
    assert status == 200 and server.app[SEEN][-1] == LISTING  # HEAD is looked up as GET


async def test_unrecorded_routes_pass_through(server: TestServer) -> None:
    async with aiohttp.ClientSession() as http, http.get(str(server.make_url("/plain?limit=x"))) as response:
        assert response.status == 200 and await response.text() == "not recorded"
    assert server.app[SEEN] == [None]


def test_registration_records_in_order_and_refuses_duplicates() -> None:
    app = web.Application()
    add_endpoints(app, LISTING, ECHO)
    assert endpoints_of(app) == [LISTING, ECHO]
    with pytest.raises(ValueError, match="defined twice"):
        add_endpoints(app, LISTING)
    assert endpoints_of(web.Application()) == []


def test_bad_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="method"):
        Endpoint("FETCH", "/x", echo, "x", None)
    with pytest.raises(ValueError, match="start with /"):
        Endpoint("GET", "x", echo, "x", None)
