"""The training history: one JSON record per finished training (trained, rejected or failed), newest
first, in a capped Redis list (`Keys.training_history`), so a dashboard can draw quality and duration
over time. The record of the last training alone stays in the status hash (service.store.training_state)."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from service.store.keys import Keys

#: Trainings kept: at the default hourly refresh, three weeks; each record is a few hundred bytes.
TRAININGS_KEPT = 500


async def append_training(redis: aioredis.Redis, keys: Keys, record: dict) -> None:
    """Put `record` (JSON-serialisable) first and drop the ones past TRAININGS_KEPT."""
    pipe = redis.pipeline(transaction=False)  # one key, so one slot on a cluster too
    pipe.lpush(keys.training_history, json.dumps(record, separators=(",", ":")))
    pipe.ltrim(keys.training_history, 0, TRAININGS_KEPT - 1)
    await pipe.execute()


async def read_trainings(redis: aioredis.Redis, keys: Keys, n: int) -> list[dict]:
    """The `n` newest training records, newest first."""
    return [json.loads(raw) for raw in await redis.lrange(keys.training_history, 0, n - 1)]
