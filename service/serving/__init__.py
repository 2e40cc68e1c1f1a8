"""The read path and its caches: precomputed lists filtered at request time, the in-memory model
behind them, the retention index, online tallies. No HTTP here: service.http parses and serialises,
and maps the domain errors raised here (service.errors) to statuses."""
