"""The email notifier: one multipart message (text + HTML) per alert event, sent with aiosmtplib."""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import voluptuous as vol

from hub.specs import NotifierSpec
from trackingbms_notify.delivery import Delivery, DeliveryError
from trackingbms_notify.messages import one_line, render, render_user, template_text

# Submission ports by security mode: 587 with STARTTLS (RFC 6409), 465 implicit TLS (RFC 8314), 25 plain.
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_ADDRESS = vol.Match(r"^[^@\s<>]+@[^@\s<>]+$", msg="expected an email address such as ops@example.com")

SCHEMA: dict[Any, Any] = {
    vol.Required("host"): vol.All(str, vol.Length(min=1)),
    vol.Optional("port"): vol.All(vol.Coerce(int), vol.Range(min=1, max=65535)),
    vol.Optional("security", default="starttls"): vol.In(list(DEFAULT_PORTS)),
    vol.Inclusive("username", "credentials", msg="username and password go together"): str,
    vol.Inclusive("password", "credentials", msg="username and password go together"): str,
    vol.Required("from"): _ADDRESS,
    vol.Required("to"): vol.All([_ADDRESS], vol.Length(min=1)),
    # A jinja2 template; default: templates/subject.<locale>.txt.
    vol.Optional("subject"): template_text,
    vol.Optional("verify_tls", default=True): vol.Boolean(),
    # A PEM file of CA certificates to trust for this server (a private CA, a self-signed server).
    vol.Optional("ca_file"): str,
}


class EmailNotifier:
    """Sends through one SMTP server; SMTP 5xx answers (other than authentication) are permanent."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.security: str = config["security"]
        self.port: int = config.get("port") or DEFAULT_PORTS[self.security]

    def message(self, delivery: Delivery) -> EmailMessage:
        """The message: plain text first, then the HTML alternative."""
        subject = self.config.get("subject")
        message = EmailMessage()
        message["Subject"] = one_line(render_user(subject, delivery) if subject else render("subject", delivery))
        message["From"] = self.config["from"]
        message["To"] = ", ".join(self.config["to"])
        message["Date"] = email.utils.formatdate(usegmt=True)
        # The same Message-ID on every retry lets mail systems drop a duplicate.
        message["Message-ID"] = f"<{delivery.id}@trackingbms>"
        message["X-TrackingBMS-Delivery"] = delivery.id
        message["X-TrackingBMS-Event"] = delivery.event
        message.set_content(render("email", delivery))
        message.add_alternative(render("email", delivery, "html"), subtype="html")
        # After the parts: set_content() and add_alternative() move Content-* headers into the parts.
        message["Content-Language"] = delivery.locale
        return message

    async def send(self, delivery: Delivery) -> None:
        """Send once."""
        config = self.config
        try:
            await aiosmtplib.send(
                self.message(delivery),
                hostname=config["host"],
                port=self.port,
                username=config.get("username"),
                password=config.get("password"),
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",  # True: refuse to send if the server has no STARTTLS
                validate_certs=config["verify_tls"],
                cert_bundle=config.get("ca_file"),
                timeout=config.get("timeout", 30.0),
            )
        except aiosmtplib.SMTPAuthenticationError as err:
            # Retried: once the password is fixed and the section reloaded, the queue goes out.
            raise DeliveryError(f"SMTP authentication failed: {err.code} {err.message}") from err
        except aiosmtplib.SMTPRecipientsRefused as err:
            codes = [refused.code for refused in err.recipients]
            raise DeliveryError(f"SMTP recipients refused: {err}", permanent=all(c >= 500 for c in codes)) from err
        except aiosmtplib.SMTPResponseException as err:
            raise DeliveryError(f"SMTP {err.code} {err.message}", permanent=err.code >= 500) from err
        except (aiosmtplib.SMTPException, OSError) as err:
            raise DeliveryError(f"{type(err).__name__}: {err}") from err


def spec() -> NotifierSpec:
    """The ``email`` kind."""
    return NotifierSpec(
        name="email",
        factory=EmailNotifier,
        schema=SCHEMA,
        description="email (text and HTML) through an SMTP server, STARTTLS or TLS",
    )
