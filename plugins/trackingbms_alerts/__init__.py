"""Alert rules and the alert lifecycle."""
