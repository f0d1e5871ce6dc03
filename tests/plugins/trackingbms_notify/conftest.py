"""Fixtures of the notify tests: real HTTP receivers and SMTP servers, stopped after the hubs that use them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.plugins.trackingbms_notify.notify_helpers import Behaviour, Inbox, Receiver, accept, free_port

ReceiverFactory = Callable[..., Awaitable[Receiver]]


@pytest.fixture
async def receivers() -> AsyncIterator[ReceiverFactory]:
    """Start receivers (``await receivers(behaviour, port=...)``); all are stopped at the end."""
    started: list[Receiver] = []

    async def start(behaviour: Behaviour = accept, port: int = 0) -> Receiver:
        receiver = Receiver(behaviour)
        started.append(receiver)
        return await receiver.start(port)

    yield start
    for receiver in started:
        await receiver.stop()


SmtpFactory = Callable[..., Awaitable[tuple[Inbox, int]]]


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpFactory]:
    """Start aiosmtpd servers on free ports (``await smtp(**controller_options)``)."""
    controllers: list[Controller] = []

    async def start(**options: Any) -> tuple[Inbox, int]:
        inbox, port = Inbox(), free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
        await asyncio.to_thread(controller.start)
        controllers.append(controller)
        return inbox, port

    yield start
    for controller in controllers:
        await asyncio.to_thread(controller.stop)
