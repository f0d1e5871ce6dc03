"""schemathesis against the OpenAPI document of a running hub: no 5xx, answers that match the schema."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import SIMULATED_CONFIG, HubFactory
from tests.hub.web.tenant_helpers import access_token

ADMIN_PASSWORD = "schemathesis admin password"
# Enough to reach every branch of the validators (missing keys, wrong types, bounds) once or twice
# per operation while the whole run stays well under three minutes on a loaded 2-core machine.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "12"))
# Valid requests (the handlers' answers must match the document) and invalid ones (the validation
# must answer 422, never 500).
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# What cannot be exercised safely against the hub the test itself depends on:
EXCLUDED = {
    # revokes the session of the very token every other request uses
    ("POST", "/api/v1/auth/logout"),
    # a WebSocket upgrade, not a request/response exchange schemathesis can validate
    ("GET", "/api/v1/stream"),
    # rewrites the running hub's config file: a valid random change could switch auth off or
    # move the listening port under the test
    ("PUT", "/api/v1/core/config/{module}"),
    # restarts services (storage, HTTP) in the middle of the run
    ("POST", "/api/v1/core/services/reload"),
    # control writes to a battery (a register write on real hardware)
    ("POST", "/api/v1/bms/configure/{id}"),
    # opens arbitrary serial/BLE/TCP ports named by the generated body, and adds them to the config
    ("POST", "/api/v1/bms/connect"),
    ("POST", "/api/v1/bms/transmitter/pair"),
    # a Bluetooth scan blocks for its generated timeout on the radio of the machine
    ("GET", "/api/v1/bms/transmitters"),
}

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(autouse=True)
def admin_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """First start creates the system administrator ``admin`` with this password."""
    monkeypatch.setenv("TRACKINGBMS_ADMIN_PASSWORD", ADMIN_PASSWORD)


def _config() -> str:
    """The simulated batteries, login required, no rate limit (hundreds of requests in a row)."""
    base = SIMULATED_CONFIG.replace("http:\n  port: 0\n", "http:\n  port: 0\n  rate_limit:\n    enabled: false\n")
    return base.replace("level: DEBUG", "level: INFO") + "auth:\n  required: true\n  access_ttl: 3600\n"


def _fuzz(operation: Any, base_url: str, headers: dict[str, str], mode: GenerationMode) -> str | None:
    """Run the bounded, derandomized examples of one operation; the failure text, if any."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=60)

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE, f"{operation.method} {operation.path}: no valid request"
        return None  # nothing can be invalid in a request without parameters or body (or any string)
    except (Exception, FailureGroup) as err:  # every failure of every operation is reported together
        return f"{operation.method.upper()} {operation.path} ({mode.value}): {err}"
    return None


def _fuzz_all(document: dict[str, Any], base_url: str, token: str) -> tuple[list[str], int]:
    """Fuzz every operation not excluded (in a worker thread: schemathesis calls are blocking)."""
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    count = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an invalid operation: {result.err()}"
        operation = result.ok()
        if (operation.method.upper(), operation.path) in EXCLUDED:
            continue
        count += 1
        for mode in MODES:
            failure = _fuzz(operation, base_url, headers, mode)
            if failure is not None:
                failures.append(failure)
    return failures, count


def misplaced_lengths(schema: Any, where: str = "") -> list[str]:
    """Places where an array is limited by a string's length keywords (which validators ignore)."""
    found = []
    if isinstance(schema, dict):
        if schema.get("type") == "array" and ({"minLength", "maxLength"} & schema.keys()):
            found.append(where)
        for key, value in schema.items():
            found += misplaced_lengths(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += misplaced_lengths(value, f"{where}/{index}")
    return found


async def test_the_api_conforms_to_its_openapi_document(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(_config())
    admin = await access_token(http, hub, "admin", ADMIN_PASSWORD)
    # A tenant user goes through other code paths (resource checks, filtered lists) than the
    # system administrator.
    grants = [{"node_type": "tenant", "node_id": "default", "role": "owner"}]
    body = {"username": "owner", "password": ADMIN_PASSWORD, "grants": grants}
    async with http.post(
        f"{hub.http_url}/api/v1/users", json=body, headers={"Authorization": f"Bearer {admin}"}
    ) as response:
        assert response.status == 201, await response.text()
    owner = await access_token(http, hub, "owner", ADMIN_PASSWORD)
    async with http.get(f"{hub.http_url}/api/v1/openapi.json") as response:
        document = await response.json()
    paths = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert paths >= EXCLUDED, sorted(EXCLUDED - paths)  # an exclusion of a removed route is stale
    assert not misplaced_lengths(document)

    assert hub.http_url is not None
    for token in (admin, owner):
        failures, count = await asyncio.to_thread(_fuzz_all, document, hub.http_url, token)
        assert count == len(paths) - len(EXCLUDED)
        assert not failures, "\n\n".join(failures)
