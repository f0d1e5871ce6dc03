"""Helpers for the edge/central tests: hubs in their own directories and a link that can be cut."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from hub.core import Hub
from tests.helpers import SIMULATED_CONFIG, write_config


def uplink_section(port: int, base: str, extra: str = "") -> str:
    lines = [
        "uplink:",
        "  host: 127.0.0.1",
        f"  port: {port}",
        f"  base_topic: {base}",
        "  reconnect_min: 0.1",
        "  reconnect_max: 0.5",
    ]
    lines += [f"  {line}" for line in extra.strip("\n").splitlines() if line.strip()]
    return "\n" + "\n".join(lines) + "\n"


CENTRAL = """
hub:
  data_dir: {data_dir}
  role: central
http:
  port: 0
logging:
  file: null
"""
EDGE = SIMULATED_CONFIG.replace("  data_dir: {data_dir}\n", "  data_dir: {data_dir}\n  role: edge\n")


async def start_hub(directory: Path, text: str) -> Hub:
    """A hub with its config and data under ``directory`` (several hubs run in one test)."""
    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240  (a test directory, before the hub runs)
    hub = Hub(write_config(directory, text), console_logs=False)
    hub.load()
    await hub.start()
    return hub


class CuttableLink:
    """A TCP relay from a local port to the broker: ``cut()`` drops every connection and refuses
    new ones (the edge's network is down), ``restore()`` lets them through again."""

    def __init__(self, listen_port: int, target_port: int) -> None:
        self.listen_port, self.target_port = listen_port, target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.listen_port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self._writers.discard(writer)
            with contextlib.suppress(OSError):
                await writer.wait_closed()
