"""The login brute-force throttle of the gateway (hub.web.ratelimit), when the app has one."""

from __future__ import annotations

import logging

from aiohttp import web

from hub.web.ratelimit import LoginThrottle, login_throttle

_LOGGER = logging.getLogger(__name__)


def throttle_of(request: web.Request) -> LoginThrottle | None:
    """The app's login throttle; None when the rate limits are not set up on this app."""
    try:
        return login_throttle(request.app)
    except RuntimeError:
        _LOGGER.debug("No login throttle on this app: failed logins are not slowed down")
        return None
