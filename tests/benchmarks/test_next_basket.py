"""The next-basket benchmark's protocol functions on a tiny hand-made store."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks import next_basket
from benchmarks.next_basket import (
    customers, g_topfreq, gp_topfreq, p_topfreq, prepare, split_customers, tifu_knn, training_events,
)

DAY = 86_400.0


def lines(user: str, baskets: list[list[str]]) -> list[tuple[str, str, float]]:
    """Purchase lines of one customer, basket b on day 10 + 3 b (at 09:00, plus a second line an hour later)."""
    out = []
    for b, basket in enumerate(baskets):
        for item in basket:
            out.append((user, item, (10 + 3 * b) * DAY + 9 * 3600))
        if basket:
            out.append((user, basket[0], (10 + 3 * b) * DAY + 10 * 3600))  # the same product again that day
    return out


def tiny_frame() -> pd.DataFrame:
    rows = (lines("u1", [["a", "b"], ["a"], ["c"], ["a", "c"]])  # 4 baskets
            + lines("u2", [["a"], ["b", "c"], ["a", "b"]])  # 3 baskets
            + lines("u3", [["a"], ["b"]])  # 2 baskets: dropped
            + lines("u4", [["a", "x"], ["c"], ["x"]])  # x: 1 history count (u4 only) -> removed, target left empty
            + lines("u5", [["b"], ["a", "b"], ["c", "a"]])
            + lines("u6", [["a"]] * 51))  # 51 baskets: dropped
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_prepare_follows_the_protocol():
    data = prepare(tiny_frame())
    assert data.users.tolist() == ["u1", "u2", "u5"]  # u3 too few, u6 too many, u4's target emptied
    assert data.items.ids.tolist() == ["a", "b", "c"]  # x seen once in history baskets
    rows = data.rows
    assert not rows.duplicated(["user_id", "item_id", "day"]).any()
    u1 = rows[rows["user_id"] == "u1"]
    assert sorted(u1.loc[u1["target"], "item_id"]) == ["a", "c"]
    assert u1["day"].nunique() == 4


def test_split_is_seeded_and_cut_72_8_20():
    users = np.array([f"u{i:03d}" for i in range(100)])
    split = split_customers(users, seed=3)
    assert [len(split[k]) for k in ("train", "validation", "test")] == [72, 8, 20]
    assert sorted(np.concatenate(list(split.values()))) == users.tolist()
    assert split_customers(users, seed=3)["test"].tolist() == split["test"].tolist()
    assert split_customers(users, seed=4)["test"].tolist() != split["test"].tolist()


def test_training_events_hold_histories_and_only_the_training_targets():
    data = prepare(tiny_frame())
    events = training_events(data, np.array(["u1"])).to_frame()
    last = data.rows.groupby("user_id")["day"].max()
    day = (events["timestamp"] // DAY).astype(int)
    held = day.to_numpy() == events["user_id"].map(last).to_numpy()
    assert set(events.loc[held, "user_id"]) == {"u1"}
    assert (events["type"] == "purchase").all()


def test_baselines_on_the_tiny_store(monkeypatch):
    monkeypatch.setattr(next_basket, "LIST_LENGTH", 3)
    data = prepare(tiny_frame())
    who = customers(data, np.array(["u1", "u2", "u5"]))
    events = training_events(data, np.array([]))
    code = {item: data.items.get(item) for item in "abc"}
    # history baskets: u1 {a,b},{a},{c}; u2 {a},{b,c}; u5 {b},{a,b}: a 4, b 4, c 2 (ties to the lower id)
    assert g_topfreq(events, data, who)[0].tolist() == [code["a"], code["b"], code["c"]]
    p = p_topfreq(data, who)
    assert p[0].tolist() == [code["a"], code["b"], code["c"]]  # a twice; b before c: bought earlier
    assert p[2].tolist() == [code["b"], code["a"], -1]  # u5 bought only a and b
    assert gp_topfreq(events, data, who)[2].tolist() == [code["b"], code["a"], code["c"]]
    assert who.targets.toarray().tolist() == [[1, 0, 1], [1, 1, 0], [1, 0, 1]]
    assert who.history.toarray().tolist() == [[1, 1, 1], [1, 1, 1], [1, 1, 0]]
    ranked = tifu_knn(data, np.array(["u1", "u2"]), who, {**next_basket.TIFU_SETTINGS, "neighbours": 1})
    assert ranked.shape == (3, 3) and set(ranked[2]) == {code["a"], code["b"], code["c"]}


def generated_frame(customers: int = 80, seed: int = 0) -> pd.DataFrame:
    """Customers rebuying two staples and trying one of 30 products, on 3 to 6 days."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        staples = rng.choice(30, 2, replace=False)
        for b in range(rng.integers(3, 7)):
            basket = [s for s in staples if rng.random() < 0.7] + [rng.integers(30)]
            rows += [(f"c{c}", f"p{i}", (100 + 4 * b + c % 3) * DAY) for i in basket]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_a_whole_run_and_its_report(tmp_path):
    data = prepare(generated_frame())
    result = next_basket.run(data, seed=1, search=False)
    names = [row.name for row in result["rows"]]
    assert names[:3] == ["G-TopFreq", "P-TopFreq", "GP-TopFreq"] and names[-1] == "Encore repeat, validated, as served"
    assert all(row.metrics[10].users == result["sizes"]["test"] for row in result["rows"])
    by_name = {row.name: row.metrics[10] for row in result["rows"]}
    assert by_name["Encore ALS, as served"].repeat_share == 0.0  # bought products removed
    assert by_name["Encore repeat, validated, as served"].repeat_share > 0.3
    report = next_basket.markdown(result, {"cores": "2", "cpu": "test", "python": "3", "implicit": "0",
                                           "numpy": "0", "openblas_threads": "1"}, 1.0)
    assert "| GP-TopFreq |" in report and "target 1.05x" in report
    next_basket.plot(result, tmp_path / "nb.png")
    assert (tmp_path / "nb.png").stat().st_size > 0


def test_what_would_fail_at_the_end_fails_at_the_start(tmp_path, capsys, monkeypatch):
    def no_data(cache):
        raise AssertionError("the data must not be read before the outputs are checked")

    monkeypatch.setattr(next_basket, "ta_feng_frame", no_data)
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert next_basket.main(["--out", str(a_file)]) == 1
    assert next_basket.main(["--out", str(tmp_path / "out"), "--reference-json", str(tmp_path / "nowhere")]) == 1
    assert "--reference-json" in capsys.readouterr().err

    def offline(cache):
        raise next_basket.DatasetError("downloading Ta-Feng failed")

    monkeypatch.setattr(next_basket, "ta_feng_frame", offline)
    assert next_basket.main(["--out", str(tmp_path / "out")]) == 1  # an error line, not a traceback
    assert capsys.readouterr().err.strip() == "error: downloading Ta-Feng failed"
