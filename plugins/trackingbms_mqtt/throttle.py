"""Per-topic publish throttle: at most one message per interval, and the latest held back is sent at its end."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from typing import Any

Emit = Callable[[str, dict[str, Any]], None]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def to_json(payload: Any) -> str:
    """Compact JSON; a NaN or infinity (not JSON) becomes null."""
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(payload), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Throttle:
    """Limits how often a topic is published; ``interval`` 0 passes every message through."""

    def __init__(self, interval: float, emit: Emit) -> None:
        self.interval = interval
        self._emit = emit
        self._last: dict[str, float] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def offer(self, topic: str, payload: dict[str, Any]) -> None:
        """Publish now if the topic's interval has passed, else keep it as the one to send when it does."""
        if self.interval <= 0:
            self._emit(topic, payload)
            return
        loop = asyncio.get_running_loop()
        now, last = loop.time(), self._last.get(topic)
        if last is None or now - last >= self.interval:
            self._last[topic] = now
            self._emit(topic, payload)
            return
        self._pending[topic] = payload
        if topic not in self._timers:
            self._timers[topic] = loop.call_later(last + self.interval - now, self._release, topic)

    def _release(self, topic: str) -> None:
        self._timers.pop(topic, None)
        payload = self._pending.pop(topic, None)
        if payload is not None:
            self._last[topic] = asyncio.get_running_loop().time()
            self._emit(topic, payload)

    def close(self) -> None:
        """Send what is held back now and stop the timers."""
        for topic in list(self._timers):
            self._timers.pop(topic).cancel()
            payload = self._pending.pop(topic, None)
            if payload is not None:
                self._emit(topic, payload)
