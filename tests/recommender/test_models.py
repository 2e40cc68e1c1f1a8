"""Contract tests every algorithm must pass (mixin style, as in implicit's recommender_base_test),
plus model-specific checks: one batched implicit call, empty input, parameters, quality."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from recommender.algorithms import ALGORITHMS, ModelParams
from recommender.demo import generate_storefront
from recommender.errors import InputError, UnknownItemError
from recommender.evaluation import train_and_evaluate
from recommender.splits import random_split
from recommender.events import EventTable
from recommender.filters import ItemFilter
from recommender.matrix import build_matrix
from recommender.models import Recommender
from recommender.sources import FALLBACK, PERSONALIZED
from tests.recommender.conftest import NOW, small_params

N = 10
FILTERS = {
    "kind-product": ItemFilter(kind="product"),
    "kind-content": ItemFilter(kind="content"),
    "category": ItemFilter(category="coffee"),
    "in-stock": ItemFilter(in_stock_only=True),
    "exclude": ItemFilter(exclude=frozenset({"p00059", "p00007", "p00068", "p00084", "guide-0010"})),
    "cap-1": ItemFilter(max_per_category=1),
    "cap-2-products-in-stock": ItemFilter(kind="product", in_stock_only=True, max_per_category=2),
}


class RecommenderContract:
    """What every algorithm in ALGORITHMS promises; subclasses set `algorithm`."""

    algorithm: str
    #: source of recommend_for_history: algorithms that can fold in a new user are personal
    history_source: str = PERSONALIZED
    #: whether lists may hold items the user interacted with (the basket models); every filter,
    #: exclusion and category cap holds either way
    recommends_bought_items: bool = False

    @pytest.fixture
    def model(self, trained) -> Recommender:
        return trained(self.algorithm)

    @pytest.fixture
    def users(self, demo_matrix) -> list[str]:
        """A spread of known users, light and heavy."""
        counts = np.diff(demo_matrix.matrix.indptr)
        order = np.argsort(counts, kind="stable")
        picks = np.unique(np.r_[order[:3], order[-3:], order[:: max(1, len(order) // 10)]])
        return [demo_matrix.users[int(i)] for i in picks]

    @staticmethod
    def seen(model: Recommender, user_id: str) -> set[str]:
        row = model.user_items[model.user_ids.get(user_id)]
        return {model.item_ids[int(i)] for i in row.indices}

    def removed(self, model: Recommender, user_id: str) -> set[str]:
        """What must not be in the user's list: what they interacted with, unless the model rebuys."""
        return set() if self.recommends_bought_items else self.seen(model, user_id)

    # -- training ---------------------------------------------------------------------------
    def test_fit_on_demo_data(self, model, demo_matrix, storefront):
        assert model.params.algorithm == self.algorithm
        assert model.recommends_bought_items == self.recommends_bought_items
        assert model.user_items.shape == demo_matrix.shape
        assert model.trained_at is not None and model.fit_seconds is not None
        assert model.attrs.known.all()  # every item with events is in the demo catalog
        assert model.is_popularity == (self.algorithm == "popular")
        assert model.catalog is storefront.catalog

    # -- recommend --------------------------------------------------------------------------
    def test_recommend_known_user_returns_n_items_it_may_show(self, model, users):
        for user in users:
            rec = model.recommend(user, N)
            ids = [i.item_id for i in rec.items]
            assert rec.user_id == user
            assert rec.source == PERSONALIZED
            assert len(ids) == N
            assert len(set(ids)) == N
            assert not set(ids) & self.removed(model, user), user
            assert all(np.isfinite(i.score) for i in rec.items)

    def test_recommend_respects_n(self, model, users):
        assert len(model.recommend(users[0], 3).items) == 3
        assert len(model.recommend(users[0], 1).items) == 1

    def test_filter_interacted_false_can_return_seen_items(self, model, demo_matrix):
        heaviest = demo_matrix.users[int(np.argmax(np.diff(demo_matrix.matrix.indptr)))]
        ids = {i.item_id for i in model.recommend(heaviest, 2 * N, filter_interacted=False).items}
        assert len(ids) == 2 * N
        assert ids & self.seen(model, heaviest)

    def test_unknown_user_gets_the_popularity_fallback(self, model, demo_matrix):
        rec = model.recommend("never-seen-user", N)
        assert rec.source == FALLBACK
        assert rec.user_id == "never-seen-user"
        assert rec.items == model.popular(N)
        counts = np.bincount(demo_matrix.matrix.indices, minlength=demo_matrix.shape[1])
        top = {demo_matrix.items[int(i)] for i in np.argsort(-counts, kind="stable")[:N]}
        assert {i.item_id for i in rec.items} == top
        scores = [i.score for i in rec.items]
        assert scores == sorted(scores, reverse=True) and scores[0] == 1.0

    def test_recommend_batch_equals_single_recommend(self, model, users):
        batch = model.recommend_batch(users, N)
        for user, rec in zip(users, batch):
            single = model.recommend(user, N)
            assert rec.user_id == user
            assert [i.item_id for i in rec.items] == [i.item_id for i in single.items]
            np.testing.assert_allclose([i.score for i in rec.items], [i.score for i in single.items],
                                       rtol=1e-4, atol=1e-5)

    def test_recommend_batch_keeps_input_order_with_unknown_users(self, model, users):
        mixed = ["ghost-1", users[3], users[0], "ghost-2", users[7], users[3]]
        results = model.recommend_batch(mixed, N)
        assert [r.user_id for r in results] == mixed
        assert [r.source for r in results] == [FALLBACK, PERSONALIZED, PERSONALIZED, FALLBACK,
                                               PERSONALIZED, PERSONALIZED]
        assert results[1].items == results[5].items
        assert results[0].items == results[3].items == model.popular(N)
        assert model.recommend_batch([], N) == []

    # -- filters ----------------------------------------------------------------------------
    @pytest.mark.parametrize("name", list(FILTERS))
    def test_filters_are_honoured(self, model, users, storefront, name):
        item_filter = FILTERS[name]
        catalog = storefront.catalog
        results = model.recommend_batch(users + ["ghost"], N, item_filter)
        results.append(model.recommend_for_history("newcomer", ["p00059", "guide-0010"], [1.0, 1.0], N,
                                                   item_filter))
        pool = {model.item_ids[int(i)] for i in np.flatnonzero(model.allowed(item_filter))}
        for rec in results:
            items = [catalog.get(i.item_id) for i in rec.items]
            if rec.source == PERSONALIZED and rec.user_id in users:
                assert items or pool <= self.seen(model, rec.user_id), name  # empty only if all seen
            else:
                assert items, name
            for item in items:
                if item_filter.kind:
                    assert item.kind == item_filter.kind
                if item_filter.category:
                    assert item.category == item_filter.category
                if item_filter.in_stock_only:
                    assert item.in_stock
                assert item.item_id not in item_filter.exclude
            if item_filter.max_per_category:
                assert max(Counter(i.category for i in items).values()) <= item_filter.max_per_category
            if rec.source == PERSONALIZED and rec.user_id in users:
                assert not {i.item_id for i in items} & self.removed(model, rec.user_id)

    def test_filter_with_a_small_pool_never_repeats_seen_items(self, model, users, storefront):
        """Only 10 coffee items exist; a user who saw some gets fewer than n, never a seen one
        (a model that rebuys may show them, and still only coffee, once each)."""
        coffee = ItemFilter(category="coffee")
        pool = int(model.allowed(coffee).sum())
        for user in users:
            ids = [i.item_id for i in model.recommend(user, pool, coffee).items]
            assert not set(ids) & self.removed(model, user)
            assert len(ids) == len(set(ids))
            assert all(storefront.catalog.get(i).category == "coffee" for i in ids)

    def test_filter_that_allows_nothing(self, model, users):
        nothing = ItemFilter(category="no-such-category")
        assert model.recommend(users[0], N, nothing).items == []
        assert model.recommend("ghost", N, nothing).items == []
        assert model.similar_items(model.item_ids[0], N, nothing) == []

    # -- similar items ----------------------------------------------------------------------
    def test_similar_items_excludes_the_item_itself(self, model, demo_matrix):
        counts = np.bincount(demo_matrix.matrix.indices, minlength=demo_matrix.shape[1])
        for code in np.argsort(-counts)[:10]:
            item = demo_matrix.items[int(code)]
            similar = model.similar_items(item, N)
            ids = [s.item_id for s in similar]
            assert 0 < len(ids) <= N
            assert item not in ids
            assert len(set(ids)) == len(ids)
            assert all(i in model.item_ids for i in ids)

    def test_similar_items_honours_filters(self, model, demo_matrix, storefront):
        item = demo_matrix.items[int(np.argmax(np.bincount(demo_matrix.matrix.indices)))]
        for item_filter in (ItemFilter(kind="product", in_stock_only=True), ItemFilter(max_per_category=1)):
            similar = [storefront.catalog.get(s.item_id) for s in model.similar_items(item, N, item_filter)]
            assert similar
            if item_filter.kind:
                assert all(i.kind == "product" and i.in_stock for i in similar)
            if item_filter.max_per_category:
                assert max(Counter(i.category for i in similar).values()) == 1

    def test_similar_items_of_unknown_item_raises(self, model):
        with pytest.raises(UnknownItemError, match="unknown item 'no-such-item'"):
            model.similar_items("no-such-item")
        with pytest.raises(KeyError):  # callers catching KeyError keep working
            model.similar_items("no-such-item")

    # -- users the model has not seen ---------------------------------------------------------
    def test_recommend_for_history(self, model, storefront):
        history = ["p00059", "p00007", "guide-0010"]
        rec = model.recommend_for_history("newcomer", history, [5.0, 1.0, 1.0], N)
        assert rec.user_id == "newcomer"
        assert rec.source == self.history_source
        assert len(rec.items) == N
        ids = {i.item_id for i in rec.items}
        if rec.source == PERSONALIZED:
            assert not ids & (set() if self.recommends_bought_items else set(history))
        else:
            assert rec.items == model.popular(N)

    def test_recommend_for_history_of_unknown_items_falls_back(self, model):
        rec = model.recommend_for_history("newcomer", ["never-sold"], [1.0], N)
        assert rec.source == FALLBACK
        assert rec.items == model.popular(N)


class ExactFoldInContract:
    """For models that score straight from a user's row (item-kNN, popularity), folding in a known
    user's own history must give exactly their own list."""

    def test_history_of_a_known_user_gives_their_own_list(self, model, demo_matrix):
        code = int(np.argmax(np.diff(demo_matrix.matrix.indptr)))
        row = demo_matrix.matrix[code]
        history = [demo_matrix.items[int(i)] for i in row.indices]
        folded = model.recommend_for_history("copy", history, row.data.tolist(), N)
        own = model.recommend(demo_matrix.users[code], N)
        assert folded.source == PERSONALIZED
        assert [i.item_id for i in folded.items] == [i.item_id for i in own.items]


class TestALS(RecommenderContract):
    algorithm = "als"

    def test_fold_in_of_a_known_user_is_close_to_their_own_list(self, model, demo_matrix):
        """Fold-in solves the user's factors against the final item factors; training solved
        them one half-step earlier, so the lists nearly (not exactly) agree."""
        counts = np.diff(demo_matrix.matrix.indptr)
        for code in np.argsort(-counts)[:5]:
            row = demo_matrix.matrix[code]
            folded = model.recommend_for_history(
                "copy", [demo_matrix.items[int(i)] for i in row.indices], row.data.tolist(), N)
            own = model.recommend(demo_matrix.users[int(code)], N)
            assert len({i.item_id for i in folded.items} & {i.item_id for i in own.items}) >= 7


class TestBPR(RecommenderContract):
    algorithm = "bpr"
    history_source = FALLBACK  # BPR cannot fold in a user without retraining


class TestCosine(RecommenderContract, ExactFoldInContract):
    algorithm = "cosine"


class TestBM25(RecommenderContract, ExactFoldInContract):
    algorithm = "bm25"


class OneItemFoldInContract:
    """For the item-item linear models (EASE and EASE with DAN): similar items of i are the row of
    their weight matrix, the list a customer whose only item is i is served."""

    def test_similar_items_are_the_one_item_fold_in(self, model, demo_matrix):
        """Similar items of i are B[i, :]: what a customer whose only item is i is served."""
        counts = np.bincount(demo_matrix.matrix.indices, minlength=demo_matrix.shape[1])
        for code in np.argsort(-counts)[:5]:
            item = demo_matrix.items[int(code)]
            similar = model.similar_items(item, N)
            folded = model.recommend_for_history("one-item", [item], [1.0], N)
            assert [s.item_id for s in similar] == [i.item_id for i in folded.items]


class TestEase(RecommenderContract, ExactFoldInContract, OneItemFoldInContract):
    algorithm = "ease"


class TestEaseDan(RecommenderContract, ExactFoldInContract, OneItemFoldInContract):
    algorithm = "ease_dan"


class TestPopular(RecommenderContract, ExactFoldInContract):
    algorithm = "popular"

    def test_personal_list_is_popularity_minus_seen(self, model, users):
        """Scores are interaction counts; ties may break either way, so compare the counts."""
        for user in users[:5]:
            seen = self.seen(model, user)
            unseen = [c for c in range(len(model.item_ids)) if model.item_ids[c] not in seen]
            best = sorted(model.popularity[unseen], reverse=True)[:N]
            scores = [i.score for i in model.recommend(user, N).items]
            assert scores == best


class TestPersonal(RecommenderContract, ExactFoldInContract):
    algorithm = "personal"
    recommends_bought_items = True

    def test_history_of_a_known_user_gives_their_own_list(self, model, demo_matrix, storefront):
        """Folded in with the purchases' times and types, a known customer gets their own list."""
        code = int(np.argmax(np.diff(demo_matrix.matrix.indptr)))
        user = demo_matrix.users[code]
        events = storefront.events.take(storefront.events.user_ids == user)
        frame = events.to_frame()
        folded = model.recommend_for_history("copy", list(frame["item_id"]), [1.0] * len(frame), N,
                                             timestamps=list(frame["timestamp"]), types=list(frame["type"]))
        assert folded.source == PERSONALIZED
        assert folded.items == model.recommend(user, N).items

    def test_own_most_bought_items_then_bestsellers(self, model, storefront, users):
        """GP-TopFreq: items by how many of the customer's purchase days hold them, then bestsellers."""
        frame = storefront.events.to_frame()
        bought = frame[frame["type"] == "purchase"].assign(day=lambda f: f["timestamp"] // 86_400)
        baskets = bought.drop_duplicates(["user_id", "day", "item_id"])
        popularity = baskets["item_id"].value_counts()
        for user in users:
            own = baskets[baskets["user_id"] == user]["item_id"].value_counts()
            ids = [i.item_id for i in model.recommend(user, N).items]
            head = ids[:min(len(own), N)]
            assert set(head) <= set(own.index)
            assert [own[i] for i in head] == sorted((own[i] for i in head), reverse=True)
            rest = ids[len(head):]
            best = [i for i in popularity.index if i not in set(own.index)][:len(rest)]
            assert [popularity[i] for i in rest] == [popularity[i] for i in best]


class TestRepeat(RecommenderContract):
    algorithm = "repeat"
    recommends_bought_items = True

    def test_fold_in_of_a_known_customer_is_close_to_their_own_list(self, model, demo_matrix, storefront):
        """With their events' times and types a known customer folds in to nearly their own list
        (the fold-in counts the stored copy of them among the neighbours, training never does)."""
        counts = np.diff(demo_matrix.matrix.indptr)
        for code in np.argsort(-counts)[:5]:
            user = demo_matrix.users[int(code)]
            row = demo_matrix.matrix[int(code)]
            frame = storefront.events.take(storefront.events.user_ids == user).to_frame()
            weights = dict(zip((demo_matrix.items[int(i)] for i in row.indices), row.data.tolist()))
            frame = frame[frame["item_id"].isin(weights)]
            folded = model.recommend_for_history(
                "copy", list(frame["item_id"]), [weights[i] / (frame["item_id"] == i).sum() for i in frame["item_id"]],
                N, timestamps=list(frame["timestamp"]), types=list(frame["type"]))
            own = model.recommend(user, N)
            assert len({i.item_id for i in folded.items} & {i.item_id for i in own.items}) >= 7

    def test_fold_in_without_types_counts_nothing_as_bought(self, model):
        history = ["p00059", "p00007", "guide-0010"]
        untyped = model.recommend_for_history("new", history, [5.0, 1.0, 1.0], N)
        viewed = model.recommend_for_history("new", history, [5.0, 1.0, 1.0], N, types=["view"] * 3)
        bought = model.recommend_for_history("new", history, [5.0, 1.0, 1.0], N, types=["purchase"] * 3)
        assert untyped.items == viewed.items
        assert bought.items != viewed.items

    def test_fold_in_with_a_bad_type_raises(self, model):
        with pytest.raises(InputError, match="unknown event type 'bought'"):
            model.recommend_for_history("new", ["p00059"], [1.0], N, types=["bought"])
        with pytest.raises(InputError, match="one event type per history item"):
            model.recommend_for_history("new", ["p00059", "p00007"], [1.0, 1.0], N, types=["purchase"])


@pytest.mark.parametrize("algorithm", ["personal", "repeat"])
def test_basket_models_need_the_events(algorithm, demo_matrix):
    with pytest.raises(InputError, match="trains on timestamped purchases: pass events"):
        Recommender(small_params(algorithm)).fit(demo_matrix)


def test_every_algorithm_has_a_contract_test():
    covered = {cls.algorithm for cls in RecommenderContract.__subclasses__()}
    assert covered == set(ALGORITHMS)


# -- not part of the contract ---------------------------------------------------------------

def test_batch_recommendation_makes_one_implicit_call(monkeypatch):
    data = generate_storefront(n_users=600, n_products=150, n_content=10, seed=5, now=NOW)
    model = Recommender(small_params("als")).fit(build_matrix(data.events), data.catalog)
    calls = []
    real = model.algorithm.recommend

    def counting(userid, user_items, *args, **kwargs):
        calls.append(len(np.atleast_1d(userid)))
        return real(userid, user_items, *args, **kwargs)

    monkeypatch.setattr(model.algorithm, "recommend", counting)
    users = list(model.user_ids.ids[:500])
    assert len(users) == 500
    results = model.recommend_batch(users + ["ghost"], N)
    assert calls == [500]
    assert [r.user_id for r in results] == users + ["ghost"]
    assert all(len(r.items) == N for r in results)
    calls.clear()
    model.recommend_batch(users, N, ItemFilter(kind="product", max_per_category=2))
    assert calls == [500]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_fitting_on_an_empty_matrix_raises(algorithm):
    empty = build_matrix(EventTable.empty())
    with pytest.raises(InputError, match="empty"):
        Recommender(small_params(algorithm)).fit(empty)


def test_untrained_model_refuses_to_serve():
    with pytest.raises(RuntimeError, match="not trained"):
        Recommender().recommend("u1")


@pytest.mark.parametrize("values, words", [
    ({"algorithm": "svd"}, "unknown algorithm 'svd'"),
    ({"confidence": "sqrt"}, "unknown confidence scaling"),
    ({"factors": 0}, "factors must be from 1 to"),
    ({"iterations": 0}, "iterations must be from 1 to"),
    ({"neighbours": 0}, "neighbours must be from 1 to"),
    ({"repeat_neighbours": 0}, "repeat_neighbours must be from 1 to"),
    ({"group_size": 0}, "group_size must be from 1 to"),
    ({"within_decay": 0.0}, r"within_decay must be in \(0, 1\]"),
    ({"group_decay": 1.5}, r"group_decay must be in \(0, 1\]"),
    ({"repeat_base": "bpr"}, "unknown repeat_base 'bpr'"),
    ({"ease_regularization": 0.0}, "ease_regularization must be positive"),
    ({"dan_regularization": -1.0}, "dan_regularization must be positive"),
    ({"dan_dropout": 1.0}, r"dan_dropout must be in \[0, 1\)"),
    ({"dan_user_exponent": -0.5}, "dan_user_exponent must be at least 0"),
    ({"dan_item_exponent": float("nan")}, "dan_item_exponent must be a finite number"),
    ({"factors": 1.5}, r"factors must be an integer, got 1\.5"),
    ({"factors": True}, "factors must be an integer"),
    ({"factors": 1025}, "factors must be from 1 to 1,024"),
    ({"neighbours": 10_001}, "neighbours must be from 1 to 10,000"),
    ({"regularization": "high"}, "regularization must be a finite number"),
    ({"alpha": float("inf")}, "alpha must be a finite number"),
    ({"confidence": 1}, "confidence must be a string"),
])
def test_bad_params_raise_input_error(values, words):
    with pytest.raises(InputError, match=words):
        ModelParams(**values)


def test_params_dict_round_trip_ignores_unknown_keys():
    params = ModelParams(algorithm="bm25", factors=8, bm25_k1=2.0)
    assert ModelParams.from_dict({**params.to_dict(), "from_the_future": 1}) == params


def test_log_and_linear_confidence_both_train_and_differ(demo_matrix, storefront):
    model = Recommender(small_params("als", confidence="log")).fit(demo_matrix, storefront.catalog)
    user = demo_matrix.users[0]
    rec = model.recommend(user, N)
    assert rec.source == PERSONALIZED and len(rec.items) == N
    linear = Recommender(small_params("als", confidence="linear")).fit(demo_matrix, storefront.catalog).recommend(user, N)
    assert [i.score for i in rec.items] != [i.score for i in linear.items]


def test_catalog_can_be_swapped_after_training(demo_matrix, storefront):
    model = Recommender(small_params("popular")).fit(demo_matrix, storefront.catalog)
    top = model.popular(1)[0].item_id
    model.set_catalog(storefront.catalog.without([top]))
    assert model.attrs.kind[model.item_ids.get(top)] == ""
    assert all(i.item_id != top for i in model.popular(N, ItemFilter(kind="product")))


def test_training_without_catalog_allows_everything_but_kind_filters(demo_matrix):
    model = Recommender(small_params("cosine")).fit(demo_matrix)
    assert len(model.recommend(demo_matrix.users[0], N).items) == N
    assert model.recommend(demo_matrix.users[0], N, ItemFilter(kind="product")).items == []


def test_new_users_and_items_after_refit_keep_indices(storefront, demo_matrix):
    later = EventTable.from_frame(
        storefront.events.to_frame().iloc[:5].assign(user_id="late-user", item_id="late-item"))
    grown = build_matrix(EventTable.concat([storefront.events, later]),
                         users=demo_matrix.users, items=demo_matrix.items)
    model = Recommender(small_params("als")).fit(grown, storefront.catalog)
    assert model.user_ids.get("late-user") == len(demo_matrix.users)
    assert model.item_ids.ids[: len(demo_matrix.items)].tolist() == demo_matrix.items.ids.tolist()
    assert model.recommend("late-user", N).source == PERSONALIZED


def test_als_beats_popularity_on_generated_data():
    """The generator has real signal (favourite categories); ALS must find it (seeded, holds by 2x)."""
    data = generate_storefront(n_users=1000, n_products=300, n_content=20, seed=1, now=NOW)
    split = random_split(data.events, 0.2, seed=42)
    _, popular = train_and_evaluate(split, small_params("popular"))
    _, als = train_and_evaluate(split, small_params("als", iterations=10))
    assert als.users == popular.users > 100
    assert als.ndcg > 1.5 * popular.ndcg
    assert als.recall > popular.recall


def test_precompute_indices_matches_recommend_indices():
    """The fast precompute path returns the same lists as the general one, for MF and kNN models."""
    import numpy as np

    from recommender.algorithms import ModelParams
    from recommender.demo import generate_storefront
    from recommender.matrix import build_matrix
    from recommender.models import Recommender

    data = generate_storefront(n_users=300, n_products=120, n_content=20, seed=4, now=1_790_000_000.0)
    matrix = build_matrix(data.events)
    codes = np.arange(matrix.shape[0])
    for algorithm in ("als", "bpr", "bm25", "ease", "ease_dan"):
        model = Recommender(ModelParams(algorithm=algorithm)).fit(matrix, data.catalog)
        fast_ids, fast_scores = model.precompute_indices(codes, 20)
        ids, scores = model.recommend_indices(codes, 20)
        same = [set(a) == set(b) for a, b in zip(fast_ids, ids)]
        assert np.mean(same) > 0.99, algorithm  # ties in scores may swap the last item
        assert np.allclose(np.sort(fast_scores, axis=1), np.sort(scores, axis=1), atol=1e-4)


@pytest.mark.parametrize("algorithm", ["als", "bpr"])
def test_precompute_indices_for_a_few_users_at_a_time_matches_recommend_indices(trained, algorithm):
    """What the service computes for a pass's cache misses (one user, or a handful) is the list the
    general path gives."""
    from recommender.topn import FEW_USERS

    model = trained(algorithm)
    codes = np.arange(0, model.user_items.shape[0], 7)
    for size in (1, 3, FEW_USERS):
        for start in range(0, len(codes), size):
            batch = codes[start:start + size]
            fast_ids, fast_scores = model.precompute_indices(batch, 30)
            ids, scores = model.recommend_indices(batch, 30)
            for got, want, got_scores, want_scores in zip(fast_ids, ids, fast_scores, scores):
                assert set(got[got >= 0].tolist()) == set(want[want >= 0].tolist())
                np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-5)
