"""The catalog's shop fields: price, currency, links, brand and attributes, checked column by column.

What an email or a page needs besides the id: a unit price in an ISO 4217 currency, the product page and
image links (absolute http or https), a brand and a flat object of attributes. All are optional.
recommender.catalog keeps them as columns of its frame; this module only validates and normalises.
"""

from __future__ import annotations

import json
import math
import re
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from babel.numbers import is_currency

from recommender.errors import InputError
from recommender.events import MAX_PRICE

#: The catalog fields a response may embed (`fields=`), in the order they are documented.
DISPLAY_FIELDS = ("title", "price", "currency", "url", "image_url", "brand", "attributes")
#: Catalog columns added by this module, with the value meaning "not given".
SHOP_COLUMNS = ("price", "currency", "url", "image_url", "brand", "attributes")
MAX_URL_CHARS = 2048
MAX_BRAND_CHARS = 256
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_KEY_CHARS = 64
MAX_ATTRIBUTE_VALUE_CHARS = 1024
_CONTROL = re.compile(r"[\x00-\x20\x7f]")  # control characters and spaces: never in a link
_KEY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_shop_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The shop columns of a catalog frame, validated; absent columns give "not given" everywhere.

    Parameters
    ----------
    frame : pandas.DataFrame
        Catalog rows (index 0..n-1); any of SHOP_COLUMNS may be missing, and a cell may be empty
        (None, NaN or "" in a CSV).

    Returns
    -------
    dict of str to numpy.ndarray, shape (n,)
        `price` float64 (currency units, NaN: not given); `currency` (ISO 4217 code), `url`,
        `image_url`, `brand` object arrays of str or None; `attributes` object array of dict or None.

    Raises
    ------
    InputError
        The first bad value, with its `row` and `field`: a price that is not a number from 0 to
        MAX_PRICE, a currency that is not an ISO 4217 code, a link that is not an absolute http(s) URL of
        at most MAX_URL_CHARS characters, a brand that is not a string of at most MAX_BRAND_CHARS, or
        attributes that are not a flat object (at most MAX_ATTRIBUTES keys of at most
        MAX_ATTRIBUTE_KEY_CHARS characters; values strings of at most MAX_ATTRIBUTE_VALUE_CHARS, finite
        numbers or booleans). CSV cells may hold the attributes as JSON text.
    """
    n = len(frame)
    out: dict[str, np.ndarray] = {}
    cells = {c: (frame[c] if c in frame.columns else pd.Series([None] * n, dtype=object)) for c in SHOP_COLUMNS}
    given = {c: _given(cells[c]) for c in SHOP_COLUMNS}
    price = np.full(n, np.nan)
    if given["price"].any():
        raw = cells["price"]
        numbers = pd.to_numeric(raw.where(given["price"], None), errors="coerce").to_numpy(np.float64, na_value=np.nan)
        flags = np.fromiter((isinstance(v, (bool, np.bool_)) for v in raw.tolist()), dtype=bool, count=n)
        not_number = given["price"] & (np.isnan(numbers) | flags)
        if not_number.any():
            row = int(np.flatnonzero(not_number)[0])
            raise InputError(f"price {raw.iloc[row]!r} at row {row} is not a number", row, "price")
        out_of_range = given["price"] & ~((numbers >= 0) & (numbers <= MAX_PRICE))
        if out_of_range.any():
            row = int(np.flatnonzero(out_of_range)[0])
            raise InputError(f"price at row {row} must be at least 0 and at most {MAX_PRICE:g}", row, "price")
        price = np.where(given["price"], numbers, np.nan)
    out["price"] = price
    out["currency"] = _strings(cells["currency"], given["currency"], "currency", _check_currency)
    out["url"] = _strings(cells["url"], given["url"], "url", _url_checker("url"))
    out["image_url"] = _strings(cells["image_url"], given["image_url"], "image_url", _url_checker("image_url"))
    out["brand"] = _strings(cells["brand"], given["brand"], "brand", _check_brand)
    attributes = np.full(n, None, dtype=object)
    for row in np.flatnonzero(given["attributes"]):
        attributes[row] = check_attributes(cells["attributes"].iloc[row], int(row))
    out["attributes"] = attributes
    return out


def _given(column: pd.Series) -> np.ndarray:
    present = column.notna().to_numpy()
    if not present.any():
        return present
    return present & np.fromiter((not (isinstance(v, str) and v == "") for v in column.tolist()), dtype=bool,
                                 count=len(column))


def _strings(column: pd.Series, given: np.ndarray, field: str, check) -> np.ndarray:
    """The given cells of a string column, each distinct value checked once."""
    values = np.full(len(column), None, dtype=object)
    rows = np.flatnonzero(given)
    if not len(rows):
        return values
    cells = column.to_numpy(dtype=object)[rows]
    checked: set[str] = set()
    for row, value in zip(rows.tolist(), cells.tolist()):
        if not isinstance(value, str):
            raise InputError(f"{field} at row {row} must be a string", row, field)
        if value not in checked:
            check_text(value, row, field)
            check(value, row)
            checked.add(value)
    values[rows] = cells
    return values


def _check_currency(value: str, row: int) -> None:
    if not is_currency(value):
        raise InputError(f"currency {value!r} at row {row} is not an ISO 4217 code (like USD or EUR)", row,
                         "currency")


def is_currency_code(value: object) -> bool:
    """Whether `value` is an ISO 4217 currency code (three capital letters Babel's CLDR data knows)."""
    return isinstance(value, str) and bool(is_currency(value))


def _url_checker(field: str):
    def check(value: str, row: int) -> None:
        if not is_web_url(value):
            raise InputError(f"{field} at row {row} must be an absolute http or https URL of at most "
                             f"{MAX_URL_CHARS} characters, without spaces", row, field)
    return check


def is_web_url(value: object) -> bool:
    """An absolute http or https URL with a host, of at most MAX_URL_CHARS characters, with no spaces or
    control characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL_CHARS or _CONTROL.search(value):
        return False
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0  # urlsplit raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok


def _check_brand(value: str, row: int) -> None:
    if not value.strip() or len(value) > MAX_BRAND_CHARS:
        raise InputError(f"brand at row {row} must be a non-blank string of at most {MAX_BRAND_CHARS} characters",
                         row, "brand")


def check_text(value: str, row: int, field: str) -> None:
    """InputError unless `value` is valid Unicode text (JSON can carry lone surrogates, which no response,
    page or email can encode)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{field} at row {row} is not valid Unicode text (a lone surrogate)", row, field) from None


def check_attributes(value: object, row: int) -> dict:
    """A flat attributes object (a dict, or its JSON text from a CSV cell), checked; InputError naming the
    row, field `attributes`."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InputError(f"attributes at row {row} is not a JSON object", row, "attributes") from None
    if not isinstance(value, dict):
        raise InputError(f"attributes at row {row} must be an object", row, "attributes")
    if len(value) > MAX_ATTRIBUTES:
        raise InputError(f"attributes at row {row} has {len(value)} keys; at most {MAX_ATTRIBUTES}", row, "attributes")
    for key, item in value.items():
        check_text(key if isinstance(key, str) else "", row, "attributes")
        if isinstance(item, str):
            check_text(item, row, "attributes")
        if not isinstance(key, str) or not key or len(key) > MAX_ATTRIBUTE_KEY_CHARS or _KEY_CONTROL.search(key):
            raise InputError(f"attributes at row {row}: key {str(key)[:80]!r} must be a non-empty string of at most "
                             f"{MAX_ATTRIBUTE_KEY_CHARS} characters without control characters", row, "attributes")
        if isinstance(item, str):
            if len(item) > MAX_ATTRIBUTE_VALUE_CHARS:
                raise InputError(f"attributes at row {row}: {key!r} is longer than {MAX_ATTRIBUTE_VALUE_CHARS} "
                                 "characters", row, "attributes")
        elif isinstance(item, bool) or (isinstance(item, (int, float)) and math.isfinite(item)):
            continue
        else:
            raise InputError(f"attributes at row {row}: {key!r} must be a string, a finite number or a boolean "
                             "(attributes are flat)", row, "attributes")
    return dict(value)
