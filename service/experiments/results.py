"""An experiment's results per variant: exposed customers, what its lists were shown, clicked and bought
(the online counters of its variant label, service.store.online), its buyers and their revenue
(service.store.experiments), and the statistics against the control (service.experiments.statistics)."""

from __future__ import annotations

import time

import numpy as np
import redis.asyncio as aioredis

from recommender.units import SECONDS_PER_DAY
from service.experiments.definition import Experiment
from service.experiments.statistics import Sample, mean, proportion, sample_ratio
from service.serving.online import Tallies
from service.store import experiments as store
from service.store.keys import Keys
from service.store.online import MICROS, ONLINE_KEEP_SECONDS, read_days, split_field, split_label, utc_day


def experiment_days(experiment: Experiment, now: float) -> list[str]:
    """UTC days (YYYY-MM-DD, oldest first) from its start to its end or now, at most the days the counters
    are kept (92)."""
    last = min(now, experiment.ended_at() or now)
    kept = int(ONLINE_KEEP_SECONDS // SECONDS_PER_DAY)
    days = min(int(last // SECONDS_PER_DAY) - int(experiment.start // SECONDS_PER_DAY) + 1, kept)
    return [utc_day(last - back * SECONDS_PER_DAY) for back in reversed(range(days))]


async def experiment_results(redis: aioredis.Redis, keys: Keys, experiment: Experiment,
                             now: float | None = None) -> dict:
    """The results document of GET /v1/experiments/{name} (`results`); three round trips and a scan of
    the experiment's buyers."""
    now = time.time() if now is None else now
    names = [v.name for v in experiment.variants]
    days = experiment_days(experiment, now) if now >= experiment.start else []
    tallies = {name: Tallies() for name in names}
    for fields in await read_days(redis, keys, days) if days else []:
        for field, value in fields.items():
            label, _, counter = split_field(field)
            _, name, variant = split_label(label)
            if name == experiment.name and variant in tallies:
                tallies[variant].add(counter, value)
    exposed = dict(zip(names, await store.exposure_counts(redis, keys, experiment.name, names)))
    bought = await store.buyers(redis, keys, experiment.name)
    attributed = {name: sorted({u for per_user in bought.get(name, {}).values() for u in per_user}) for name in names}
    # the unit of analysis is the exposed customer: a purchase attributed to a variant by someone it never served
    # (a shared link, a sign-in under another id) is reported apart, not counted as a conversion
    counted = await store.exposed_among(redis, keys, experiment.name, attributed)
    buyers = {name: len(counted[name]) for name in names}
    currencies = sorted({c for per_variant in bought.values() for c in per_variant})

    def revenue(name: str, currency: str) -> Sample:
        per_user = bought.get(name, {}).get(currency, {})
        values = np.array([v for u, v in per_user.items() if u in counted[name]], dtype=np.float64) / MICROS
        return Sample.of(values, exposed[name])

    control = experiment.control
    rows = []
    for variant in experiment.variants:
        name, is_control = variant.name, variant.name == experiment.control
        tally = tallies[name]
        rows.append({
            "variant": name, "share": variant.share, "control": is_control, "model": variant.model.as_dict(),
            "exposed_customers": exposed[name], "impressions": tally.impressions, "clicks": tally.clicks,
            "purchases": tally.purchases, "buyers": buyers[name],
            "buyers_not_exposed": len(attributed[name]) - buyers[name],
            "revenue": {c: round(m / MICROS, 6) for c, m in sorted(tally.revenue.items())},
            "click_through_rate": proportion(tally.clicks, tally.impressions, None if is_control else (
                tallies[control].clicks, tallies[control].impressions)).as_dict(),
            "conversion": proportion(buyers[name], exposed[name], None if is_control else (
                buyers[control], exposed[control])).as_dict(),
            "revenue_per_customer": {c: mean(revenue(name, c), None if is_control else revenue(control, c)).as_dict()
                                     for c in currencies},
        })
    return {"from": days[0] if days else None, "to": days[-1] if days else None,
            "sample_ratio": sample_ratio([exposed[n] for n in names], [v.share for v in experiment.variants]).as_dict(),
            "variants": rows}
