"""Customer lifecycle: who is slipping away, what each customer is worth, when they will order next.

- purchases.py: the input arrays and the events-file reader
- summary.py: per-customer frequency, recency, age, revenue, mean repeat spend
"""

from recommender.lifecycle.purchases import Purchases, read_purchases
from recommender.lifecycle.summary import CustomerSummary, summarize

__all__ = ["CustomerSummary", "Purchases", "read_purchases", "summarize"]
