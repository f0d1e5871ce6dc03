"""ThingSet over CAN: identifiers, reports, ISO-TP, the driver and the simulator."""
