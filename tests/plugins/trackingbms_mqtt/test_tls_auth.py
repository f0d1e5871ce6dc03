"""TLS with a private CA and username/password, against a private Mosquitto configured for both."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import aiomqtt

from hub.core import Hub
from hub.registry import Health
from tests.helpers import SIMULATED_CONFIG, HubFactory, wait_for
from tests.plugins.trackingbms_mqtt.conftest import mqtt_section
from tests.plugins.trackingbms_mqtt.mqtt_helpers import Mosquitto, free_port, require

USER, PASSWORD = "bms", "s3cret"


async def run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await process.communicate()
    assert process.returncode == 0, errors.decode()


async def make_certificates(directory: Path) -> None:
    """A throw-away CA and a server certificate for 127.0.0.1 (EC keys: quick to make)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    ca, key, csr, crt = (str(directory / n) for n in ("ca.crt", "ca.key", "server.csr", "server.crt"))
    await run("openssl", "req", "-x509", *ec, "-keyout", key, "-out", ca, "-days", "2", "-subj", "/CN=Test CA")
    server_key = str(directory / "server.key")
    await run("openssl", "req", *ec, "-keyout", server_key, "-out", csr, "-subj", "/CN=127.0.0.1")
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n", encoding="utf-8")
    await run(
        "openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", key, "-CAcreateserial", "-out", crt,
        "-days", "2", "-extfile", str(directory / "san.cnf"),
    )  # fmt: skip
    await run("mosquitto_passwd", "-b", "-c", str(directory / "passwd"), USER, PASSWORD)


def health(hub: Hub) -> Health | None:
    service = hub.registry.get("plugin.mqtt")
    return service.health if service is not None else None


async def test_tls_and_credentials(start_hub: HubFactory, tmp_path: Path) -> None:
    tools = all(shutil.which(t) for t in ("mosquitto", "mosquitto_passwd", "openssl"))
    require(tools, "mosquitto, mosquitto_passwd or openssl is not installed")
    await make_certificates(tmp_path)
    port, base = free_port(), f"tbms-test-{uuid.uuid4().hex[:12]}"
    files = [f"password_file {tmp_path / 'passwd'}"]
    files += [
        f"{k} {tmp_path / v}" for k, v in (("cafile", "ca.crt"), ("certfile", "server.crt"), ("keyfile", "server.key"))
    ]
    broker = Mosquitto(tmp_path, port, files, anonymous=False)
    await broker.start()
    tls = f"ca_file: {tmp_path / 'ca.crt'}\nusername: {USER}"
    try:
        refused = await start_hub(
            SIMULATED_CONFIG + mqtt_section(f"{base}-x", f"ha-{base}", port=port, extra=f"{tls}\npassword: wrong")
        )
        await wait_for(lambda: health(refused) == Health.DEGRADED)
        service = refused.registry.get("plugin.mqtt")
        assert service is not None and "authori" in (service.reason or "").lower()
        await refused.stop()

        hub = await start_hub(
            SIMULATED_CONFIG + mqtt_section(base, f"ha-{base}", port=port, extra=f"{tls}\npassword: {PASSWORD}")
        )
        await wait_for(lambda: health(hub) == Health.OK)
        params = aiomqtt.TLSParameters(ca_certs=str(tmp_path / "ca.crt"))
        async with aiomqtt.Client("127.0.0.1", port, username=USER, password=PASSWORD, tls_params=params) as client:
            await client.subscribe(f"{base}/one/state", qos=1)
            async with asyncio.timeout(20):
                message = await anext(aiter(client.messages))
        assert str(message.topic) == f"{base}/one/state" and b'"battery_id":"one"' in bytes(message.payload)
    finally:
        await broker.stop()
