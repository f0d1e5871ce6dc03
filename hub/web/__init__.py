"""The web layer: API gateway (envelope, middlewares), core and BMS endpoints, live stream."""
