"""The live stream: a WebSocket that pushes new readings and link changes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import voluptuous as vol
from aiohttp import WSCloseCode, WSMsgType, web

from hub.auth.policy import visible_batteries
from hub.bus import DATA_BMS_LINK_CHANGED, DATA_BMS_NEW, Event
from hub.web import app as app_module
from hub.web.api import QUERY, Endpoint, add_endpoints

_LOGGER = logging.getLogger(__name__)
# Per-client buffer: a slow browser loses old readings, never slows the hub.
CLIENT_QUEUE = 200
SOCKETS = web.AppKey("stream_sockets", set[web.WebSocketResponse])


def _message(event: Event) -> dict[str, Any] | None:
    if event.name == DATA_BMS_NEW:
        return {"type": "reading", "data": event.data.to_dict()}
    if event.name == DATA_BMS_LINK_CHANGED:
        return {"type": "link", "data": event.data}
    return None


async def stream(request: web.Request) -> web.WebSocketResponse:
    """Send ``{"type": "reading"|"link", "data": ...}`` messages; ``?battery=ID`` filters."""
    hub = app_module.get_hub(request)
    wanted = await _visible(request, set(filter(None, request[QUERY].get("battery", "").split(","))))
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=CLIENT_QUEUE)

    def forward(event: Event) -> None:
        message = _message(event)
        if message is None or (wanted is not None and message["data"].get("battery_id") not in wanted):
            return
        if outbox.full():
            outbox.get_nowait()
        outbox.put_nowait(message)

    subscription = hub.bus.subscribe("data.bms.*", forward, maxsize=CLIENT_QUEUE, name="core.stream")
    sender = asyncio.create_task(_send_loop(ws, outbox))
    try:
        async for msg in ws:  # the client only pings; reading keeps the connection alive
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        request.app[SOCKETS].discard(ws)
        subscription.cancel()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    return ws


async def _visible(request: web.Request, asked: set[str]) -> set[str] | None:
    """The batteries whose events this client gets (None = all): those asked, within the caller's tenant."""
    # Batteries run hub-wide; a user hears those of the tenant's nodes they may read.
    mine = await visible_batteries(request, "battery.read")
    if mine is None:
        return asked or None
    return asked & mine if asked else mine


async def _send_loop(ws: web.WebSocketResponse, outbox: asyncio.Queue[dict[str, Any]]) -> None:
    while not ws.closed:
        message = await outbox.get()
        try:
            await ws.send_str(json.dumps(message, default=str))
        except ConnectionResetError:
            return


async def _close_sockets(app: web.Application) -> None:
    # Open WebSockets would otherwise hold a graceful shutdown until the server's timeout.
    sockets = app[SOCKETS]
    for ws in tuple(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"hub shutting down")


def setup(app: web.Application) -> None:
    """Add the stream route and close open streams at shutdown."""
    app[SOCKETS] = set()
    app.on_shutdown.append(_close_sockets)
    add_endpoints(
        app,
        Endpoint(
            "GET",
            "/api/v1/stream",
            stream,
            "WebSocket of new readings and link changes ({type: reading|link, data})",
            "battery.read",
            ("bms",),
            query={vol.Optional("battery", description="comma-separated battery ids"): str},
            errors=(400,),  # a plain GET without the WebSocket upgrade
            raw=True,
        ),
    )
