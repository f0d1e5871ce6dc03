"""The BLE link: reassembly however notifications cut frames, UUID fallback, disconnects, reconnects, keep-alive."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trackingbms_daly.a5.framing import build_frame
from trackingbms_daly.ble.backend import BleBackend
from trackingbms_daly.ble.fake import FakeAir
from trackingbms_daly.ble.link import CLOUD_HINT, FALLBACK, PRIMARY, BleLink, BluetoothUnavailableError, KeepAlive
from trackingbms_daly.modbus.framing import build_read_answer, build_read_request

from hub.specs import LinkError
from tests.helpers import wait_for
from tests.plugins.trackingbms_daly.ble.ble_harness import (
    ADDRESS,
    a5_frames,
    air_with,
    drain,
    modbus_frames,
    open_link,
    settle,
)

D2_ANSWER = build_read_answer(0xD2, list(range(3300, 3316)))  # 37 bytes: longer than one 20-byte MTU
X81_ANSWER = build_read_answer(0x51, [0xD2, 0x51, 0x0303, 7])  # address bytes inside the data
A5_CELLS = [build_frame(0x01, 0x95, bytes((n, 0x0C, 0xE4, 0x0C, 0xE5, 0x0C, 0xE6, 0))) for n in range(1, 17)]


def _cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = [0, *sorted(set(points)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


async def _through_link(chunks: list[bytes], family: str) -> list[bytes]:
    air, device = air_with()
    link = await open_link(air)
    device.central.notify(chunks)
    if family == "a5":
        frames = [f.raw for f in await a5_frames(link)]
    else:
        frames = [f.raw for f in await modbus_frames(link, {0xD2, 0x51})]
    await link.close()
    return frames


@pytest.mark.parametrize("size", [1, 20])
async def test_frames_split_byte_by_byte_or_at_mtu_20_are_reassembled(size: int) -> None:
    stream = D2_ANSWER + X81_ANSWER
    assert await _through_link([stream[i : i + size] for i in range(0, len(stream), size)], "modbus") == [
        D2_ANSWER,
        X81_ANSWER,
    ]


async def test_two_frames_joined_in_one_notification_come_apart() -> None:
    assert await _through_link([D2_ANSWER + X81_ANSWER], "modbus") == [D2_ANSWER, X81_ANSWER]


async def test_all_16_a5_cell_frames_in_13_and_26_byte_notifications() -> None:
    # The old dongle notifies 13 or 26 bytes: one or two frames (daly.md §3.5).
    stream = b"".join(A5_CELLS)
    chunks = [stream[i : i + (13 if n % 2 else 26)] for n, i in enumerate(range(0, len(stream), 13)) if i % 26 != 13]
    assert b"".join(chunks) == stream
    assert await _through_link(chunks, "a5") == A5_CELLS


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(points=st.lists(st.integers(1, len(D2_ANSWER) + len(X81_ANSWER) - 1), max_size=12))
def test_modbus_reassembly_does_not_depend_on_split_points(points: list[int]) -> None:
    stream = D2_ANSWER + X81_ANSWER
    assert asyncio.run(_through_link(_cut(stream, points), "modbus")) == [D2_ANSWER, X81_ANSWER]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(points=st.lists(st.integers(1, 3 * 13 - 1), max_size=10))
def test_a5_reassembly_does_not_depend_on_split_points(points: list[int]) -> None:
    stream = b"".join(A5_CELLS[:3])
    assert asyncio.run(_through_link(_cut(stream, points), "a5")) == A5_CELLS[:3]


async def test_requests_go_out_as_write_without_response_on_fff2() -> None:
    air, device = air_with()
    link = await open_link(air)
    calls: list[tuple[Any, bytes, Any]] = []
    original = device.central.write_gatt_char

    async def spy(char: Any, data: Any, response: bool | None = None) -> None:
        calls.append((char, bytes(data), response))
        await original(char, data, response)

    device.central.write_gatt_char = spy
    request = build_read_request(0xD2, 0, 1)
    link.write(request)
    assert await drain(link)
    assert calls == [(PRIMARY.write, request, False)]
    assert link.pair == PRIMARY
    await link.close()


async def test_notify_not_permitted_on_fff1_falls_back_to_ff01_ff02() -> None:
    # org.bluez.Error.NotPermitted on fff1 (batmon-ha #356, daly.md §3.4).
    air, _device = air_with(notify_not_permitted=True)
    link = await open_link(air)
    assert link.pair == FALLBACK
    link.write(build_read_request(0xD2, 0, 4))
    frames = await modbus_frames(link, {0xD2})
    assert len(frames) == 1
    assert len(frames[0].registers()) == 4
    await link.close()


async def test_a_module_without_fff0_is_read_on_ff00() -> None:
    air, _ = air_with(primary=False)
    link = await open_link(air)
    assert link.pair == FALLBACK
    await link.close()


async def test_no_usable_characteristics_is_a_link_error() -> None:
    air, _ = air_with(notify_not_permitted=True, fallback=False)
    link = BleLink(ADDRESS, air.backend(), scan_timeout=0.5, attempts=1)
    with pytest.raises(LinkError, match="no usable Daly characteristics"):
        await link.open()


async def test_a_missing_module_is_reported_with_the_cloud_hint() -> None:
    link = BleLink(ADDRESS, FakeAir().backend(), scan_timeout=0.5, attempts=2, backoff=0.0)
    with pytest.raises(LinkError, match="not found") as caught:
        await link.open()
    assert CLOUD_HINT in str(caught.value)
    assert "Daly Cloud" in str(caught.value)


async def test_a_disconnect_fails_the_waiting_read_and_the_next_open_reconnects() -> None:
    air, device = air_with()
    link = await open_link(air)
    reader = asyncio.create_task(link.read(5.0))
    await settle()
    device.central.drop()  # out of range, module reset
    with pytest.raises(LinkError, match="disconnected"):
        await reader
    assert not link.is_open
    with pytest.raises(LinkError):
        link.write(b"\x00")
    await link.open()
    assert link.is_open
    assert (link.connects, link.disconnects, device.connects) == (2, 1, 2)
    await link.close()


async def test_connecting_retries_with_backoff_until_the_module_is_free() -> None:
    air, device = air_with()
    phone = air.client(ADDRESS)
    await phone.connect()  # the vendor app holds the module: one central at a time
    clients: list[Any] = []

    def client_factory(target: Any, **kwargs: Any) -> Any:
        if len(clients) == 2:
            phone.drop()  # the app lets go after our second refused attempt
        clients.append(air.client(target, **kwargs))
        return clients[-1]

    backend = BleBackend("fake", client_factory, air.backend().scanner)
    link = BleLink(ADDRESS, backend, scan_timeout=0.5, attempts=3, backoff=0.01)
    await link.open()
    assert link.is_open
    assert len(clients) == 3
    assert device.central is clients[-1]
    await link.close()


async def test_a_busy_module_fails_after_every_attempt() -> None:
    air, _ = air_with()
    await air.client(ADDRESS).connect()
    link = BleLink(ADDRESS, air.backend(), scan_timeout=0.5, attempts=3, backoff=0.0)
    with pytest.raises(LinkError, match="another central"):
        await link.open()


async def test_release_disconnects_and_the_module_is_free_for_the_phone() -> None:
    air, device = air_with()
    link = await open_link(air)
    await link.release()
    assert device.central is None
    phone = air.client(ADDRESS)
    await phone.connect()
    await phone.disconnect()
    await link.open()
    assert link.is_open


async def test_keep_alive_pings_only_an_idle_open_link() -> None:
    air, _ = air_with()
    link = await open_link(air)
    pings: list[bool] = []

    async def ping() -> None:
        pings.append(link.is_open)
        link.write(build_read_request(0xD2, 0, 1))

    keep_alive = KeepAlive(link, 0.05, ping)
    keep_alive.start()
    await wait_for(lambda: len(pings) >= 2, timeout=5)
    await link.release()
    count = keep_alive.pings
    await asyncio.sleep(0.2)
    assert keep_alive.pings == count  # no ping keeps a released module busy
    await keep_alive.stop()
    assert all(pings)


async def test_no_bluetooth_on_the_host_fails_at_once_without_the_module_hint() -> None:
    class NoBlueZ:
        calls = 0

        async def discover(self, timeout: float = 5.0, *, return_adv: Any = False, **kwargs: Any) -> Any:  # noqa: ASYNC109
            raise AssertionError("not used")

        async def find_device_by_address(
            self,
            device_identifier: str,
            timeout: float = 10.0,  # noqa: ASYNC109
            **kwargs: Any,
        ) -> Any:
            NoBlueZ.calls += 1
            raise FileNotFoundError(2, "No such file or directory")  # no D-Bus system bus socket

    link = BleLink(ADDRESS, BleBackend("bleak", FakeAir().client, NoBlueZ()), attempts=3, backoff=0.0)
    with pytest.raises(BluetoothUnavailableError, match="cannot scan") as caught:
        await link.open()
    assert CLOUD_HINT not in str(caught.value)
    assert NoBlueZ.calls == 1
