"""foxBMS's CAN link: the hub's python-can link with 11-bit identifiers at 500 kbit/s by default."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import can

from hub.transport import can as hub_can
from hub.transport.can import Frame

__all__ = ["BITRATE", "BusConfig", "CanLink", "Frame"]

# foxBMS runs CAN1/CAN2 at 500 kbit/s (conf/hcg/app.dil, legacy.md §1.1).
BITRATE = 500_000


@dataclass(frozen=True, slots=True)
class BusConfig(hub_can.BusConfig):
    """The hub's bus settings with foxBMS's bit rate as the default."""

    bitrate: int = BITRATE


class CanLink(hub_can.CanLink):
    """The hub's CanLink sending standard (11-bit) frames, as every foxBMS message is (legacy.md §1.2)."""

    def __init__(self, config: hub_can.BusConfig, on_message: Callable[[can.Message], None]) -> None:
        super().__init__(config, on_message, extended=False, name="foxbms-can")
