"""Events to the weighted training matrix: type weights, time decay, per-user recency, id maps."""

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from recommender.errors import InputError
from recommender.events import EventTable
from recommender.ids import IdMap
from recommender.matrix import (
    EventWeights,
    build_matrix,
    default_weights,
    event_confidence,
    history_recency,
)
from tests.recommender.conftest import DAY, NOW
from tests.recommender.event_rows import cell, events

# -- weights ----------------------------------------------------------------------------------

def test_default_weights_per_event_type():
    m = build_matrix(events(
        ("u", "view", "view"), ("u", "click", "click"), ("u", "cart", "add_to_cart"),
        ("u", "buy", "purchase"), ("u", "rev", "review", NOW, 4),
    ))
    assert cell(m, "u", "view") == 1.0
    assert cell(m, "u", "click") == 1.0
    assert cell(m, "u", "cart") == 3.0
    assert cell(m, "u", "buy") == 5.0
    assert cell(m, "u", "rev") == 4.0  # 4 stars x review weight 1


def test_review_weighs_stars_times_review_weight():
    table = events(("u", "a", "review", NOW, 3), ("u", "b", "review", NOW, 5))
    m = build_matrix(table, EventWeights(review=2.0))
    assert cell(m, "u", "a") == 6.0
    assert cell(m, "u", "b") == 10.0


def test_custom_weights():
    weights = EventWeights(view=0.5, click=2.0, add_to_cart=4.0, purchase=10.0)
    m = build_matrix(events(("u", "a", "view"), ("u", "b", "click"), ("u", "c", "add_to_cart"),
                            ("u", "d", "purchase")), weights)
    assert [cell(m, "u", i) for i in "abcd"] == [0.5, 2.0, 4.0, 10.0]
    assert m.weights == weights


def test_value_is_ignored_for_non_review_events():
    m = build_matrix(events(("u", "a", "purchase", NOW, 3.0)))
    assert cell(m, "u", "a") == 5.0


def test_hand_made_table_matrix(tiny_events):
    m = build_matrix(tiny_events, EventWeights(history_half_life=None))  # the type weights alone
    dense = m.matrix.toarray()
    expected = np.array([
        [2.0, 3.0, 5.0],  # u1: two views of i1 summed, cart i2, purchase i3
        [1.0, 0.0, 4.0],  # u2: click i1, 4-star review of i3
        [0.0, 1.0, 0.0],  # u3: view i2
    ], dtype=np.float32)
    assert list(m.users.ids) == ["u1", "u2", "u3"]
    assert list(m.items.ids) == ["i1", "i2", "i3"]
    np.testing.assert_array_equal(dense, expected)


# -- time decay -------------------------------------------------------------------------------

def test_event_one_half_life_old_weighs_half():
    table = events(("u", "now", "purchase", NOW), ("u", "week", "purchase", NOW - 7 * DAY),
                   ("u", "fortnight", "purchase", NOW - 14 * DAY))
    m = build_matrix(table, EventWeights(half_life_days=7, history_half_life=None), reference_time=NOW)
    assert cell(m, "u", "now") == pytest.approx(5.0)
    assert cell(m, "u", "week") == pytest.approx(2.5)
    assert cell(m, "u", "fortnight") == pytest.approx(1.25)


def test_decay_reference_defaults_to_newest_event():
    table = events(("u", "old", "view", NOW - 10 * DAY), ("u", "new", "view", NOW))
    m = build_matrix(table, EventWeights(half_life_days=10, history_half_life=None))
    assert m.reference_time == NOW
    assert cell(m, "u", "new") == pytest.approx(1.0)
    assert cell(m, "u", "old") == pytest.approx(0.5)


def test_future_events_are_not_boosted_and_no_decay_without_half_life():
    table = events(("u", "future", "view", NOW + 30 * DAY), ("u", "old", "view", NOW - 300 * DAY))
    decayed = build_matrix(table, EventWeights(half_life_days=30, history_half_life=None), reference_time=NOW)
    assert cell(decayed, "u", "future") == pytest.approx(1.0)
    plain = build_matrix(table, EventWeights(history_half_life=None), reference_time=NOW)
    assert cell(plain, "u", "old") == 1.0


def test_event_confidence_is_per_event():
    table = events(("u", "a", "view", NOW - 2 * DAY), ("u", "a", "review", NOW, 2))
    confidence = event_confidence(table, EventWeights(half_life_days=2), NOW)
    np.testing.assert_allclose(confidence, [0.5, 2.0])


# -- per-user recency (history_half_life) -----------------------------------------------------

def test_history_half_life_halves_per_share_of_the_users_newer_events():
    # ten purchases a day apart: the one with k newer events has a newer share of k/10
    table = events(*[("u", f"i{k}", "purchase", NOW - k * DAY) for k in range(10)])
    m = build_matrix(table, EventWeights(history_half_life=0.1))
    assert [cell(m, "u", f"i{k}") for k in range(10)] == pytest.approx([5.0 * 2.0 ** -k for k in range(10)])


def test_history_recency_is_relative_to_each_users_own_latest_event_not_the_clock():
    table = events(("old", "a", "view", NOW - 400 * DAY), ("old", "b", "view", NOW - 401 * DAY),
                   ("new", "a", "view", NOW), ("new", "b", "view", NOW - 1 * DAY))
    m = build_matrix(table, EventWeights(history_half_life=0.5))
    # a year-old history counts as much as today's: each user's newest event is whole, the other half
    assert [cell(m, u, i) for u in ("old", "new") for i in "ab"] == pytest.approx([1.0, 0.5, 1.0, 0.5])
    clock = build_matrix(table, EventWeights(half_life_days=30))
    assert cell(clock, "old", "a") < 1e-3  # what the global decay does to the same user


def test_history_recency_is_a_share_so_long_and_short_histories_fade_alike():
    short = [("s", f"i{k}", "view", NOW - k) for k in range(4)]
    long = [("l", f"i{k}", "view", NOW - k) for k in range(40)]
    factor = history_recency(events(*short, *long), 0.25)
    # the oldest quarter-from-the-end event of each: 1 newer of 4, 10 newer of 40
    assert factor[1] == pytest.approx(factor[4 + 10]) == pytest.approx(0.5)
    assert factor[0] == factor[4] == 1.0


def test_events_at_the_same_time_weigh_the_same():
    table = events(("u", "a", "view", NOW), ("u", "b", "view", NOW - DAY), ("u", "c", "view", NOW - DAY),
                   ("u", "d", "view", NOW))
    np.testing.assert_allclose(history_recency(table, 0.5), [1.0, 0.5, 0.5, 1.0])  # 2 of 4 newer


def test_history_recency_sums_repeated_events_and_multiplies_with_the_clock_decay():
    table = events(("u", "a", "view", NOW - 10 * DAY), ("u", "a", "view", NOW - 10 * DAY), ("u", "b", "click", NOW),
                   ("u", "b", "click", NOW))
    m = build_matrix(table, EventWeights(history_half_life=0.5, half_life_days=10))
    assert cell(m, "u", "b") == pytest.approx(2.0)
    assert cell(m, "u", "a") == pytest.approx(2 * 0.5 * 0.5)  # two events x clock half x history half (2 of 4 newer)


def test_impressions_are_not_part_of_the_history():
    table = events(("u", "a", "view", NOW - DAY), ("u", "shown", "impression", NOW), ("u", "b", "view", NOW))
    m = build_matrix(table, EventWeights(history_half_life=0.5))
    assert cell(m, "u", "a") == pytest.approx(0.5)  # 1 newer of 2, the impression not counted


def test_no_history_half_life_leaves_the_matrix_as_it_was(tiny_events):
    plain = build_matrix(tiny_events, EventWeights(history_half_life=None))
    assert EventWeights().history_half_life is None  # off unless asked for: default_weights turns it on for ALS
    assert default_weights("als").history_half_life == 0.4
    assert default_weights("bm25") == default_weights("cosine") == default_weights("bpr") == EventWeights()
    np.testing.assert_array_equal(build_matrix(tiny_events, EventWeights(history_half_life=None)).matrix.toarray(),
                                  plain.matrix.toarray())
    assert not np.array_equal(build_matrix(tiny_events, EventWeights(history_half_life=0.1)).matrix.toarray(),
                              plain.matrix.toarray())


@pytest.mark.parametrize("half_life", [0.0, -0.5])
def test_history_half_life_must_be_positive(half_life):
    with pytest.raises(InputError, match="history_half_life"):
        history_recency(events(("u", "a", "view")), half_life)


def test_history_recency_of_no_events():
    assert len(history_recency(EventTable.empty(), 0.1)) == 0


# -- matrix shape and id maps -----------------------------------------------------------------

def test_duplicates_are_summed_into_one_entry():
    m = build_matrix(events(("u", "a", "view"), ("u", "a", "view"), ("u", "a", "view"), ("u", "a", "purchase")))
    assert m.matrix.nnz == 1
    assert cell(m, "u", "a") == 8.0


def test_matrix_is_float32_csr(tiny_events):
    m = build_matrix(tiny_events)
    assert isinstance(m.matrix, csr_matrix)
    assert m.matrix.format == "csr"
    assert m.matrix.dtype == np.float32
    assert m.shape == (3, 3)
    assert m.matrix.has_canonical_format


def test_zero_star_review_adds_no_entry():
    m = build_matrix(events(("u", "a", "review", NOW, 0), ("u", "b", "view")))
    assert m.matrix.nnz == 1
    assert m.items.get("a") is not None  # the item is still known


def test_same_input_gives_the_same_maps_and_matrix(tiny_frame):
    first = build_matrix(EventTable.from_frame(tiny_frame))
    second = build_matrix(EventTable.from_frame(tiny_frame.iloc[::-1].reset_index(drop=True)))
    assert first.users == second.users
    assert first.items == second.items
    assert (first.matrix != second.matrix).nnz == 0


def test_existing_maps_keep_their_indices_and_grow(tiny_events):
    first = build_matrix(tiny_events)
    later = events(("u0", "i3", "purchase"), ("u2", "i0", "view"), ("u9", "i1", "view"))
    second = build_matrix(later, users=first.users, items=first.items)
    assert list(second.users.ids) == ["u1", "u2", "u3", "u0", "u9"]
    assert list(second.items.ids) == ["i1", "i2", "i3", "i0"]
    assert second.shape == (5, 4)
    assert cell(second, "u0", "i3") == 5.0
    assert cell(second, "u2", "i0") == 1.0
    # a fresh build would have sorted u0 first; passing the maps prevents that
    assert build_matrix(later).users.get("u0") == 0


def test_existing_maps_with_no_new_ids_keep_shape():
    users, items = IdMap(["b", "a"]), IdMap(["y", "x"])
    m = build_matrix(events(("a", "x", "view")), users=users, items=items)
    assert m.shape == (2, 2)
    assert m.matrix[1, 1] == 1.0



def test_history_recency_matches_a_plain_per_user_count_on_random_histories():
    rng = np.random.default_rng(5)
    n = 2_000
    users = rng.choice([f"u{k}" for k in range(40)], n)
    times = NOW - rng.integers(0, 50, n) * 3600.0  # many ties within a user
    table = EventTable(users.astype(object), np.full(n, "i", dtype=object), np.zeros(n, dtype=np.int8), times,
                       np.ones(n, dtype=np.float32))
    expected = np.empty(n)
    for k in range(n):
        mine = times[users == users[k]]
        expected[k] = 2.0 ** (-(mine > times[k]).sum() / len(mine) / 0.3)
    np.testing.assert_allclose(history_recency(table, 0.3), expected, rtol=1e-6)
    codes = np.unique(users, return_inverse=True)[1]
    np.testing.assert_array_equal(history_recency(table, 0.3, codes), history_recency(table, 0.3))
