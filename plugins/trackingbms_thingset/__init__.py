"""Libre Solar BMS over ThingSet."""
