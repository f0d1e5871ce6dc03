"""CRC-16/MODBUS as the Daly D2 and 0x81/0x51 families use it, sent low byte first (daly.md §3.1)."""

from __future__ import annotations

__all__ = ["CRC_LEN", "append_crc", "crc16_modbus", "crc_bytes", "has_valid_crc"]

CRC_LEN = 2
_POLY = 0xA001  # 0x8005 reflected
_INIT = 0xFFFF


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def crc16_modbus(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF, no final xor) of ``data``."""
    crc = _INIT
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def crc_bytes(data: bytes | bytearray | memoryview) -> bytes:
    """The two CRC bytes as they go on the wire: low byte first ([MB-xlsx] "CRC-L, CRC-H")."""
    return crc16_modbus(data).to_bytes(CRC_LEN, "little")


def append_crc(body: bytes | bytearray) -> bytes:
    """``body`` followed by its CRC."""
    return bytes(body) + crc_bytes(body)


def has_valid_crc(frame: bytes | bytearray | memoryview) -> bool:
    """True when the last two bytes are the CRC of everything before them."""
    if len(frame) <= CRC_LEN:
        return False
    view = memoryview(frame)
    return bytes(view[-CRC_LEN:]) == crc_bytes(view[:-CRC_LEN])
