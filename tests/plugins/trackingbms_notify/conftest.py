"""Fixtures of the notify tests: real HTTP receivers, stopped after the hubs that post to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.plugins.trackingbms_notify.notify_helpers import Behaviour, Receiver, accept

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
