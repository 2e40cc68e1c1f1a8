# First: importing the library pins OPENBLAS_NUM_THREADS before numpy loads (recommender/__init__.py).
import recommender  # noqa: F401
