"""Customer lifecycle: who is slipping away, what each customer is worth, when they will order next.

- purchases.py: the input arrays and the events-file reader
- summary.py: per-customer frequency, recency, age, revenue, mean repeat spend
- bgnbd.py, gamma_gamma.py: likelihoods, fits, expectations; fitting.py: the shared optimiser and FitError
"""

from recommender.lifecycle.bgnbd import (
    BGNBDParams, conditional_expected_purchases, expected_purchases_new, fit_bgnbd, p_alive, p_no_purchases_new,
)
from recommender.lifecycle.fitting import FitError
from recommender.lifecycle.gamma_gamma import GammaGammaParams, conditional_expected_spend, fit_gamma_gamma
from recommender.lifecycle.purchases import Purchases, read_purchases
from recommender.lifecycle.summary import CustomerSummary, summarize

__all__ = [
    "BGNBDParams",
    "CustomerSummary",
    "FitError",
    "GammaGammaParams",
    "Purchases",
    "conditional_expected_purchases",
    "conditional_expected_spend",
    "expected_purchases_new",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "p_alive",
    "p_no_purchases_new",
    "read_purchases",
    "summarize",
]
