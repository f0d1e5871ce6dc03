"""Built-in processors: plausibility checks and derived values."""
