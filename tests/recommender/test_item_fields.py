"""The catalog's shop fields: price, currency, links, brand, attributes."""

import json

import pandas as pd
import pytest

from recommender.catalog import Catalog, Item, read_catalog
from recommender.errors import InputError
from recommender.item_fields import MAX_ATTRIBUTES, MAX_URL_CHARS, is_currency_code, is_web_url

SHOP_ITEM = Item("p1", "product", "coffee", True, None, "Beans", price=12.5, currency="EUR",
                 url="https://shop.example.com/p/1?ref=a", image_url="http://cdn.example.com/1.jpg", brand="Acme",
                 attributes={"roast": "dark", "grams": 250, "organic": True})


def test_shop_fields_round_trip_through_csv_json_lines_and_artifact_text(tmp_path):
    catalog = Catalog.from_items([SHOP_ITEM, Item("p2")])
    path = tmp_path / "catalog.csv"
    catalog.to_csv(path)
    assert read_catalog(path).get("p1") == SHOP_ITEM
    assert Catalog.from_jsonl(catalog.to_jsonl()).get("p1") == SHOP_ITEM
    plain = Catalog.from_jsonl(catalog.to_jsonl()).get("p2")
    assert (plain.price, plain.currency, plain.url, plain.attributes) == (None, None, None, None)
    lines = tmp_path / "catalog.jsonl"
    lines.write_text(json.dumps({"item_id": "p3", "price": "7", "attributes": {"size": "M"}}) + "\n")
    item = read_catalog(lines).get("p3")
    assert (item.price, item.attributes) == (7.0, {"size": "M"})


@pytest.mark.parametrize(("field", "value", "words"), [
    ("price", -1, "at least 0"),
    ("price", "ten", "not a number"),
    ("price", True, "not a number"),
    ("currency", "usd", "ISO 4217"),
    ("currency", "XYZ", "ISO 4217"),
    ("url", "ftp://example.com/a", "absolute http or https"),
    ("url", "/p/1", "absolute http or https"),
    ("url", "https://", "absolute http or https"),
    ("image_url", "https://example.com/a b.jpg", "without spaces"),
    ("image_url", "https://example.com/" + "a" * MAX_URL_CHARS, "at most"),
    ("brand", "   ", "non-blank"),
    ("brand", 12, "must be a string"),
    ("attributes", {"nested": {"a": 1}}, "flat"),
    ("attributes", {"list": [1, 2]}, "flat"),
    ("attributes", {"nan": float("nan")}, "finite"),
    ("attributes", {str(k): k for k in range(MAX_ATTRIBUTES + 1)}, f"at most {MAX_ATTRIBUTES}"),
    ("attributes", {"long": "x" * 2000}, "longer than"),
    ("attributes", "[1, 2]", "must be an object"),
    ("attributes", "{not json", "not a JSON object"),
])
def test_a_bad_shop_field_names_its_row_and_field(field, value, words):
    frame = pd.DataFrame({"item_id": ["ok", "bad"], field: [None, value]})
    with pytest.raises(InputError, match=words) as caught:
        Catalog.from_frame(frame)
    assert (caught.value.row, caught.value.field) == (1, field)


def test_currency_codes_and_web_urls():
    assert is_currency_code("JPY") and not is_currency_code("jpy") and not is_currency_code(None)
    assert is_web_url("https://example.com:8443/a?b=c#d") and is_web_url("http://example.com")
    assert not is_web_url("javascript:alert(1)") and not is_web_url("https://example.com:99999/")


@pytest.mark.parametrize(("field", "value"), [("title", "tea \ud800"), ("brand", "\udfff"),
                                              ("attributes", {"size": "\ud800"}), ("attributes", {"\ud800": 1})])
def test_text_that_cannot_be_encoded_is_refused(field, value):
    with pytest.raises(InputError, match="not valid Unicode") as caught:
        Catalog.from_frame(pd.DataFrame({"item_id": ["a"], field: [value]}))
    assert caught.value.field == field
