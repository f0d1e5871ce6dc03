"""The generic Modbus battery driver: reads a map's blocks over a shared link and assembles a Reading."""

from __future__ import annotations

import logging
from pathlib import Path

from hub.reading import Reading
from hub.specs import BatteryConfig, DriverContext, LinkError
from trackingbms_modbus.assemble import assemble
from trackingbms_modbus.codec import Decoded
from trackingbms_modbus.link import ModbusExceptionError, ModbusLink, acquire_link, release_link
from trackingbms_modbus.options import ModbusOptions
from trackingbms_modbus.plan import Block, decode_block, plan_reads
from trackingbms_modbus.regmap.loader import MapError, describe_issues, load_map
from trackingbms_modbus.regmap.model import RegisterMap

__all__ = ["ModbusDriver"]

_LOGGER = logging.getLogger(__name__)


class ModbusDriver:
    """One battery described by a register map, on an RTU serial line or a Modbus TCP connection."""

    def __init__(self, config: BatteryConfig, context: DriverContext) -> None:
        self.config = config
        self.context = context
        self.regmap: RegisterMap | None = None
        self.options: ModbusOptions | None = None
        self.plan: list[Block] = []
        self.link: ModbusLink | None = None
        self.polls = 0
        # Last values of blocks read less often than every poll (``every``), and of failed optional blocks.
        self._cache: dict[str, Decoded | None] = {}

    def _load(self) -> tuple[RegisterMap, ModbusOptions]:
        if self.regmap is None or self.options is None:
            reference = str(self.config.options["map"])
            try:
                regmap = load_map(reference, base_dirs=(self.context.data_dir, Path.cwd()))
            except MapError as err:
                # Not a link problem, but the coordinator shows LinkError text as the battery's state.
                raise LinkError(f"register map {reference}: {describe_issues(err)}") from err
            self.options = ModbusOptions.resolve(self.config.options, regmap, self.context.data_dir)
            self.regmap = regmap
            self.plan = plan_reads(regmap, self.options.max_registers)
        return self.regmap, self.options

    async def connect(self) -> None:
        """Load the map and open the (shared) port or connection; raises LinkError."""
        _, options = self._load()
        if self.link is None:
            self.link = acquire_link(self.context.ports, options.link, options.timeout, options.inter_frame_delay)
        await self.link.open()

    async def poll(self) -> Reading:
        """Read every block due this poll; LinkError when silent, DataError when an answer is unusable."""
        regmap, options = self._load()
        if self.link is None:
            await self.connect()
        assert self.link is not None
        values: dict[str, Decoded | None] = dict(self._cache)
        for block in self.plan:
            if self.polls % block.every and all(r.name in self._cache for r in block.registers):
                continue
            values.update(await self._read(block, options))
        self.polls += 1
        self._cache = {
            name: value for name, value in values.items() if regmap.register(name).every > 1 or value is None
        }
        return assemble(regmap, values, self.config.id, options.current_sign)

    async def _read(self, block: Block, options: ModbusOptions) -> dict[str, Decoded | None]:
        assert self.link is not None
        try:
            data = await self.link.read(block.function, block.start, block.count, options.slave, options.retries)
        except ModbusExceptionError as err:
            if not block.optional:
                raise
            _LOGGER.debug("%s: optional block skipped: %s", self.config.id, err)
            return dict.fromkeys((r.name for r in block.registers), None)
        return dict(decode_block(block, data))

    async def close(self) -> None:
        """Release the link (the port closes with its last battery); never raises."""
        link, self.link = self.link, None
        if link is not None:
            await release_link(self.context.ports, link)
