"""The simulated BMS's text mode: answers requests and prints the live report (legacy.md §2.4, §2.5)."""

from __future__ import annotations

import logging
from typing import Any

from trackingbms_thingset.device import ThingSetDevice
from trackingbms_thingset.errors import NotThingSetError, ThingSetError
from trackingbms_thingset.objects import DataObject
from trackingbms_thingset.status import STATUS_NAMES, Function
from trackingbms_thingset.text import TextRequest, dumps, format_report, format_response, parse_message

__all__ = ["TextService"]

_LOGGER = logging.getLogger(__name__)
_REPORTING = "_Reporting/mLive"  # SDK objects 0x310.. (legacy.md §2.3), main and v23.x
View = list[tuple[str, DataObject]]


class TextService:
    """Text requests in, text responses out (no framing: the serial layer adds CRC and line end)."""

    def __init__(self, device: ThingSetDevice, status_text: bool | None = None) -> None:
        self.device = device
        # ":85 Content. {..}" up to v0.5 (device-library), ":85 {..}" with node-c (§2.4).
        self.status_text = device.era.status_text if status_text is None else status_text

    def report(self) -> str:
        """``#mLive {"Meas":{..}}`` (node-c), ``#mSerial {..}`` (v0.5) or ``# {..}`` (v0.3)."""
        device = self.device
        measures = device.measures()
        live = device.live_objects()
        values = {name: device.value(item, measures) for name, item in live}
        decimals = {name: item.decimals for name, item in live if item.decimals is not None}
        payload: dict[str, Any] = {device.names_era.meas_group: values} if device.era.nested_report else values
        return format_report(device.era.report_path, dumps(payload, decimals))

    def handle(self, message: str) -> str | None:
        """The response to one request line, or None (no response: log lines, DESIRE, reports)."""
        try:
            request = parse_message(message)
        except NotThingSetError:
            return None
        except ThingSetError as err:
            _LOGGER.debug("bad request %r: %s", message, err)
            return self._status(0xA0)
        if not isinstance(request, TextRequest):
            return None
        if request.function is Function.GET:
            return self._get(request)
        if request.function in (Function.UPDATE, Function.DESIRE):
            answer = self._update(request)
            return None if request.function is Function.DESIRE else answer
        if request.function is Function.EXEC:
            return self._exec(request)
        return self._status(0xA5)  # CREATE/DELETE: the BMS has no editable subsets

    def _status(self, status: int, body: str | None = None) -> str:
        text = STATUS_NAMES.get(status, "") if self.status_text else None
        return format_response(status, body, text)

    def _view(self, group: str) -> View | None:
        """(name, object) of a group's children; measurement names follow ``names_era``."""
        device = self.device
        items = device.era.group_objects(group)
        if not items:
            return None
        if device.names_era is device.era:
            return [(item.name, item) for item in items]
        view = []
        for item in items:
            shown = device.names_era.by_kind(item.kind)
            view.append((shown.name if shown is not None else item.name, item))
        return view

    def _get(self, request: TextRequest) -> str:
        path = request.path.rstrip("/")
        # Discovery: "?Meas null" (v0.6) or "?Meas/" (v0.5) lists the names (§2.4).
        discovery = request.path.endswith("/") or (request.has_payload and request.payload is None)
        if path == _REPORTING and self.device.era.live_id is not None:
            return self._status(
                0x85, dumps({"sEnable": self.device.reporting, "sPeriod_ms": self.device.report_period_ms})
            )
        view = self._view(path)
        if view is not None:
            return self._get_group(view, discovery, request.payload if request.has_payload else None)
        group, _, name = path.rpartition("/")
        view = self._view(group) or []
        item = next((item for shown, item in view if shown == name), None)
        if item is None:
            return self._status(0xA4)
        return self._status(0x85, dumps(self.device.value(item), places=item.decimals))

    def _get_group(self, view: View, discovery: bool, names: Any) -> str:
        if discovery:
            return self._status(0x85, dumps([name for name, _ in view]))
        measures = self.device.measures()
        values = {name: self.device.value(item, measures) for name, item in view}
        decimals = {name: item.decimals for name, item in view if item.decimals is not None}
        if isinstance(names, list):
            if any(name not in values for name in names):
                return self._status(0xA4)
            return self._status(0x85, "[" + ",".join(dumps(values[n], places=decimals.get(n)) for n in names) + "]")
        return self._status(0x85, dumps(values, decimals))

    def _update(self, request: TextRequest) -> str:
        if request.path == _REPORTING and self.device.era.live_id is not None:
            return self._update_reporting(request.payload)
        view = self._view(request.path)
        if view is None:
            return self._status(0xA4)
        by_name = dict(view)
        changes: list[tuple[DataObject, Any]] = []
        for name, value in request.payload.items():
            item = by_name.get(name)
            if item is None:
                return self._status(0xA4)
            if not item.writable:
                return self._status(0xA3, dumps("Item is read-only"))
            checked = item.coerce(value)
            if checked is None:
                return self._status(0xAF)
            changes.append((item, checked))
        for item, value in changes:  # all or nothing: nothing was written before every check passed
            self.device.write(item, value)
        return self._status(0x84)

    def _update_reporting(self, payload: dict[str, Any]) -> str:
        enable, period = payload.get("sEnable", self.device.reporting), payload.get("sPeriod_ms")
        if not isinstance(enable, bool) or (period is not None and (not isinstance(period, int) or period < 10)):
            return self._status(0xAF)
        self.device.reporting = enable
        if period is not None:
            self.device.report_period_ms = period
        return self._status(0x84)

    def _exec(self, request: TextRequest) -> str:
        group, _, name = request.path.rpartition("/")
        item = next((i for i in self.device.era.objects if i.group == group and i.name == name), None)
        if item is None or item.type != "exec":
            return self._status(0xA4)
        if name == "xReset":
            self.device.reset()
        return self._status(self.device.era.exec_status)
