"""SMS against a real HTTP server speaking the Twilio Messages API: auth, form fields, trimming, errors."""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from hub.registry import Health
from tests.helpers import HubFactory, wait_for
from tests.plugins.trackingbms_notify.conftest import ReceiverFactory
from tests.plugins.trackingbms_notify.notify_helpers import HUB_HEAD, Request, alert_event, history, publish

SID, TOKEN = "AC0123456789abcdef0123456789abcdef", "token-for-tests"
PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


def config(base_url: str, locale: str = "en", to: tuple[str, ...] = ("+33612345678", "+33698765432")) -> str:
    numbers = "".join(f"\n        - '{number}'" for number in to)
    return (
        HUB_HEAD
        + f"""
notify:
  notifications:
    - name: sms
      kind: sms
      locale: {locale}
      base_url: {base_url}
      account_sid: {SID}
      auth_token: {TOKEN}
      from: "+15005550006"
      to:{numbers}
      retry:
        initial_delay: 0.05
        max_delay: 0.2
"""
    )


async def gateway(request: Request) -> web.StreamResponse:
    """Answers like Twilio: 401 without the account's credentials, 201 with the message resource."""
    expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    if request.headers.get("Authorization") != expected:
        return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
    return web.json_response({"sid": "SM" + "0" * 32, "status": "queued", "body": request.form["Body"]}, status=201)


async def test_one_post_per_recipient_with_basic_auth_and_form(
    start_hub: HubFactory, receivers: ReceiverFactory
) -> None:
    receiver = await receivers(gateway)
    hub = await start_hub(config(receiver.url + "/"))  # a trailing slash in base_url is fine
    payload = await publish(hub, alert_event())
    await wait_for(lambda: len(receiver.completed) == 2)
    assert [r.path for r in receiver.requests] == [PATH, PATH]
    assert [r.form["To"] for r in receiver.requests] == ["+33612345678", "+33698765432"]
    for request in receiver.requests:
        assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
        assert request.form["From"] == "+15005550006"
        assert request.form["Body"] == "CRITICAL Alert raised - Pack one: Cell 3 at 3.66 V, above 3.65 V"
    await wait_for(lambda: hub.registry.get("notifier.sms").health == Health.OK)  # type: ignore[union-attr]
    assert [e["kind"] for e in await history(hub, payload)] == ["notified"]


async def test_long_messages_are_trimmed_to_one_sms(start_hub: HubFactory, receivers: ReceiverFactory) -> None:
    receiver = await receivers(gateway)
    hub = await start_hub(config(receiver.url, to=("+33612345678",)))
    gsm = "Cell voltages " + "high and rising " * 20  # GSM-7 only: 160 characters
    await publish(hub, alert_event(message={"en": gsm}))
    # "°" and "ê" are not in the GSM alphabet: UCS-2, 70 characters.
    ucs2 = "Température 58 °C, arrêt de la charge " * 4
    await publish(hub, alert_event(message={"en": ucs2}))
    await wait_for(lambda: len(receiver.completed) == 2)
    first, second = (r.form["Body"] for r in receiver.requests)
    assert len(first) == 160 and first.endswith("...") and first.startswith("CRITICAL Alert raised - Pack one: Cell")
    assert len(second) == 70 and second.endswith("…") and "°C" in second


async def test_rejected_request_is_permanent_and_a_server_error_is_retried_for_that_recipient_only(
    start_hub: HubFactory, receivers: ReceiverFactory
) -> None:
    failures = {"+33698765432": [500]}  # the second number fails once with a server error

    async def flaky(request: Request) -> web.StreamResponse:
        queue = failures.get(request.form["To"], [])
        if queue:
            return web.json_response({"message": "busy", "status": queue[0]}, status=queue.pop(0))
        return await gateway(request)

    receiver = await receivers(flaky)
    hub = await start_hub(config(receiver.url))
    payload = await publish(hub, alert_event())
    await wait_for(lambda: len(receiver.completed) == 3)
    assert [r.form["To"] for r in receiver.requests] == ["+33612345678", "+33698765432", "+33698765432"]
    await wait_for(lambda: _kinds(hub, payload, ["delivery_failed", "notified"]))

    # A wrong number: Twilio answers 400 with code 21211; it is not retried.
    failures["+33612345678"] = [400]
    bad = await publish(hub, alert_event())

    async def dropped() -> list[dict[str, Any]]:
        return [e for e in await history(hub, bad) if e["kind"] == "delivery_failed"]

    entries = await wait_for(dropped)
    assert len(entries) == 1 and entries[0]["final"] is True and "HTTP 400" in entries[0]["error"]
    service = hub.registry.get("notifier.sms")
    assert service is not None and service.health == Health.FAILED and "HTTP 400: busy" in str(service.reason)
    assert [json.loads(json.dumps(r.form))["To"] for r in receiver.requests[3:]] == ["+33612345678", "+33698765432"]


async def _kinds(hub: Any, payload: dict[str, Any], expected: list[str]) -> bool:
    return [e["kind"] for e in await history(hub, payload)] == expected


async def test_wrong_credentials_show_in_health(start_hub: HubFactory, receivers: ReceiverFactory) -> None:
    receiver = await receivers(gateway)
    hub = await start_hub(config(receiver.url).replace(TOKEN, "not-the-token"))
    await publish(hub, alert_event())

    def failed() -> bool:
        service = hub.registry.get("notifier.sms")
        return service is not None and service.health == Health.FAILED

    await wait_for(failed)
    assert "HTTP 401: Authenticate (code 20003)" in str(hub.registry.get("notifier.sms").reason)  # type: ignore[union-attr]
