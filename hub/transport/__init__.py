"""Transports shared by every driver and simulator: serial ports, pseudo-terminals and python-can buses."""
