"""Banks: packs in parallel or in series aggregated into one virtual battery."""
