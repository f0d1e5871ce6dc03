"""Green-BMS (SmartBMS) over Bluetooth serial."""
