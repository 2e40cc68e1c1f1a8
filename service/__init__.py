"""Encore's HTTP service: aiohttp routes over the recommender library, with Redis as cache and log."""

# First: importing the library pins OPENBLAS_NUM_THREADS before numpy loads (recommender/__init__.py,
# the one place it is set), whichever service module a process starts from.
import recommender  # noqa: F401
