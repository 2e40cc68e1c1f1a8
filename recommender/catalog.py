"""The item catalog: what each item is, so filters can ask for kind, category and stock."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.errors import InputError
from recommender.events import parse_timestamps
from recommender.files import read_frame
from recommender.ids import IdMap, validate_ids

KINDS: tuple[str, ...] = ("product", "content")
CATALOG_COLUMNS = ("item_id", "kind", "category", "in_stock", "created_at", "title")
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
    """

    item_id: str
    kind: str = "product"
    category: str = ""
    in_stock: bool = True
    created_at: float | None = None
    title: str | None = None


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
    def from_frame(cls, frame: pd.DataFrame) -> Catalog:
        """Validate and normalise a frame.

        Parameters
        ----------
        frame : pandas.DataFrame
            `item_id` required; `kind` (default "product"), `category` (default ""), `in_stock`
            (booleans as `parse_bools` reads them, default true), `created_at` (epoch seconds or
            ISO 8601, missing allowed) and `title` optional. A repeated id keeps its last row.

        Returns
        -------
        Catalog

        Raises
        ------
        InputError
            Naming the first bad row and its field: no item_id column, a bad id (`validate_ids`),
            an unknown kind, an in_stock that is not a boolean, or a created_at that is neither
            epoch seconds nor ISO 8601.
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
            out["created_at"] = parsed
        else:
            out["created_at"] = np.nan
        out["title"] = frame["title"].where(frame["title"].notna(), None) if "title" in frame else None
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
        return Item(
            item_id=str(row["item_id"]), kind=str(row["kind"]), category=str(row["category"]),
            in_stock=bool(row["in_stock"]), created_at=None if np.isnan(created) else created,
            title=None if row["title"] is None or pd.isna(row["title"]) else str(row["title"]),
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
        """Write the items as CSV with CATALOG_COLUMNS (`read_catalog` reads it back)."""
        self._frame.to_csv(path, index=False)


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
    """Load a catalog from CSV or JSON lines (columns as `Catalog.from_frame` takes them).

    Raises
    ------
    InputError
        The file is missing or cannot be parsed, or a row is bad.
    """
    frame = read_frame(path, "catalog", {"item_id": str, "category": str, "kind": str, "title": str},
                       ("created_at",))
    return Catalog.from_frame(frame)
