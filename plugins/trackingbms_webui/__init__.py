"""The built-in web UI: the live page at /, the history and alerts pages, and their static assets."""
