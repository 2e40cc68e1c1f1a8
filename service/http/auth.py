"""Bearer-key checks: write keys guard events and catalog, admin keys guard retraining,
read keys (when set) guard reads. Keys are compared in constant time and never logged."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web

from service.http.app_keys import REDIS, REDIS_KEYS, SETTINGS
from service.http.errors import ApiError
from service.settings import Settings
from service.store.ratelimit import take_token

READ, WRITE, ADMIN = "read", "write", "admin"
#: Requests refused for their key (401, 403) that one client address may send: FAILED_AUTH_BURST at once, then
#: FAILED_AUTH_PER_SECOND, while RECS_RATE_LIMIT is on; beyond, 429. A NUL starts the bucket's name, so no
#: API key can share it.
FAILED_AUTH_PER_SECOND = 1.0
FAILED_AUTH_BURST = 20.0
FAILED_AUTH_BUCKET = "\0refused:"
UNKNOWN_KEY = "this key is not one of the service's keys"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def allowed_keys(settings: Settings, scope: str) -> tuple[str, ...]:
    """Admin keys may also write and read; write keys may also read."""
    if scope == ADMIN:
        return settings.admin_keys
    if scope == WRITE:
        return settings.write_keys + settings.admin_keys
    return service_keys(settings) if settings.read_keys else ()


def service_keys(settings: Settings) -> tuple[str, ...]:
    """Every key of the service, of any scope."""
    return settings.read_keys + settings.write_keys + settings.admin_keys


def bearer_key(header: str | None) -> str:
    """The key of an `Authorization: Bearer KEY` header (the scheme in any case, RFC 9110 11.1); raise 401
    without one."""
    scheme, _, key = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "missing bearer key (Authorization: Bearer KEY)",
                       headers={"WWW-Authenticate": "Bearer"})
    return key.strip()


def is_one_of(given: str, keys: tuple[str, ...]) -> bool:
    """Whether `given` is one of `keys`, compared in constant time."""
    matched = False
    for key in keys:  # no early exit: the time taken does not depend on which key matched
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return matched


def check_key(header: str | None, settings: Settings, scope: str) -> str | None:
    """The caller's key; raise 401 without a key, 403 with a wrong one (saying whether it is one of the
    service's keys at all). Unset read keys mean open."""
    keys = allowed_keys(settings, scope)
    if scope == READ and not keys:
        return None
    given = bearer_key(header)
    if not is_one_of(given, keys):
        if not is_one_of(given, service_keys(settings)):
            raise ApiError(403, "forbidden", UNKNOWN_KEY)
        raise ApiError(403, "forbidden", f"this key may not use {scope} routes")
    return given


def key_scopes(settings: Settings, header: str | None) -> list[str]:
    """The scopes (read, write, admin) the caller's key may use; 401 without a key, 403 when it is
    none of the service's keys, even where reads are open (a sign-in must not accept a typo)."""
    given = bearer_key(header)
    if not is_one_of(given, service_keys(settings)):
        raise ApiError(403, "forbidden", UNKNOWN_KEY)
    return [READ] + [scope for scope in (WRITE, ADMIN) if is_one_of(given, allowed_keys(settings, scope))]


def requires(scope: str) -> Callable[[Handler], Handler]:
    """Decorator marking a handler's scope; checked before the handler runs."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            settings = request.app[SETTINGS]
            try:
                key = check_key(request.headers.get("Authorization"), settings, scope)
            except ApiError:
                if settings.rate_limit > 0:  # key guessing: refused requests are limited per client address
                    await _limit(request, FAILED_AUTH_BUCKET + (request.remote or ""), FAILED_AUTH_PER_SECOND,
                                 FAILED_AUTH_BURST, "refused requests from this address")
                raise
            if key is not None and settings.rate_limit > 0:
                await _limit(request, key, settings.rate_limit, settings.rate_limit_burst, "requests for this key")
            return await handler(request)

        guarded.scope = scope  # type: ignore[attr-defined]
        return guarded

    return decorate


async def _limit(request: web.Request, bucket: str, rate: float, burst: float, what: str) -> None:
    """429 with Retry-After when `bucket` (an API key, or FAILED_AUTH_BUCKET and an address) has no token left."""
    wait = await take_token(request.app[REDIS], request.app[REDIS_KEYS], bucket, rate, burst,
                            request.app[SETTINGS].redis_read_timeout)
    if wait is not None:
        raise ApiError(429, "rate_limited", f"too many {what}; retry in {wait}s", headers={"Retry-After": str(wait)})
