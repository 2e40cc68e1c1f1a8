"""A compact per-user event index: every event sorted by (user, time) with CSR-style offsets.

The retention blocks (win-back, abandoned carts, follow-up, new for you, buy again) need a
customer's raw events (what, when, which type), which the weighted training matrix has
folded away. Built once from an EventTable with a few vectorised passes (one sort), it
answers "this user's events" with an O(1) slice and "when was each user last active" with
one array, and stays numpy arrays throughout: a million customers are never a million
Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recommender.events import EVENT_TYPES, EventTable
from recommender.ids import IdMap

#: Event types that are something the customer did (an impression recorded by the store is not).
ACTIVITY_TYPES: tuple[str, ...] = ("view", "click", "add_to_cart", "purchase", "review", "notify_me")
NEVER = -np.inf


def type_code(name: str) -> int:
    """The int8 code of an event type name (its position in EVENT_TYPES); ValueError if unknown."""
    return EVENT_TYPES.index(name)


def activity_codes() -> np.ndarray:
    """int8 codes of ACTIVITY_TYPES."""
    return np.array([type_code(t) for t in ACTIVITY_TYPES if t in EVENT_TYPES], dtype=np.int8)


@dataclass(frozen=True)
class UserEvents:
    """One user's events, oldest first.

    Attributes
    ----------
    items : numpy.ndarray
        int32, shape (events,): item codes into `History.items`.
    types : numpy.ndarray
        int8, shape (events,): event type codes (recommender.events.EVENT_TYPES).
    timestamps : numpy.ndarray
        float64, shape (events,): epoch seconds, ascending.
    """

    items: np.ndarray
    types: np.ndarray
    timestamps: np.ndarray

    def __len__(self) -> int:
        return len(self.items)

    def of_type(self, name: str) -> UserEvents:
        """Only the events of one type (a name in EVENT_TYPES)."""
        return self._take(self.types == type_code(name))

    def activity(self) -> UserEvents:
        """What the customer did (no impressions): what "had an event with the item" means."""
        return self._take(np.isin(self.types, activity_codes()))

    def _take(self, keep: np.ndarray) -> UserEvents:
        return UserEvents(self.items[keep], self.types[keep], self.timestamps[keep])


@dataclass
class History:
    """Events grouped by user (users in `users` order, each user's events by time).

    Attributes
    ----------
    users, items : IdMap
        User and item codes of this index.
    offsets : numpy.ndarray
        int64, shape (users + 1,): user u's events are ``offsets[u]:offsets[u + 1]``.
    user_codes, item_codes : numpy.ndarray
        int32, shape (events,): the user and item of each event, in (user, time) order.
    types : numpy.ndarray
        int8, shape (events,): event type codes.
    timestamps : numpy.ndarray
        float64, shape (events,): epoch seconds.
    last_active : numpy.ndarray
        float64, shape (users,): epoch seconds of each user's newest activity event (ACTIVITY_TYPES),
        -inf if none.
    """

    users: IdMap
    items: IdMap
    offsets: np.ndarray  # int64, len(users) + 1: user u's events are [offsets[u], offsets[u + 1])
    user_codes: np.ndarray  # int32 per event (the sorted user of each event)
    item_codes: np.ndarray  # int32 per event
    types: np.ndarray  # int8 per event
    timestamps: np.ndarray  # float64 per event
    last_active: np.ndarray  # float64 per user: newest activity event, -inf if none
    _model_maps: dict = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, events: EventTable, items: IdMap | None = None) -> History:
        """Index `events` (one stable sort by user, then time).

        Parameters
        ----------
        events : EventTable
        items : IdMap, optional
            A model's item map: its indices become this index's item codes (new items are
            appended), so model arrays and history codes line up without a look-up.

        Returns
        -------
        History
        """
        users, user_codes = IdMap().extend(events.user_ids)
        items, item_codes = (items or IdMap()).extend(events.item_ids)
        order = np.lexsort((events.timestamps, user_codes))
        user_codes = user_codes[order].astype(np.int32)
        counts = np.bincount(user_codes, minlength=len(users))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        types = events.types[order].astype(np.int8)
        timestamps = events.timestamps[order].astype(np.float64)
        active = np.where(np.isin(types, activity_codes()), timestamps, NEVER)
        last_active = (np.maximum.reduceat(active, offsets[:-1]) if len(users)
                       else np.zeros(0, dtype=np.float64))
        return cls(users, items, offsets, user_codes, item_codes[order].astype(np.int32), types, timestamps,
                   last_active)

    @property
    def n_users(self) -> int:
        """Users with at least one event."""
        return len(self.users)

    @property
    def n_items(self) -> int:
        """Items in the item map (the model's too, when one was passed to `build`)."""
        return len(self.items)

    def __len__(self) -> int:
        return len(self.item_codes)

    def user_code(self, user_id: str) -> int | None:
        """The user's code in this index, or None for a user without events."""
        return self.users.get(user_id) if self.n_users else None

    def events_of(self, code: int) -> UserEvents:
        """The events of user code `code` (views into the index, no copy)."""
        lo, hi = self.offsets[code], self.offsets[code + 1]
        return UserEvents(self.item_codes[lo:hi], self.types[lo:hi], self.timestamps[lo:hi])

    def for_user(self, user_id: str) -> UserEvents:
        """The user's events (empty for a user with none)."""
        code = self.user_code(user_id)
        if code is None:
            empty = np.zeros(0, dtype=np.int32)
            return UserEvents(empty, empty.astype(np.int8), empty.astype(np.float64))
        return self.events_of(code)

    def of_type(self, name: str) -> np.ndarray:
        """Positions (int64) of every event of one type, in (user, time) order."""
        return np.flatnonzero(self.types == type_code(name))

    def model_index(self, model_items: IdMap) -> np.ndarray:
        """Per history item code, its index in a model's item map; cached for one model at a time.

        Returns
        -------
        numpy.ndarray
            int64, shape (n_items,): -1 where the model lacks the item.
        """
        key = id(model_items)
        cached = self._model_maps.get(key)
        if cached is None or cached[0] is not model_items:
            if len(model_items) <= self.n_items and np.array_equal(self.items.ids[:len(model_items)],
                                                                    model_items.ids):
                index = np.arange(self.n_items, dtype=np.int64)
                index[len(model_items):] = -1
            else:
                index = model_items.lookup(self.items.ids)
            cached = (model_items, index)
            self._model_maps = {key: cached}  # one model at a time: a swap replaces the entry
        return cached[1]
