import json

import numpy as np
import pandas as pd
import pytest

from recommender.catalog import Catalog, Item, parse_bools, read_catalog
from recommender.errors import InputError
from recommender.ids import IdMap
from tests.recommender.conftest import NOW

ITEMS = [
    Item("p1", "product", "coffee", True, NOW, "Beans"),
    Item("p2", "product", "tea", False, None, None),
    Item("g1", "content", "coffee", True, NOW - 10, "Brewing guide"),
]


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.from_items(ITEMS)


def test_from_items_and_get(catalog):
    assert len(catalog) == 3
    assert catalog.get("p1") == ITEMS[0]
    assert catalog.get("p2") == ITEMS[1]
    assert catalog.get("nope") is None
    assert "g1" in catalog and "nope" not in catalog
    assert catalog.items() == ITEMS


def test_read_csv(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text(
        "item_id,kind,category,in_stock,created_at,title\n"
        "007,product,coffee,yes,1700000000,Beans\n"
        "g1,content,coffee,,2023-11-14T22:13:20Z,Guide\n"
        "p3,product,,0,,\n"
    )
    catalog = read_catalog(path)
    assert catalog.get("007") == Item("007", "product", "coffee", True, NOW, "Beans")
    assert catalog.get("g1") == Item("g1", "content", "coffee", True, NOW, "Guide")  # empty stock means true
    p3 = catalog.get("p3")
    assert (p3.kind, p3.category, p3.in_stock, p3.created_at) == ("product", "", False, None)


def test_read_csv_with_only_item_ids_uses_defaults(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text("item_id\na\nb\n")
    assert read_catalog(path).items() == [Item("a"), Item("b")]


def test_read_json_lines(tmp_path):
    path = tmp_path / "catalog.jsonl"
    rows = [
        {"item_id": "p1", "kind": "product", "category": "coffee", "in_stock": False, "created_at": 1_700_000_000},
        {"item_id": "g1", "kind": "content", "category": "tea", "in_stock": "yes", "created_at": 1_700_000_100},
        {"item_id": 12, "category": "tea"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    catalog = read_catalog(path)
    # created_at is epoch seconds, not reinterpreted by pandas' date guessing
    assert catalog.get("p1") == Item("p1", "product", "coffee", False, NOW, None)
    assert catalog.get("g1") == Item("g1", "content", "tea", True, NOW + 100, None)
    assert catalog.get("12").kind == "product"


def test_read_json_lines_with_iso_created_at(tmp_path):
    path = tmp_path / "catalog.jsonl"
    path.write_text(json.dumps({"item_id": "a", "created_at": "2023-11-14T22:13:20Z"}) + "\n")
    assert read_catalog(path).get("a").created_at == NOW


@pytest.mark.parametrize("kind", ["service", "Product", "guide"])
def test_kind_must_be_product_or_content(kind):
    frame = pd.DataFrame({"item_id": ["a", "b"], "kind": ["content", kind]})
    with pytest.raises(InputError, match=f"kind '{kind}' at row 1 must be one of product, content"):
        Catalog.from_frame(frame)


def test_missing_kind_defaults_to_product():
    frame = pd.DataFrame({"item_id": ["a", "b"], "kind": [None, "content"]})
    catalog = Catalog.from_frame(frame)
    assert catalog.get("a").kind == "product"
    assert catalog.get("b").kind == "content"


@pytest.mark.parametrize("raw, expected", [
    ("true", True), ("True", True), ("1", True), ("yes", True), ("YES", True), (" y ", True), ("t", True),
    ("false", False), ("FALSE", False), ("0", False), ("no", False), ("No", False), ("n", False), ("f", False),
    (True, True), (False, False), (1, True), (0, False), ("", True), (None, True),
])
def test_in_stock_parsing(raw, expected):
    assert parse_bools(pd.Series([raw], dtype=object)).tolist() == [expected]


@pytest.mark.parametrize("raw", ["maybe", "2", "out", "-1"])
def test_bad_in_stock_raises(raw):
    with pytest.raises(InputError, match=f"in_stock '{raw}' at row 1 is not a boolean"):
        Catalog.from_frame(pd.DataFrame({"item_id": ["a", "b"], "in_stock": ["yes", raw]}))


def test_bad_in_stock_in_csv_file(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text("item_id,in_stock\na,yes\nb,sometimes\n")
    with pytest.raises(InputError, match="in_stock 'sometimes' at row 1"):
        read_catalog(path)


def test_bad_item_ids_and_missing_column():
    with pytest.raises(InputError, match="missing column.*item_id"):
        Catalog.from_frame(pd.DataFrame({"id": ["a"]}))
    with pytest.raises(InputError, match="item_id is empty or only whitespace at row 1"):
        Catalog.from_frame(pd.DataFrame({"item_id": ["a", ""]}))
    with pytest.raises(InputError, match="control characters"):
        Catalog.from_frame(pd.DataFrame({"item_id": ["a\tb"]}))


def test_bad_created_at():
    with pytest.raises(InputError, match="timestamp"):
        Catalog.from_frame(pd.DataFrame({"item_id": ["a"], "created_at": ["last tuesday"]}))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="catalog file not found"):
        read_catalog(tmp_path / "catalog.csv")


def test_duplicate_ids_keep_the_last_row():
    catalog = Catalog.from_frame(pd.DataFrame({"item_id": ["a", "a"], "category": ["old", "new"]}))
    assert len(catalog) == 1
    assert catalog.get("a").category == "new"


def test_upsert_replaces_and_extends_without_mutating(catalog):
    update = Catalog.from_items([Item("p2", "product", "tea", True), Item("p9", "product", "toys")])
    merged = catalog.upsert(update)
    assert len(merged) == 4
    assert merged.get("p2").in_stock is True
    assert merged.get("p9").category == "toys"
    assert merged.get("p1") == ITEMS[0]
    assert catalog.get("p2").in_stock is False and "p9" not in catalog


def test_without_removes_items(catalog):
    smaller = catalog.without(["p1", "unknown"])
    assert [i.item_id for i in smaller.items()] == ["p2", "g1"]
    assert "p1" in catalog


def test_align_to_id_map(catalog):
    attrs = catalog.align(IdMap(["g1", "zz", "p2", "p1"]))
    assert attrs.kind.tolist() == ["content", "", "product", "product"]
    assert attrs.known.tolist() == [True, False, True, True]
    assert attrs.category.tolist() == ["coffee", "", "tea", "coffee"]
    assert attrs.in_stock.tolist() == [True, True, False, True]
    assert attrs.in_stock.dtype == bool
    np.testing.assert_array_equal(attrs.created_at, [NOW - 10, np.nan, np.nan, NOW])


def test_align_empty_catalog():
    attrs = Catalog().align(IdMap(["a", "b"]))
    assert attrs.kind.tolist() == ["", ""]
    assert attrs.known.tolist() == [False, False]
    assert attrs.in_stock.tolist() == [True, True]


def test_jsonl_round_trip(catalog):
    blob = catalog.to_jsonl()
    back = Catalog.from_jsonl(blob)
    assert back.items() == catalog.items()  # including created_at, which must not be rescaled


def test_jsonl_round_trip_of_empty_catalog():
    assert len(Catalog.from_jsonl(Catalog().to_jsonl())) == 0
    assert len(Catalog.from_jsonl(b"")) == 0


def test_jsonl_round_trip_keeps_numeric_looking_ids():
    catalog = Catalog.from_items([Item("007", category="123"), Item("1e3")])
    back = Catalog.from_jsonl(catalog.to_jsonl())
    assert [i.item_id for i in back.items()] == ["007", "1e3"]
    assert back.get("007").category == "123"


def test_csv_round_trip(tmp_path, catalog):
    path = tmp_path / "catalog.csv"
    catalog.to_csv(path)
    back = read_catalog(path)
    for before, after in zip(catalog.items(), back.items()):
        assert (after.item_id, after.kind, after.category, after.in_stock, after.created_at) == (
            before.item_id, before.kind, before.category, before.in_stock, before.created_at)
