"""Serial link over pyserial-asyncio-fast: buffered, timed reads; never line-based."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import serial
import serial_asyncio_fast

from hub.specs import LinkError


class SerialLink(asyncio.Protocol):
    """A serial port (or pyserial URL) as a byte stream with timed reads."""

    def __init__(self, url: str, baudrate: int = 9600, **serial_options: Any) -> None:
        self.url = url
        self.baudrate = baudrate
        self.serial_options = serial_options
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._data_ready = asyncio.Event()
        self._lost: Exception | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        # Optional raw capture: called with ("tx" | "rx", bytes) for everything on the wire.
        self.capture: Callable[[str, bytes], None] | None = None

    @property
    def is_open(self) -> bool:
        """True while the port is open and the connection was not lost."""
        return self._transport is not None and self._lost is None

    async def open(self) -> None:
        """Open the port (the blocking open runs in an executor); raises LinkError."""
        loop = asyncio.get_running_loop()
        self._lost = None
        try:
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                loop, lambda: self, self.url, baudrate=self.baudrate, **self.serial_options
            )
        except (serial.SerialException, OSError, ValueError) as err:
            raise LinkError(f"cannot open {self.url}: {err}") from err
        # connection_made() runs on a later loop iteration; the port is usable now.
        self._transport = transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if self.capture is not None:
            self.capture("rx", data)
        self._buffer += data
        self._data_ready.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or LinkError("port closed")
        self._transport = None
        self._data_ready.set()

    def write(self, data: bytes) -> None:
        """Queue bytes for sending; raises LinkError if the port is gone."""
        if not self.is_open or self._transport is None:
            raise LinkError(f"{self.url} is not open")
        self.bytes_out += len(data)
        if self.capture is not None:
            self.capture("tx", data)
        self._transport.write(data)

    def discard_input(self) -> bytes:
        """Drop (and return) unread bytes, e.g. late answers to an earlier request."""
        stale = bytes(self._buffer)
        self._buffer.clear()
        self._data_ready.clear()
        return stale

    async def read(self, timeout: float) -> bytes:  # noqa: ASYNC109 - a timed read is the point
        """Whatever arrived, waiting up to ``timeout`` for the first byte; b'' on timeout."""
        if not self._buffer:
            if self._lost is not None:
                raise LinkError(f"{self.url} was lost: {self._lost}")
            self._data_ready.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel at the deadline.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._data_ready.wait()
            if not self._buffer and self._lost is not None:
                raise LinkError(f"{self.url} was lost: {self._lost}")
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    async def close(self) -> None:
        """Close the port."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            await asyncio.sleep(0)  # let the transport run its close callbacks
