"""Control writes the Libre Solar firmware allows, each confirmed by reading back (legacy.md §2.3).

``Input/wChgEnable`` / ``wDisEnable`` (RAM, from v23.0) switch charging and discharging;
``Device/xReset`` restarts; ``Conf/s...`` settings are stored in flash (write them rarely).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from hub.specs import ControlError, ControlUnsupportedError, LinkError
from trackingbms_thingset.client import ThingSetClient
from trackingbms_thingset.errors import StatusError, ThingSetError
from trackingbms_thingset.objects import DataObject, Era, Kind

__all__ = ["ACTIONS", "run_control"]

_LOGGER = logging.getLogger(__name__)
# CONTROL_ACTIONS of hub/specs.py this driver supports, plus "config" (a generic Conf write) that
# the hub's API does not offer yet: see docs/thingset.md.
ACTIONS = frozenset({"charge_mos", "discharge_mos", "restart", "config"})
RESTART_WAIT = 10.0  # seconds a restarted BMS may take to answer again


async def run_control(
    client: ThingSetClient, era: Era, action: str, value: Any, alive: Callable[[], Awaitable[None]]
) -> dict[str, Any]:
    """Apply one action; ``alive`` raises LinkError until the BMS answers (after a restart)."""
    try:
        if action in ("charge_mos", "discharge_mos"):
            return await _switch(client, era, Kind.CHG_ENABLE if action == "charge_mos" else Kind.DIS_ENABLE, value)
        if action == "restart":
            return await _restart(client, era, alive)
        if action == "config":
            return await _write_settings(client, era, value)
    except StatusError as err:
        if err.status in (0xA4, 0xA5):
            raise ControlUnsupportedError(f"the BMS refused {action}: {err}") from err
        raise ControlError(f"the BMS refused {action}: {err}") from err
    except ThingSetError as err:
        raise ControlError(f"the BMS's answer was unusable: {err}") from err
    raise ControlUnsupportedError(f"unknown action {action!r}")


def _object(era: Era, kind: Kind, what: str) -> DataObject:
    item = era.by_kind(kind)
    if item is None:
        # Input/wChgEnable, wDisEnable first appear in v23.0 (fixture eras; legacy.md §2.3).
        raise ControlUnsupportedError(f"firmware era {era.key} has no {what} object")
    return item


async def _switch(client: ThingSetClient, era: Era, kind: Kind, value: Any) -> dict[str, Any]:
    if not isinstance(value, bool):
        raise ControlUnsupportedError(f"expected true or false, not {value!r}")
    item = _object(era, kind, "charge/discharge enable")
    await client.update(item, value)
    actual = (await client.read_group(item.group)).get(item.name)
    result = {"object": item.path, "requested": value, "read_back": actual, "confirmed": actual is value}
    if actual is not value:
        raise ControlError(f"{item.path} read back {actual!r} after writing {value!r}")
    return result


async def _restart(client: ThingSetClient, era: Era, alive: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    item = _object(era, Kind.RESET, "xReset")
    with contextlib.suppress(LinkError):  # the BMS may reboot before its answer leaves the UART
        await client.execute(item)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RESTART_WAIT
    while True:
        try:
            await alive()
            break
        except LinkError as err:
            if loop.time() > deadline:
                raise ControlError(f"no answer within {RESTART_WAIT:.0f} s of the restart: {err}") from err
    return {"object": item.path, "requested": None, "read_back": "answering", "confirmed": True}


def _settings_request(era: Era, value: Any) -> list[tuple[DataObject, Any]]:
    if not isinstance(value, Mapping) or not value:
        raise ControlUnsupportedError('config takes {"<setting name>": value, ...}')
    settings = {item.name: item for item in era.settings()}
    changes = []
    for name, wanted in value.items():
        item = settings.get(str(name))
        if item is None:
            raise ControlUnsupportedError(f"{name!r} is not a setting of era {era.key} ({', '.join(sorted(settings))})")
        checked = item.coerce(wanted)
        if checked is None:
            raise ControlUnsupportedError(f"{name} takes a {item.type}, not {wanted!r}")
        changes.append((item, checked))
    return changes


async def _write_settings(client: ThingSetClient, era: Era, value: Any) -> dict[str, Any]:
    changes = _settings_request(era, value)
    read_back: dict[str, Any] = {}
    for item, wanted in changes:
        await client.update(item, wanted)
        actual = await client.read_item(item)
        read_back[item.name] = actual
        if not _same(item, wanted, actual):
            raise ControlError(f"{item.path} read back {actual!r} after writing {wanted!r}")
    requested = {item.name: wanted for item, wanted in changes}
    return {"object": "Conf", "requested": requested, "read_back": read_back, "confirmed": True}


def _same(item: DataObject, wanted: Any, actual: Any) -> bool:
    """Equal within the printed decimals (text mode rounds, binary float32 is inexact)."""
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(wanted)
            and all(_same(item, w, a) for w, a in zip(wanted, actual, strict=True))
        )
    if isinstance(actual, bool) or not isinstance(actual, int | float) or not math.isfinite(actual):
        return False
    tolerance = 0.5 * 10.0 ** -(item.decimals if item.decimals is not None else 6) + 1e-6 * abs(float(wanted))
    return bool(abs(actual - float(wanted)) <= tolerance)
