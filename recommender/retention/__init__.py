"""Retention blocks and campaigns: what a store mails or shows a customer besides their main list.

Built on one per-user event index (`History`, every event accepted so far) and the trained model:
win-back for lapsed customers and abandoned carts (campaigns), follow-up after a purchase, new for
you and buy again (blocks), co-purchase complements, and fatigue (recently shown items go behind the
rest). Pure and synchronous like the rest of the library.
"""

from recommender.retention.activity import ItemActivity, event_counts, item_activity
from recommender.retention.back_in_stock import BackInStock, back_in_stock
from recommender.retention.blocks import (
    Block,
    FollowUp,
    RepurchaseIntervals,
    buy_again,
    follow_up,
    new_for_you,
)
from recommender.retention.campaigns import (
    AbandonedCart,
    LapsedCustomer,
    abandoned_carts,
    abandoned_pairs,
    lapsed_users,
    win_back,
    win_back_customers,
)
from recommender.retention.browse import AbandonedBrowse, browse_abandonment
from recommender.retention.complements import Complements, complements_of
from recommender.retention.fatigue import demote, recently_shown
from recommender.retention.history import History, UserEvents
from recommender.retention.price_drop import PriceDrop, price_drop
from recommender.retention.ranking import BlockItem

__all__ = [
    "AbandonedBrowse",
    "AbandonedCart",
    "BackInStock",
    "Block",
    "BlockItem",
    "Complements",
    "FollowUp",
    "History",
    "ItemActivity",
    "LapsedCustomer",
    "PriceDrop",
    "RepurchaseIntervals",
    "UserEvents",
    "abandoned_carts",
    "abandoned_pairs",
    "back_in_stock",
    "browse_abandonment",
    "buy_again",
    "complements_of",
    "demote",
    "event_counts",
    "follow_up",
    "item_activity",
    "lapsed_users",
    "new_for_you",
    "price_drop",
    "recently_shown",
    "win_back",
    "win_back_customers",
]
