"""The broker connection: connects, publishes the outbox, receives, and reconnects with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiomqtt

from hub.registry import Health
from trackingbms_mqtt.outbox import Outbox, OutMessage
from trackingbms_mqtt.settings import MqttSettings
from trackingbms_mqtt.topics import OFFLINE, ONLINE, Topics

_LOGGER = logging.getLogger(__name__)
Reporter = Callable[[Health, str | None], None]
# Sessions shorter than this keep the backoff growing: a broker that accepts then drops us (a duplicate
# client id, an ACL refusal) is not hammered once per reconnect_min.
STABLE_AFTER = 30.0


def client_options(settings: MqttSettings, topics: Topics) -> dict[str, Any]:
    """Keyword arguments of ``aiomqtt.Client`` for these settings (Last Will: retained ``offline`` status)."""
    tls = settings.uses_tls
    assert settings.host is not None
    return {
        "hostname": settings.host,
        "port": settings.port,
        "username": settings.username,
        "password": settings.password,
        "identifier": settings.client_id or f"trackingbms-{settings.node}",
        "keepalive": settings.keepalive,
        "will": aiomqtt.Will(topics.status, OFFLINE, qos=settings.qos, retain=True),
        # aiomqtt loads certificates in its connect executor, off the event loop.
        "tls_params": aiomqtt.TLSParameters(settings.ca_file, settings.cert_file, settings.key_file) if tls else None,
        "tls_insecure": settings.tls_insecure if tls else None,
        "max_queued_incoming_messages": 1000,
    }


class BrokerLink:
    """One task that keeps a session with the broker while the bridge runs."""

    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        outbox: Outbox,
        subscriptions: Sequence[str],
        on_connect: Callable[[], None],
        on_message: Callable[[aiomqtt.Message], None],
        report: Reporter,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.outbox = outbox
        self.subscriptions = tuple(subscriptions)
        self._on_connect = on_connect
        self._on_message = on_message
        self._report = report
        self.connected = False
        self.connects = 0
        self.published = 0
        self.last_error: str | None = None
        self.retry_in: float | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start connecting in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mqtt.link")

    async def stop(self) -> None:
        """Send what is queued and a retained ``offline`` status, disconnect cleanly; give up after the timeout."""
        task, self._task = self._task, None
        if task is None:
            return
        if self.connected:
            self._closing = True
            self.outbox.put(OutMessage(self.topics.status, OFFLINE, retain=True, qos=self.settings.qos))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), self.settings.stop_timeout)
        self._closing = True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.settings.reconnect_min
        while not self._closing:
            started: float | None = None
            error = "session ended"
            try:
                async with aiomqtt.Client(**client_options(self.settings, self.topics)) as client:
                    started = loop.time()
                    await self._session(client)
            except aiomqtt.MqttError as err:
                error = str(err) or type(err).__name__
            except Exception as err:  # contained: the bridge must outlive any surprise from the client
                _LOGGER.exception("MQTT session with %s failed", self.settings.broker)
                error = f"{type(err).__name__}: {err}"
            finally:
                self.connected = False
            if self._closing:
                return
            if started is not None and loop.time() - started >= STABLE_AFTER:
                delay = self.settings.reconnect_min  # a session that lasted: retry soon
            self._down(error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.reconnect_max)

    def _down(self, error: str, delay: float) -> None:
        self.last_error, self.retry_in = error, delay
        _LOGGER.warning("MQTT broker %s: %s (retrying in %.1f s)", self.settings.broker, error, delay)
        self._report(Health.DEGRADED, f"broker {self.settings.broker} unreachable: {error}")

    async def _session(self, client: aiomqtt.Client) -> None:
        self.connected, self.retry_in = True, None
        self.connects += 1
        qos = self.settings.qos
        await client.publish(self.topics.status, ONLINE, qos=qos, retain=True)
        for topic in self.subscriptions:
            await client.subscribe(topic, qos=qos)
        _LOGGER.info("MQTT connected to %s (base topic %s)", self.settings.broker, self.topics.base)
        self._report(Health.OK, None)
        self._on_connect()
        tasks = [asyncio.create_task(self._send(client)), asyncio.create_task(self._receive(client))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # re-raise the MqttError that ended the session

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            key, message = await self.outbox.get()
            try:
                await client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
            except BaseException:
                self.outbox.requeue(key, message)  # sent again after reconnecting
                raise
            self.published += 1
            if self._closing and not len(self.outbox):
                return  # the final offline status went out: end the session cleanly

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                self._on_message(message)
            except Exception:
                _LOGGER.exception("Handling the MQTT message on %s failed", message.topic)
