"""Transports shared by every driver and simulator: serial ports and pseudo-terminals."""
