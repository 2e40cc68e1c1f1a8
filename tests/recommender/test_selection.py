"""Model choice on a global time cut: a store whose customers rebuy gets a repeat-capable list, a
store where nobody rebuys gets a collaborative model, and bad input gets a clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.algorithms import ModelParams
from recommender.errors import InputError
from recommender.splits import holdout_sample, time_cut_split
from recommender.events import EventTable
from recommender.selection import (
    PERSONAL_FREQUENCY, POPULARITY, Candidate, candidates_for, default_candidates, select_model,
)
from tests.recommender.conftest import DAY, NOW, small_params

COLLABORATIVE = [Candidate("als", small_params("als")), Candidate("cosine", small_params("cosine")),
                 Candidate("bm25", small_params("bm25"))]


def store(rows: list[tuple[int, int, float]]) -> EventTable:
    users, items, days = zip(*rows)
    return EventTable.from_frame(pd.DataFrame({
        "user_id": [f"u{u}" for u in users], "item_id": [f"i{i}" for i in items], "type": "purchase",
        "timestamp": NOW - (60 - np.asarray(days)) * DAY}))


def rebuying_store(users: int = 150, items: int = 120, seed: int = 0) -> EventTable:
    """Each customer keeps buying their own 4 staples (chosen at random, so no two customers' habits
    say anything about each other) on 12 visits over 60 days, plus one random item per visit."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        staples = rng.choice(items, 4, replace=False)
        for day in np.sort(rng.uniform(0, 60, 12)):
            rows += [(user, int(i), day) for i in staples if rng.random() < 0.7]
            rows.append((user, int(rng.integers(items)), day))
    return store(rows)


def discovering_store(users: int = 240, groups: int = 6, per_group: int = 30, seed: int = 1) -> EventTable:
    """Each customer buys 16 different items over 60 days, never one twice: 14 from their taste
    group's items (half the group's items are bestsellers within it), 2 from anywhere."""
    rng = np.random.default_rng(seed)
    rows = []
    weights = np.where(np.arange(per_group) < per_group // 2, 3.0, 1.0)
    weights /= weights.sum()
    for user in range(users):
        group = user % groups
        own = group * per_group + rng.choice(per_group, 14, replace=False, p=weights)
        other = rng.choice(groups * per_group, 8, replace=False)
        basket = list(dict.fromkeys([*own.tolist(), *other.tolist()]))[:16]
        rows += [(user, int(item), float(day)) for item, day in zip(basket, np.sort(rng.uniform(0, 60, 16)))]
    return store(rows)


def test_customers_who_rebuy_get_a_repeat_capable_list():
    report = select_model(rebuying_store())
    repeat_capable = {PERSONAL_FREQUENCY} | {c.name for c in default_candidates() if not c.filter_interacted}
    assert report.chosen in repeat_capable, report.reason
    personal = report.result(PERSONAL_FREQUENCY)
    served_today = [r for r in report.results if not r.baseline and r.filter_interacted and r.error is None]
    assert served_today and all(r.ndcg < personal.ndcg for r in served_today)
    assert report.users_scored == personal.users >= 100
    assert all(r.users == report.users_scored for r in report.results if r.error is None)


def test_customers_who_never_rebuy_get_a_collaborative_model():
    report = select_model(discovering_store(), COLLABORATIVE)
    assert report.chosen in {"als", "cosine", "bm25"}, report.reason
    chosen = report.result(report.chosen)
    for baseline in (POPULARITY, PERSONAL_FREQUENCY):
        assert chosen.ndcg > report.result(baseline).ndcg
    assert report.chosen_candidate is not None and report.chosen_candidate.name == report.chosen
    assert "beats both baselines" in report.reason
    assert report.train_events + report.test_events == len(discovering_store())
    assert chosen.fit_seconds > 0 and chosen.recall > 0


def test_default_candidates_pick_a_collaborative_model_where_nobody_rebuys():
    report = select_model(discovering_store())
    chosen = report.chosen_candidate
    assert chosen is not None and chosen.params.algorithm in {"als", "cosine", "bm25", "ease"}, report.reason
    assert chosen.filter_interacted
    assert report.as_dict()["chosen_candidate"]["name"] == report.chosen


def test_a_baseline_that_wins_is_chosen_and_serves():
    """A candidate no better than popularity (popularity itself, as a candidate) never serves."""
    report = select_model(discovering_store(), [Candidate("popular_again", ModelParams(algorithm="popular"))])
    assert report.chosen == POPULARITY and report.result("popular_again").ndcg <= report.result(POPULARITY).ndcg
    assert report.chosen_candidate.params.algorithm == "popular"
    assert report.reason.startswith("baseline popularity")


def test_a_candidate_that_cannot_train_is_reported_not_fatal(monkeypatch):
    from recommender import ease

    monkeypatch.setattr(ease, "MAX_ITEMS", 10)
    report = select_model(discovering_store(), [*COLLABORATIVE, Candidate("ease", ModelParams(algorithm="ease"))])
    refused = report.result("ease")
    assert refused.error and "limited to 10 items" in refused.error and refused.ndcg is None
    assert report.chosen != "ease"
    with pytest.raises(InputError, match="no candidate could train"):
        select_model(discovering_store(), [Candidate("ease", ModelParams(algorithm="ease"))])


@pytest.mark.parametrize("candidates, words", [
    ([], "at least one candidate"),
    ([Candidate("a", ModelParams()), Candidate("a", ModelParams(algorithm="bm25"))], "unique: a"),
    ([Candidate(POPULARITY, ModelParams())], "baselines' names"),
])
def test_bad_candidate_lists(candidates, words):
    with pytest.raises(InputError, match=words):
        select_model(discovering_store(users=60), candidates)


def test_too_little_data_on_either_side_of_the_cut():
    events = discovering_store(users=60)
    with pytest.raises(InputError, match="only .* customers have events both before and after"):
        select_model(events, COLLABORATIVE, min_users=1000)
    same_time = EventTable.from_frame(pd.DataFrame({"user_id": ["a", "b"], "item_id": ["1", "2"],
                                                    "type": "view", "timestamp": [NOW, NOW]}))
    with pytest.raises(InputError, match="leaves no events before it"):
        select_model(same_time, COLLABORATIVE)
    with pytest.raises(InputError, match="leaves no events"):
        select_model(events, COLLABORATIVE, test_days=1000)
    with pytest.raises(InputError, match="k must be at least 1"):
        select_model(events, COLLABORATIVE, k=0)


def test_the_personal_frequency_baseline_is_the_personal_algorithm_and_serves_when_it_wins():
    report = select_model(rebuying_store(), [*COLLABORATIVE, Candidate("personal", ModelParams(algorithm="personal"),
                                                                       filter_interacted=False)])
    baseline, candidate = report.result(PERSONAL_FREQUENCY), report.result("personal")
    assert (baseline.ndcg, baseline.recall) == (candidate.ndcg, candidate.recall)  # one fit, scored alike
    assert report.chosen == PERSONAL_FREQUENCY, report.reason  # a tie is not a win
    assert report.chosen_candidate.params.algorithm == "personal" and report.chosen_candidate.serves_bought_items


@pytest.mark.parametrize("repeats", [True, False])
def test_repeats_restrict_the_baselines_and_the_candidates(repeats):
    candidates = candidates_for("cosine", repeats)
    assert [c.serves_bought_items for c in candidates] == [repeats]
    report = select_model(discovering_store(), candidates, repeats=repeats)
    assert {r.serves_bought_items for r in report.results} == {repeats}
    assert (PERSONAL_FREQUENCY in {r.name for r in report.results}) is repeats
    assert report.chosen_candidate.serves_bought_items is repeats
    with pytest.raises(InputError, match=f"repeats={repeats}"):
        select_model(discovering_store(), candidates_for("cosine", not repeats), repeats=repeats)


def test_candidates_for_a_store_setting():
    assert [c.name for c in candidates_for()] == [c.name for c in default_candidates()]
    assert [c.name for c in candidates_for(repeats=True)] == ["als_with_repeats", "cosine_with_repeats", "repeat",
                                                             "personal"]
    assert [(c.name, c.filter_interacted) for c in candidates_for("bpr")] == [("bpr", True),
                                                                             ("bpr_with_repeats", False)]
    assert [c.name for c in candidates_for("repeat")] == ["repeat"]
    with pytest.raises(InputError, match="always serves bought items"):
        candidates_for("personal", repeats=False)
    with pytest.raises(InputError, match="unknown algorithm"):
        candidates_for("magic")


def test_a_large_holdout_is_sampled_whole_customers_at_a_time():
    events = rebuying_store(users=150)
    split = time_cut_split(events)
    train, scored = holdout_sample(split, max_users=40, max_train_events=3_000, seed=1)
    assert len(scored) == 40 and 0 < len(train) < len(split.train)
    kept = set(train.user_ids.tolist())
    assert set(scored.tolist()) <= kept
    for user in list(kept)[:20]:  # every kept customer keeps their whole history before the cut
        assert (train.user_ids == user).sum() == (split.train.user_ids == user).sum()
    assert len(train) <= 3_000 + max((split.train.user_ids == u).sum() for u in scored)
    same, none = holdout_sample(split, max_users=None, max_train_events=None)
    assert same is split.train and none is None
    with pytest.raises(InputError, match="max_users"):
        holdout_sample(split, max_users=0)


def test_model_choice_scores_at_most_max_users_customers_on_fewer_events():
    events = rebuying_store()
    full = select_model(events, COLLABORATIVE[:1], max_users=None, max_train_events=None)
    sampled = select_model(events, COLLABORATIVE[:1], max_users=50, max_train_events=2_000)
    assert 0 < sampled.users_scored <= 50 < full.users_scored
    assert sampled.train_events < sampled.events_before_cut == full.train_events == full.events_before_cut
    assert all(r.users == sampled.users_scored for r in sampled.results if r.error is None)
