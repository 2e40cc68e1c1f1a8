"""The item catalog: what each item is, so filters can ask for kind, category and stock, and what a
page or an email shows of it (title, price and currency, links, brand, attributes: recommender.item_fields)."""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.errors import InputError
from recommender.events import parse_timestamps
from recommender.files import read_frame
from recommender.ids import IdMap, validate_ids
from recommender.times import check_timestamps
from recommender.item_fields import DISPLAY_FIELDS, SHOP_COLUMNS, check_text, parse_shop_columns

KINDS: tuple[str, ...] = ("product", "content")
CATALOG_COLUMNS = ("item_id", "kind", "category", "in_stock", "created_at", "title", *SHOP_COLUMNS)
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


@dataclass(frozen=True)
class Item:
    """One catalog entry.

    Attributes
    ----------
    item_id : str
    kind : str
        "product" or "content" (guides, how-tos, posts).
    category : str
        "" for none.
    in_stock : bool
    created_at : float or None
        Epoch seconds the item was created; None when unknown.
    title : str or None
    price : float or None
        Unit price in `currency`.
    currency : str or None
        ISO 4217 code; None: the store's default currency.
    url, image_url : str or None
        Absolute http(s) links.
    brand : str or None
    attributes : dict or None
        A flat dict of strings, numbers and booleans.
    """

    item_id: str
    kind: str = "product"
    category: str = ""
    in_stock: bool = True
    created_at: float | None = None
    title: str | None = None
    price: float | None = None
    currency: str | None = None
    url: str | None = None
    image_url: str | None = None
    brand: str | None = None
    attributes: dict | None = None


@dataclass
class ItemAttributes:
    """Catalog columns aligned to a model's item indices; unknown items match no kind.

    Attributes
    ----------
    kind : numpy.ndarray
        object, shape (items,): "product", "content", or "" when the item is not in the catalog.
    category : numpy.ndarray
        object, shape (items,): "" for none or unknown.
    in_stock : numpy.ndarray
        bool, shape (items,): True for items not in the catalog.
    created_at : numpy.ndarray
        float64, shape (items,): epoch seconds, NaN when unknown.
    known : numpy.ndarray
        bool, shape (items,): the item is in the catalog.
    """

    kind: np.ndarray  # object: "product", "content" or "" when not in the catalog
    category: np.ndarray  # object
    in_stock: np.ndarray  # bool
    created_at: np.ndarray  # float64 epoch seconds, NaN when unknown
    known: np.ndarray  # bool: the item is in the catalog


class Catalog:
    """Items indexed by id, held as one DataFrame so loading and aligning are vectorised.

    Parameters
    ----------
    frame : pandas.DataFrame, optional
        Already validated CATALOG_COLUMNS (use `from_frame` for input); default: no items.
    """

    def __init__(self, frame: pd.DataFrame | None = None) -> None:
        if frame is None:
            frame = pd.DataFrame({c: pd.Series(dtype=object) for c in CATALOG_COLUMNS})
        self._frame = frame.set_index("item_id", drop=False) if "item_id" in frame.columns else frame

    @classmethod
    def from_items(cls, items: list[Item]) -> Catalog:
        """A catalog of `Item` records, validated as `from_frame` validates (InputError)."""
        return cls.from_frame(pd.DataFrame([asdict(i) for i in items], columns=list(CATALOG_COLUMNS)))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, check_times: bool = False) -> Catalog:
        """Validate and normalise a frame.

        Parameters
        ----------
        frame : pandas.DataFrame
            `item_id` required; `kind` (default "product"), `category` (default ""), `in_stock`
            (booleans as `parse_bools` reads them, default true), `created_at` (epoch seconds or
            ISO 8601, missing allowed), `title` and the shop columns (SHOP_COLUMNS) optional. A
            repeated id keeps its last row.
        check_times : bool
            A `created_at` outside the plausible range (recommender.times) is bad too (for input,
            not for stored data).

        Returns
        -------
        Catalog

        Raises
        ------
        InputError
            Naming the first bad row and its field: no item_id column, a bad id (`validate_ids`),
            an unknown kind, an in_stock that is not a boolean, a created_at that is neither
            epoch seconds nor ISO 8601 (or implausible with `check_times`), or a bad shop field.
        """
        if "item_id" not in frame.columns:
            raise InputError("missing column(s): item_id", None, "item_id")
        frame = frame.reset_index(drop=True)
        validate_ids(frame["item_id"], "item_id")
        out = pd.DataFrame({"item_id": frame["item_id"].astype(str)})
        kind = frame["kind"].fillna("product").astype(str) if "kind" in frame else pd.Series("product", index=frame.index)
        bad = ~kind.isin(KINDS)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"kind {kind.iloc[row]!r} at row {row} must be one of {', '.join(KINDS)}", row, "kind")
        out["kind"] = kind
        out["category"] = frame["category"].fillna("").astype(str) if "category" in frame else ""
        out["in_stock"] = parse_bools(frame["in_stock"]) if "in_stock" in frame else True
        if "created_at" in frame:
            created = frame["created_at"]
            parsed = np.full(len(frame), np.nan)
            present = created.notna().to_numpy() & (created.astype(str) != "").to_numpy()
            if present.any():
                parsed[present] = parse_timestamps(created[present])
            if check_times:
                check_timestamps(parsed, "created_at")
            out["created_at"] = parsed
        else:
            out["created_at"] = np.nan
        out["title"] = frame["title"].where(frame["title"].notna(), None) if "title" in frame else None
        if "title" in frame:  # titles are shown (fields=title, email blocks): they must encode
            for row, title in enumerate(out["title"].tolist()):
                if isinstance(title, str) and not title.isascii():
                    check_text(title, row, "title")
        for name, column in parse_shop_columns(frame).items():
            out[name] = column
        out = out.drop_duplicates("item_id", keep="last")
        return cls(out)

    def __len__(self) -> int:
        return len(self._frame)

    @property
    def frame(self) -> pd.DataFrame:
        """The items as a DataFrame with the catalog columns (a copy-free view, do not mutate)."""
        return self._frame.reset_index(drop=True)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._frame.index

    def get(self, item_id: str) -> Item | None:
        """The item, or None when it is not in the catalog."""
        if item_id not in self._frame.index:
            return None
        row = self._frame.loc[item_id]
        created = float(row["created_at"])
        price = float(row["price"]) if "price" in row.index else np.nan

        def text(name: str) -> str | None:
            value = row.get(name)
            return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)

        attributes = row.get("attributes")
        return Item(
            item_id=str(row["item_id"]), kind=str(row["kind"]), category=str(row["category"]),
            in_stock=bool(row["in_stock"]), created_at=None if np.isnan(created) else created,
            title=text("title"), price=None if np.isnan(price) else price, currency=text("currency"),
            url=text("url"), image_url=text("image_url"), brand=text("brand"),
            attributes=attributes if isinstance(attributes, dict) else None,
        )

    def items(self) -> list[Item]:
        """Every item, in catalog order."""
        return [i for i in (self.get(item_id) for item_id in self._frame.index) if i is not None]

    def upsert(self, other: Catalog) -> Catalog:
        """A new catalog where `other`'s items replace or extend this one's."""
        merged = pd.concat([self._frame, other._frame], ignore_index=True)
        return Catalog(merged.drop_duplicates("item_id", keep="last").reset_index(drop=True))

    def without(self, item_ids: list[str]) -> Catalog:
        """A new catalog without `item_ids` (ids not in it are ignored)."""
        return Catalog(self._frame[~self._frame["item_id"].isin(item_ids)].reset_index(drop=True))

    def align(self, items: IdMap) -> ItemAttributes:
        """Catalog attributes in the order of a model's item indices.

        Parameters
        ----------
        items : IdMap
            The model's item map.

        Returns
        -------
        ItemAttributes
            Arrays of shape (len(items),); items missing from the catalog get kind "", category
            "", in stock, created_at NaN, known False.
        """
        positions = self._frame.index.get_indexer(items.ids) if len(self._frame) else np.full(len(items), -1)
        known = positions >= 0
        take = np.where(known, positions, 0)

        def column(name: str, missing: object, dtype: object) -> np.ndarray:
            if not len(self._frame):
                return np.full(len(items), missing, dtype=dtype)
            values = self._frame[name].to_numpy(dtype=dtype)[take]
            values[~known] = missing
            return values

        return ItemAttributes(
            kind=column("kind", "", object),
            category=column("category", "", object),
            in_stock=column("in_stock", True, bool),
            created_at=column("created_at", np.nan, np.float64),
            known=known,
        )

    def display_values(self, item_ids: np.ndarray | list[str], name: str,
                       default_currency: str | None = None) -> list:
        """One display field (item_fields.DISPLAY_FIELDS) of each item, for a response.

        Parameters
        ----------
        item_ids : array-like of str, shape (n,)
        name : str
            title, price, currency, url, image_url, brand or attributes.
        default_currency : str, optional
            The currency of items in the catalog that name none (the store's default).

        Returns
        -------
        list, length n
            Plain Python values (str, float, dict), None where the item is not in the catalog or the field
            is not given (an empty title too).

        Raises
        ------
        KeyError
            `name` is not a display field.
        """
        if name not in DISPLAY_FIELDS:
            raise KeyError(name)
        n = len(item_ids)
        if not len(self._frame) or name not in self._frame.columns:
            positions = np.full(n, -1)
        else:
            positions = self._frame.index.get_indexer(np.asarray(item_ids, dtype=object))
        known = positions >= 0
        out: list = [None] * n
        if not known.any():
            return out
        column = self._frame[name].to_numpy(dtype=object)
        for k in np.flatnonzero(known).tolist():
            value = column[positions[k]]
            if isinstance(value, float) and np.isnan(value):
                value = None
            elif isinstance(value, (np.floating, np.integer)):
                value = value.item()
            if name == "currency" and value is None:
                value = default_currency
            out[k] = value if value != "" else None
        return out

    def to_jsonl(self) -> bytes:
        """The items as UTF-8 JSON lines (what a model artifact stores; `from_jsonl` reads it)."""
        return self._frame.reset_index(drop=True).to_json(orient="records", lines=True).encode("utf-8")

    @classmethod
    def from_jsonl(cls, blob: bytes) -> Catalog:
        """The catalog `to_jsonl` wrote (empty bytes: no items).

        Raises
        ------
        InputError
            A row is bad (`from_frame`).
        ValueError
            The bytes are not JSON lines.
        """
        if not blob.strip():
            return cls()
        frame = pd.read_json(io.BytesIO(blob), lines=True, dtype=False)  # no guessing: created_at stays as written
        return cls.from_frame(frame)

    def to_csv(self, path: str | Path) -> None:
        """Write the items as CSV with CATALOG_COLUMNS (`read_catalog` reads it back); `attributes`
        is a JSON object in one cell."""
        frame = self._frame.copy()
        frame["attributes"] = [None if a is None else json.dumps(a) for a in frame["attributes"]]
        frame.to_csv(path, index=False)


def parse_bools(column: pd.Series) -> np.ndarray:
    """true/false, 1/0, yes/no, y/n, t/f (any case) and real booleans; empty or missing means true.

    Returns
    -------
    numpy.ndarray
        bool, shape (len(column),).

    Raises
    ------
    InputError
        The first row that is none of these (field "in_stock").
    """
    text = column.fillna(True).astype(str).str.strip().str.lower()
    text = text.where(text != "", "true")
    is_true = text.isin(_TRUE)
    bad = ~(is_true | text.isin(_FALSE))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"in_stock {column.iloc[row]!r} at row {row} is not a boolean", row, "in_stock")
    return is_true.to_numpy()


def read_catalog(path: str | Path) -> Catalog:
    """Load a catalog from CSV or JSON lines (columns as `Catalog.from_frame` takes them; in a CSV,
    `attributes` is a JSON object in one cell); `created_at` is checked against the plausible range.

    Raises
    ------
    InputError
        The file is missing or cannot be parsed, or a row is bad (naming the row and field).
    """
    frame = read_frame(path, "catalog", {"item_id": str, "category": str, "kind": str, "title": str,
                                         "currency": str, "url": str, "image_url": str, "brand": str,
                                         "attributes": str, "price": str},
                       ("created_at", *SHOP_COLUMNS))
    return Catalog.from_frame(frame, check_times=True)
