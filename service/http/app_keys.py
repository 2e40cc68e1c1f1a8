"""Typed keys for what the application holds."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiohttp import web

from service.metrics import Metrics
from service.serving.online import OnlineRecorder
from service.serving.read_path import Serving
from service.serving.retention_index import HistoryStore
from service.settings import Settings
from service.store.keys import Keys
from service.training.refresh import Refresher

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", aioredis.Redis)
REDIS_URL = web.AppKey("redis_url", str)  # what the training child connects to
#: Why the service stopped itself (the embedded redis-server died): `python -m service` then exits 1.
FAILURE = web.AppKey("failure", str)
REDIS_KEYS = web.AppKey("redis_keys", Keys)
METRICS = web.AppKey("metrics", Metrics)
SERVING = web.AppKey("serving", Serving)
REFRESHER = web.AppKey("refresher", Refresher)
ONLINE = web.AppKey("online", OnlineRecorder)
HISTORY = web.AppKey("history_store", HistoryStore)
