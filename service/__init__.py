"""Encore's HTTP service: aiohttp routes over the recommender library, with Redis as cache and log."""
