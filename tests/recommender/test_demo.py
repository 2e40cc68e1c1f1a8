import numpy as np
import pandas as pd
import pytest

from recommender import demo
from recommender.catalog import read_catalog
from recommender.demo import generate_storefront, write_storefront
from recommender.events import read_events
from recommender.units import SECONDS_PER_DAY as DAY
from tests.recommender.conftest import NOW


@pytest.fixture(scope="module")
def frame(storefront) -> pd.DataFrame:
    """Events with the item's kind and category joined in."""
    events = storefront.events.to_frame()
    items = pd.DataFrame([vars(i) for i in storefront.catalog.items()])
    return events.merge(items[["item_id", "kind", "category"]], on="item_id", how="left", validate="m:1")


def test_same_seed_same_store():
    first = generate_storefront(n_users=120, n_products=60, n_content=8, seed=9, now=NOW)
    second = generate_storefront(n_users=120, n_products=60, n_content=8, seed=9, now=NOW)
    pd.testing.assert_frame_equal(first.events.to_frame(), second.events.to_frame())
    assert first.catalog.items() == second.catalog.items()
    other = generate_storefront(n_users=120, n_products=60, n_content=8, seed=10, now=NOW)
    assert len(other.events) != len(first.events) or not np.array_equal(
        other.events.item_ids, first.events.item_ids)


def test_catalog_has_both_kinds(storefront):
    items = storefront.catalog.items()
    kinds = pd.Series([i.kind for i in items]).value_counts()
    assert kinds.to_dict() == {"product": 120, "content": 20}
    assert all(i.category for i in items)
    assert any(not i.in_stock for i in items if i.kind == "product")
    assert all(i.in_stock for i in items if i.kind == "content")
    assert all(i.created_at < NOW for i in items)


def test_every_event_is_valid_and_in_the_past(storefront, frame):
    assert frame["kind"].notna().all()  # every event's item is in the catalog
    assert (frame["timestamp"] < NOW).all()
    assert np.all(np.diff(storefront.events.timestamps) >= 0)  # sorted by time
    assert storefront.now == NOW


def test_no_session_runs_past_now_in_a_store_of_the_demo_size():
    """A session that began in the last minutes used to end up to 29 minutes after `now`."""
    store = generate_storefront(n_users=2000, seed=0, now=NOW)
    assert store.events.timestamps.max() < NOW


def test_user_activity_follows_a_power_law(frame):
    per_user = frame.groupby("user_id").size().sort_values(ascending=False)
    top = per_user.iloc[: len(per_user) // 10].sum() / per_user.sum()
    assert top > 0.4  # the top 10% of users make far more than 10% of the events
    assert per_user.min() >= 1 and per_user.max() > 20 * per_user.median()


def test_purchases_and_reviews_exist(frame):
    counts = frame["type"].value_counts()
    assert counts["purchase"] > 100
    assert counts["review"] > 0
    assert counts["view"] > counts["add_to_cart"] > 0
    reviews = frame.loc[frame["type"] == "review", "value"]
    assert reviews.between(1, 5).all()


def test_abandoned_carts_exist(frame):
    carts = frame.loc[frame["type"] == "add_to_cart", ["user_id", "item_id"]].drop_duplicates()
    bought = frame.loc[frame["type"] == "purchase", ["user_id", "item_id"]].drop_duplicates()
    joined = carts.merge(bought, how="left", indicator=True)
    abandoned = (joined["_merge"] == "left_only").sum()
    assert abandoned > 50
    assert abandoned < len(carts)  # and some carts were bought


def test_buyers_read_content(frame):
    buyers = set(frame.loc[frame["type"] == "purchase", "user_id"])
    reads = frame[(frame["kind"] == "content") & (frame["type"] == "click")]
    assert len(reads) > 20
    assert reads["user_id"].isin(buyers).all()
    # the guide is of a category the reader bought in
    bought = frame.loc[frame["type"] == "purchase", ["user_id", "category"]].drop_duplicates()
    matched = reads.merge(bought, on=["user_id", "category"], how="inner")
    read_pairs = reads[["user_id", "item_id"]].drop_duplicates()
    assert len(matched[["user_id", "item_id"]].drop_duplicates()) == len(read_pairs)


def test_some_customers_lapsed_eight_to_twelve_months_ago(frame):
    last_seen_days = (NOW - frame.groupby("user_id")["timestamp"].max()) / DAY
    lapsed = last_seen_days.between(240, 365)
    assert lapsed.sum() >= 10
    assert (last_seen_days < 60).sum() > lapsed.sum()  # most customers are recent


def test_repeat_purchases_of_the_same_item(frame):
    purchases = frame[frame["type"] == "purchase"]
    repeats = purchases.groupby(["user_id", "item_id"]).size()
    assert (repeats >= 2).sum() >= 10
    # consumables are bought again every few weeks: at least three purchases of one item
    heavy = repeats[repeats >= 3].index
    categories = set(purchases.set_index(["user_id", "item_id"]).loc[heavy, "category"])
    assert categories & set(demo.REPLENISHABLE)


def test_write_storefront_round_trip(tmp_path):
    data = generate_storefront(n_users=50, n_products=30, n_content=5, seed=2, now=NOW)
    events_path, catalog_path = write_storefront(data, tmp_path / "store")
    events = read_events(events_path)
    assert len(events) == len(data.events)
    np.testing.assert_array_equal(events.types, data.events.types)
    np.testing.assert_allclose(events.timestamps, data.events.timestamps)
    assert read_catalog(catalog_path).items() == data.catalog.items()


def test_main_writes_files(tmp_path, capsys):
    demo.main(["--out", str(tmp_path), "--users", "40", "--products", "20", "--content", "4", "--seed", "1"])
    assert (tmp_path / "events.csv").is_file() and (tmp_path / "catalog.csv").is_file()
    assert "24 items" in capsys.readouterr().out
