"""Typed keys for what the application holds."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiohttp import web

from service.keys import Keys
from service.metrics import Metrics
from service.refresh import Refresher
from service.serving import Serving
from service.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", aioredis.Redis)
REDIS_URL = web.AppKey("redis_url", str)  # what the training child connects to
REDIS_KEYS = web.AppKey("redis_keys", Keys)
METRICS = web.AppKey("metrics", Metrics)
SERVING = web.AppKey("serving", Serving)
REFRESHER = web.AppKey("refresher", Refresher)
