import numpy as np
import pandas as pd
import pytest

from recommender.errors import InputError
from recommender.ids import MAX_ID_BYTES, IdMap, id_problem, validate_ids


def test_from_values_sorts_distinct_ids_and_codes_every_value():
    ids, codes = IdMap.from_values(np.array(["b", "a", "c", "a"], dtype=object))
    assert list(ids.ids) == ["a", "b", "c"]
    assert codes.tolist() == [1, 0, 2, 0]
    assert codes.dtype == np.int64


def test_same_values_in_any_order_give_the_same_map():
    first, _ = IdMap.from_values(np.array(["x", "y", "z", "x"], dtype=object))
    second, _ = IdMap.from_values(pd.Series(["z", "x", "y"]))
    assert first == second
    assert first != IdMap(["x", "y"])


def test_lookup_get_contains_and_indexing():
    ids = IdMap(["a", "b", "c"])
    assert ids.lookup(["c", "zz", "a"]).tolist() == [2, -1, 0]
    assert ids.get("b") == 1
    assert ids.get("nope") is None
    assert "a" in ids and "nope" not in ids and 1 not in ids
    assert ids[2] == "c"
    assert len(ids) == 3


def test_lookup_on_an_empty_map_is_all_unknown():
    assert IdMap().lookup(["a", "b"]).tolist() == [-1, -1]
    assert len(IdMap()) == 0


def test_extend_keeps_existing_indices_and_appends_new_ids_sorted():
    base = IdMap(["m", "c"])  # deliberately not sorted: existing order must survive
    grown, codes = base.extend(np.array(["z", "c", "a", "z"], dtype=object))
    assert list(grown.ids) == ["m", "c", "a", "z"]
    assert codes.tolist() == [3, 1, 2, 3]
    for old_id in base.ids:
        assert grown.get(old_id) == base.get(old_id)
    assert list(base.ids) == ["m", "c"]  # the original map is not modified


def test_extend_with_only_known_values_returns_the_same_map():
    base = IdMap(["a", "b"])
    grown, codes = base.extend(np.array(["b", "a"], dtype=object))
    assert grown is base
    assert codes.tolist() == [1, 0]


def test_bytes_round_trip():
    ids = IdMap(["a", "ü-ß", "x y", "123"])
    assert IdMap.from_bytes(ids.to_bytes()) == ids
    assert len(IdMap.from_bytes(IdMap().to_bytes())) == 0


@pytest.mark.parametrize("value", ["a", "ü" * (MAX_ID_BYTES // 2), "x" * MAX_ID_BYTES, "with space", "日本"])
def test_validate_ids_accepts_good_ids(value):
    validate_ids(pd.Series(["ok", value]), "user_id")


@pytest.mark.parametrize("value, words", [
    ("", "empty"),
    (None, "empty"),
    ("x" * (MAX_ID_BYTES + 1), "longer than 256 bytes"),
    ("ü" * (MAX_ID_BYTES // 2 + 1), "longer than 256 bytes"),  # 258 bytes, only 129 characters
    ("tab\there", "control characters"),
    ("new\nline", "control characters"),
    ("nul\x00", "control characters"),
    ("del\x7f", "control characters"),
])
def test_validate_ids_rejects_bad_ids_naming_field_and_row(value, words):
    with pytest.raises(InputError) as info:
        validate_ids(pd.Series(["fine", "also-fine", value], dtype=object), "item_id")
    message = str(info.value)
    assert words in message
    assert "item_id" in message and "row 2" in message


@pytest.mark.parametrize(("value", "problem"), [
    ("u000001", None), ("é" * 128, None), ("a b", None),
    ("", "empty"), ("   ", "empty"), ("\t", "empty"), ("a\nb", "control"), ("a\x7fb", "control"),
    ("a\u0085b", "control"), ("u" * 257, "longer"), ("é" * 129, "longer"), ("a\ud800", "Unicode"),
])
def test_one_rule_for_an_id(value, problem):
    found = id_problem(value)
    assert (found is None) if problem is None else (problem in found)
    if problem is not None and problem != "Unicode":  # validate_ids gives the same verdict for a column
        with pytest.raises(InputError):
            validate_ids(pd.Series(["fine", value], dtype=object), "user_id")
