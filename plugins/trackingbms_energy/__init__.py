"""Battery analytics processors: energy counters, coulomb-counted SOC, equivalent cycles, SOH estimate."""
