"""A real pymodbus server serving any map: Modbus TCP on a local port, or RTU on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from hub.faults import Fault, FaultInjector
from hub.transport.pty import PtyEndpoint
from trackingbms_modbus.device import MODBUS_FAULTS, FaultCounter, MapDevice

__all__ = ["ModbusSimulator"]

_LOGGER = logging.getLogger(__name__)


class ModbusSimulator:
    """One or more simulated units (one per slave id) behind one pymodbus server."""

    def __init__(
        self,
        devices: Sequence[MapDevice],
        transport: str = "tcp",
        host: str = "127.0.0.1",
        port: int = 0,
        link: Path | None = None,
        faults: FaultInjector | None = None,
        modbus_faults: FaultCounter | None = None,
        pace_baudrate: int | None = None,
    ) -> None:
        if not devices:
            raise ValueError("a simulator needs at least one unit")
        if transport == "rtu" and link is None:
            raise ValueError("an RTU simulator needs a link (where to put the pseudo-terminal)")
        self.devices = list(devices)
        self.transport = transport
        self.host = host
        self.port = port
        self.faults = faults or FaultInjector()
        self.modbus_faults = modbus_faults or FaultCounter()
        self.link = str(link) if transport == "rtu" else f"tcp://{host}:{port}"
        self._link_path = link
        self._pace = pace_baudrate
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self._bridge: tuple[PtyEndpoint, PtyEndpoint] | None = None
        self._stopping = asyncio.Event()
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    @property
    def device(self) -> MapDevice:
        """The first unit."""
        return self.devices[0]

    def inject(self, fault: str, times: int = -1) -> None:
        """Turn on a hub fault (asleep, late, garbage...) or a Modbus one (exception, wrong_values)."""
        if fault in MODBUS_FAULTS:
            self.modbus_faults.inject(fault, times)
        else:
            self.faults.inject(fault, times)

    async def start(self) -> None:
        """Start serving."""
        self._stopping.clear()
        for device in self.devices:
            device.sleep = self._interruptible_sleep
        sim_devices = [device.sim_device() for device in self.devices]
        if self.transport == "tcp":
            server: ModbusTcpServer | ModbusSerialServer = ModbusTcpServer(
                sim_devices, address=(self.host, self.port), trace_packet=self._trace
            )
            await server.serve_forever(background=True)
            sockets = getattr(server.transport, "sockets", None) or []  # an asyncio Server once listening
            self.port = int(sockets[0].getsockname()[1]) if sockets else self.port
            self.link = f"tcp://{self.host}:{self.port}"
        else:
            server_side = await self._open_bridge()
            # The pty carries bytes whatever the line settings; some kernels refuse parity on a pty, so 8N1.
            server = ModbusSerialServer(
                sim_devices, framer=FramerType.RTU, port=server_side, baudrate=19200, trace_packet=self._trace
            )
            await server.serve_forever(background=True)
        self._server = server
        _LOGGER.info(
            "Modbus simulator (%s) on %s, units %s", self.transport, self.link, [d.slave for d in self.devices]
        )

    async def _open_bridge(self) -> str:
        """Two pseudo-terminals joined back to back: pymodbus opens one, the driver the other (``link``)."""
        assert self._link_path is not None
        server_link = self._link_path.with_name(f".{self._link_path.name}.server")
        device_side: PtyEndpoint | None = None

        def to_device(data: bytes) -> None:
            assert device_side is not None
            if self._pace:
                self._outgoing.put_nowait(data)  # paced in order by the writer task
            else:
                device_side.write(data)

        server_end = PtyEndpoint(server_link, to_device)
        device_side = PtyEndpoint(self._link_path, server_end.write, baudrate=self._pace)
        await server_end.open()
        await device_side.open()
        self._bridge = (server_end, device_side)
        if self._pace:
            self._writer = asyncio.get_running_loop().create_task(self._write_paced(device_side))
        return str(server_link)

    async def _write_paced(self, endpoint: PtyEndpoint) -> None:
        while True:
            await endpoint.write_paced(await self._outgoing.get())

    def _trace(self, sending: bool, data: bytes) -> bytes:
        """Byte-level view of the server: silence for other units, and the line faults."""
        if not sending or not data:
            return data
        unit = data[0] if self.transport == "rtu" else (data[6] if len(data) > 6 else -1)
        if unit not in {d.slave for d in self.devices}:
            return b""  # an RS485 device never answers for another unit
        if self.faults.use(Fault.ASLEEP):
            return b""
        if self.transport != "rtu":
            return data  # checksums, junk and cut frames are serial-line faults
        frame = bytearray(data)
        if self.faults.use(Fault.BAD_CHECKSUM):
            frame[-1] ^= 0x5A
        if self.faults.use(Fault.TRUNCATED):
            frame = frame[: max(1, len(frame) * 2 // 3)]
        if self.faults.use(Fault.GARBAGE):
            frame = bytearray(self.faults.junk(7)) + frame
        return bytes(frame)

    async def _interruptible_sleep(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stopping.wait()

    async def stop(self) -> None:
        """Stop serving and remove the pseudo-terminal links."""
        self._stopping.set()
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        if self._bridge is not None:
            for endpoint in self._bridge:
                await endpoint.close()
            self._bridge = None
