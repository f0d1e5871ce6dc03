"""Serves a capture file (hub.capture JSON lines) on a pseudo-terminal: recorded requests get recorded answers."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import voluptuous as vol

from hub.capture import RX, TX, read_capture
from hub.hookspecs import hookimpl
from hub.specs import Registry, SimulatorSpec
from hub.transport.pty import PtyEndpoint

_LOGGER = logging.getLogger(__name__)
SCHEMA: dict[Any, Any] = {vol.Required("link"): str, vol.Required("file"): str}


def exchanges(path: Path) -> dict[bytes, list[bytes]]:
    """Each distinct request with the answers recorded after it, in order."""
    answers: dict[bytes, list[bytes]] = defaultdict(list)
    request, answer = b"", b""
    for record in read_capture(path):
        if record["dir"] == TX:
            if answer:
                answers[request].append(answer)
                request, answer = b"", b""
            request += record["data"]
        elif record["dir"] == RX and request:
            answer += record["data"]
    if request and answer:
        answers[request].append(answer)
    return dict(answers)


class ReplaySimulator:
    """Answers each recorded request with its recorded answers, cycling through them."""

    def __init__(self, link: Path, recorded: dict[bytes, list[bytes]]) -> None:
        if not recorded:
            raise ValueError("the capture holds no request followed by an answer")
        self.link = str(link)
        self._answers = {request: deque(answers) for request, answers in recorded.items()}
        self._longest = max(len(r) for r in recorded)
        self._buffer = bytearray()
        self._pty = PtyEndpoint(link, self._on_data)
        self.unmatched = 0

    async def start(self) -> None:
        """Open the pty and link it."""
        await self._pty.open()
        _LOGGER.info("Replaying %d distinct requests on %s", len(self._answers), self.link)

    def _on_data(self, data: bytes) -> None:
        self._buffer += data
        while self._buffer:
            request = next((r for r in self._answers if self._buffer.startswith(r)), None)
            if request is not None:
                del self._buffer[: len(request)]
                queue = self._answers[request]
                self._pty.write(queue[0])
                queue.rotate(-1)
            elif len(self._buffer) >= self._longest or not any(r.startswith(self._buffer) for r in self._answers):
                del self._buffer[0]  # a request the capture never saw: the device stays silent
                self.unmatched += 1
            else:
                return  # a known request may still be arriving

    async def stop(self) -> None:
        """Stop serving."""
        await self._pty.close()
        await asyncio.sleep(0)


def create(options: Mapping[str, Any], base_dir: Path) -> ReplaySimulator:
    """A replay simulator from a validated ``simulators`` entry."""
    link, file = Path(options["link"]), Path(options["file"])
    return ReplaySimulator(link if link.is_absolute() else base_dir / link, exchanges(file))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trackingbms simulate replay``."""
    parser.add_argument("file", help="a capture file (<data_dir>/captures/<battery>.jsonl)")
    parser.add_argument("--link", required=True, help="where to symlink the pseudo-terminal")


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map CLI options to a ``simulators`` entry."""
    return {"link": args.link, "file": args.file}


@hookimpl
def register_simulators(simulators: Registry[SimulatorSpec]) -> None:
    """The replay simulator."""
    simulators.add(
        SimulatorSpec(
            name="replay",
            description="serve a raw capture as a device",
            factory=create,
            schema=SCHEMA,
            add_arguments=add_arguments,
            options_from_args=options_from_args,
        )
    )
