"""Daly A5 driver over a serial port: request/answer with retries, address probing, reading assembly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.capture import Capture
from hub.reading import BatteryState, Reading, Temperature, TemperatureKind, utc_now
from hub.specs import BatteryConfig, ControlError, ControlUnsupportedError, DataError, DriverContext, LinkError
from hub.transport.link import ByteLink
from hub.transport.shared import SharedPort
from trackingbms_daly.a5 import codec
from trackingbms_daly.a5.framing import A5Frame, A5Framer, build_frame
from trackingbms_daly.errors import DalyProtocolError

_LOGGER = logging.getLogger(__name__)

# Host addresses per daly.md §1.3: 0x40 is what RS485 ports answer, 0x80 the UART/Bluetooth path.
RS485_HOST = 0x40
UART_HOST = 0x80
PROBE_ORDER = (RS485_HOST, UART_HOST)  # mr-manuel probes 0x40 then 0x80 (daly.md §1.3)
# A quiet gap this long after the last byte ends a multi-frame answer (daly.md §1.5: ~100-200 ms).
QUIET_GAP = 0.15
_STATES = {0: BatteryState.IDLE, 1: BatteryState.CHARGING, 2: BatteryState.DISCHARGING}
# Above this current the BMS's own charge/discharge byte decides the sign (daly.md §1.8).
SIGN_DETECT_MIN_A = 1.0
LAYOUT_REFRESH = 60.0  # seconds between 0x94 reads
MAX_AUTO_GAP = 0.15  # Daly2MQTT's 150 ms, the longest gap the sources use (daly.md §1.7)


@dataclass(frozen=True, slots=True)
class DalyOptions:
    """The driver's validated options (see trackingbms_daly.plugin.BATTERY_SCHEMA)."""

    port: str
    address: int | None  # None probes 0x40 then 0x80
    board: int = 1
    baudrate: int = 9600
    timeout: float = 0.5
    retries: int = 2
    request_gap: float | None = None  # None adapts between 0 and MAX_AUTO_GAP
    current_sign: str = "auto"
    sync_fill: bool = False
    rated_capacity_ah: float | None = None
    capture: bool = False

    @classmethod
    def from_config(cls, options: Mapping[str, Any], data_dir: Path) -> DalyOptions:
        """Build from a battery entry; a relative port is relative to the data directory."""
        port = str(options["port"])
        if "://" not in port and not Path(port).is_absolute():
            port = str(data_dir / port)
        address = options.get("address", "auto")
        return cls(
            port=port,
            address=None if address == "auto" else int(address),
            board=int(options.get("board", 1)),
            baudrate=int(options.get("baudrate", 9600)),
            timeout=float(options.get("timeout", 0.5)),
            retries=int(options.get("retries", 2)),
            request_gap=None if options.get("request_gap", "auto") == "auto" else float(options["request_gap"]),
            current_sign=str(options.get("current_sign", "auto")),
            sync_fill=bool(options.get("sync_fill", False)),
            rated_capacity_ah=options.get("rated_capacity_ah"),
            capture=bool(options.get("capture", False)),
        )


class DalyA5Driver:
    """Reads one Daly board with the A5 protocol."""

    supported_controls = frozenset({"charge_mos", "discharge_mos", "soc", "restart"})

    def __init__(self, config: BatteryConfig, context: DriverContext) -> None:
        self.config = config
        self.context = context
        self.options = DalyOptions.from_config(config.options, context.data_dir)
        self.port: SharedPort | None = None
        self.capture: Capture | None = None
        self.framer = A5Framer()
        self.host_address: int | None = self.options.address
        self.layout: codec.StatusInfo | None = None  # last good 0x94; it sometimes fails (daly.md §1.5)
        self.charge_positive_on_wire = self.options.current_sign != "discharge_positive"
        self.rated_capacity_ah = self.options.rated_capacity_ah
        self._rated_tried = False
        self._clean_exchanges = 0
        self._layout_at = 0.0

    async def connect(self) -> None:
        """Open the port and find the host address the BMS answers to."""
        if self.port is None:
            # Boards on one RS485 port share it; the port serialises their exchanges.
            self.port = self.context.ports.acquire(
                self.options.port, self.options.baudrate, self.options.request_gap or 0.0
            )
            if self.options.capture and self.port.link.capture is None:
                # Everything on this port (shared by its batteries), so a bug report can be replayed.
                self.capture = Capture(self.context.data_dir / "captures" / f"{self.config.id}.jsonl")
                self.port.link.capture = self.capture.record
        async with self.port.exchange():
            pass  # opens the port, so a missing device is reported as such
        if self.options.address is not None:
            self.host_address = self.options.address
            return
        for candidate in PROBE_ORDER:
            self.host_address = candidate
            try:
                await self.request(0x90)
            except LinkError:
                continue
            _LOGGER.info("%s answers to host address 0x%02X", self.options.port, candidate)
            return
        self.host_address = None
        raise LinkError(f"no Daly A5 answer on {self.options.port} at host address 0x40 or 0x80")

    async def close(self) -> None:
        """Release the port (closed when its last battery goes)."""
        if self.port is not None:
            if self.capture is not None:
                self.port.link.capture = None
                self.capture.close()
                self.capture = None
            self.port = None
            await self.context.ports.release(self.options.port)

    @property
    def request_address(self) -> int:
        """The address byte of requests: 0x3F + board on RS485 multi-drop (daly.md §1.3)."""
        assert self.host_address is not None
        if self.host_address == RS485_HOST:
            return 0x3F + self.options.board
        return self.host_address

    async def request(self, data_id: int, frames: int | None = None, data: bytes | None = None) -> dict[int, A5Frame]:
        """Send one request and collect its answer, with retries.

        A single-frame answer comes back as ``{1: frame}``. With ``frames`` set, the answer is
        multi-frame and keyed by frame number; it is complete when frames 1..frames arrived.
        """
        # mr-manuel fills with 0xAA "to allow the daly's weak uart to sync better" (daly.md §1.2).
        fill = bytes([0xAA] * 8) if self.options.sync_fill else bytes(8)
        request = build_frame(self.request_address, data_id, fill if data is None else data)
        if self.port is None:
            raise LinkError(f"{self.options.port} is not connected")
        for attempt in range(self.options.retries + 1):
            async with self.port.exchange() as link:
                link.discard_input()  # late answers to earlier requests (daly.md §1.5)
                self.framer.reset()
                link.write(request)
                answer = await self._collect(link, data_id, frames)
            if answer:
                self._adapt_gap(success=True)
                return answer
            self._adapt_gap(success=False)
            _LOGGER.debug("No answer to 0x%02X (try %d)", data_id, attempt + 1)
        raise LinkError(f"no answer to 0x{data_id:02X} after {self.options.retries + 1} tries")

    async def _collect(self, link: ByteLink, data_id: int, frames: int | None) -> dict[int, A5Frame]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout
        answer: dict[int, A5Frame] = {}
        while not _complete(answer, frames):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            chunk = await link.read(min(remaining, QUIET_GAP) if answer else remaining)
            for frame in self.framer.feed(chunk) if chunk else self.framer.flush():
                if not self._wanted(frame, data_id):
                    continue
                if frames is None:
                    answer.setdefault(1, frame)
                else:
                    # Multi-frame answers are keyed by frame number, not arrival order (§1.5).
                    answer.setdefault(frame.data[0], frame)
            if not chunk and answer:
                break  # a quiet gap after some frames: the device has finished
        return answer

    def _adapt_gap(self, success: bool) -> None:
        """Auto gap: none while the board keeps up, longer after a missed answer.

        Sources disagree on the pause a Daly UART needs between requests (daly.md §1.7: none in
        python-daly-bms, 20 ms mr-manuel, 150 ms Daly2MQTT); this finds the board's own need.
        """
        if self.options.request_gap is not None or self.port is None:
            return
        if not success:
            self.port.gap = min(MAX_AUTO_GAP, max(0.01, self.port.floor, self.port.gap * 2))
            self._clean_exchanges = 0
            return
        self._clean_exchanges += 1
        if self._clean_exchanges >= 100 and self.port.gap > 0:
            halved = self.port.gap / 2 if self.port.gap > 0.005 else 0.0
            self.port.gap = max(self.port.floor, halved)
            self._clean_exchanges = 0

    def _wanted(self, frame: A5Frame, data_id: int) -> bool:
        # Our own echo (RS485 adapters without echo suppression) carries the host address (§1.3).
        return frame.address == self.options.board and frame.data_id == data_id

    async def poll(self) -> Reading:
        """Read every status command and assemble one reading."""
        if self.host_address is None:
            await self.connect()
        try:
            return await self._read_all()
        except DalyProtocolError as err:
            raise DataError(str(err)) from err

    async def _read_all(self) -> Reading:
        layout = await self._layout()
        pack = codec.decode_pack_status(await self._single(0x90))
        mosfet = codec.decode_mosfet_status(await self._single(0x93))
        cells = await self._cells(layout.cell_count)
        temperatures = await self._temperatures(layout.temperature_count)
        balancing = await self._optional(0x97, lambda d: codec.decode_balancing(d, layout.cell_count))
        alarms = await self._optional(0x98, codec.decode_failures)
        await self._rated_capacity()
        return Reading(
            battery_id=self.config.id,
            voltage=round(pack.voltage, 2),
            current=round(self._signed_current(pack.current, mosfet.state), 2),
            soc=pack.soc,
            cells=cells,
            temperatures=tuple(
                Temperature(value, TemperatureKind.CELL, index)
                for index, value in enumerate(temperatures, start=1)
                if value is not None
            ),
            charge_mos=mosfet.charge_mos,
            discharge_mos=mosfet.discharge_mos,
            balancing=balancing or (),
            state=_STATES.get(mosfet.state),
            cycles=layout.cycles,
            remaining_capacity_ah=mosfet.remaining_capacity_mah / 1000,
            rated_capacity_ah=self.rated_capacity_ah,
            alarms=alarms or (),
        ).with_derived()

    async def _single(self, data_id: int) -> bytes:
        return (await self.request(data_id))[1].data

    async def _layout(self) -> codec.StatusInfo:
        # Cell and sensor counts never change and cycles rarely do: refresh 0x94 once a minute.
        now = asyncio.get_running_loop().time()
        if self.layout is not None and now - self._layout_at < LAYOUT_REFRESH:
            return self.layout
        try:
            self.layout = codec.decode_status_info(await self._single(0x94))
            self._layout_at = now
        except (LinkError, DalyProtocolError) as err:
            if self.layout is None:
                raise LinkError(f"no status information (0x94): {err}") from err
        assert self.layout is not None
        return self.layout

    async def _cells(self, count: int) -> tuple[float, ...]:
        if count == 0:
            return ()
        frames = await self.request(0x95, frames=math.ceil(count / 3))
        try:
            cells = codec.assemble_cells({n: codec.decode_cell_frame(f.data)[1] for n, f in frames.items()}, count)
        except DalyProtocolError as err:
            raise DataError(f"cell voltages: {err}") from err
        # "current daly firmware sends corrupted cells volts data occasionally" (daly.md §4.3).
        if any(not 0.5 <= v <= 5.0 for v in cells):
            raise DataError(f"implausible cell voltages {cells}")
        return cells

    async def _temperatures(self, count: int) -> tuple[float | None, ...]:
        if count == 0:
            return ()
        frames = await self.request(0x96, frames=math.ceil(count / 7))
        try:
            return codec.assemble_temperatures(
                {n: codec.decode_temperature_frame(f.data)[1] for n, f in frames.items()}, count
            )
        except DalyProtocolError as err:
            raise DataError(f"temperatures: {err}") from err

    async def _optional(self, data_id: int, decode: Any) -> Any:
        """Commands whose loss should not cost the whole reading (balancing, failures)."""
        try:
            return decode(await self._single(data_id))
        except (LinkError, DalyProtocolError) as err:
            _LOGGER.debug("0x%02X unavailable: %s", data_id, err)
            return None

    async def _rated_capacity(self) -> None:
        if self.rated_capacity_ah is None and not self._rated_tried:
            self._rated_tried = True  # 0x50 is not on every firmware (daly.md §1.4, medium confidence)
            result = await self._optional(0x50, codec.decode_rated_capacity)
            if result:
                self.rated_capacity_ah = result[0]

    async def control(self, action: str, value: Any) -> dict[str, Any]:
        """Write one control action and confirm it by reading back (daly.md §1.6)."""
        if self.host_address is None:
            await self.connect()
        try:
            if action in ("charge_mos", "discharge_mos"):
                return await self._switch_mos(action == "charge_mos", bool(value))
            if action == "soc":
                return await self._set_soc(float(value))
            if action == "restart":
                return await self._restart()
        except DalyProtocolError as err:
            raise ControlError(f"the BMS's answer was unusable: {err}") from err
        raise ControlUnsupportedError(f"unknown action {action!r}")

    async def _switch_mos(self, charge: bool, on: bool) -> dict[str, Any]:
        command = A5Frame.parse(codec.build_mosfet_command(self.request_address, charge, on))
        echo = (await self.request(command.data_id, data=command.data))[1].data[0]
        if echo != int(on):
            raise ControlError(f"the BMS answered state {echo}, not {int(on)}")
        await asyncio.sleep(0.02)  # mr-manuel waits 20 ms before reading back (daly.md §1.6)
        status = codec.decode_mosfet_status(await self._single(0x93))
        actual = status.charge_mos if charge else status.discharge_mos
        result = {"requested": on, "read_back": actual, "confirmed": actual == on}
        if actual != on:
            # batmon-ha: 0x93 may not show a user-commanded discharge-off (daly.md §1.4, §4.9).
            raise ControlError(f"read back {'on' if actual else 'off'} after switching {'on' if on else 'off'}")
        return result

    async def _set_soc(self, soc: float) -> dict[str, Any]:
        command = A5Frame.parse(codec.build_set_soc_command(self.request_address, soc, utc_now()))
        await self.request(0x21, data=command.data)
        await asyncio.sleep(0.02)
        read_back = codec.decode_pack_status(await self._single(0x90)).soc
        if abs(read_back - soc) > 0.5:
            raise ControlError(f"SOC read back {read_back} % after setting {soc} %")
        return {"requested": soc, "read_back": read_back, "confirmed": True}

    async def _restart(self) -> dict[str, Any]:
        command = A5Frame.parse(codec.build_restart_command(self.request_address))
        # The answer to 0x00 is undocumented (daly.md §1.6); the board may just reboot.
        with contextlib.suppress(LinkError):
            await self.request(0x00, data=command.data)
        await asyncio.sleep(1.0)
        await self._single(0x90)  # answering again confirms the restart finished
        return {"requested": None, "read_back": "answering", "confirmed": True}

    def _signed_current(self, wire_current: float, state: int) -> float:
        """Current positive while charging, whatever the firmware's convention (daly.md §1.8)."""
        if self.options.current_sign == "auto" and abs(wire_current) > SIGN_DETECT_MIN_A and state in (1, 2):
            learned = (state == 1) == (wire_current > 0)
            if learned != self.charge_positive_on_wire:
                _LOGGER.info(
                    "%s: current sign detected as %s-positive on the wire",
                    self.config.id,
                    "charge" if learned else "discharge",
                )
                self.charge_positive_on_wire = learned
        return wire_current if self.charge_positive_on_wire else -wire_current


def _complete(answer: dict[int, A5Frame], frames: int | None) -> bool:
    if frames is None:
        return bool(answer)
    return all(number in answer for number in range(1, frames + 1))
