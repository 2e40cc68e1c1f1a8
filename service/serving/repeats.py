"""What a customer's own items change in their list: which are removed, which wait behind the others,
and which are flagged `"repeat": true`.

A model that removes interacted items (the usual case) has every item the customer touched since
training removed at request time, as its precomputed lists have their training items removed. A
model that serves bought items (`Recommender.recommends_bought_items`: the basket models, or a
configuration model choice picked with bought items allowed back) removes nothing; instead:

* every item the customer bought before, at training (the artifact's recommender.repurchase
  PurchaseIndex) or since (their since-training purchases), is flagged `"repeat": true`;
* an item bought since training goes behind the other items until the customer's usual interval
  for it has passed (recommender.repurchase's rule, buy-again's), then it is back in place; with no
  interval known (a first purchase of an item without an across-customer median) it waits until a
  training has it, and the model ranks it from then on.

Recently shown items are demoted after this (service.serving.picking), so fatigue's promise, shown
items behind every unshown one, holds as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from recommender.baskets import BOUGHT_TYPES
from service.serving.model_state import ServingModel
from service.serving.requests import lookup
from service.store.events.since_training import UserState

_INF = float("inf")
#: The event type a fold-in history gives the items the customer bought, and the one it gives the rest
#: (any type that is not bought).
BOUGHT_TYPE, OTHER_TYPE = BOUGHT_TYPES[0], "view"


@dataclass(frozen=True)
class OwnItems:
    """One customer's own items as their list treats them.

    Attributes
    ----------
    exclude : frozenset of str
        Item ids removed from the list.
    waiting : frozenset of str
        Item ids bought since training and not due again: behind the other items.
    bought : frozenset of int
        Item codes of the model bought before: flagged `"repeat": true`.
    until : float
        Epoch seconds when the first waiting item is due (the list changes then); inf if none.
    """

    exclude: frozenset[str] = frozenset()
    waiting: frozenset[str] = frozenset()
    bought: frozenset[int] = frozenset()
    until: float = _INF


def own_items(current: ServingModel, code: int, state: UserState, now: float) -> OwnItems:
    """How the customer's list treats their own items.

    Parameters
    ----------
    code : int
        The customer's user code in the served model, -1 if it does not know them.
    state : UserState
        Their since-training state (service.store.events.since_training).
    now : float
        Epoch seconds.
    """
    model = current.model
    if not model.recommends_bought_items:
        return OwnItems(exclude=frozenset(state.since_training))
    index = model.purchases
    trained = index.bought(code).tolist() if index is not None and code >= 0 else []
    since: dict[int, tuple[float, ...]] = {}
    if state.bought:
        names = list(state.bought)
        for item, item_code in zip(names, lookup(model.item_ids, names).tolist()):
            if item_code >= 0:
                since[item_code] = state.bought[item]
    if not trained and not since:
        return OwnItems()
    due = index.due(code, since) if index is not None else dict.fromkeys(since, _INF)
    waiting = [c for c, at in due.items() if at > now]
    names = current.item_fields()[0]
    return OwnItems(waiting=frozenset(names[c] for c in waiting), bought=frozenset([*trained, *since]),
                    until=min((due[c] for c in waiting), default=_INF))


def fold_in_history(since: Mapping[str, float], bought: Mapping[str, tuple[float, ...]]
                    ) -> tuple[list[str], list[float], list[str], list[float]]:
    """A folded-in customer's since-training items, weights, event types and times, as
    Recommender.recommend_for_history takes them: their purchases count as bought (at their latest
    time), the other items do not."""
    items = list(since)
    types = [BOUGHT_TYPE if item in bought else OTHER_TYPE for item in items]
    times = [max(bought[item]) if item in bought else 0.0 for item in items]
    return items, [since[item] for item in items], types, times
