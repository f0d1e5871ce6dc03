"""Replay simulator: serves a raw capture as a device, so a user's bug report becomes a test."""
