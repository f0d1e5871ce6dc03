"""Injected faults lead to LinkError or DataError, never to a wrong value; the master skips echoes and stale answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from trackingbms_daly.modbus.framing import (
    ModbusFrame,
    Role,
    build_exception,
    build_read_answer,
    build_write_single,
)
from trackingbms_daly.modbus.master import DalyModbusMaster, ModbusExceptionError

from hub.faults import Fault
from hub.specs import DataError, LinkError
from hub.transport.pty import PtyEndpoint
from hub.transport.shared import PortRegistry
from tests.plugins.trackingbms_daly.modbus.modbus_harness import (
    Factory,
    assert_matches_pack,
    make_driver,
    simulator_factory,
)

FAST: dict[str, Any] = {"timeout": 0.15, "retries": 1}
PASSING = [Fault.GARBAGE, Fault.TRUNCATED, Fault.BAD_CHECKSUM, Fault.LATE, Fault.INVERTED_CURRENT]


@pytest.fixture
async def simulators(tmp_path: Path) -> AsyncIterator[Factory]:
    async with simulator_factory(tmp_path) as start:
        yield start


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.ASLEEP, LinkError),
        (Fault.LATE, LinkError),
        (Fault.TRUNCATED, DataError),
        (Fault.BAD_CHECKSUM, DataError),
    ],
)
@pytest.mark.parametrize("family", ["d2", "x81"])
async def test_lasting_faults_raise(simulators: Factory, family: str, fault: Fault, error: type[Exception]) -> None:
    simulator = await simulators(protocol=family)
    simulator.faults.late_delay = 0.4
    driver = make_driver(simulator.link, protocol=family, **FAST)
    await driver.connect()
    try:
        simulator.faults.inject(fault)
        with pytest.raises(error):
            await driver.poll()
        simulator.faults.clear()
        await asyncio.sleep(0.5)  # late answers still on their way must not become a reading
        assert_matches_pack(await driver.poll(), simulator)
    finally:
        await driver.close()


async def test_auto_detection_of_a_silent_port_is_a_link_error(simulators: Factory) -> None:
    simulator = await simulators(protocol="x81", faults=["asleep"])
    with pytest.raises(LinkError, match="no Daly D2 or 0x81 answer"):
        await make_driver(simulator.link, **FAST).connect()


@pytest.mark.parametrize(
    "fault", [Fault.GARBAGE, Fault.TRUNCATED, Fault.BAD_CHECKSUM, Fault.LATE, Fault.INVERTED_CURRENT]
)
@pytest.mark.parametrize("family", ["d2", "x81"])
async def test_passing_faults_never_give_a_wrong_value(simulators: Factory, family: str, fault: Fault) -> None:
    simulator = await simulators(protocol=family, boards=1, cells=12)
    simulator.faults.late_delay = 0.3
    driver = make_driver(simulator.link, protocol=family, timeout=0.15, retries=3)
    await driver.connect()
    try:
        for times in (1, 2, 1, 3):
            simulator.faults.inject(fault, times=times)
            try:
                reading = await driver.poll()
            except (LinkError, DataError):
                continue
            assert_matches_pack(reading, simulator)
    finally:
        await driver.close()
    assert simulator.faults.applied.get(fault, 0) > 0


async def test_garbage_on_a_multi_drop_line(simulators: Factory) -> None:
    simulator = await simulators(protocol="x81", boards=3, faults=["garbage"])
    drivers = [make_driver(simulator.link, protocol="x81", board=n, timeout=0.3) for n in (1, 2, 3)]
    for board, driver in enumerate(drivers):
        try:
            await driver.connect()
            assert_matches_pack(await driver.poll(), simulator, board)
        finally:
            await driver.close()


# --- the master against a scripted line -------------------------------------------------------


async def scripted_line(tmp_path: Path, script: Callable[[bytes], bytes]) -> tuple[PtyEndpoint, list[bytes]]:
    """A pty that answers each request with ``script(request)``; returns it and the requests seen."""
    seen: list[bytes] = []
    endpoint: PtyEndpoint

    def on_data(data: bytes) -> None:
        seen.append(data)
        endpoint.write(script(data))

    endpoint = PtyEndpoint(tmp_path / "line", on_data)
    await endpoint.open()
    return endpoint, seen


async def test_master_skips_its_echo_stale_answers_and_junk(tmp_path: Path) -> None:
    values = [0x0D05 + i for i in range(9)]
    stale = build_read_answer(0x51, [1, 2, 3])  # a late answer to some earlier, shorter read
    answer = build_read_answer(0x51, values)
    endpoint, _ = await scripted_line(tmp_path, lambda req: req + stale + b"\x00\x51\x03\xfe" + answer)
    registry = PortRegistry()
    port = registry.acquire(str(endpoint.link))
    try:
        master = DalyModbusMaster(port, 0x81, 0x51, timeout=0.5, retries=0)
        assert await master.read(0x3E, 9) == {0x3E + i: v for i, v in enumerate(values)}
    finally:
        await registry.release(str(endpoint.link))
        await endpoint.close()


async def test_master_raises_exception_answers_at_once(tmp_path: Path) -> None:
    endpoint, seen = await scripted_line(tmp_path, lambda req: build_exception(0xD2, req[1], 2))
    registry = PortRegistry()
    port = registry.acquire(str(endpoint.link))
    try:
        master = DalyModbusMaster(port, 0xD2, 0xD2, timeout=0.3, retries=3)
        with pytest.raises(ModbusExceptionError) as caught:
            await master.write(0x0300, 1)
        assert caught.value.code == 2
        assert len(seen) == 1  # no retries: the answer was clear
    finally:
        await registry.release(str(endpoint.link))
        await endpoint.close()


async def test_master_write_retries_after_a_bad_echo(tmp_path: Path) -> None:
    # btsnoop: "D2 06 00 CF 00 01 1C 8A" (bad CRC), then the good echo after the re-send.
    echoes = [bytes.fromhex("D2 06 00 CF 00 01 1C 8A"), build_write_single(0xD2, 0xCF, 1)]
    endpoint, seen = await scripted_line(tmp_path, lambda req: echoes.pop(0))
    registry = PortRegistry()
    port = registry.acquire(str(endpoint.link))
    try:
        master = DalyModbusMaster(port, 0xD2, 0xD2, timeout=0.3, retries=2)
        assert await master.write(0xCF, 1) == 2
        assert [ModbusFrame.parse(r, Role.REQUEST).raw for r in seen] == [bytes.fromhex("D2 06 00 CF 00 01 6B 96")] * 2
    finally:
        await registry.release(str(endpoint.link))
        await endpoint.close()
