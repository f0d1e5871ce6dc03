"""Email against a real SMTP server (aiosmtpd): text and HTML parts, French, STARTTLS and TLS with AUTH."""

from __future__ import annotations

import asyncio
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from hub.registry import Health
from tests.helpers import HubFactory, wait_for
from tests.plugins.trackingbms_notify.conftest import SmtpFactory
from tests.plugins.trackingbms_notify.notify_helpers import ACK, HUB_HEAD, alert_event, later, publish

USER, PASSWORD = "alerts@example.com", "correct horse"


def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


async def self_signed(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate for 127.0.0.1 made with the openssl command, and a server context using it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    process = await asyncio.create_subprocess_exec(
        *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
        *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await process.wait() == 0
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


def config(port: int, extra: str = "", locale: str = "en") -> str:
    return (
        HUB_HEAD
        + f"""
notify:
  notifications:
    - name: mail
      kind: email
      locale: {locale}
      host: 127.0.0.1
      port: {port}
      from: alerts@example.com
      to:
        - owner@example.com
        - installer@example.com
      retry:
        initial_delay: 0.05
        max_delay: 0.2
{extra}"""
    )


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


async def test_english_message_with_text_and_html_parts(start_hub: HubFactory, smtp: SmtpFactory) -> None:
    inbox, port = await smtp()
    hub = await start_hub(config(port, "      security: none\n"))
    payload = await publish(hub, alert_event(site_id="north", client_path=["acme", "acme-n"]))
    await wait_for(lambda: inbox.envelopes)
    envelope, message = inbox.envelopes[0], inbox.messages()[0]
    assert envelope.mail_from == "alerts@example.com"
    assert envelope.rcpt_tos == ["owner@example.com", "installer@example.com"]
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "[TrackingBMS] CRITICAL - Alert raised - Pack one: Cell 3 at 3.66 V, above 3.65 V"
    assert message["Content-Language"] == "en"
    assert message["Message-ID"] == f"<{message['X-TrackingBMS-Delivery']}@trackingbms>"
    text, html = parts(message)
    for expected in ("Alert raised: Cell 3 at 3.66 V", "Battery:      Pack one (one)", "Client:       acme / acme-n"):
        assert expected in text
    assert "Value:        3.66 V" in text and "Threshold:    3.65 V" in text
    assert "Raised:       2026-05-01 12:00:00 UTC" in text and payload["id"] in text
    assert '<html lang="en">' in html and "<td>3.66 V</td>" in html and "<td>north</td>" in html


async def test_french_locale_and_acknowledgement(start_hub: HubFactory, smtp: SmtpFactory) -> None:
    inbox, port = await smtp()
    hub = await start_hub(config(port, "      security: none\n", locale="fr"))
    raised = alert_event(comment=None)
    acked = later(raised, state="acknowledged", acknowledged_at="2026-05-01T12:05:00Z", acknowledged_by="ann")
    acked["comment"] = "<on it> & more"
    await publish(hub, raised)
    await publish(hub, acked, ACK)
    await wait_for(lambda: len(inbox.envelopes) == 2)
    first, second = inbox.messages()
    assert first["Subject"] == (
        "[TrackingBMS] CRITIQUE - Alerte déclenchée - Pack one : Cellule 3 à 3,66 V, au-dessus de 3,65 V"
    )
    assert second["Subject"].startswith("[TrackingBMS] CRITIQUE - Alerte acquittée - Pack one :")
    text, html = parts(second)
    assert (
        "Batterie :     Pack one (one)" in text and "Valeur :       3,66 V" in text and "Seuil :        3,65 V" in text
    )
    assert "Déclenchée :   01/05/2026 12:00:00 UTC" in text
    assert "Acquittée :    01/05/2026 12:05:00 UTC par ann" in text
    assert '<html lang="fr">' in html and "<td>3,66 V</td>" in html
    assert "&lt;on it&gt; &amp; more" in html and "<on it>" not in html  # HTML is escaped


@pytest.mark.parametrize("security", ["starttls", "tls"])
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_encrypted_and_authenticated(
    start_hub: HubFactory, smtp: SmtpFactory, tmp_path: Path, security: str
) -> None:
    cert, context = await self_signed(tmp_path)
    auth = {"authenticator": authenticate, "auth_required": True}
    if security == "starttls":
        tls: dict[str, Any] = {"tls_context": context, "require_starttls": True}
    else:
        # aiosmtpd only counts a STARTTLS upgrade as TLS for AUTH; this connection is TLS from the start.
        tls = {"ssl_context": context, "auth_require_tls": False}
    inbox, port = await smtp(**auth, **tls)
    extra = f"      security: {security}\n      ca_file: {cert}\n      username: {USER}\n      password: {PASSWORD}\n"
    hub = await start_hub(config(port, extra))
    await publish(hub, alert_event())
    await wait_for(lambda: inbox.envelopes)
    assert inbox.messages()[0]["Subject"].startswith("[TrackingBMS] CRITICAL")


async def test_wrong_password_is_retried_and_shown_in_health(
    start_hub: HubFactory, smtp: SmtpFactory, tmp_path: Path
) -> None:
    cert, context = await self_signed(tmp_path)
    _, port = await smtp(authenticator=authenticate, auth_required=True, tls_context=context, require_starttls=True)
    extra = f"      ca_file: {cert}\n      username: {USER}\n      password: wrong\n"
    hub = await start_hub(config(port, extra))
    await publish(hub, alert_event())

    def degraded() -> bool:
        service = hub.registry.get("notifier.mail")
        return service is not None and service.health == Health.DEGRADED

    await wait_for(degraded)
    reason = hub.registry.get("notifier.mail").reason  # type: ignore[union-attr]
    assert reason is not None and "authentication failed" in reason and "535" in reason
