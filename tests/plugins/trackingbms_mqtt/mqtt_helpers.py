"""Test helpers: a recording MQTT subscriber, retained-topic snapshots and cleanup, private Mosquitto brokers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.helpers import IN_CI, wait_for

BROKER_HOST, BROKER_PORT = "127.0.0.1", 1883


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections there."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1.0):
        return True
    return False


def require(condition: bool, what: str) -> None:
    """Fail under CI=true, else skip, when a service the test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} (CI=true: this service is required)")
    pytest.skip(f"{what}; set CI=true to make this a failure")


def free_port() -> int:
    """A TCP port nothing listens on (closed right away)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Received:
    """One message a watcher received."""

    topic: str
    payload: bytes
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode()

    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    """An MQTT client that records every message under some topic filters."""

    def __init__(self, host: str = BROKER_HOST, port: int = BROKER_PORT) -> None:
        self.host, self.port = host, port
        self.messages: list[Received] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self, filters: Sequence[str]) -> None:
        """Subscribe in the background; returns once subscribed."""
        self._task = asyncio.create_task(self._run(filters))
        await asyncio.wait_for(self._ready.wait(), 15)

    async def _run(self, filters: Sequence[str]) -> None:
        async with aiomqtt.Client(self.host, self.port) as client:
            for topic in filters:
                await client.subscribe(topic, qos=1)
            self._ready.set()
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                self.messages.append(Received(str(message.topic), payload, bool(message.retain)))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def on(self, topic: str) -> list[Received]:
        """Messages received on a topic, oldest first."""
        return [m for m in self.messages if m.topic == topic]

    def last(self, topic: str) -> Received | None:
        found = self.on(topic)
        return found[-1] if found else None

    async def wait(
        self,
        topic: str,
        check: Callable[[Received], bool] = lambda m: True,
        *,
        after: int = 0,
        timeout: float = 20,  # noqa: ASYNC109
    ) -> Received:
        """The first message on the topic, past the first ``after`` ones, that passes the check."""

        def found() -> Received | None:
            return next((m for m in self.on(topic)[after:] if check(m)), None)

        result: Received = await wait_for(found, timeout=timeout)
        return result


async def retained(filters: Sequence[str], host: str = BROKER_HOST, port: int = BROKER_PORT) -> dict[str, bytes]:
    """The retained messages under some filters, read by a fresh subscriber.

    The broker sends retained messages when it handles the SUBSCRIBE, so a marker published after the
    SUBACK arrives after all of them: no guessing how long to listen.
    """
    marker = f"tbms-test-marker/{uuid.uuid4().hex}"
    found: dict[str, bytes] = {}
    async with aiomqtt.Client(host, port) as client:
        for topic in filters:
            await client.subscribe(topic, qos=1)
        await client.subscribe(marker, qos=1)
        await client.publish(marker, b"end", qos=1)
        async with asyncio.timeout(15):
            async for message in client.messages:
                if str(message.topic) == marker:
                    break
                if message.retain:
                    payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                    found[str(message.topic)] = payload
    return found


async def retained_when(
    filters: Sequence[str], check: Callable[[dict[str, bytes]], bool], port: int = BROKER_PORT
) -> dict[str, bytes]:
    """The retained messages, once they pass the check (asked again until they do)."""

    async def snapshot() -> dict[str, bytes] | None:
        found = await retained(filters, port=port)
        return found if check(found) else None

    result: dict[str, bytes] = await wait_for(snapshot, timeout=30, interval=0.2)
    return result


async def clear_retained(filters: Sequence[str], host: str = BROKER_HOST, port: int = BROKER_PORT) -> int:
    """Delete every retained message under the filters (an empty retained payload deletes one)."""
    topics = await retained(filters, host, port)
    async with aiomqtt.Client(host, port) as client:
        for topic in topics:
            await client.publish(topic, b"", qos=1, retain=True)
    return len(topics)


async def publish(topic: str, payload: bytes | str, *, retain: bool = False, port: int = BROKER_PORT) -> None:
    """Publish one message as an outside client (Home Assistant, a user)."""
    async with aiomqtt.Client(BROKER_HOST, port) as client:
        await client.publish(topic, payload, qos=1, retain=retain)


class Mosquitto:
    """A private broker on its own port, started and killed by the test (the outage tests)."""

    def __init__(self, directory: Path, port: int, extra: Sequence[str] = (), anonymous: bool = True) -> None:
        self.directory, self.port, self.extra, self.anonymous = directory, port, tuple(extra), anonymous
        self.process: asyncio.subprocess.Process | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("mosquitto") is not None

    async def start(self) -> None:
        config = self.directory / f"mosquitto-{self.port}.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {str(self.anonymous).lower()}",
            "persistence false",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to "mosquitto", who cannot read the test's private files
        lines += self.extra
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.process = await asyncio.create_subprocess_exec(
            "mosquitto", "-c", str(config), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        await wait_for(self._listening, timeout=15)

    async def _listening(self) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self.process = None
