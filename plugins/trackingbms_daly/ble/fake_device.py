"""A simulated Daly BLE module: a simulated board behind GATT notifications, with BLE failure knobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bleak.backends.scanner import AdvertisementData

from hub.simulation import PackModel, PackSnapshot
from trackingbms_daly.a5 import codec
from trackingbms_daly.a5.device import DalyA5Device
from trackingbms_daly.ble.link import uuid16
from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus.device import DalyModbusDevice
from trackingbms_daly.modbus.framing import WRITE_SINGLE, ModbusFrame, Role

__all__ = ["PROTOCOLS", "BluetoothA5Device", "FakeBLEDevice", "FakeDaly", "Responder", "fake_daly"]

PROTOCOLS = ("a5", "d2", "x81")
DEFAULT_MTU = 20  # notification payload with the default ATT MTU of 23
BT_TEMPERATURE_FRAMES = 3  # over Bluetooth the BMS sends every 0x96 frame (daly.md §3.5)
# A request in, the answer frames out ([] for silence).
Responder = Callable[[bytes], list[bytes]]


@dataclass(frozen=True, slots=True)
class FakeBLEDevice:
    """What bleak's BLEDevice carries: address, OS name and platform details."""

    address: str
    name: str | None
    details: Any = None


class BluetoothA5Device(DalyA5Device):
    """An A5 board behind the old BT dongle: all 16 cell frames and all 3 temperature frames (§3.5)."""

    def __init__(self, pack: PackModel, board: int = 1) -> None:
        super().__init__(pack, board, host_addresses=frozenset({0x80}), all_cell_frames=True)

    def _temperatures(self, request: Any, snap: PackSnapshot) -> list[bytes]:
        frames = super()._temperatures(request, snap)
        extra = range(len(frames) + 1, BT_TEMPERATURE_FRAMES + 1)
        return frames + [codec.encode_temperature_frame(number, []) for number in extra]


def a5_responder(device: DalyA5Device) -> Responder:
    """Each BLE write carries one whole 13-byte request."""
    return device.handle


def modbus_responder(device: DalyModbusDevice) -> Responder:
    """Each BLE write carries one whole D2 / 0x81 request; anything else (A5 probes, AT commands) is ignored."""

    def respond(data: bytes) -> list[bytes]:
        try:
            request = ModbusFrame.parse(data, Role.REQUEST)
        except DalyProtocolError:
            return []
        answer = device.handle(request)
        return [answer] if answer is not None else []

    return respond


@dataclass(eq=False)
class FakeDaly:
    """The module: advertising, GATT layout, notification chunking and failure knobs."""

    address: str
    respond: Responder
    name: str | None = None  # None: "DL-" + the MAC's hex digits
    rssi: int = -60
    manufacturer_id: int | None = 0x0302  # None: advertise no manufacturer data
    mtu: int = DEFAULT_MTU  # notification payload size: answers are cut (and joined) at this size
    primary: bool = True  # service fff0 with fff1 (notify) / fff2 (write)
    fallback: bool = True  # service ff00 with ff01 / ff02 (newer firmware, batmon-ha #356)
    notify_not_permitted: bool = False  # fff1 notify fails with org.bluez.Error.NotPermitted
    drop_after_writes: int | None = None  # one-shot: the Nth write of a connection drops it, unanswered
    bad_echoes: int = 0  # this many 0x06 echoes go out with a bad CRC (btsnoop, daly.md §3.4)
    hold_answers: int = 0  # this many answers wait and go out joined with the next one
    advertising: bool = True  # False: cloud mode, or asleep (syssi #39)
    connectable: bool = True
    board: Any = None  # the simulated board (DalyA5Device or DalyModbusDevice), for tests
    writes: list[bytes] = field(default_factory=list)
    connects: int = 0
    central: Any = None  # the connected FakeBleakClient: a module takes one central at a time
    _held: bytes = b""

    def __post_init__(self) -> None:
        self.address = self.address.upper()
        if self.name is None:
            self.name = "DL-" + self.address.replace(":", "").replace("-", "")

    def advertisement(self) -> tuple[FakeBLEDevice, AdvertisementData]:
        """The device and its advertisement as bleak reports them."""
        manufacturer: dict[int, bytes] = {}
        if self.manufacturer_id is not None:
            mac = bytes.fromhex(self.address.replace(":", "")) if len(self.address) == 17 else bytes(6)
            manufacturer[self.manufacturer_id] = b"\x16" + mac + b"DL"  # 0x16, MAC, "DL" (daly.md §3.4)
        advertisement = AdvertisementData(
            local_name=self.name,
            manufacturer_data=manufacturer,
            service_data={},
            service_uuids=[uuid16(0xFFF0)] if self.primary else [],
            tx_power=None,
            rssi=self.rssi,
            platform_data=(),
        )
        return FakeBLEDevice(self.address, self.name), advertisement

    def characteristics(self) -> dict[str, list[str]]:
        """UUID -> properties of the GATT table."""
        table: dict[str, list[str]] = {}
        if self.primary:
            table[uuid16(0xFFF1)] = ["notify"]
            table[uuid16(0xFFF2)] = ["write-without-response", "write"]
        if self.fallback:
            table[uuid16(0xFF01)] = ["notify"]
            table[uuid16(0xFF02)] = ["write-without-response", "write"]
        return table

    def notifications(self, request: bytes) -> list[bytes]:
        """The notification payloads one write causes: the answers as a stream cut every ``mtu`` bytes."""
        self.writes.append(request)
        stream = b"".join(self._corrupted(answer) for answer in self.respond(request))
        if stream and self.hold_answers > 0:
            self.hold_answers -= 1
            self._held += stream
            return []
        stream, self._held = self._held + stream, b""
        return [stream[i : i + self.mtu] for i in range(0, len(stream), self.mtu)]

    def _corrupted(self, answer: bytes) -> bytes:
        if self.bad_echoes > 0 and len(answer) > 2 and answer[1] == WRITE_SINGLE:
            self.bad_echoes -= 1
            return answer[:-2] + bytes(b ^ 0x5A for b in answer[-2:])
        return answer


def fake_daly(
    address: str,
    protocol: str = "d2",
    *,
    cells: int = 16,
    temps: int = 2,
    board: int = 1,
    soc: float = 60.0,
    capacity_ah: float = 100.0,
    seed: int | None = None,
    invert_current: bool = False,
    **knobs: Any,
) -> FakeDaly:
    """A fake module with a simulated board of ``protocol`` (a5, d2, x81) on a PackModel."""
    pack = PackModel(cells=cells, temps=temps, capacity_ah=capacity_ah, soc=soc, seed=seed)
    if protocol == "a5":
        a5 = BluetoothA5Device(pack, board)
        a5.invert_current = invert_current
        return FakeDaly(address, a5_responder(a5), board=a5, **knobs)
    if protocol in ("d2", "x81"):
        device = DalyModbusDevice(pack, protocol, board=board, invert_current=invert_current)
        return FakeDaly(address, modbus_responder(device), board=device, **knobs)
    raise ValueError(f"protocol must be one of {PROTOCOLS}")
