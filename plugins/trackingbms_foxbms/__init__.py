"""foxBMS 2 over CAN."""
