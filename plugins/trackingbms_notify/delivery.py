"""What a notifier receives (Delivery), what it must provide (Notifier) and how retries are spaced."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from hub.storage.records import OutboxItem, iso


class DeliveryError(Exception):
    """A delivery attempt failed; ``permanent`` failures are not retried (the message is dropped).

    Notifier kinds from other packages need not import this: the dispatcher reads a ``permanent``
    attribute on any exception, and treats every other exception as transient.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Delivery:
    """One alert event on its way to one notifier; ``id`` stays the same across retries and restarts."""

    id: str
    notifier: str
    event: str  # generated | reminder | acknowledged | cleared
    event_name: str  # the bus event: data.alert.generated | acknowledged | cleared
    alert: Mapping[str, Any]  # the alert event payload (docs/notifications.md, "The alert")
    locale: str
    attempt: int  # 1 for the first try
    queued_at: datetime

    @classmethod
    def from_outbox(cls, item: OutboxItem, notifier: str, locale: str) -> Delivery:
        """Rebuild a delivery from its outbox row (raises KeyError/TypeError on a malformed row)."""
        payload = item.payload
        return cls(
            id=item.key,
            notifier=notifier,
            event=str(payload["event"]),
            event_name=str(payload["event_name"]),
            alert=dict(payload["alert"]),
            locale=locale,
            attempt=item.attempts + 1,
            queued_at=item.created_at,
        )

    @property
    def alert_id(self) -> str:
        """The alert's id (its delivery history is kept under it)."""
        return str(self.alert.get("id", ""))

    @property
    def text(self) -> str:
        """The alert's one-line message in the notifier's locale (English, then any, as fallbacks)."""
        messages = self.alert.get("message") or {}
        if not isinstance(messages, Mapping):
            return str(messages)
        text = messages.get(self.locale) or messages.get("en") or next(iter(messages.values()), "")
        return str(text)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (the webhook body adds the localized text to it)."""
        return {
            "delivery_id": self.id,
            "notifier": self.notifier,
            "event": self.event,
            "event_name": self.event_name,
            "locale": self.locale,
            "queued_at": iso(self.queued_at),
            "alert": dict(self.alert),
        }


@runtime_checkable
class Notifier(Protocol):
    """What a NotifierSpec factory returns: ``send`` delivers one message or raises.

    It may also define ``async close()``, called when the hub stops or the section is reloaded.
    """

    async def send(self, delivery: Delivery) -> None:
        """Deliver once; raise (DeliveryError or any exception) on failure."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff, capped, with jitter; optional age after which a message is dropped."""

    initial_delay: float = 2.0
    max_delay: float = 300.0
    multiplier: float = 2.0
    give_up_after: float | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetryPolicy:
        """Build from a validated ``retry`` mapping."""
        keys = ("initial_delay", "max_delay", "multiplier", "give_up_after")
        return cls(**{key: config[key] for key in keys if key in config})

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        "Equal jitter": half the capped exponential delay is kept, the other half is random, so
        delays still grow while many hubs retrying one endpoint do not hit it in step.
        """
        exponent = min(max(attempt - 1, 0), 64)  # 2**64 s is far past any cap; avoids float overflow
        capped = min(self.max_delay, self.initial_delay * self.multiplier**exponent)
        return capped / 2 + rng.uniform(0, capped / 2)

    def expired(self, queued_at: datetime, now: datetime) -> bool:
        """Whether a message queued at ``queued_at`` is too old to keep trying."""
        return self.give_up_after is not None and (now - queued_at).total_seconds() > self.give_up_after
