"""Test helpers shared by many test modules."""

from __future__ import annotations

import asyncio
import os
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

SIMULATED_CONFIG = """
hub:
  data_dir: {data_dir}
http:
  port: 0
logging:
  level: DEBUG
  file: null
simulators:
  - kind: daly
    link: sim/one
    cells: 16
    temps: 2
    seed: 1
  - kind: daly
    link: sim/two
    cells: 4
    temps: 1
    seed: 2
batteries:
  - id: one
    name: Pack one
    driver: daly
    port: sim/one
    poll_interval: 0.3
  - id: two
    driver: daly
    port: sim/two
    poll_interval: 0.3
"""


def write_config(tmp_path: Path, text: str, name: str = "trackingbms.yaml") -> Path:
    """Write a config file (dedented, with {data_dir} filled in) and return its path.

    A config without an ``auth:`` section gets ``auth: {required: false}``: tests of everything but
    auth act as the local administrator; tests of auth write their own section.
    """
    path = tmp_path / name
    content = textwrap.dedent(text).format(data_dir=tmp_path / "data")
    if not any(line.startswith("auth:") for line in content.splitlines()):
        content = content.rstrip("\n") + "\nauth:\n  required: false\n"
    path.write_text(content, encoding="utf-8")
    return path


async def wait_for(condition: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:  # noqa: ASYNC109
    """Poll a condition (sync or async) until it is truthy; fail after a generous timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


if False:  # pragma: no cover - typing only
    from hub.core import Hub
HubFactory = Callable[..., Awaitable["Hub"]]
