"""The keep-alive over a real pty: the unit stops streaming without it and keeps streaming with it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from trackingbms_greenbms.link import KeepAlive, MessageReader
from trackingbms_greenbms.messages import Heartbeat, Message, Overview
from trackingbms_greenbms.simulator import GreenBmsSimulator

from hub.transport.serial import SerialLink
from tests.helpers import wait_for
from tests.plugins.trackingbms_greenbms.conftest import DriverFactory, SimulatorFactory

# A short keep-alive window (the firmware's is 15 s) so the fallback happens quickly, yet 20 times
# the host's keep-alive interval (0.05 s): a loaded machine that stalls the event loop for a few
# hundred milliseconds must not make the unit fall back while the keep-alive runs.
WINDOW = {"keepalive_timeout": 1.0, "heartbeat_interval": 0.1}


@pytest.fixture
async def unit(simulators: SimulatorFactory) -> GreenBmsSimulator:
    return await simulators(cells=4, **WINDOW)


@pytest.fixture
async def link(unit: GreenBmsSimulator) -> AsyncIterator[SerialLink]:
    serial = SerialLink(unit.link)
    await serial.open()
    yield serial
    await serial.close()


async def next_message(reader: MessageReader, link: SerialLink) -> Message:
    message = await reader.next(link, 10.0)
    assert message is not None, "the unit sent nothing at all"
    return message


async def test_streaming_stops_when_the_keep_alive_does_not_change(unit: GreenBmsSimulator, link: SerialLink) -> None:
    reader = MessageReader()
    link.write(b"#m1\n#s2\n")
    while not isinstance(await next_message(reader, link), Overview):
        pass
    await wait_for(lambda: not unit.device.streaming)  # '#m1' never changes again
    assert unit.device.page == 0
    # Everything generated after the fallback is the 5 s sign of life only: after a heartbeat made
    # once the unit was on page 0, no page line can follow.
    after = unit.device.heartbeat_counter + 1
    seen_after: list[Message] = []
    while True:
        message = await next_message(reader, link)
        if seen_after or (isinstance(message, Heartbeat) and message.counter == after):
            seen_after.append(message)
        if len(seen_after) == 3:
            break
    assert all(isinstance(message, Heartbeat) for message in seen_after)


async def test_streaming_continues_while_the_keep_alive_changes(unit: GreenBmsSimulator, link: SerialLink) -> None:
    reader = MessageReader()
    keepalive = KeepAlive(link.write, interval=0.05)
    keepalive.start()
    link.write(b"#s2\n")
    checks = unit.device.keepalive_checks
    await wait_for(lambda: unit.device.keepalive_checks >= checks + 3)  # several windows went by
    assert unit.device.streaming
    reader.reset(link)
    assert await _overview_within(reader, link, 20)
    # The keep-alive is what keeps it: stop it and the unit falls back.
    await keepalive.stop()
    await wait_for(lambda: not unit.device.streaming)
    assert keepalive.sent >= 4
    await wait_for(lambda: len({c for c in unit.device.commands if c.startswith("#m")}) == keepalive.sent)


async def _overview_within(reader: MessageReader, link: SerialLink, count: int) -> bool:
    """An overview line among the next ``count`` messages (markers and heartbeats come between)."""
    for _ in range(count):
        if isinstance(await next_message(reader, link), Overview):
            return True
    return False


async def test_the_driver_keeps_the_unit_streaming_and_recovers_after_a_fallback(
    unit: GreenBmsSimulator, drivers: DriverFactory
) -> None:
    driver = drivers(unit.link, keepalive_interval=0.05)
    await driver.connect()
    checks = unit.device.keepalive_checks
    await wait_for(lambda: unit.device.keepalive_checks >= checks + 3)
    assert unit.device.streaming  # resting on the overview page between polls
    assert len((await driver.poll()).cells) == 4
    await driver.keepalive.stop()
    await wait_for(lambda: not unit.device.streaming)
    # The next poll selects the page again, so a lost keep-alive costs no reading.
    assert len((await driver.poll()).cells) == 4


def test_the_keep_alive_interval_must_be_below_the_firmware_window() -> None:
    with pytest.raises(ValueError, match="below 15"):
        KeepAlive(lambda data: None, interval=15.0)


def test_keep_alive_values_skip_zero_and_stay_below_1000() -> None:
    sent: list[bytes] = []
    keepalive = KeepAlive(sent.append, interval=5.0)
    for _ in range(1000):
        keepalive.beat()
    assert sent[0] == b"#m1\n"
    assert sent[998] == b"#m999\n"
    assert sent[999] == b"#m1\n"  # wraps to 1, never 0 (the firmware's start value)
