"""Win-back and abandoned carts on the demo store, checked against the raw events."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.events import EventTable
from recommender.filters import ItemFilter
from recommender.retention.campaigns import (
    abandoned_carts,
    abandoned_pairs,
    lapsed_users,
    win_back,
    win_back_customers,
)
from recommender.retention.complements import Complements
from recommender.retention.history import History
from tests.recommender.conftest import DAY, NOW


def setup(storefront, model, extra: EventTable | None = None):
    events = storefront.events if extra is None else EventTable.concat([storefront.events, extra])
    history = History.build(events, model.item_ids)
    attrs = storefront.catalog.align(history.items)
    return history, attrs, Complements.build(history, attrs.kind == "content")


def test_lapsed_users_are_those_idle_in_the_window(storefront):
    history = History.build(storefront.events)
    last = storefront.events.to_frame().groupby("user_id")["timestamp"].max()
    idle = (NOW - last) / DAY
    expected = sorted(idle.index[(idle >= 240) & (idle <= 365)])
    assert len(expected) > 10
    assert list(history.users.ids[lapsed_users(history, NOW, 240, 365)]) == expected


def test_win_back_for_chosen_customers_keeps_their_order_and_leaves_out_who_it_is_told(storefront, trained):
    model = trained("als")
    history, _, _ = setup(storefront, model)
    users = np.array([7, 3, 11, 5, 2])  # history codes, in the caller's order (e.g. value at risk)
    skip = {str(history.users.ids[11])}
    rows = win_back_customers(model, history, users, 3, chunk=2, leave_out=skip)
    listed = [r for chunk in rows for r in chunk]
    assert [r.user_id for r in listed] == [str(history.users.ids[u]) for u in (7, 3, 5, 2)] and rows.left_out == 1
    assert all(len(r.items) == 3 for r in listed)
    window = lapsed_users(history, NOW, 240, 365)
    assert ([r.user_id for c in win_back(model, history, NOW, 240, 365, 2) for r in c]
            == [r.user_id for c in win_back_customers(model, history, window, 2) for r in c])


def test_win_back_chunks_lists_new_items_and_falls_back_for_strangers(storefront, trained):
    model = trained("als")
    old = pd.DataFrame({"user_id": ["gone-before-training"] * 2, "item_id": ["p00001", "p00002"],
                        "type": ["view", "purchase"], "timestamp": [NOW - 300 * DAY, NOW - 299 * DAY]})
    history, _, _ = setup(storefront, model, EventTable.from_frame(old))
    # the model was trained without that customer: they get popular items, minus what they had
    chunks = list(win_back(model, history, NOW, 240, 365, 4, ItemFilter(kind="product", max_per_category=1),
                           chunk=10))
    rows = [r for c in chunks for r in c]
    assert len(chunks) > 1 and all(len(c) <= 10 for c in chunks)
    assert [r.user_id for r in rows] == list(history.users.ids[lapsed_users(history, NOW, 240, 365)])
    created = dict(zip(storefront.catalog.frame["item_id"], storefront.catalog.frame["created_at"]))
    frame = storefront.events.to_frame()
    for row in rows:
        assert len(row.items) == 4 and all(i.kind == "product" for i in row.items)
        assert len({i.category for i in row.items}) == 4  # the cap
        for item in row.items:
            assert item.extra["new"] == (created[item.item_id] > row.last_active)
        if row.user_id == "gone-before-training":
            assert row.source == "fallback"
            assert not {"p00001", "p00002"} & {i.item_id for i in row.items}
        else:
            assert row.source == "personalized"
            assert not set(frame.loc[frame["user_id"] == row.user_id, "item_id"]) & {i.item_id for i in row.items}
    # among the candidates, new items are boosted: a new item never sits below an old one it outranked
    assert any(i.extra["new"] for r in rows for i in r.items)
    assert not any("repeat" in i.extra for r in rows for i in r.items)  # bought items are never in these lists


def test_win_back_flags_what_the_customer_bought_when_the_model_serves_bought_items(storefront, trained):
    model = trained("personal")  # own most-bought items first
    history, _, _ = setup(storefront, model)
    frame = storefront.events.to_frame()
    flagged = 0
    for row in (r for chunk in win_back(model, history, NOW, 0, 365, 20) for r in chunk):
        bought = set(frame.loc[(frame["user_id"] == row.user_id) & (frame["type"] == "purchase"), "item_id"])
        for item in row.items:
            assert item.extra.get("repeat", False) == (item.item_id in bought)
            flagged += item.item_id in bought
    assert flagged > 10


def test_win_back_leaves_out_what_a_known_customer_had_after_the_model_was_trained(storefront, trained):
    model = trained("als")
    history, _, _ = setup(storefront, model)
    rows = [r for c in win_back(model, history, NOW, 0, 3650, 10) for r in c]
    known = [r for r in rows if r.source == "personalized" and len(r.items) == 10]
    customer = known[7]
    first, second = customer.items[0].item_id, customer.items[1].item_id
    # purchases the model never saw (sent since training, imported late with a year-old timestamp),
    # dated so the customer's last visit, and with it what counts as new, stays where it was
    late = pd.DataFrame({"user_id": [customer.user_id] * 2, "item_id": [first, second],
                         "type": ["purchase", "purchase"],
                         "timestamp": [customer.last_active, customer.last_active - 365 * DAY]})
    history, _, _ = setup(storefront, model, EventTable.from_frame(late))
    again = next(r for c in win_back(model, history, NOW, 0, 3650, 10) for r in c if r.user_id == customer.user_id)
    ids = [i.item_id for i in again.items]
    assert again.last_active == customer.last_active
    assert first not in ids and second not in ids and len(ids) == 10
    assert ids[:8] == [i.item_id for i in customer.items[2:]]  # the others keep their order


def test_win_back_asks_again_when_what_a_customer_had_empties_the_candidates(storefront, trained):
    model = trained("als")
    history, _, _ = setup(storefront, model)
    customer = next(r for c in win_back(model, history, NOW, 0, 3650, 4) for r in c if r.source == "personalized")
    candidates = [r for c in win_back(model, history, NOW, 0, 3650, 25) for r in c
                  if r.user_id == customer.user_id][0].items
    bought = pd.DataFrame({"user_id": customer.user_id, "item_id": [i.item_id for i in candidates],
                           "type": "view", "timestamp": NOW - DAY})
    history, _, _ = setup(storefront, model, EventTable.from_frame(bought))
    again = next(r for c in win_back(model, history, NOW, 0, 3650, 4) for r in c if r.user_id == customer.user_id)
    assert len(again.items) == 4 and not {i.item_id for i in again.items} & set(bought["item_id"])


def raw_abandoned(frame: pd.DataFrame, older_hours: float, within_days: float) -> set[tuple[str, str]]:
    carts = frame[frame["type"] == "add_to_cart"].groupby(["user_id", "item_id"])["timestamp"].max()
    buys = frame[frame["type"] == "purchase"].groupby(["user_id", "item_id"])["timestamp"].max()
    joined = carts.to_frame("cart").join(buys.to_frame("buy"), how="left")
    window = (joined["cart"] <= NOW - older_hours * 3600) & (joined["cart"] >= NOW - within_days * DAY)
    return set(joined.index[window & (joined["buy"].isna() | (joined["buy"] < joined["cart"]))])


def test_abandoned_pairs_match_an_independent_computation(storefront):
    history = History.build(storefront.events)
    users, items, _ = abandoned_pairs(history, NOW, 24, 400)
    got = set(zip(history.users.ids[users], history.items.ids[items]))
    expected = raw_abandoned(storefront.events.to_frame(), 24, 400)
    assert len(expected) > 20 and got == expected
    assert np.all(np.diff(users) >= 0)


def test_cart_rules_on_hand_made_events():
    rows = [("bought", "a", "add_to_cart", 10), ("bought", "a", "purchase", 9),        # bought after: no
            ("rebought", "b", "purchase", 20), ("rebought", "b", "add_to_cart", 5),    # carted again: yes
            ("fresh", "c", "add_to_cart", 0.5),                                      # under a day: no
            ("recarted", "d", "add_to_cart", 5), ("recarted", "d", "add_to_cart", 0.2),  # cart still live
            ("old", "e", "add_to_cart", 30)]                                         # outside 7 days: no
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "type", "days_ago"])
    frame["timestamp"] = NOW - frame.pop("days_ago") * DAY
    history = History.build(EventTable.from_frame(frame))
    users, items, _ = abandoned_pairs(history, NOW, 24, 7)
    assert set(zip(history.users.ids[users], history.items.ids[items])) == {("rebought", "b")}


def test_abandoned_cart_complements_are_never_bought_or_carted(storefront, trained):
    history, attrs, complements = setup(storefront, trained("als"))
    frame = storefront.events.to_frame()
    bought = frame[frame["type"] == "purchase"].groupby("user_id")["item_id"].agg(set)
    chunks = list(abandoned_carts(history, complements, attrs, NOW, 24, 400, 3, chunk=25))
    rows = [r for c in chunks for r in c]
    assert len(chunks) > 1 and sum(bool(r.items) for r in rows) > len(rows) / 2
    for row in rows:
        ids = {i.item_id for i in row.items}
        assert len(row.items) <= 3 and not ids & bought.get(row.user_id, set())
        assert not ids & {i.item_id for i in row.abandoned}
    # filters apply to the abandoned items too
    coffee = [r for c in abandoned_carts(history, complements, attrs, NOW, 24, 400, 3,
                                         ItemFilter(category="coffee")) for r in c]
    assert coffee and all(i.category == "coffee" for r in coffee for i in r.abandoned + r.items)


def test_customers_left_out_are_skipped_and_counted(storefront, trained):
    model = trained("als")
    history, attrs, complements = setup(storefront, model)
    everyone = [r.user_id for c in win_back(model, history, NOW, 240, 365, 2) for r in c]
    skip = {everyone[0], everyone[-1], "not-a-customer"}
    rows = win_back(model, history, NOW, 240, 365, 2, leave_out=skip)
    assert rows.left_out == 2
    assert [r.user_id for c in rows for r in c] == everyone[1:-1]
    carts = [r.user_id for c in abandoned_carts(history, complements, attrs, NOW, 0, 3650, 2) for r in c]
    capped = abandoned_carts(history, complements, attrs, NOW, 0, 3650, 2, leave_out=set(carts[:5]))
    assert capped.left_out == 5 and [r.user_id for c in capped for r in c] == carts[5:]
