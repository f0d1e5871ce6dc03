"""Discovery: Daly advertisements matched by DL-* name and by manufacturer id, with the embedded MAC."""

from __future__ import annotations

from typing import Any

import pytest
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from trackingbms_daly.ble import registration
from trackingbms_daly.ble.fake import FakeAir, fake_daly
from trackingbms_daly.ble.link import uuid16
from trackingbms_daly.ble.scan import SERVICE_FFF0, embedded_mac, match_daly, scan

from hub.specs import LinkError


def _adv(
    name: str | None = None, manufacturer: dict[int, bytes] | None = None, services: list[str] | None = None
) -> AdvertisementData:
    return AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer or {},
        service_data={},
        service_uuids=services or [],
        tx_power=None,
        rssi=-70,
        platform_data=(),
    )


# aiobmsble's test data: company id 770 = 0x0302 with 0x16, the MAC and "DL" (daly.md §3.4).
DALY_DATA = bytes.fromhex("16401710015C9B444C")


def test_a_dl_name_with_service_fff0_is_a_modern_daly_module() -> None:
    record = match_daly("40:D6:3C:32:23:A2", None, _adv("DL-40D63C3223A2", services=[SERVICE_FFF0]))
    assert record is not None
    assert record["name"] == "DL-40D63C3223A2"
    assert record["protocol_hint"] == "modbus"
    assert record["manufacturer_id"] is None
    assert record["rssi"] == -70


def test_a_dl_name_alone_could_be_an_old_a5_dongle() -> None:
    record = match_daly("AA:BB:CC:DD:EE:FF", None, _adv("DL-AABBCCDDEEFF"))
    assert record is not None
    assert record["protocol_hint"] == "auto"


def test_the_os_device_name_counts_when_the_advertisement_has_none() -> None:
    assert match_daly("AA:BB:CC:DD:EE:FF", "JHB-0001", _adv()) is not None


@pytest.mark.parametrize("company", [0x0102, 0x0104, 0x0302, 0x0303, 0x0402])
def test_daly_manufacturer_ids_match_a_renamed_module(company: int) -> None:
    record = match_daly("C0:FF:EE:00:00:01", None, _adv("my battery", {company: DALY_DATA}))
    assert record is not None
    assert record["manufacturer_id"] == company
    assert record["mac"] == "40:17:10:01:5C:9B"
    assert record["protocol_hint"] == "modbus"


@pytest.mark.parametrize(
    "advertisement",
    [
        _adv("JK-BMS"),
        _adv("renamed", services=[SERVICE_FFF0]),  # fff0 alone: too many UART modules use it
        _adv(None, {0x004C: b"\x02\x15"}),  # Apple
        _adv(None),
    ],
)
def test_other_devices_do_not_match(advertisement: AdvertisementData) -> None:
    assert match_daly("11:22:33:44:55:66", None, advertisement) is None


def test_embedded_mac_needs_seven_bytes() -> None:
    assert embedded_mac(b"\x16\x01\x02") is None
    assert embedded_mac(DALY_DATA) == "40:17:10:01:5C:9B"


async def test_scan_returns_daly_modules_strongest_first() -> None:
    air = FakeAir()
    air.add(fake_daly("00:00:00:00:00:01", "d2", rssi=-80))
    air.add(fake_daly("00:00:00:00:00:02", "x81", rssi=-50, manufacturer_id=None))
    air.add(fake_daly("00:00:00:00:00:03", "a5", name="camper", manufacturer_id=0x0402))
    air.add(fake_daly("00:00:00:00:00:04", "d2", name="JK-BMS", manufacturer_id=None))  # not Daly
    air.add(fake_daly("00:00:00:00:00:05", "d2", advertising=False))  # cloud mode: silent
    records = await scan(air.backend().scanner, 1.0)
    assert [r["address"] for r in records] == ["00:00:00:00:00:02", "00:00:00:00:00:03", "00:00:00:00:00:01"]
    assert records[0]["name"] == "DL-000000000002"
    assert records[1]["manufacturer_id"] == 0x0402
    assert records[1]["mac"] == "00:00:00:00:00:03"


async def test_a_failing_adapter_is_a_link_error() -> None:
    class NoAdapter:
        async def discover(self, timeout: float = 5.0, *, return_adv: Any = False, **kwargs: Any) -> Any:  # noqa: ASYNC109
            raise BleakError("No Bluetooth adapters found.")

        async def find_device_by_address(
            self,
            device_identifier: str,
            timeout: float = 10.0,  # noqa: ASYNC109
            **kwargs: Any,
        ) -> Any:
            return None

    with pytest.raises(LinkError, match="No Bluetooth adapters"):
        await scan(NoAdapter(), 1.0)


def test_uuid16_is_the_sig_base_uuid() -> None:
    assert uuid16(0xFFF0) == "0000fff0-0000-1000-8000-00805f9b34fb"


async def test_trackingbms_scan_discovers_battery_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    air = FakeAir()
    air.add(fake_daly("40:D6:3C:32:23:A2", "d2"))
    monkeypatch.setattr(registration, "backend_named", lambda name: air.backend())
    spec = registration.driver_spec()
    assert spec.discover is not None
    assert await spec.discover(1.0) == [{"address": "40:D6:3C:32:23:A2", "name": "DL-40D63C3223A2"}]
