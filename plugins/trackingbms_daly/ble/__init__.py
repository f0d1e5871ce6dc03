"""Daly BMS over Bluetooth LE: GATT link, scanning, driver, fake bleak backend, pairing routes."""
