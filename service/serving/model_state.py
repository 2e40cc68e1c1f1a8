"""The model a replica serves, with request-time masks cached so a request costs no O(items) work."""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import gc
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from recommender.algorithms import ModelParams
from recommender.artifacts import ArtifactInfo, load_model
from recommender.catalog import Catalog
from recommender.filters import ItemFilter, allowed_mask
from recommender.models import Recommender
from service.store.lists import DIGEST_BYTES

POPULAR_CANDIDATES = 1000
#: The field of an artifact's extra information (ArtifactInfo.extra) holding the event stream id its
#: snapshot was folded through, written by the training (service.training.job).
FOLDED_THROUGH = "folded_through"


def freeze_heap() -> None:
    """Take everything alive now (the model's id maps and catalog arrays, every imported module)
    out of the cyclic garbage collector's view.

    A full collection traverses every tracked object, and a served model is hundreds of
    thousands of them (object arrays are traversed element by element): tens of milliseconds
    with every request on hold, often enough to set the p99. Frozen objects are still freed by
    reference counting; the previous freeze is undone and collected first, so a replaced model
    caught in a reference cycle is freed here at the next swap instead of being kept forever.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


#: The cyclic collector's thresholds in a serving process (gc.set_threshold; Python's defaults are 700, 10, 10).
SERVING_GC_THRESHOLDS = (50_000, 20, 100)


def tune_collector() -> None:
    """Make the cyclic garbage collector's full collections rare in a serving process.

    A first read leaves a few tracked objects in the in-process caches (served lists, the mirror, hot
    lists), and CPython runs a full collection whenever a quarter more objects than the last one saw
    have reached the oldest generation: with the caches full of new users, every few thousand first
    reads, each holding every request for as long as traversing the caches takes. With a young
    collection every SERVING_GC_THRESHOLDS[0] allocations and a full one at most every
    SERVING_GC_THRESHOLDS[2] middle ones, that happens far less often; cycles still
    get collected, and a model swap still collects and freezes the heap (`freeze_heap`).
    """
    gc.set_threshold(*SERVING_GC_THRESHOLDS)


def _load_malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


_MALLOC_TRIM = _load_malloc_trim()


def return_free_memory() -> None:
    """Give the heap that training and a model swap freed back to the operating system.

    Training allocates hundreds of megabytes in blocks under glibc's mmap threshold (which
    raises itself after large frees), and millions of small id strings; once freed they stay in
    the process's heap, so without this RSS ratchets up with every retrain although nothing
    leaks. malloc_trim(0) releases the free pages.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


@dataclass(eq=False)  # a model is itself: compared (and found in containers) by identity, never field by field
class ServingModel:
    model: Recommender
    info: ArtifactInfo
    removed: frozenset[str] = frozenset()
    catalog_generation: int = 0  # bumped by every catalog change, after it is complete
    default_currency: str = "USD"  # of catalog items that name none (RECS_CURRENCY)
    #: models of experiments' trained variants, `{experiment}/{variant}` -> model, trained with this one
    variants: dict[str, ServingModel] = field(default_factory=dict)
    _masks: dict[tuple, np.ndarray] = field(default_factory=dict)
    _allowed: dict[tuple, bytes] = field(default_factory=dict)
    _fields: tuple[list, list, list] | None = None
    _display: dict[str, list] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _popularity: ServingModel | None = None
    _view_digest: tuple[int, bytes] | None = None  # (catalog_generation, view_digest())

    def __post_init__(self) -> None:
        freeze_heap()

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def folded_through(self) -> str | None:
        """The event stream id ("ms-seq") this model's events were folded through: users' since-training
        entries up to there are in it (service.store.events.since_training). None for an artifact that
        does not say (saved before it was recorded, or by the CLI): every entry then counts."""
        value = self.info.extra.get(FOLDED_THROUGH)
        return value if isinstance(value, str) and value else None

    @classmethod
    def load(cls, path: Path, catalog: Catalog | None = None, removed: frozenset[str] = frozenset(),
             default_currency: str = "USD") -> ServingModel:
        model, info = load_model(path)
        if catalog is not None and len(catalog):
            model.set_catalog(catalog)
        return cls(model, info, removed, default_currency=default_currency)

    def knows_item(self, item_id: str) -> bool:
        """Whether the catalog or the model knows `item_id` (events since training aside)."""
        return item_id in self.model.catalog or self.model.item_ids.get(item_id) is not None

    def update_catalog(self, catalog: Catalog, removed: frozenset[str]) -> None:
        """Apply catalog changes (stock, new categories, removals) without reloading the model."""
        with self._lock:
            if len(catalog):
                self.model.set_catalog(catalog)
            self.removed = removed
            self._masks = {}
            self._allowed = {}
            self._fields = None
            self._display = {}
            self.catalog_generation += 1
        for variant in self.variants.values():
            variant.update_catalog(catalog, removed)
        if self._popularity is not None:
            self._popularity.update_catalog(catalog, removed)

    def popularity_model(self) -> ServingModel:
        """A popularity model (recommender.algorithms.PopularityRecommender) over this model's training matrix
        and catalog, sharing both: an experiment's holdout where a route needs a model (email blocks,
        campaigns). Built on first use: two passes over the matrix's indices, O(users + items) memory."""
        popularity = self._popularity
        if popularity is None:
            with self._lock:
                if self._popularity is None:
                    model = Recommender(ModelParams(algorithm="popular"))
                    interactions = self.model.interactions
                    model.algorithm.fit(interactions.matrix)
                    model.trained_at = self.model.trained_at
                    model.attach(interactions, self.model.catalog)
                    info = dataclasses.replace(self.info, algorithm="popular", params=model.params.to_dict(),
                                               metrics={}, extra={})
                    self._popularity = ServingModel(model, info, self.removed, self.catalog_generation,
                                                    self.default_currency)
                popularity = self._popularity
        return popularity

    def base_mask(self, kind: str | None, category: str | None, in_stock_only: bool) -> np.ndarray:
        """Allowed items for a filter, minus removed items; cached per filter."""
        key = (kind, category, in_stock_only)
        mask = self._masks.get(key)
        if mask is None:
            with self._lock:
                item_filter = ItemFilter(kind=kind, category=category, in_stock_only=in_stock_only,
                                         exclude=self.removed)
                mask = allowed_mask(item_filter, self.model.attrs, self.model.item_ids.ids)
                if len(self._masks) > 256:
                    self._masks.clear()
                self._masks[key] = mask
        return mask

    def allowed_bytes(self, kind: str | None, category: str | None, in_stock_only: bool) -> bytes:
        """`base_mask` as bytes (one per item, 0 or 1), for cheap per-item checks in Python."""
        key = (kind, category, in_stock_only)
        allowed = self._allowed.get(key)
        if allowed is None:
            allowed = self.base_mask(kind, category, in_stock_only).astype(np.uint8).tobytes()
            with self._lock:
                if len(self._allowed) > 256:
                    self._allowed.clear()
                self._allowed[key] = allowed
        return allowed

    def item_fields(self) -> tuple[list, list, list]:
        """Per item index: id, kind or None, category or None, as plain lists (what a response shows)."""
        fields = self._fields
        if fields is None:
            with self._lock:
                attrs = self.model.attrs
                fields = ([str(i) for i in self.model.item_ids.ids.tolist()],
                          [k or None for k in attrs.kind.tolist()],
                          [c or None for c in attrs.category.tolist()])
                self._fields = fields
        return fields

    def view_digest(self) -> bytes:
        """DIGEST_BYTES (service.store.lists) summing up the catalog as an unfiltered list shows it: each item's
        id, kind and category, and which items it may hold. Two models of the same version with the same digest
        give the same unfiltered answers (service.serving.rendered). Computed once per catalog change."""
        cached = self._view_digest
        generation = self.catalog_generation  # before reading the catalog, as the read path does
        if cached is None or cached[0] != generation:
            h = hashlib.blake2b(digest_size=DIGEST_BYTES)
            h.update(self.allowed_bytes(None, None, False))
            h.update(orjson.dumps(self.item_fields()))
            cached = self._view_digest = (generation, h.digest())
        return cached[1]

    def display_columns(self, names: tuple[str, ...]) -> list[tuple[str, list]]:
        """(name, values per item index) of catalog display fields, built once per catalog change (what
        `fields=` embeds; see Catalog.display_values)."""
        columns = []
        for name in names:
            values = self._display.get(name)
            if values is None:
                with self._lock:
                    values = self.model.catalog.display_values(self.model.item_ids.ids, name, self.default_currency)
                    self._display[name] = values
            columns.append((name, values))
        return columns

    def display_by_id(self, items: list[dict], names: tuple[str, ...]) -> None:
        """Add catalog display fields to response items that name their `item_id` (any item, in the model or
        not: the retention blocks list new items too)."""
        if not names or not items:
            return
        ids = [item["item_id"] for item in items]
        catalog = self.model.catalog
        for name in names:
            for item, value in zip(items, catalog.display_values(ids, name, self.default_currency)):
                item[name] = value

    def popular_candidates(self) -> tuple[np.ndarray, np.ndarray]:
        order = self.model.popular_order[:POPULAR_CANDIDATES]
        top = max(float(self.model.popularity.max(initial=0.0)), 1.0)
        return order, self.model.popularity[order] / top
