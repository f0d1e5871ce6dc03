"""The built-in web UI: the live page at / with its static assets."""
