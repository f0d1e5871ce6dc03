"""The SMS notifier: a Twilio-compatible HTTP gateway (Messages resource of the 2010-04-01 API)."""

from __future__ import annotations

import base64
import collections
import json
from collections.abc import Mapping
from typing import Any

import aiohttp
import voluptuous as vol

from hub.specs import NotifierSpec
from trackingbms_notify.delivery import Delivery, DeliveryError
from trackingbms_notify.gsm import fit_sms
from trackingbms_notify.messages import one_line, render, render_user, template_text
from trackingbms_notify.webhook import http_url

DEFAULT_BASE_URL = "https://api.twilio.com"
# Twilio answers 429 when rate limited; 408 is a timeout. Other 4xx mean the request itself is
# wrong (bad number, unverified sender...) and will fail the same way again.
_TRANSIENT_4XX = frozenset({408, 429})
_REMEMBERED = 10_000  # (delivery, number) pairs already sent, so a retry skips them

SCHEMA: dict[Any, Any] = {
    vol.Optional("base_url", default=DEFAULT_BASE_URL): http_url,
    vol.Required("account_sid"): vol.All(str, vol.Length(min=1)),
    vol.Required("auth_token"): vol.All(str, vol.Length(min=1)),
    vol.Required("from"): vol.All(str, vol.Length(min=1)),
    vol.Required("to"): vol.All([vol.All(str, vol.Length(min=1))], vol.Length(min=1)),
    # Optional jinja2 template of the text (default: templates/line.<locale>.txt).
    vol.Optional("template"): template_text,
}


class SmsNotifier:
    """One POST per recipient: {base_url}/2010-04-01/Accounts/{sid}/Messages.json, form From/To/Body."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        sid = config["account_sid"]
        self.url = f"{config['base_url'].rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
        # HTTP basic auth with the account SID as user name and the auth token as password (Twilio's
        # API docs); the header is built here (RFC 7617) as aiohttp's BasicAuth helper is deprecated.
        credentials = base64.b64encode(f"{sid}:{config['auth_token']}".encode()).decode("ascii")
        self.headers = {"Authorization": f"Basic {credentials}", "Accept": "application/json"}
        self.sender: str = config["from"]
        self.recipients: list[str] = list(config["to"])
        self.template: str | None = config.get("template")
        self._sent: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()
        self._session: aiohttp.ClientSession | None = None

    def text(self, delivery: Delivery) -> str:
        """The message, on one line, trimmed to one SMS."""
        raw = render_user(self.template, delivery) if self.template else render("line", delivery)
        return fit_sms(one_line(raw))

    async def send(self, delivery: Delivery) -> None:
        """Send to every recipient not reached yet; transient errors win over permanent ones."""
        text = self.text(delivery)
        errors: list[DeliveryError] = []
        for number in self.recipients:
            if (delivery.id, number) in self._sent:
                continue
            try:
                await self._post(number, text)
            except DeliveryError as err:
                errors.append(err)
                continue
            self._remember(delivery.id, number)
        if errors:
            permanent = all(err.permanent for err in errors)
            raise DeliveryError("; ".join(str(err) for err in errors), permanent=permanent)

    async def _post(self, number: str, text: str) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        form = {"From": self.sender, "To": number, "Body": text}
        try:
            async with self._session.post(self.url, data=form, headers=self.headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:  # 201 Created with the message resource
                    return
                detail = await _error_detail(response)
        except aiohttp.ClientError as err:
            raise DeliveryError(f"{number}: {type(err).__name__}: {err}") from err
        permanent = 400 <= response.status < 500 and response.status not in _TRANSIENT_4XX
        raise DeliveryError(f"{number}: HTTP {response.status}{detail}", permanent=permanent)

    def _remember(self, delivery_id: str, number: str) -> None:
        self._sent[(delivery_id, number)] = None
        while len(self._sent) > _REMEMBERED:
            self._sent.popitem(last=False)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _error_detail(response: aiohttp.ClientResponse) -> str:
    """Twilio's error body is JSON with ``code`` and ``message``; anything else is shown briefly."""
    text = await response.text(errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "message" in data:
        code = f" (code {data['code']})" if data.get("code") is not None else ""
        return f": {data['message']}{code}"
    return f": {one_line(text[:200])}" if text.strip() else ""


def spec() -> NotifierSpec:
    """The ``sms`` kind."""
    return NotifierSpec(
        name="sms",
        factory=SmsNotifier,
        schema=SCHEMA,
        description="SMS through a Twilio-compatible HTTP gateway",
    )
