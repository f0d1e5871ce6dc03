"""Daly Modbus-style protocol families: "D2" and "0x81/0x51" (daly.md §3)."""
