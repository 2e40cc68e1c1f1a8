"""Customer lifecycle: who is slipping away, what each customer is worth, when they will order next.

From purchases (`Purchases`, or `read_purchases` on an events file with prices), `summarize` builds each
customer's history (frequency, recency and age in days, spend); `fit_lifecycle` fits the BG/NBD model of
repeat purchasing (Fader, Hardie and Lee 2005) and the Gamma-Gamma model of spend (Fader and Hardie 2013),
and `LifecycleModel.predict` gives every customer P(alive), expected orders, the next-order date, discounted
365-day value, RFM segment and churn risk band. The modules:

- purchases.py: the input arrays and the events-file reader
- summary.py: per-customer frequency, recency, age, revenue, mean repeat spend
- bgnbd.py, gamma_gamma.py: likelihoods, fits, expectations; fitting.py: the shared optimiser and FitError
- segments.py: RFM scores and segments, churn risk bands
- predictions.py: per-customer predictions; model.py: fit everything as one record
- holdout.py: the churn-ranking check on the last days held out (AUC of p_alive against days since last)
"""

from recommender.lifecycle.bgnbd import (
    BGNBDParams,
    conditional_expected_purchases,
    expected_purchases_new,
    fit_bgnbd,
    p_alive,
    p_no_purchases_new,
)
from recommender.lifecycle.fitting import FitError
from recommender.lifecycle.gamma_gamma import (
    GammaGammaParams,
    conditional_expected_spend,
    fit_gamma_gamma,
)
from recommender.lifecycle.holdout import HoldoutCheck, holdout_check
from recommender.lifecycle.model import LifecycleModel, fit_lifecycle
from recommender.lifecycle.predictions import (
    DEFAULT_ANNUAL_DISCOUNT,
    CustomerPredictions,
    LifecycleConfig,
    predict_customers,
)
from recommender.lifecycle.purchases import Purchases, read_purchases
from recommender.lifecycle.segments import (
    CHURN_BANDS,
    SEGMENTS,
    RfmEdges,
    fit_rfm_edges,
)
from recommender.lifecycle.summary import CustomerSummary, summarize

__all__ = [
    "CHURN_BANDS",
    "DEFAULT_ANNUAL_DISCOUNT",
    "SEGMENTS",
    "BGNBDParams",
    "CustomerPredictions",
    "CustomerSummary",
    "FitError",
    "GammaGammaParams",
    "HoldoutCheck",
    "LifecycleConfig",
    "LifecycleModel",
    "Purchases",
    "RfmEdges",
    "conditional_expected_purchases",
    "conditional_expected_spend",
    "expected_purchases_new",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_lifecycle",
    "fit_rfm_edges",
    "holdout_check",
    "p_alive",
    "p_no_purchases_new",
    "predict_customers",
    "read_purchases",
    "summarize",
]
