import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.algorithms import ALGORITHMS
from recommender.catalog import read_catalog
from recommender.cli import EXIT_INPUT, _weights, main
from recommender.evaluation import Metrics
from recommender.events import read_events
from recommender.matrix import EventWeights, default_weights

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """demo-data then train, once for the module: a directory with events, catalog and model."""
    directory = tmp_path_factory.mktemp("cli")
    assert main(["demo-data", "--out", str(directory), "--users", "150", "--seed", "2"]) == 0
    assert main(["train", "--events", str(directory / "events.csv"), "--catalog", str(directory / "catalog.csv"),
                 "--out", str(directory / "model.npz"), "--factors", "16", "--iterations", "5"]) == 0
    return directory


@pytest.fixture(scope="module")
def known_user(store) -> str:
    return str(read_events(store / "events.csv").user_ids[0])


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_input_error(code: int, err: str, *words: str) -> None:
    assert code == EXIT_INPUT == 2
    assert err.startswith("error: ")
    assert err.endswith("\n") and err.count("\n") == 1, err  # one line
    assert "Traceback" not in err
    for word in words:
        assert word in err


def test_demo_data_writes_a_store(tmp_path, capsys):
    code, out, _ = run(capsys, "demo-data", "--out", str(tmp_path), "--users", "30", "--seed", "1")
    assert code == 0
    assert "events to" in out and "items to" in out
    assert len(read_events(tmp_path / "events.csv")) > 0
    assert len(read_catalog(tmp_path / "catalog.csv")) > 0


def test_train_writes_a_model_and_reports_its_version(store, tmp_path, capsys):
    out_path = tmp_path / "bm25.npz"
    code, out, _ = run(capsys, "train", "--events", str(store / "events.csv"), "--out", str(out_path),
                       "--algorithm", "bm25", "--half-life-days", "30")
    assert code == 0
    assert out_path.is_file()
    assert out.startswith("trained bm25 on ")
    assert "saved version " in out and str(out_path) in out


def test_train_takes_the_per_user_recency_or_turns_it_off(store, tmp_path, capsys):
    for share in ("0.2", "0"):
        code, out, err = run(capsys, "train", "--events", str(store / "events.csv"), "--out",
                             str(tmp_path / f"als-{share}.npz"), "--algorithm", "als", "--history-half-life", share)
        assert code == 0, err
    assert _weights(argparse.Namespace(half_life_days=None, history_half_life=0.0), "als").history_half_life is None
    assert _weights(argparse.Namespace(half_life_days=None, history_half_life=None), "als") == default_weights("als")
    assert _weights(argparse.Namespace(half_life_days=None, history_half_life=None), "bm25") == EventWeights()
    assert _weights(argparse.Namespace(half_life_days=30.0, history_half_life=0.2), "bm25") == EventWeights(
        half_life_days=30.0, history_half_life=0.2)


def test_recommend_prints_json(store, known_user, capsys):
    code, out, _ = run(capsys, "recommend", "--model", str(store / "model.npz"), "--user", known_user, "-n", "5")
    assert code == 0
    result = json.loads(out)
    assert result["user_id"] == known_user
    assert result["source"] == "personalized"
    assert len(result["items"]) == 5
    assert all(set(item) == {"item_id", "score"} for item in result["items"])
    assert result["model_version"].count("-") == 1


def test_recommend_with_filters_and_unknown_user(store, capsys):
    catalog = read_catalog(store / "catalog.csv")
    code, out, _ = run(capsys, "recommend", "--model", str(store / "model.npz"), "--user", "stranger",
                       "--kind", "content")
    assert code == 0
    result = json.loads(out)
    assert result["source"] == "fallback"
    assert result["items"]
    assert all(catalog.get(i["item_id"]).kind == "content" for i in result["items"])

    code, out, _ = run(capsys, "recommend", "--model", str(store / "model.npz"), "--user", "stranger",
                       "--category", "coffee", "--in-stock")
    assert code == 0
    for item in json.loads(out)["items"]:
        entry = catalog.get(item["item_id"])
        assert entry.category == "coffee" and entry.in_stock


def test_evaluate_prints_a_table_with_every_algorithm(store, capsys):
    code, out, _ = run(capsys, "evaluate", "--events", str(store / "events.csv"), "--k", "5",
                       "--factors", "8", "--iterations", "3")
    assert code == 0
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert table[0].startswith("| model | precision@5 |")
    assert [row.split("|")[1].strip() for row in table[2:]] == list(ALGORITHMS)
    assert "temporal split, k=5" in out


def test_evaluate_a_subset_with_a_random_split(store, capsys):
    code, out, _ = run(capsys, "evaluate", "--events", str(store / "events.csv"), "--split", "random",
                       "--algorithms", "popular,cosine")
    assert code == 0
    rows = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("|")][2:]
    assert rows == ["popular", "cosine"]


# -- input errors: exit code 2, one line on stderr, no traceback ---------------------------------

def test_missing_events_file(tmp_path, capsys):
    code, out, err = run(capsys, "train", "--events", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "m.npz"))
    assert_input_error(code, err, "events file not found", "nope.csv")
    assert out == ""
    assert not (tmp_path / "m.npz").exists()


def test_missing_catalog_file(store, tmp_path, capsys):
    code, _, err = run(capsys, "train", "--events", str(store / "events.csv"), "--catalog",
                       str(tmp_path / "nope.csv"), "--out", str(tmp_path / "m.npz"))
    assert_input_error(code, err, "catalog file not found")


def test_bad_column(tmp_path, capsys):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item,type,timestamp\nu1,a,view,1700000000\n")
    code, _, err = run(capsys, "train", "--events", str(path), "--out", str(tmp_path / "m.npz"))
    assert_input_error(code, err, "missing column(s): item_id")


def test_unknown_event_type(tmp_path, capsys):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,type,timestamp\nu1,a,view,1700000000\nu1,b,like,1700000000\n")
    for command in (["train", "--out", str(tmp_path / "m.npz")], ["evaluate"]):
        code, _, err = run(capsys, command[0], "--events", str(path), *command[1:])
        assert_input_error(code, err, "unknown event type 'like' at row 1")


def test_empty_events_file(tmp_path, capsys):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,type,timestamp\n")
    code, _, err = run(capsys, "train", "--events", str(path), "--out", str(tmp_path / "m.npz"))
    assert_input_error(code, err, "empty")


def test_corrupted_model(store, tmp_path, capsys):
    blob = (store / "model.npz").read_bytes()
    path = tmp_path / "model.npz"
    path.write_bytes(blob[: len(blob) // 2])
    code, out, err = run(capsys, "recommend", "--model", str(path), "--user", "u1")
    assert_input_error(code, err, "truncated or corrupted")
    assert out == ""


def test_missing_model(tmp_path, capsys):
    code, _, err = run(capsys, "recommend", "--model", str(tmp_path / "none.npz"), "--user", "u1")
    assert_input_error(code, err, "not found")


def test_bad_numbers_and_algorithm_names(store, capsys):
    code, _, err = run(capsys, "recommend", "--model", str(store / "model.npz"), "--user", "u1", "-n", "0")
    assert_input_error(code, err, "-n must be from 1 to 10,000")
    code, _, err = run(capsys, "recommend", "--model", str(store / "model.npz"), "--user", "u1", "-n", "1000000000")
    assert_input_error(code, err, "-n must be from 1 to 10,000")  # it used to hang allocating 7 GiB
    code, _, err = run(capsys, "evaluate", "--events", str(store / "events.csv"), "--k", "1000000000")
    assert_input_error(code, err, "--k must be from 1 to 10,000")
    code, _, err = run(capsys, "evaluate", "--events", str(store / "events.csv"), "--algorithms", "als,svd")
    assert_input_error(code, err, "unknown algorithm(s): svd;")
    code, _, err = run(capsys, "evaluate", "--events", str(store / "events.csv"), "--algorithms", "als,,svd")
    assert_input_error(code, err, "unknown algorithm(s): '', svd;")
    code, _, err = run(capsys, "evaluate", "--events", str(store / "events.csv"), "--algorithms", "")
    assert_input_error(code, err, "--algorithms must name at least one")


@pytest.mark.parametrize("option, value, words", [
    ("--factors", "0", "factors must be from 1 to 1,024"),  # 0 used to train with the default, 64
    ("--iterations", "0", "iterations must be from 1 to 1,000"),
    ("--regularization", "0", "regularization must be above 0"),
    ("--regularization", "-1", "regularization must be above 0"),  # a NaN in the factors, a traceback
    ("--regularization", "1e300", "at most 1e+06"),
    ("--half-life-days", "-1", "half_life_days must be a finite number of days of at least"),
    ("--half-life-days", "1e-300", "of at least"),  # all but one event decayed to nothing
    ("--history-half-life", "nan", "history_half_life must be a positive share"),
])
def test_model_and_weight_options_the_model_cannot_use_are_refused(store, tmp_path, capsys, option, value, words):
    code, _, err = run(capsys, "train", "--events", str(store / "events.csv"), "--out", str(tmp_path / "m.npz"),
                       option, value)
    assert_input_error(code, err, words)
    assert not (tmp_path / "m.npz").exists()


def test_outputs_that_cannot_be_written_are_input_errors(store, tmp_path, capsys):
    directory = tmp_path / "a-directory"
    directory.mkdir()
    code, _, err = run(capsys, "train", "--events", str(store / "events.csv"), "--out", str(directory),
                       "--factors", "4", "--iterations", "1")
    assert_input_error(code, err, f"cannot write {directory}")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run(capsys, "demo-data", "--out", str(blocker / "demo"), "--users", "5")
    assert_input_error(code, err, "cannot write")


@pytest.mark.parametrize("argv, words", [
    (["--users", "0"], "--users must be from 1 to 1,000,000"),
    (["--users", "-5"], "--users must be from 1"),
    (["--seed", "-1"], "--seed must be 0 or more"),
])
def test_demo_data_options_out_of_range(tmp_path, capsys, argv, words):
    code, _, err = run(capsys, "demo-data", "--out", str(tmp_path / "demo"), *argv)
    assert_input_error(code, err, words)


def test_evaluate_puts_weight_options_on_each_algorithms_own_defaults(store, capsys, monkeypatch):
    """--half-life-days used to give every algorithm ALS's weights (its per-user recency included)."""
    seen = {}

    def compare(events, split, k, algorithms, base, weights, on_done, on_error):
        seen.update({name: weights(name) for name in algorithms})
        return [(name, Metrics(k, 0.0, 0.0, 0.0, 0.0, 0.0, 1), 0.0) for name in algorithms]

    monkeypatch.setattr("recommender.cli.compare_algorithms", compare)
    monkeypatch.setattr("recommender.cli.metrics_table", lambda rows: "")
    code, _, _ = run(capsys, "evaluate", "--events", str(store / "events.csv"), "--algorithms", "als,cosine",
                     "--half-life-days", "30")
    assert code == 0
    assert seen["als"] == EventWeights(half_life_days=30.0, history_half_life=default_weights("als").history_half_life)
    assert seen["cosine"] == EventWeights(half_life_days=30.0)  # cosine's own: no per-user recency


def test_usage_errors_exit_2_through_argparse(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--events", "x.csv", "--out", "m.npz", "--algorithm", "svd"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# -- the real entry point ------------------------------------------------------------------------

def python_m_recommender(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "recommender", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_python_m_recommender(store, known_user, tmp_path):
    done = python_m_recommender("recommend", "--model", str(store / "model.npz"), "--user", known_user, "-n", "3")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["source"] == "personalized"

    (tmp_path / "bad.npz").write_bytes(b"not a model")
    failed = python_m_recommender("recommend", "--model", str(tmp_path / "bad.npz"), "--user", known_user)
    assert failed.returncode == 2
    assert failed.stdout == ""
    assert failed.stderr.startswith("error: ") and failed.stderr.count("\n") == 1
    assert "Traceback" not in failed.stderr


def test_an_event_in_milliseconds_is_refused_not_trained_on(tmp_path, capsys):
    """The issue's case: one such row with --half-life-days 30 left one interaction in the model."""
    path = tmp_path / "events.csv"
    rows = [f"u{k},p{k % 7},purchase,{1_700_000_000 + k}" for k in range(50)] + ["u0,p1,view,1700000000000"]
    path.write_text("user_id,item_id,type,timestamp\n" + "\n".join(rows) + "\n")
    code, _, err = run(capsys, "train", "--events", str(path), "--out", str(tmp_path / "m.npz"),
                       "--half-life-days", "30")
    assert_input_error(code, err, "timestamp 1700000000000.0 at row 50 is not a plausible time")
    assert not (tmp_path / "m.npz").exists()


def test_lifecycle_as_of_outside_the_plausible_range(tmp_path, capsys):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,type,timestamp\nu1,a,purchase,1700000000\n")
    code, _, err = run(capsys, "lifecycle", "--events", str(path), "--as-of", "9999-12-31",
                       "--out", str(tmp_path / "c.csv"))
    assert_input_error(code, err, "--as-of must be a date from 1990-01-01T00:00:00Z")


def test_evaluating_nobody_is_an_input_error_not_a_table_of_zeros(tmp_path, capsys):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,type,timestamp\nu1,a,view,1700000000\nu2,b,view,1700000100\n")
    code, out, err = run(capsys, "evaluate", "--events", str(path), "--split", "random", "--algorithms", "popular")
    assert code == EXIT_INPUT and "nothing to evaluate" in err.splitlines()[-1] and "|" not in out


def test_evaluate_skips_an_algorithm_these_data_cannot_train_and_compares_the_rest(store, capsys):
    """The repeat model needs customers with purchases on two days or more; 12 users have too few."""
    events = read_events(store / "events.csv")
    few = sorted(set(events.user_ids.tolist()))[:12]
    small = store / "few.csv"
    frame = events.to_frame()
    frame[frame["user_id"].isin(few)].to_csv(small, index=False)
    code, out, err = run(capsys, "evaluate", "--events", str(small), "--split", "random",
                         "--algorithms", "popular,repeat")
    assert code == 0, err
    assert [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("|")][2:] == ["popular"]
    assert "skipped repeat: " in err


def test_a_directory_a_bad_json_line_and_an_empty_user_are_named(store, tmp_path, capsys):
    code, _, err = run(capsys, "evaluate", "--events", str(tmp_path))
    assert_input_error(code, err, f"events file {tmp_path} is a directory")
    lines = tmp_path / "events.jsonl"
    lines.write_text('{"user_id": "u1", "item_id": "a", "type": "view", "timestamp": 1700000000}\n'
                     '{"user_id": "u2", "item_id": "b", "type": "view", "timestamp": 1700000100\n')
    code, _, err = run(capsys, "train", "--events", str(lines), "--out", str(tmp_path / "m.npz"))
    assert_input_error(code, err, "line 2: not JSON")
    code, _, err = run(capsys, "recommend", "--model", str(store / "model.npz"), "--user", "")
    assert_input_error(code, err, "--user must be a user id")
