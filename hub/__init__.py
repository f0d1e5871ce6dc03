"""TrackingBMS hub core: lifecycle, event bus, plugin manager, config, storage."""

__version__ = "0.1.0"
