"""The "daly_ble" driver: the A5 and Modbus drivers' own protocol logic over one BLE link (daly.md §3.4, §3.5)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.reading import Reading
from hub.specs import BatteryConfig, ControlUnsupportedError, DriverContext, LinkError
from hub.transport.shared import SharedPort
from trackingbms_daly.ble.backend import BleBackend, backend_named
from trackingbms_daly.ble.link import CLOUD_HINT, BleLink, KeepAlive
from trackingbms_daly.driver import UART_HOST, DalyA5Driver
from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus.driver import DalyModbusDriver
from trackingbms_daly.modbus.master import DalyModbusMaster

__all__ = ["PROBE_STEPS", "BleOptions", "DalyBleDriver"]

_LOGGER = logging.getLogger(__name__)
# auto: D2, then 0x81 (aiobmsble >= 0.31; the Modbus driver's own detection), then the old dongle's A5 (daly.md §0).
PROBE_STEPS = ("modbus", "a5")


@dataclass(frozen=True, slots=True)
class BleOptions:
    """The driver's validated options (see trackingbms_daly.ble.registration.BATTERY_SCHEMA)."""

    address: str  # MAC, or the bleak device id (a UUID on macOS)
    protocol: str = "auto"  # a5 | d2 | x81 | auto
    board: int = 1
    timeout: float = 2.0
    retries: int = 2
    current_sign: str = "auto"
    registers: int = 62
    keep_alive: float | None = None
    release: bool = False
    scan_timeout: float = 10.0
    connect_timeout: float = 15.0
    backend: str = "bleak"

    @classmethod
    def from_config(cls, options: Mapping[str, Any]) -> BleOptions:
        """Build from a battery entry."""
        keep_alive = options.get("keep_alive")
        return cls(
            address=str(options["address"]),
            protocol=str(options.get("protocol", "auto")),
            board=int(options.get("board", 1)),
            timeout=float(options.get("timeout", 2.0)),
            retries=int(options.get("retries", 2)),
            current_sign=str(options.get("current_sign", "auto")),
            registers=int(options.get("registers", 62)),
            keep_alive=None if keep_alive is None else float(keep_alive),
            release=bool(options.get("release", False)),
            scan_timeout=float(options.get("scan_timeout", 10.0)),
            connect_timeout=float(options.get("connect_timeout", 15.0)),
            backend=str(options.get("backend", "bleak")),
        )

    def common(self) -> dict[str, Any]:
        """The options the wired drivers share; ``port`` names the link in their messages."""
        return {
            "port": f"ble://{self.address}",
            "board": self.board,
            "timeout": self.timeout,
            "retries": self.retries,
            "current_sign": self.current_sign,
            "request_gap": 0.0,
        }


class _A5OverBle(DalyA5Driver):
    """The A5 driver with its port replaced by the BLE link; the old dongle answers host 0x80 (§3.5)."""

    def __init__(self, config: BatteryConfig, context: DriverContext, port: SharedPort) -> None:
        super().__init__(config, context)
        self.ble_port = port

    async def connect(self) -> None:
        self.port = self.ble_port
        await super().connect()

    async def close(self) -> None:
        self.port = None  # the BLE driver owns the link


class _ModbusOverBle(DalyModbusDriver):
    """The D2 / 0x81 driver with its port replaced by the BLE link; its detection probes once per family.

    A module of another family never answers, so each retry of a probe only costs a timeout:
    the auto-detection of an old A5 dongle would otherwise wait (retries + 1) x 2 timeouts.
    """

    def __init__(self, config: BatteryConfig, context: DriverContext, port: SharedPort) -> None:
        super().__init__(config, context)
        self.ble_port = port
        self._probing = False

    async def connect(self) -> None:
        self.port = self.ble_port
        self._probing = self.options.protocol == "auto"
        try:
            await super().connect()
        finally:
            self._probing = False
            if self.master is not None:
                self.master.retries = self.options.retries

    def _use(self, family: str) -> DalyModbusMaster:
        master = super()._use(family)
        if self._probing:
            master.retries = 0
        return master

    async def close(self) -> None:
        self.port = None
        self.master = None


class DalyBleDriver:
    """Reads one Daly BMS over BLE with the A5, D2 or 0x81 protocol, reusing the wired drivers' logic.

    The BLE link stands in for the serial port behind a SharedPort, so the A5 driver's
    request/collect and the Modbus master run unchanged: their framers reassemble frames
    however the notifications cut them.
    """

    def __init__(self, config: BatteryConfig, context: DriverContext, backend: BleBackend | None = None) -> None:
        self.config = config
        self.options = BleOptions.from_config(config.options)
        self.backend = backend or backend_named(self.options.backend)
        self.link = BleLink(
            self.options.address,
            self.backend,
            connect_timeout=self.options.connect_timeout,
            scan_timeout=self.options.scan_timeout,
        )
        # SharedPort is typed for SerialLink; BleLink has the same methods (is_open, open, write,
        # read, discard_input, close, capture), which is all SharedPort and the drivers use.
        self.port = SharedPort(self.link)
        common = self.options.common()
        a5_options = {**common, "address": UART_HOST}
        modbus_options = {**common, "protocol": "auto", "registers": self.options.registers}
        if self.options.protocol in ("d2", "x81"):
            modbus_options["protocol"] = self.options.protocol
        self.a5 = _A5OverBle(dataclasses.replace(config, options=a5_options), context, self.port)
        self.modbus = _ModbusOverBle(dataclasses.replace(config, options=modbus_options), context, self.port)
        self.protocol: str | None = None  # the family in use once connected
        self.detected: str | None = None  # the family found last; kept across close() to try it first
        self.keep_alive = KeepAlive(self.link, self.options.keep_alive, self._ping) if self.options.keep_alive else None

    async def connect(self) -> None:
        """Connect and find the protocol; LinkError says whether the module was not found or silent."""
        async with self.port.exchange():
            pass  # connects: "not found" and refused connections are reported here, with the cloud hint
        wanted = self.options.protocol
        steps = PROBE_STEPS if wanted == "auto" else ("a5",) if wanted == "a5" else ("modbus",)
        # After a reconnect the family found before is tried first.
        previous = "a5" if self.detected == "a5" else "modbus" if self.detected else None
        for step in sorted(steps, key=lambda s: s != previous):
            if await self._try(step):
                break
        else:
            self.protocol = None
            await self.link.close()
            tried = "D2, 0x81 or A5" if wanted == "auto" else wanted.upper()
            raise LinkError(f"{self.options.address} connected but gave no Daly {tried} answer; {CLOUD_HINT}")
        if self.keep_alive is not None:
            self.keep_alive.start()

    async def _try(self, step: str) -> bool:
        """``modbus`` is the Modbus driver's own detection (D2, then 0x81); ``a5`` probes 0x90."""
        try:
            if step == "a5":
                await self.a5.connect()
                await self.a5.request(0x90)  # the host address is fixed (0x80), so probe explicitly
            else:
                await self.modbus.connect()
        except (LinkError, DalyProtocolError) as err:
            _LOGGER.debug("%s: no %s answer: %s", self.options.address, step, err)
            return False
        self.protocol = self.detected = "a5" if step == "a5" else self.modbus.protocol
        _LOGGER.info("BLE %s speaks the Daly %s protocol", self.options.address, self.protocol)
        return True

    @property
    def supported_controls(self) -> frozenset[str]:
        """The family's control actions (all four until the family is known)."""
        if self.protocol == "a5":
            return self.a5.supported_controls
        return self.modbus.supported_controls

    async def poll(self) -> Reading:
        """Read once; in release mode the module is disconnected afterwards for the phone app."""
        try:
            if self.protocol is None:
                await self.connect()
            driver: DalyA5Driver | DalyModbusDriver = self.a5 if self.protocol == "a5" else self.modbus
            reading = await driver.poll()
        finally:
            if self.options.release:
                await self.link.release()
        return reading

    async def control(self, action: str, value: Any) -> dict[str, Any]:
        """MOSFETs, SOC, restart through the family's own control code, confirmed by reading back."""
        try:
            if self.protocol is None:
                await self.connect()
            driver: DalyA5Driver | DalyModbusDriver = self.a5 if self.protocol == "a5" else self.modbus
            if action not in driver.supported_controls:
                raise ControlUnsupportedError(f"the Daly {self.protocol} family does not support {action!r}")
            return await driver.control(action, value)
        finally:
            if self.options.release:
                await self.link.release()

    async def _ping(self) -> None:
        """A small read in the family in use: A5 0x90, or one register of D2 / 0x81."""
        if self.protocol == "a5":
            await self.a5.request(0x90)
        elif self.protocol is not None and self.modbus.master is not None:
            await self.modbus.master.read(0x00, 1, retries=0)

    async def close(self) -> None:
        """Stop the keep-alive and disconnect."""
        if self.keep_alive is not None:
            await self.keep_alive.stop()
        await self.a5.close()
        await self.modbus.close()
        self.protocol = None
        await self.link.close()
