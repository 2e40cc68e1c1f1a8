"""Every `source` a list can carry: where its items came from. One home, so the library, the service
and its OpenAPI document say the same words."""

#: The model's personal ranking for a known (or folded-in) customer.
PERSONALIZED = "personalized"
#: The popularity list: a customer the model knows nothing about.
FALLBACK = "fallback"
#: Similar items of the model (item-to-item lists).
SIMILAR = "similar"
#: Computed from the in-process model alone while Redis could not be read, so without the customer's
#: events since training (a purchase from this morning may reappear).
IN_MEMORY_MODEL = "in_memory_model"
#: Retention blocks: a customer with no events at all.
UNKNOWN_USER = "unknown_user"
#: New for you, for a customer the model has no vector for: their share of events per category.
CATEGORY_AFFINITY = "category_affinity"
#: Follow-up and buy again: built from the customer's purchases.
PURCHASES = "purchases"
#: Follow-up for a customer who never bought.
NO_PURCHASES = "no_purchases"
#: Buy again for a customer who never bought anything twice.
NO_REPEAT_PURCHASES = "no_repeat_purchases"
#: Trending items: rising against their own recent past (recommender.retention.trending).
TRENDING = "trending"
