"""Back in stock, price drop and browse abandonment on small hand-made stories (no model: pure selection)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.catalog import Catalog
from recommender.events import EVENT_TYPES, EventTable
from recommender.matrix import build_matrix
from recommender.models import Recommender
from recommender.algorithms import ModelParams
from recommender.retention.audience import item_audience, recent_buyers
from recommender.retention.back_in_stock import back_in_stock, out_of_stock_periods
from recommender.retention.blocks import RepurchaseIntervals
from recommender.retention.browse import browse_abandonment
from recommender.retention.history import History
from recommender.retention.price_drop import price_drop

T = 1_790_000_000.0
DAY = 86_400.0


def events(*rows: tuple[str, str, str, float]) -> EventTable:
    """(user, item, type, epoch seconds) rows."""
    return EventTable(np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows], dtype=object),
                      np.array([EVENT_TYPES.index(r[2]) for r in rows], dtype=np.int8),
                      np.array([r[3] for r in rows], dtype=np.float64), np.ones(len(rows), dtype=np.float32))


def catalog(**stock: bool) -> Catalog:
    return Catalog.from_frame(pd.DataFrame({"item_id": list(stock), "kind": "product", "category": "c",
                                            "in_stock": list(stock.values())}))


def rows(result) -> list[tuple[str, list[str]]]:
    return [(r.user_id, [i.item_id for i in r.items]) for chunk in result for r in chunk]


def test_out_of_stock_periods_close_at_each_restock_and_stay_open_while_out():
    history = History.build(events(("u", "a", "view", T), ("u", "b", "view", T)))
    items, starts, ends = out_of_stock_periods(
        {"a": [(T, True), (T + 10, False), (T + 20, True), (T + 30, False)], "b": [(T, False)], "zz": [(T, False)]},
        history)
    assert history.items.ids[items].tolist() == ["a", "a", "b"]
    assert starts.tolist() == [T + 10, T + 30, T] and ends.tolist() == [T + 20, np.inf, np.inf]


def test_only_interest_while_out_counts_and_a_purchase_since_ends_it():
    changes = {"a": [(T, True), (T + 100, False), (T + 200, True)], "b": [(T + 100, False), (T + 200, True)]}
    history = History.build(events(
        ("before", "a", "view", T + 50),  # in stock then
        ("viewer", "a", "view", T + 150), ("viewer", "b", "add_to_cart", T + 160),
        ("buyer", "a", "view", T + 150), ("buyer", "a", "purchase", T + 250),
        ("asker", "c", "notify_me", T + 150),  # no stock history: the request itself counts
        ("old", "a", "view", T + 150 - 40 * DAY)))
    attrs = catalog(a=True, b=True, c=True).align(history.items)
    result = back_in_stock(history, attrs, changes, None, T + 300, 30, 3)
    assert rows(result) == [("asker", ["c"]), ("viewer", ["b", "a"])]  # newest interest first


def test_an_item_sold_out_again_is_not_back_in_stock():
    changes = {"a": [(T + 100, False), (T + 200, True), (T + 250, False)]}
    history = History.build(events(("viewer", "a", "view", T + 150)))
    out_now = catalog(a=False).align(history.items)
    assert rows(back_in_stock(history, out_now, changes, None, T + 300, 30, 3)) == []
    changes["a"].append((T + 280, True))
    assert rows(back_in_stock(history, catalog(a=True).align(history.items), changes, None, T + 300, 30, 3)) == [
        ("viewer", ["a"])]


def test_contacted_customers_are_left_out_and_counted():
    history = History.build(events(("x", "a", "notify_me", T), ("y", "a", "notify_me", T)))
    result = back_in_stock(history, catalog(a=True).align(history.items), {}, None, T + 1, 30, 3, leave_out={"x"})
    assert rows(result) == [("y", ["a"])] and result.left_out == 1


def drops(result) -> dict[str, list[tuple[str, float, float]]]:
    return {r.user_id: [(i.item_id, i.extra["old_price"], i.extra["price"]) for i in r.items]
            for chunk in result for r in chunk}


def test_price_drop_uses_the_price_at_the_last_look_within_the_window_and_skips_buyers_and_other_currencies():
    changes = {"a": [(T, 100.0, None), (T + 100, 150.0, None), (T + 200, 95.0, None)],
               "b": [(T, 10.0, "EUR"), (T + 200, 5.0, "USD")]}
    history = History.build(events(
        ("first", "a", "view", T + 50), ("second", "a", "view", T + 150),
        ("both", "a", "view", T + 50), ("both", "a", "add_to_cart", T + 150),  # the last look counts
        ("buyer", "a", "view", T + 150), ("buyer", "a", "purchase", T + 250),
        ("euro", "b", "view", T + 50),  # the price moved to another currency: not compared
        ("stale", "a", "view", T + 150 - 40 * DAY)))
    attrs = catalog(a=True, b=True).align(history.items)
    assert drops(price_drop(history, attrs, changes, T + 300, 30, 10, 3)) == {
        "both": [("a", 150.0, 95.0)], "second": [("a", 150.0, 95.0)]}
    assert drops(price_drop(history, attrs, changes, T + 300, 30, 5, 3))["first"] == [("a", 100.0, 95.0)]
    # the current price is the price at `now`: before the drop to 95, nobody saw a higher price than 150
    assert drops(price_drop(history, attrs, changes, T + 190, 30, 1, 3)) == {}


def browses(result) -> dict[str, list[tuple[str, int]]]:
    return {r.user_id: [(i.item_id, i.extra["views"]) for i in r.items] for chunk in result for r in chunk}


def test_browse_abandonment_needs_enough_views_an_ended_visit_and_no_cart_after_the_first_view():
    hour = 3600.0
    now = T + 100 * hour
    history = History.build(events(
        ("browser", "a", "view", now - 5 * hour), ("browser", "a", "view", now - 4 * hour),
        ("browser", "b", "view", now - 6 * hour), ("browser", "b", "view", now - 5 * hour),
        ("browser", "b", "view", now - 3 * hour),
        ("buyer", "a", "view", now - 5 * hour), ("buyer", "a", "view", now - 4 * hour),
        ("buyer", "a", "add_to_cart", now - 4.5 * hour),  # carted between the views
        ("early", "a", "view", now - 60 * hour), ("early", "a", "view", now - 5 * hour),  # one view in the window
        ("here", "a", "view", now - 3 * hour), ("here", "a", "view", now - 0.5 * hour),
        ("cat", "a", "view", now - 5 * hour), ("cat", "c", "view", now - 4 * hour)))
    attrs = Catalog.from_frame(pd.DataFrame({"item_id": ["a", "b", "c"], "kind": "product",
                                             "category": ["x", "y", "x"], "in_stock": True})).align(history.items)
    assert browses(browse_abandonment(history, attrs, None, now, 2, 48, 2, 3)) == {
        "browser": [("b", 3), ("a", 2)]}
    by_category = browses(browse_abandonment(history, attrs, None, now, 2, 48, 2, 3, by="category"))
    assert by_category["cat"] == [("c", 1), ("a", 1)] and "buyer" not in by_category
    assert browses(browse_abandonment(history, attrs, None, now, 2, 48, 2, 1)) == {"browser": [("b", 3)]}


def test_recent_buyers_are_left_out_of_an_audience_unless_the_repeat_purchase_is_due():
    buys = [(u, "a", "purchase", T + d * DAY) for u, days in
            (("x", (0, 10)), ("y", (0, 10)), ("w", (0, 10)), ("z", (5, 15)), ("once", (21,))) for d in days]
    history = History.build(events(*buys, ("fan", "b", "view", T)))
    intervals = RepurchaseIntervals.build(history)
    assert intervals.median_days[history.items.get("a")] == 10.0
    now = T + 22 * DAY
    buyers = recent_buyers(history, history.items.get("a"), now, 90, intervals)
    assert sorted(history.users.ids[buyers]) == ["once", "z"]  # 1 and 7 days ago; x, y, w are 12 days: due
    assert len(recent_buyers(history, history.items.get("a"), now, 0, intervals)) == 0
    never_again = History.build(events(("x", "b", "purchase", T), ("y", "b", "purchase", T + 50 * DAY)))
    assert history_ids(never_again, recent_buyers(never_again, never_again.items.get("b"), T + 60 * DAY, 30,
                                                  RepurchaseIntervals.build(never_again))) == ["y"]


def test_an_audience_of_equal_scores_is_in_user_id_order_whatever_its_length():
    users = [f"u{k:03d}" for k in np.random.default_rng(0).permutation(300)]
    table = events(*[(u, "a", "view", T) for u in users])  # every customer: all of category c (share 1.0)
    history = History.build(table)
    attrs = catalog(a=True).align(history.items)
    model = Recommender(ModelParams(algorithm="popular")).fit(build_matrix(table))
    intervals = RepurchaseIntervals.build(history)

    def audience(n: int, **kwargs) -> list[str]:
        ranking, result = item_audience(model, history, attrs, intervals, "b", "c", T + DAY, 90, n, **kwargs)
        assert ranking == "category"
        return [r.user_id for chunk in result for r in chunk]

    ordered = sorted(users)
    for n in (1, 3, 10, 100, 299, 300, 301):
        assert audience(n) == ordered[:n]
    assert audience(3, leave_out={"u000"}, unknown={"u002"}) == ["u001", "u003", "u004"]


def history_ids(history: History, codes: np.ndarray) -> list[str]:
    return sorted(history.users.ids[codes].tolist())


def test_trending_scores_the_current_window_against_the_seven_before_with_a_floor_on_sigma():
    from recommender.retention.trending import trend_scores, trending

    hour = 3600.0
    now = T + 1000 * hour
    rows = []
    for window in range(8):  # window 0 is the current one (the last 24 hours)
        at = now - (window * 24 + 1) * hour
        rows += [(f"s{k}", "steady", "view", at) for k in range(10)]
        rows += [(f"f{k}", "falling", "view", at) for k in range(10 if window else 2)]
        rows += [(f"b{k}", "bought", "view", at) for k in range(4)] if window else [
            (f"b{k}", "bought", "purchase", at) for k in range(3)] + [("b0", "bought", "view", at)]  # b0's best: 5
    rows += [(f"r{k}", "rising", "view", now - 2 * hour) for k in range(25)]
    rows += [("bot", "burst", "view", now - hour)] * 50  # one customer's burst counts as one view
    rows += [("old", "rising", "view", now - 9 * 24 * hour)] * 50  # before the eight windows: no weight
    history = History.build(events(*rows))
    attrs = catalog(steady=True, falling=True, rising=True, bought=True).align(history.items)
    top = trending(history, attrs, now, 24, 10)
    assert [(i.item_id, round(i.score, 3)) for i in top] == [("rising", 25.0), ("bought", 11.0),  # 3 x 5 - 4
                                                               ("burst", 1.0)]
    assert (top[0].extra, top[1].extra) == ({"current": 25.0, "baseline": 0.0}, {"current": 15.0, "baseline": 4.0})
    scores = trend_scores(history, now, 24)
    assert scores.scores[history.items.get("steady")] == -np.inf and scores.current[history.items.get("steady")] == 10
    assert [i.item_id for i in trending(history, attrs, now, 24, 1)] == ["rising"]
