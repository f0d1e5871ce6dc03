"""The webhook notifier: a signed JSON POST per alert event (HMAC-SHA256 over "<timestamp>.<body>")."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import voluptuous as vol

from hub.specs import NotifierSpec
from trackingbms_notify.delivery import Delivery, DeliveryError
from trackingbms_notify.messages import one_line, render

SIGNATURE_HEADER = "X-TrackingBMS-Signature"
TIMESTAMP_HEADER = "X-TrackingBMS-Timestamp"
DELIVERY_HEADER = "X-TrackingBMS-Delivery"
EVENT_HEADER = "X-TrackingBMS-Event"
USER_AGENT = "TrackingBMS-Webhook/1"


def http_url(value: Any) -> str:
    """Config validator: an http:// or https:// URL with a host."""
    text = str(value)
    try:
        url = vol.Url()(text)
    except vol.Invalid as err:
        raise vol.Invalid("expected an http:// or https:// URL") from err
    if not str(url).lower().startswith(("http://", "https://")):
        raise vol.Invalid("expected an http:// or https:// URL")
    return text


SCHEMA: dict[Any, Any] = {
    vol.Required("url"): http_url,
    vol.Required("secret"): vol.All(str, vol.Length(min=8, msg="expected a secret of at least 8 characters")),
    vol.Optional("headers", default={}): {str: vol.Coerce(str)},
    vol.Optional("verify_tls", default=True): vol.Boolean(),
}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value: "sha256=" + hex HMAC-SHA256 of "<timestamp>.<body>"."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def body(delivery: Delivery) -> bytes:
    """The JSON body: the same bytes on every attempt (sorted keys), so retries are identical."""
    payload = {**delivery.to_dict(), "text": one_line(render("line", delivery))}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class WebhookNotifier:
    """POSTs each delivery; any answer but 2xx (or no answer) is a failure the dispatcher retries."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.url: str = config["url"]
        self.secret: str = config["secret"]
        self.headers: dict[str, str] = dict(config.get("headers", {}))
        self.verify_tls: bool = config.get("verify_tls", True)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        return self._session

    def request_headers(self, delivery: Delivery, data: bytes, timestamp: str) -> dict[str, str]:
        """Headers of one attempt: a fresh timestamp and signature, the same delivery id."""
        return {
            **self.headers,
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, data),
            DELIVERY_HEADER: delivery.id,
            EVENT_HEADER: delivery.event,
        }

    async def send(self, delivery: Delivery) -> None:
        """POST once; raises DeliveryError (transient) unless the endpoint answers 2xx."""
        data = body(delivery)
        headers = self.request_headers(delivery, data, str(int(time.time())))
        try:
            # No redirects: following one would turn the POST into a GET or resend the body elsewhere.
            async with self._client().post(
                self.url, data=data, headers=headers, allow_redirects=False, ssl=self.verify_tls
            ) as response:
                if 200 <= response.status < 300:
                    return
                detail = one_line((await response.text(errors="replace"))[:200])
        except aiohttp.ClientError as err:
            raise DeliveryError(f"{type(err).__name__}: {err}") from err
        # Every status is retried, 4xx included: a receiver fixed later (a secret, a route) gets the backlog in order.
        raise DeliveryError(f"HTTP {response.status}" + (f": {detail}" if detail else ""))

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def spec() -> NotifierSpec:
    """The ``webhook`` kind."""
    return NotifierSpec(
        name="webhook",
        factory=WebhookNotifier,
        schema=SCHEMA,
        description="signed JSON POST (HMAC-SHA256), persisted outbox, in-order retries",
    )
