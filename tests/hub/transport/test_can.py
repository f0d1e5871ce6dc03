"""The hub's python-can link on python-can's in-process ``virtual`` bus: receive, send, fail, close."""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import can
import pytest

from hub.specs import LinkError
from hub.transport.can import BusConfig, CanLink
from tests.helpers import wait_for

_channels = itertools.count()
Factory = Callable[..., Any]


@pytest.fixture
def config() -> BusConfig:
    """A virtual channel no other test uses (virtual buses are shared process-wide)."""
    return BusConfig("virtual", f"hub-can-test-{next(_channels)}", 500_000)


@pytest.fixture
async def links() -> AsyncIterator[Factory]:
    """Open links that are closed after the test, with the frames each one received."""
    made: list[CanLink] = []

    async def make(config: BusConfig, extended: bool = True) -> tuple[CanLink, list[can.Message]]:
        received: list[can.Message] = []
        link = CanLink(config, received.append, extended=extended, name="test-can")
        made.append(link)
        await link.open()
        return link, received

    yield make
    for link in made:
        await link.close()


async def test_frames_go_both_ways_on_the_loop_thread(config: BusConfig, links: Factory) -> None:
    threads: list[threading.Thread] = []
    got_b: list[can.Message] = []

    def on_b(msg: can.Message) -> None:
        threads.append(threading.current_thread())
        got_b.append(msg)

    a, got_a = await links(config)
    b = CanLink(config, on_b, extended=False)
    await b.open()
    await a.send([(0x1D000001, b"\x01\x02"), (0x1D001101, b"\x03")])
    await b.send([(0x210, bytes(8))])
    await wait_for(lambda: len(got_b) == 2 and len(got_a) == 1)
    assert [(m.arbitration_id, bytes(m.data), m.is_extended_id) for m in got_b] == [
        (0x1D000001, b"\x01\x02", True),
        (0x1D001101, b"\x03", True),
    ]
    assert (got_a[0].arbitration_id, got_a[0].is_extended_id) == (0x210, False)  # the link's ID width
    assert threads == [threading.main_thread()] * 2  # handed over to the event loop, in order
    assert (a.sent, b.sent) == (2, 1)
    assert a.is_open and a.where == f"virtual {config.channel}"
    await b.close()


async def test_an_unknown_interface_is_a_link_error(links: Factory) -> None:
    with pytest.raises(LinkError, match="cannot open CAN no-such-interface can9"):
        await links(BusConfig("no-such-interface", "can9", 500_000))


async def test_sending_needs_an_open_link(config: BusConfig) -> None:
    link = CanLink(config, lambda msg: None, extended=True)
    with pytest.raises(LinkError, match="is not open"):
        await link.send([(1, b"")])
    await link.open()
    await link.close()
    await link.close()  # closing twice is harmless
    assert not link.is_open
    with pytest.raises(LinkError, match="is not open"):
        await link.send([(1, b"")])


class _FullAdapter(can.BusABC):
    """An adapter whose transmit queue stays full (a bus without any other node to acknowledge)."""

    def __init__(self) -> None:
        super().__init__(channel="full")

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        threading.Event().wait(timeout or 0.0)
        return None, False

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        raise can.CanOperationError("transmit buffer full")


class _DeadAdapter(_FullAdapter):
    """An adapter that fails on every read, as an unplugged USB adapter does (no real one in CI)."""

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        raise can.CanOperationError("adapter unplugged")


class _FullLink(CanLink):
    def _make_bus(self) -> can.BusABC:
        return _FullAdapter()


class _DeadLink(CanLink):
    def _make_bus(self) -> can.BusABC:
        return _DeadAdapter()


async def test_a_bus_that_refuses_a_frame_is_a_link_error(config: BusConfig) -> None:
    link = _FullLink(config, lambda msg: None, extended=True)
    await link.open()
    try:
        with pytest.raises(LinkError, match=f"CAN send on virtual {config.channel} failed: transmit buffer full"):
            await link.send([(0x1, b"")])
        assert link.sent == 0 and link.is_open  # a refused frame is not a failed adapter
    finally:
        await link.close()


async def test_a_failing_adapter_marks_the_link_failed_and_reopens(config: BusConfig) -> None:
    link = _DeadLink(config, lambda msg: None, extended=True)
    await link.open()
    try:
        await wait_for(lambda: link.error is not None)
        assert not link.is_open
        with pytest.raises(LinkError, match="adapter unplugged"):
            await link.send([(1, b"")])
    finally:
        await link.close()
    working = CanLink(config, lambda msg: None, extended=True)
    await working.open()  # what a driver does after a failure: close, then open again
    try:
        assert working.is_open and working.error is None
    finally:
        await working.close()
