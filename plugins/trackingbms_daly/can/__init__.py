"""Daly A5 payloads over CAN: identifiers, shared bus, driver, simulator and slcan emulator."""
