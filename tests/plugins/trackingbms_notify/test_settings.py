"""The ``notify:`` section: defaults, clear errors, secrets, and notifier kinds from another plugin."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from trackingbms_notify.delivery import Delivery
from trackingbms_notify.plugin import dispatcher_of

from hub.config import ConfigError
from hub.core import Hub
from hub.hookspecs import hookimpl
from hub.plugins import PluginManager
from hub.registry import Health
from hub.specs import NotifierSpec, Registry
from tests.helpers import HubFactory, wait_for, write_config
from tests.plugins.trackingbms_notify.notify_helpers import HUB_HEAD, alert_event, doc_snippet, history, publish

DISABLED = ("alerts", "mqtt")  # as in HUB_HEAD: nothing else publishes alert events or needs a broker
WEBHOOK = """
notify:
  notifications:
    - name: hook
      kind: webhook
      url: https://hooks.example.com/in
      secret: twelve-chars
"""


def load(tmp_path: Path, section: str) -> dict[str, Any]:
    hub = Hub(write_config(tmp_path, HUB_HEAD + section), console_logs=False)
    data: dict[str, Any] = hub.load()
    return data


def errors(tmp_path: Path, section: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, section)
    return str(caught.value)


def test_defaults_of_an_entry(tmp_path: Path) -> None:
    entry = load(tmp_path, WEBHOOK)["notify"]["notifications"][0]
    assert entry["enabled"] is True and entry["locale"] == "en" and entry["timeout"] == 15.0
    assert entry["route"] == {
        "severities": [],
        "batteries": [],
        "sites": [],
        "clients": [],
        "tenants": [],
        "events": ["generated", "acknowledged", "cleared", "reminder"],
    }
    assert entry["retry"] == {"initial_delay": 2.0, "max_delay": 300.0, "multiplier": 2.0, "give_up_after": None}
    assert entry["headers"] == {} and entry["verify_tls"] is True
    assert load(tmp_path, "")["notify"] == {"notifications": []}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("kind: webhook", "kind: pager"), "notify.notifications[0].kind: unknown notifier kind 'pager' (available: "),
        (
            ("url: https://hooks.example.com/in", "url: ftp://x"),
            "notifications[0].url: expected an http:// or https://",
        ),
        (("secret: twelve-chars", "secret: short"), "notifications[0].secret: expected a secret of at least 8"),
        (("name: hook", "name: Hook!"), "notifications[0].name: expected a name of lower-case letters"),
        (
            ("secret: twelve-chars", "secret: twelve-chars\n      locale: de"),
            "notifications[0].locale: value must be one",
        ),
        (("secret: twelve-chars", "secret: twelve-chars\n      colour: red"), "notifications[0].colour: unknown key"),
        (
            ("secret: twelve-chars", "secret: twelve-chars\n      route:\n        severities: [urgent]"),
            "notifications[0].route.severities[0]: value must be one of",
        ),
        (
            ("secret: twelve-chars", "secret: twelve-chars\n      route:\n        events: [raised]"),
            "notifications[0].route.events[0]: value must be one of",
        ),
    ],
)
def test_bad_webhook_entries_name_the_key_and_line(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    message = errors(tmp_path, WEBHOOK.replace(*change))
    assert expected in message
    assert "trackingbms.yaml:" in message  # file and line


def test_unknown_kind_lists_the_registered_kinds(tmp_path: Path) -> None:
    message = errors(tmp_path, WEBHOOK.replace("kind: webhook", "kind: pager"))
    assert "(available: email, sms, webhook)" in message


def test_duplicate_names_and_missing_kind_keys(tmp_path: Path) -> None:
    twice = WEBHOOK + "    - name: hook\n      kind: email\n      host: mail\n      from: a@b.c\n      to: [d@e.f]\n"
    assert "notify.notifications[1].name: duplicate notifier name 'hook'" in errors(tmp_path, twice)
    email = "\nnotify:\n  notifications:\n    - name: mail\n      kind: email\n      from: a@b.c\n      to: [x]\n"
    message = errors(tmp_path, email)
    assert "notifications[0].host: required key not provided" in message
    assert "notifications[0].to[0]: expected an email address" in message
    sms = "\nnotify:\n  notifications:\n    - name: text\n      kind: sms\n      from: '+1'\n      to: ['+2']\n"
    assert "notifications[0].account_sid: required key not provided" in errors(tmp_path, sms)


def test_email_credentials_go_together_and_templates_must_compile(tmp_path: Path) -> None:
    email = "\nnotify:\n  notifications:\n    - name: mail\n      kind: email\n      host: mail\n"
    email += "      from: a@b.c\n      to: [d@e.f]\n"
    assert "username and password go together" in errors(tmp_path, email + "      username: me\n")
    assert "security: value must be one of" in errors(tmp_path, email + "      security: ssl\n")
    message = errors(tmp_path, email + "      subject: '{{{{ alert.battery_name '\n")  # "{{" once formatted
    assert "notifications[0].subject: template error:" in message
    entry = load(tmp_path, email + "      security: tls\n")["notify"]["notifications"][0]
    assert entry["security"] == "tls" and "port" not in entry  # 465 is chosen by the notifier


async def test_secrets_and_environment_variables(
    start_hub: HubFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secrets.yaml").write_text("hook_secret: from-the-secrets-file\n", encoding="utf-8")
    monkeypatch.setenv("HOOK_HOST", "hooks.example.org")
    section = WEBHOOK.replace("secret: twelve-chars", "secret: !secret hook_secret").replace(
        "hooks.example.com",
        "${{HOOK_HOST}}",  # doubled braces: write_config formats the text
    )
    hub = await start_hub(HUB_HEAD + section)
    dispatcher = dispatcher_of(hub)
    assert dispatcher is not None
    notifier: Any = dispatcher.channels["hook"].notifier
    assert notifier.secret == "from-the-secrets-file" and notifier.url == "https://hooks.example.org/in"
    # As written (what GET /api/v1/core/config/notify shows), the secret stays a reference.
    written = hub.config.section_as_written("notify")["notifications"][0]
    assert written["secret"] == "!secret hook_secret" and written["url"] == "https://${HOOK_HOST}/in"


def test_the_documented_example_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secrets.yaml").write_text("smtp_password: pw\nwebhook_secret: a-long-secret\n", encoding="utf-8")
    monkeypatch.setenv("TWILIO_TOKEN", "token")
    example = doc_snippet("example-config", "yaml").replace("{", "{{").replace("}", "}}")
    entries = load(tmp_path, "\n" + example)["notify"]["notifications"]
    assert [(e["name"], e["kind"]) for e in entries] == [
        ("installer-mail", "email"),
        ("owner-sms", "sms"),
        ("ops-webhook", "webhook"),
    ]
    assert entries[0]["password"] == "pw" and entries[1]["auth_token"] == "token"
    assert entries[2]["secret"] == "a-long-secret" and entries[1]["route"]["severities"] == ["critical"]


class Pager:
    """A notifier kind from another plugin: records what it is given."""

    sent: list[tuple[str, Delivery]] = []

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.channel = str(config["channel"])

    async def send(self, delivery: Delivery) -> None:
        if delivery.alert["severity"] == "info":
            raise ValueError("pager refuses info")  # any exception is a transient failure
        Pager.sent.append((self.channel, delivery))


class PagerPlugin:
    @hookimpl
    def register_notifiers(self, notifiers: Registry[NotifierSpec]) -> None:
        notifiers.add(NotifierSpec("pager", Pager, schema={vol.Required("channel"): str}, description="test"))


def manager_with_pager() -> PluginManager:
    plugins = PluginManager()
    plugins.discover(DISABLED)
    plugins.register(PagerPlugin(), "pager")  # after every built-in plugin, "notify" included
    return plugins


PAGER = """
notify:
  notifications:
    - name: oncall
      kind: pager
      channel: night-shift
      locale: fr
      retry:
        initial_delay: 0.05
        max_delay: 0.1
"""


async def test_a_kind_registered_by_another_plugin_is_validated_and_used(start_hub: HubFactory, tmp_path: Path) -> None:
    hub = Hub(write_config(tmp_path, HUB_HEAD + PAGER.replace("      channel: night-shift\n", "")), console_logs=False)
    hub.plugins = manager_with_pager()
    hub.config.plugins = hub.plugins
    with pytest.raises(ConfigError, match=r"notifications\[0\]\.channel: required key not provided"):
        hub.load(discover=False)

    Pager.sent.clear()
    running = await start_hub(HUB_HEAD + PAGER, plugins=manager_with_pager())
    payload = await publish(running, alert_event())
    await wait_for(lambda: Pager.sent)
    channel, delivery = Pager.sent[0]
    assert channel == "night-shift" and delivery.locale == "fr" and delivery.alert == payload
    assert delivery.text == payload["message"]["fr"] and delivery.attempt == 1
    refused = await publish(running, alert_event(severity="info"))

    async def failed() -> bool:
        return any(e["kind"] == "delivery_failed" for e in await history(running, refused))

    await wait_for(failed)
    service = running.registry.get("notifier.oncall")
    assert service is not None and service.health == Health.DEGRADED and "pager refuses info" in str(service.reason)


class Broken:
    def __init__(self, config: Mapping[str, Any]) -> None:
        pass  # no send(): not a notifier


async def test_a_notifier_that_cannot_be_built_fails_alone(start_hub: HubFactory) -> None:
    class BrokenPlugin:
        @hookimpl
        def register_notifiers(self, notifiers: Registry[NotifierSpec]) -> None:
            notifiers.add(NotifierSpec("broken", Broken))

    plugins = PluginManager()
    plugins.discover(DISABLED)
    plugins.register(BrokenPlugin(), "broken")
    section = WEBHOOK + "    - name: bad\n      kind: broken\n"
    hub = await start_hub(HUB_HEAD + section, plugins=plugins)
    bad, good = hub.registry.get("notifier.bad"), hub.registry.get("notifier.hook")
    assert bad is not None and bad.health == Health.FAILED and "without send(delivery)" in str(bad.reason)
    assert good is not None and good.health == Health.OK
    plugin = hub.registry.get("plugin.notify")
    assert plugin is not None and plugin.health == Health.OK
