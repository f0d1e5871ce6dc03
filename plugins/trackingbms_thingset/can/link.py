"""ThingSet's CAN link: the hub's python-can link with 29-bit identifiers (legacy.md §2.6)."""

from __future__ import annotations

from collections.abc import Callable

import can

from hub.transport import can as hub_can
from hub.transport.can import BusConfig

__all__ = ["BusConfig", "CanLink"]


class CanLink(hub_can.CanLink):
    """The hub's CanLink sending extended (29-bit) frames: ThingSet over CAN uses no other."""

    def __init__(self, config: BusConfig, on_message: Callable[[can.Message], None]) -> None:
        super().__init__(config, on_message, extended=True, name="thingset-can")
