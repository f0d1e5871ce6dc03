"""Request rate limits per user and per source address (429 with Retry-After) and the login throttle."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from redis.exceptions import RedisError

from hub.auth.principal import PRINCIPAL
from hub.registry import Health
from hub.web import app as app_module
from hub.web.envelope import Handler, envelope
from hub.web.limits_config import LoginSettings, RateLimitSettings
from hub.web.ratelimit_store import LimitStore, MemoryStore, RedisStore

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
SERVICE = "core.ratelimit"
# Errors of an unreachable or failing Redis: limits are then not enforced (see GuardedStore.failed).
STORE_ERRORS = (RedisError, OSError, TimeoutError)
Report = Callable[[Health, str | None], None]  # tells the registry how the store is doing


@dataclass(frozen=True, slots=True)
class Verdict:
    """A refused request: which limit, how many it allows per window, and when to come back."""

    scope: str  # "ip" | "user"
    limit: int
    window: float
    retry_after: float


class GuardedStore:
    """The store with its error reporting: a failing Redis lets requests through (and says so)."""

    def __init__(self, store: LimitStore, report: Report | None = None) -> None:
        self.store = store
        self.report = report
        self.healthy = True
        self._last_log = -math.inf

    def failed(self, what: str, err: Exception) -> None:
        # Availability over strictness: a Redis outage must not take the whole API down with it.
        now = time.monotonic()
        if now - self._last_log > 60:
            self._last_log = now
            _LOGGER.error("Rate-limit store failed during %s (limits not enforced meanwhile): %s", what, err)
        if self.healthy and self.report is not None:
            self.report(Health.DEGRADED, f"{what}: {type(err).__name__}: {err}")
        self.healthy = False

    def worked(self) -> None:
        if not self.healthy and self.report is not None:
            self.report(Health.OK, None)
        self.healthy = True


class RateLimiter:
    """Fixed windows per source address and per user, counted in the store."""

    def __init__(self, settings: RateLimitSettings, shared: GuardedStore) -> None:
        self.settings = settings
        self.shared = shared

    async def check(self, scope: str, who: str) -> Verdict | None:
        """Count one request of ``who`` ("ip" or "user" scope); a Verdict when over the limit, else None."""
        limit = self.settings.per_ip if scope == "ip" else self.settings.per_user
        if limit <= 0:
            return None
        try:
            count, left = await self.shared.store.hit(
                f"{self.settings.key_prefix}:rl:{scope}:{who}", self.settings.window
            )
        except STORE_ERRORS as err:
            self.shared.failed("rate limit", err)
            return None
        self.shared.worked()
        return Verdict(scope, limit, self.settings.window, left) if count > limit else None


class LoginThrottle:
    """Growing delays after failed logins, per username and per source address (doubling, capped).

    The login handler asks ``delay_for`` first and answers 429 with Retry-After while it is above
    zero (it never sleeps); it reports each outcome with ``failed`` or ``succeeded``.
    """

    def __init__(self, settings: LoginSettings, shared: GuardedStore, prefix: str) -> None:
        self.settings = settings
        self.shared = shared
        self.prefix = prefix

    def _keys(self, username: str, ip: str) -> tuple[str, str]:
        # Usernames are matched without case, so "Admin" and "admin" share one record.
        return f"{self.prefix}:login:user:{username.casefold()}", f"{self.prefix}:login:ip:{ip}"

    async def delay_for(self, username: str, ip: str) -> float:
        """Seconds to wait before this username may be tried from this address (0 = now)."""
        try:
            wait = await self.shared.store.wait(self._keys(username, ip))
        except STORE_ERRORS as err:
            self.shared.failed("login throttle", err)
            return 0.0
        self.shared.worked()
        return wait

    async def failed(self, username: str, ip: str) -> None:
        """A wrong password (or unknown user): the next attempt waits longer."""
        user_key, ip_key = self._keys(username, ip)
        keys = [(user_key, self.settings.free_failures), (ip_key, self.settings.ip_free_failures)]
        try:
            await self.shared.store.fail(keys, self.settings)
        except STORE_ERRORS as err:
            self.shared.failed("login throttle", err)

    async def succeeded(self, username: str, ip: str) -> None:
        """A successful login clears the delays of the username and of the address."""
        try:
            await self.shared.store.reset(self._keys(username, ip))
        except STORE_ERRORS as err:
            self.shared.failed("login throttle", err)


@dataclass(slots=True)
class Limits:
    """What ``setup`` puts on the app."""

    settings: RateLimitSettings
    limiter: RateLimiter
    throttle: LoginThrottle
    store: LimitStore


LIMITS: web.AppKey[Limits] = web.AppKey("rate_limits", Limits)


def build_limits(settings: RateLimitSettings, report: Report | None = None) -> Limits:
    """Limiter and throttle on one store: Redis when ``redis_url`` is set, else memory."""
    store: LimitStore = RedisStore(settings.redis_url) if settings.redis_url else MemoryStore()
    shared = GuardedStore(store, report)
    return Limits(
        settings, RateLimiter(settings, shared), LoginThrottle(settings.login, shared, settings.key_prefix), store
    )


def setup(app: web.Application) -> None:
    """Build the limits from the hub's ``http.rate_limit`` section; closed with the app."""
    hub = app[app_module.HUB]
    settings = RateLimitSettings.from_config((hub.config.data.get("http") or {}).get("rate_limit"))
    report: Report | None = None
    if settings.redis_url:
        hub.registry.register(SERVICE, "core", Health.OK)

        def report(health: Health, reason: str | None) -> None:
            hub.registry.set_health(SERVICE, health, reason)

    limits = build_limits(settings, report)
    app[LIMITS] = limits

    async def close(_: web.Application) -> None:
        await limits.store.close()

    app.on_cleanup.append(close)


def too_many(request: web.Request, verdict: Verdict) -> web.Response:
    """The 429 envelope with Retry-After (whole seconds, at least 1)."""
    seconds = max(1, math.ceil(verdict.retry_after))
    data = {"scope": verdict.scope, "limit": verdict.limit, "window_s": verdict.window, "retry_after": seconds}
    response = envelope(request, data, status=429, message=f"Too many requests (per {verdict.scope}); retry later")
    response.headers["Retry-After"] = str(seconds)
    return response


def _active(request: web.Request) -> Limits | None:
    limits = request.config_dict.get(LIMITS)
    if limits is None or not limits.settings.enabled or not request.path.startswith("/api/"):
        return None
    return limits


@web.middleware
async def ip_rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts every /api/ request against its source address; placed BEFORE auth, so requests with bad
    tokens (401) count too."""
    limits = _active(request)
    if limits is not None:
        verdict = await limits.limiter.check("ip", request.remote or "unknown")
        if verdict is not None:
            return too_many(request, verdict)
    return await handler(request)


@web.middleware
async def user_rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts every /api/ request of a known user against that user (wherever it comes from); placed
    AFTER auth, which sets the principal."""
    limits = _active(request)
    principal = request.get(PRINCIPAL)
    if limits is not None and principal is not None:
        verdict = await limits.limiter.check("user", principal.user_id)
        if verdict is not None:
            return too_many(request, verdict)
    return await handler(request)


def login_throttle(app_or_hub: web.Application | Hub) -> LoginThrottle:
    """The login throttle of an app (or of a hub's running web app)."""
    app = app_or_hub if isinstance(app_or_hub, web.Application) else _app_of(app_or_hub)
    limits = app.get(LIMITS)
    if limits is None:
        raise RuntimeError("hub.web.ratelimit.setup(app) was not called when the app was built")
    return limits.throttle


def _app_of(hub: Hub) -> web.Application:
    if hub.web_runner is None:
        raise RuntimeError("the hub's web server is not running")
    return hub.web_runner.app
