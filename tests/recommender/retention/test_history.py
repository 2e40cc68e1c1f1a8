"""The per-user event index: slices, last activity, item codes aligned to a model's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.events import EVENT_TYPES, EventTable
from recommender.retention.history import History
from tests.recommender.conftest import DAY, NOW


def test_each_users_slice_is_their_events_in_time_order(storefront):
    history = History.build(storefront.events)
    frame = storefront.events.to_frame()
    assert len(history) == len(frame) and history.n_users == frame["user_id"].nunique()
    assert np.all(np.diff(history.offsets) > 0) and history.offsets[-1] == len(frame)
    for user in ("u000000", "u000007", "u000123"):
        mine = frame[frame["user_id"] == user].sort_values("timestamp", kind="stable")
        events = history.for_user(user)
        assert list(history.items.ids[events.items]) == list(mine["item_id"])
        assert list(np.asarray(EVENT_TYPES)[events.types]) == list(mine["type"])
        assert np.array_equal(events.timestamps, mine["timestamp"].to_numpy())
        assert history.last_active[history.user_code(user)] == mine["timestamp"].max()
    assert len(history.for_user("nobody")) == 0 and history.user_code("nobody") is None


def test_last_active_matches_the_raw_events_for_everyone(storefront):
    history = History.build(storefront.events)
    last = storefront.events.to_frame().groupby("user_id")["timestamp"].max()
    assert np.array_equal(history.last_active, last.loc[history.users.ids].to_numpy())


def test_model_item_codes_are_kept_and_new_items_appended(storefront, trained):
    model = trained("als")
    extra = EventTable.from_frame(pd.DataFrame({"user_id": ["late"], "item_id": ["brand-new"], "type": ["view"],
                                                "timestamp": [NOW - DAY]}))
    history = History.build(EventTable.concat([storefront.events, extra]), model.item_ids)
    m = len(model.item_ids)
    assert np.array_equal(history.items.ids[:m], model.item_ids.ids) and history.items.ids[m] == "brand-new"
    index = history.model_index(model.item_ids)
    assert np.array_equal(index[:m], np.arange(m)) and index[m] == -1
    # a history built on its own map still maps to the model by id
    own = History.build(storefront.events)
    mapped = own.model_index(model.item_ids)
    assert np.array_equal(model.item_ids.ids[mapped], own.items.ids)


def test_empty_events():
    history = History.build(EventTable.empty())
    assert history.n_users == 0 and len(history.for_user("u")) == 0 and len(history.last_active) == 0


def test_impressions_are_not_activity():
    frame = pd.DataFrame({"user_id": ["u", "u", "shown-only"], "item_id": ["a", "b", "a"],
                          "type": ["view", "impression", "impression"],
                          "timestamp": [NOW - 10 * DAY, NOW - DAY, NOW - DAY]})
    history = History.build(EventTable.from_frame(frame))
    assert history.last_active[history.user_code("u")] == NOW - 10 * DAY  # being shown an email is not a visit
    assert history.last_active[history.user_code("shown-only")] == -np.inf
    assert list(history.items.ids[history.for_user("u").activity().items]) == ["a"]
