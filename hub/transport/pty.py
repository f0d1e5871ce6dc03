"""Pseudo-terminals for device simulators: the slave end is linked where a driver opens it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable
from pathlib import Path


class PtyEndpoint:
    """The device side of a pseudo-terminal; a symlink at ``link`` points to the slave end."""

    def __init__(self, link: str | Path, on_data: Callable[[bytes], None], baudrate: int | None = None) -> None:
        self.link = Path(link)
        self.on_data = on_data
        # With a baud rate, writes are paced at the line rate (10 bits per byte, 8N1) like real UARTs.
        self.baudrate = baudrate
        self._master = -1
        self._slave = -1
        self._out = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def slave_name(self) -> str:
        """The /dev/pts/N path of the slave end."""
        return os.ttyname(self._slave)

    async def open(self) -> None:
        """Create the pty, make it raw, and link it at ``link`` (replacing a stale link)."""
        self._loop = asyncio.get_running_loop()
        self._master, self._slave = os.openpty()
        # Raw mode: no echo, no CR/LF translation; A5 frames contain 0x0D and 0x0A bytes.
        tty.setraw(self._slave)
        tty.setraw(self._master)
        os.set_blocking(self._master, False)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.link.with_name(f".{self.link.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(self.slave_name)
        temporary.replace(self.link)
        self._loop.add_reader(self._master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO while no process has the slave open; our own slave fd prevents most
        if data:
            self.on_data(data)

    def write(self, data: bytes) -> None:
        """Send bytes to whoever opened the slave end (unpaced)."""
        self._out += data
        self._flush()

    def _flush(self) -> None:
        assert self._loop is not None
        while self._out:
            try:
                written = os.write(self._master, self._out)
            except BlockingIOError:
                self._loop.add_writer(self._master, self._writable)
                return
            del self._out[:written]

    def _writable(self) -> None:
        assert self._loop is not None
        self._loop.remove_writer(self._master)
        self._flush()

    async def write_paced(self, data: bytes) -> None:
        """Send bytes no faster than the configured baud rate would carry them."""
        if not self.baudrate:
            self.write(data)
            return
        assert self._loop is not None
        start = self._loop.time()
        per_byte = 10.0 / self.baudrate
        for index in range(len(data)):
            self.write(data[index : index + 1])
            delay = start + (index + 1) * per_byte - self._loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    async def close(self) -> None:
        """Stop serving; remove the link if it still points at this pty."""
        if self._loop is not None and self._master >= 0:
            self._loop.remove_reader(self._master)
            self._loop.remove_writer(self._master)
        with contextlib.suppress(OSError):
            if self._slave >= 0 and os.readlink(self.link) == self.slave_name:
                self.link.unlink()
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1
