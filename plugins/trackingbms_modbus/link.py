"""Modbus links over pymodbus async clients, shared by every battery on the same serial port or TCP gateway."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from hub.specs import DataError, LinkError
from trackingbms_modbus.regmap.model import Function

__all__ = ["EXCEPTION_NAMES", "LinkSettings", "ModbusExceptionError", "ModbusLink", "acquire_link", "release_link"]

# pymodbus logs every unanswered request at ERROR; a sleeping BMS would flood the hub's log with them.
# The driver reports link problems itself; `logging: {levels: {pymodbus: DEBUG}}` brings them back.
if logging.getLogger("pymodbus").level == logging.NOTSET:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

# Modbus application protocol spec v1.1b3 §7; Seplos V0.3 §2.8 lists the same codes.
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "slave device failure",
    5: "acknowledge",
    6: "slave device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
_BUSY = (5, 6)  # worth asking again after the gap


class ModbusExceptionError(DataError):
    """The device answered a read with a Modbus exception response."""

    def __init__(self, function: int, code: int, address: int, count: int) -> None:
        self.function = function
        self.code = code
        name = EXCEPTION_NAMES.get(code, "unknown exception")
        super().__init__(f"exception {code:02X} ({name}) reading FC{function:02d} {address:#06x}+{count}")


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Where and how to talk: a serial port with its line settings, or a TCP host and port."""

    transport: str = "rtu"
    port: str = ""
    host: str = ""
    tcp_port: int = 502
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1

    @property
    def key(self) -> str:
        """Batteries with the same key share one client."""
        return f"tcp://{self.host}:{self.tcp_port}" if self.transport == "tcp" else f"rtu://{self.port}"

    def describe(self) -> str:
        """``/dev/ttyUSB0 19200 8N1`` or ``tcp://192.0.2.10:502``."""
        if self.transport == "tcp":
            return self.key
        return f"{self.port} {self.baudrate} {self.bytesize}{self.parity}{self.stopbits}"


Client = AsyncModbusSerialClient | AsyncModbusTcpClient


class ModbusLink:
    """One pymodbus client; one request at a time, with a pause between an answer and the next request."""

    def __init__(self, settings: LinkSettings, timeout: float, gap: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self.gap = gap
        self.users = 0
        self.requests = 0
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self._last_answer = 0.0

    def _new_client(self) -> Client:
        # retries=0 and reconnect_delay=0: the driver retries and reconnects itself, paced by the gap.
        s = self.settings
        if s.transport == "tcp":
            return AsyncModbusTcpClient(s.host, port=s.tcp_port, timeout=self.timeout, retries=0, reconnect_delay=0)
        return AsyncModbusSerialClient(
            s.port,
            baudrate=s.baudrate,
            bytesize=s.bytesize,
            parity=s.parity,
            stopbits=s.stopbits,
            timeout=self.timeout,
            retries=0,
            reconnect_delay=0,
        )

    @property
    def connected(self) -> bool:
        """Whether the client holds an open port or connection."""
        return self._client is not None and self._client.connected

    async def open(self) -> None:
        """Open the port or connection if needed; raises LinkError."""
        async with self._lock:
            await self._ensure_open()

    async def _ensure_open(self) -> Client:
        if self._client is not None and self._client.connected:
            return self._client
        if self._client is None:
            self._client = self._new_client()
        if not await self._client.connect():
            self._drop()
            raise LinkError(f"cannot open {self.settings.describe()}")
        return self._client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def close(self) -> None:
        """Close the port or connection."""
        async with self._lock:
            self._drop()

    async def read(
        self, function: Function, address: int, count: int, slave: int, retries: int
    ) -> list[int] | list[bool]:
        """Read ``count`` registers (or bits); LinkError when silent, ModbusExceptionError on an exception."""
        async with self._lock:
            error = "no answer"
            for _ in range(retries + 1):
                await self._pace()
                try:
                    response = await self._request(function, address, count, slave)
                except LinkError as err:
                    error = str(err)
                    continue
                finally:
                    self._last_answer = asyncio.get_running_loop().time()
                if response.isError():
                    code = int(getattr(response, "exception_code", 0))
                    if code in _BUSY:
                        error = EXCEPTION_NAMES[code]
                        continue
                    raise ModbusExceptionError(int(function), code, address, count)
                data = _payload(function, response, count)
                if data is not None:
                    return data
                error = f"short answer to FC{int(function):02d} {address:#06x}+{count}"
            raise LinkError(f"unit {slave} on {self.settings.describe()}: {error}")

    async def _pace(self) -> None:
        wait = self._last_answer + self.gap - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _request(self, function: Function, address: int, count: int, slave: int) -> ModbusPDU:
        client = await self._ensure_open()
        self.requests += 1
        call = {
            Function.COILS: client.read_coils,
            Function.DISCRETE_INPUTS: client.read_discrete_inputs,
            Function.HOLDING: client.read_holding_registers,
            Function.INPUT: client.read_input_registers,
        }[function]
        try:
            # pymodbus applies its own timeout; this outer one only guards against a lost wake-up.
            async with asyncio.timeout(self.timeout * 2 + 1.0):
                return await call(address, count=count, device_id=slave)
        except (ModbusException, TimeoutError, OSError) as err:
            if not client.connected:
                self._drop()
            raise LinkError(f"{type(err).__name__}: {err}") from err


def _payload(function: Function, response: ModbusPDU, count: int) -> list[int] | list[bool] | None:
    if function.is_bits:
        bits: Sequence[bool] = response.bits
        return [bool(b) for b in bits[:count]] if len(bits) >= count else None
    registers: Sequence[int] = response.registers
    return [int(r) for r in registers] if len(registers) == count else None


# One table of links per hub (DriverContext.ports is per hub); weak so a stopped hub's table goes away.
_LINKS: weakref.WeakKeyDictionary[object, dict[str, ModbusLink]] = weakref.WeakKeyDictionary()


def acquire_link(owner: object, settings: LinkSettings, timeout: float, gap: float) -> ModbusLink:
    """The shared link for ``settings``; raises LinkError if the port is already open with other line settings."""
    links = _LINKS.setdefault(owner, {})
    link = links.get(settings.key)
    if link is None:
        link = links[settings.key] = ModbusLink(settings, timeout, gap)
    elif link.settings != settings:
        raise LinkError(
            f"{settings.key} is already in use at {link.settings.describe()}; this battery asks {settings.describe()}"
        )
    link.gap = max(link.gap, gap)
    link.timeout = max(link.timeout, timeout)  # a new client (after a reconnect) uses the longest timeout
    link.users += 1
    return link


async def release_link(owner: object, link: ModbusLink) -> None:
    """Drop one user; the last one closes the port."""
    link.users -= 1
    if link.users > 0:
        return
    links = _LINKS.get(owner, {})
    if links.get(link.settings.key) is link:
        del links[link.settings.key]
    await link.close()
