"""Online-feedback counters in Redis: one hash per UTC day, `{version}|{route}|{counter}` -> count (money
counters per currency: `revenue.USD` in micro-units, `orders.USD`), and the recommendation-id format that
names the version and route a response came from.

A recommendation id is `{route}.{model version}.{served at, hex epoch seconds}{random hex}`; a response an
experiment's variant served names it after the version, `{model version}@{experiment}/{variant}` (the
variant label), so its counters are the variant's and the event script also records the buyer's revenue
per variant (service.store.experiments). A click or
purchase event carrying one adds to its version and route (a purchase also its price x quantity to the
revenue of its currency, and its order once) in the script that stores the event
(service.store.events.write, never twice for a retried event) if it was served within the window, so
nothing is stored per response (a key per response would be hundreds of millions of keys a week at a
few thousand responses a second). Ids are not secret; only
clients with a write key send events, so a forged id can only skew the statistics of its own store.
"""

from __future__ import annotations

import functools
import random
import re
import time

import redis.asyncio as aioredis

from recommender.units import SECONDS_PER_DAY
from service.store.keys import Keys

#: Daily online-feedback hashes outlive the longest report (GET /v1/stats/online?days=90).
ONLINE_KEEP_SECONDS = int(92 * SECONDS_PER_DAY)
COUNTERS = ("impressions", "clicks", "purchases")
#: Counters kept per currency, as `{counter}.{ISO 4217 code}`: revenue in integer micro-units (exact sums;
#: a float would drift), and orders (distinct order ids, or purchases without one).
MONEY_COUNTERS = ("revenue", "orders")
MICROS = 1_000_000
#: Routes whose responses carry a recommendation id: the list routes, similar items, each email block and each
#: campaign.
EMAIL_BLOCKS = ("recommended", "buy_again", "new_for_you", "follow_up")
CAMPAIGN_NAMES = ("lapsed", "abandoned_carts", "back_in_stock", "price_drop", "browse_abandonment", "audience")


def campaign_route(name: str) -> str:
    """The online-statistics route of a campaign (one of CAMPAIGN_NAMES): what its recommendation ids name."""
    return f"campaign_{name}"


#: The similar-items route ("customers who bought this also bought" on product pages).
SIMILAR_ROUTE = "similar"
ROUTES = ("recommendations", "batch", SIMILAR_ROUTE, *(f"email_{block}" for block in EMAIL_BLOCKS),
          *(campaign_route(name) for name in CAMPAIGN_NAMES))
# Adds counts to the days' hashes and keeps them ONLINE_KEEP_SECONDS, atomically (a script, not
# MULTI: see service.store.catalog). KEYS: the days' hashes (one slot). ARGV: the TTL, then per
# counter the KEYS index of its day, the field and the count.
_ADD = """
for j = 2, #ARGV, 3 do
  redis.call('HINCRBY', KEYS[tonumber(ARGV[j])], ARGV[j + 1], ARGV[j + 2])
end
for k = 1, #KEYS do
  redis.call('EXPIRE', KEYS[k], ARGV[1])
end
return 1
"""
_VERSION = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}(?:@[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,64})?")
_STAMP = re.compile(r"[0-9a-f]{8}[0-9a-f]{8}")


def utc_day(timestamp: float) -> str:
    """YYYY-MM-DD of an epoch time in UTC: the counters are kept per day.

    Parameters
    ----------
    timestamp : float
        Epoch seconds.

    Returns
    -------
    str
    """
    return _day_name(int(timestamp // SECONDS_PER_DAY))


@functools.lru_cache(maxsize=16)
def _day_name(day: int) -> str:  # every served response asks; strftime costs more than a cache hit
    return time.strftime("%Y-%m-%d", time.gmtime(day * SECONDS_PER_DAY))


def variant_label(version: str, experiment: str, variant: str) -> str:
    """What an experiment's variant serves under, in ids and counters: `{version}@{experiment}/{variant}`."""
    return f"{version}@{experiment}/{variant}"


def split_label(label: str) -> tuple[str, str | None, str | None]:
    """(model version, experiment, variant) of a counter's version label; (label, None, None) outside
    experiments."""
    version, at, rest = label.partition("@")
    if not at:
        return label, None, None
    experiment, _, variant = rest.partition("/")
    return version, experiment, variant


def new_recommendation_id(version: str, route: str, now: float | None = None) -> str:
    """A response's id: route, model version, when it was served and 32 random bits.

    Parameters
    ----------
    version : str
        The model version that served the response.
    route : str
        One of ROUTES.
    now : float, optional
        Epoch seconds it was served at (default: the current time).

    Returns
    -------
    str
        ``{route}.{version}.{served at: 8 hex digits of epoch seconds}{8 random hex digits}``.
    """
    served_at = int(time.time() if now is None else now)
    # Python's own generator, not secrets: ids are not secret (above), and os.urandom is a
    # system call on every hot request. It is seeded from the OS per process and after fork.
    return f"{route}.{version}.{served_at:08x}{random.getrandbits(32):08x}"


def attribution(recommendation_id: str, now: float, window_days: float) -> str | None:
    """`version|route` a recommendation_id was served by, if it is one of ours and was served in the
    last `window_days` before `now`; None otherwise.

    Parameters
    ----------
    recommendation_id : str
        As a client sent it (anything: ids that are not ours give None).
    now : float
        Epoch seconds; ids stamped up to an hour after it are accepted (clock skew between replicas).
    window_days : float
        Days an id stays attributable (RECS_ONLINE_DAYS).

    Returns
    -------
    str or None
    """
    route, _, rest = recommendation_id.partition(".")
    version, _, stamp = rest.partition(".")
    if route not in ROUTES or not _VERSION.fullmatch(version) or not _STAMP.fullmatch(stamp):
        return None
    served_at = int(stamp[:8], 16)
    if not now - window_days * SECONDS_PER_DAY <= served_at <= now + 3600:
        return None
    return f"{version}|{route}"


async def add_counts(redis: aioredis.Redis, keys: Keys, counts: dict[tuple[str, str], int]) -> None:
    """Add counts to the days' hashes in one atomic script; each hash is kept ONLINE_KEEP_SECONDS.

    Parameters
    ----------
    redis : redis.asyncio.Redis
    keys : Keys
    counts : dict of (str, str) to int
        (day YYYY-MM-DD, `version|route|counter`) -> amount to add; at least one entry.

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    days = {day: k + 1 for k, day in enumerate(sorted({day for day, _ in counts}))}  # -> KEYS index
    fields = [value for (day, field), count in counts.items() for value in (days[day], field, count)]
    await redis.eval(_ADD, len(days), *(keys.online(d) for d in days), ONLINE_KEEP_SECONDS, *fields)


async def read_days(redis: aioredis.Redis, keys: Keys, days: list[str]) -> list[dict[str, int]]:
    """The counters of each day, in one round trip.

    Parameters
    ----------
    days : list of str
        YYYY-MM-DD (UTC).

    Returns
    -------
    list of dict of str to int
        Per day, in order: `version|route|counter` -> count (empty for a day without counts).

    Raises
    ------
    redis.exceptions.RedisError, OSError
        Redis could not answer (service.store.client.REDIS_ERRORS).
    """
    pipe = redis.pipeline(transaction=False)
    for day in days:
        pipe.hgetall(keys.online(day))
    hashes = await pipe.execute()
    return [{(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in fields.items()} for fields in hashes]


def split_field(field: str) -> tuple[str, str, str]:
    """`version|route|counter` to (version, route, counter); a version may hold '|', routes and
    counters never do."""
    head, _, counter = field.rpartition("|")
    version, _, route = head.rpartition("|")
    return version, route, counter
