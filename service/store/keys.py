"""Every Redis key the service uses, in one place, so the layout is visible at a glance.

The layout works on one Redis and on a Redis Cluster alike, through hash tags (the part of a key
in braces picks its slot). Everything shared (the event stream, its client ids, the change log,
catalog, model pointer, lock, online counters) is tagged `{prefix}`, one slot, so the event
script and the catalog scripts stay single-slot. A user's own keys (since-training events,
their stream ids and purchase times, shown items, precomputed list) are tagged `{u:user_id}`: users spread over the
cluster, and the one read a request makes goes to one node. The "u:" keeps the tag non-empty
whatever the id holds (an id starting with "}" would otherwise leave an empty tag, and the key
would be hashed whole). Similar-item lists are untagged, spread by their full name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Every key of one deployment, built from its prefix (RECS_KEY_PREFIX).

    Parameters
    ----------
    prefix : str
        Starts every key; no braces.

    Raises
    ------
    ValueError
        The prefix contains a brace (braces are Redis Cluster hash tags).
    """

    prefix: str = "encore"

    def __post_init__(self) -> None:
        if "{" in self.prefix or "}" in self.prefix:
            raise ValueError("the key prefix must not contain braces (they are Redis Cluster hash tags)")

    @property
    def shared(self) -> str:
        """The hash-tagged stem of every shared key: all of them live in one cluster slot."""
        return f"{{{self.prefix}}}"

    def user(self, user_id: str) -> str:
        """The hash-tagged stem of a user's keys: one slot per user."""
        return f"{self.prefix}:{{u:{user_id}}}"

    @property
    def events(self) -> str:
        """Stream of accepted events, folded into the snapshot at each training."""
        return f"{self.shared}:events"

    @property
    def events_generation(self) -> str:
        """A random nonce set whenever the event stream is created: readers that follow the stream by
        id notice a stream deleted and written again by it (service.store.events.stream)."""
        return f"{self.shared}:events:generation"

    @property
    def unreadable_events(self) -> str:
        """Stream of event-stream entries training could not parse, set aside with their original id."""
        return f"{self.shared}:events-unreadable"

    @property
    def catalog(self) -> str:
        """Hash item_id -> item JSON."""
        return f"{self.shared}:catalog"

    @property
    def removed(self) -> str:
        """Set of item ids never to recommend again."""
        return f"{self.shared}:removed"

    @property
    def catalog_revision(self) -> str:
        """Counter bumped on every catalog change, so replicas know when to reload."""
        return f"{self.shared}:catalog:rev"

    @property
    def catalog_offers(self) -> str:
        """Hash item_id -> "price\x1fcurrency" (either may be empty) of every item with a price or a currency:
        what the event script reads to price a purchase sent without one and to count revenue."""
        return f"{self.shared}:catalog:offers"

    def price_history(self, item_id: str) -> str:
        """Sorted set of an item's price changes: member "time\x1fprice\x1fcurrency", score the time (epoch
        seconds) of the catalog write that changed it; the newest MAX_PRICE_CHANGES are kept."""
        return f"{self.shared}:price-history:{item_id}"

    @property
    def price_changes(self) -> str:
        """Sorted set item_id -> when its price last changed: the items whose price moved in a window."""
        return f"{self.shared}:price-changes"

    def stock_history(self, item_id: str) -> str:
        """Sorted set of an item's stock changes: member "time\x1f1" (back in stock) or "time\x1f0" (out of
        stock), score the time (epoch seconds) of the catalog write; the newest MAX_STOCK_CHANGES are kept."""
        return f"{self.shared}:stock-history:{item_id}"

    @property
    def stock_changes(self) -> str:
        """Sorted set item_id -> when its stock flag last changed: the items whose stock moved in a window."""
        return f"{self.shared}:stock-changes"

    @property
    def current_version(self) -> str:
        """Pointer to the model version every replica should serve."""
        return f"{self.shared}:model:current"

    @property
    def training_status(self) -> str:
        """Hash: outcome of the last training attempt."""
        return f"{self.shared}:model:status"

    @property
    def training_history(self) -> str:
        """List of JSON records, one per finished training (newest first, capped): the training history."""
        return f"{self.shared}:model:history"

    @property
    def train_lock(self) -> str:
        """String: the token of the replica that may train now, with a TTL (service.store.training_state)."""
        return f"{self.shared}:lock:train"

    @property
    def retrain_requested(self) -> str:
        """String: epoch seconds a training was asked for (POST /v1/model/retrain), until one starts."""
        return f"{self.shared}:model:retrain"

    def since_training(self, user_id: str) -> str:
        """Hash item_id -> weight of a user's events since they were last trained on."""
        return f"{self.user(user_id)}:since-training"

    def since_training_ids(self, user_id: str) -> str:
        """Hash item_id -> stream id of the newest event behind the since-training hash's entry, so a read leaves out
        exactly the entries the serving model holds, and the forget drops exactly those."""
        return f"{self.user(user_id)}:since-training-ids"

    @property
    def folds(self) -> str:
        """List of trainings' folds whose users' since-training entries wait to be forgotten until no replica
        can serve a model without them: each element a fold's last stream id and up to 1,000 of its users,
        newline-separated (service.store.events.since_training)."""
        return f"{self.shared}:folds"
    def since_training_bought(self, user_id: str) -> str:
        """Hash item_id -> epoch seconds of the user's purchases of it since training (space-separated, in
        arrival order, the newest MAX_BOUGHT_TIMES), so serving knows what they bought and when; forgotten
        with the since-training hash's entry."""
        return f"{self.user(user_id)}:since-training-bought"

    def event_seen(self, event_id: str) -> str:
        """Set when an event carrying this client id was stored, so a retry is not stored twice."""
        return f"{self.shared}:seen:{event_id}"

    def shown(self, user_id: str) -> str:
        """Sorted set item_id -> when it was last shown to the user (epoch seconds), trimmed to RECS_FATIGUE_DAYS."""
        return f"{self.user(user_id)}:shown"

    def online(self, day: str) -> str:
        """Hash "{version}|{route}|{impressions, clicks or purchases}" -> count, for one UTC day (YYYY-MM-DD)."""
        return f"{self.shared}:online:{day}"

    def order_seen(self, served_by: str, order_id: str) -> str:
        """Set when an attributed purchase of this order counted an order for `served_by` ("version|route"),
        so the order's other lines and retries do not count it again; kept RECS_ONLINE_DAYS."""
        return f"{self.shared}:online:order:{served_by}:{order_id}"

    @property
    def contacted(self) -> str:
        """Sorted set user_id -> when they were last contacted (POST /v1/users/{user_id}/contacted), trimmed to
        the longest contact cap: the campaigns' contact cap reads it in one command."""
        return f"{self.shared}:contacted"

    @property
    def contact_log(self) -> str:
        """Stream of contacts recorded (`u` user, `c` channel, `m` campaign), capped in length."""
        return f"{self.shared}:contact-log"

    @property
    def change_log(self) -> str:
        """Stream with one entry per write of users' since-training events or shown sets, field `u` =
        the users written, newline-separated (ids never contain control characters). Replicas read
        it to drop their mirrored copies (service.store.mirror)."""
        return f"{self.shared}:change-log"

    def user_recs(self, version: str, user_id: str) -> str:
        """A user's precomputed list, in their slot: the one read a request makes (list, since-training
        events, shown set) goes to one node of a cluster."""
        return f"{self.user(user_id)}:recs:{version}"

    def rate_limit(self, api_key: str) -> str:
        """Token bucket of one API key, named by a hash: the key itself never reaches Redis."""
        return f"{self.prefix}:ratelimit:{hashlib.sha256(api_key.encode()).hexdigest()[:24]}"

    def similar(self, version: str, item_id: str) -> str:
        """An item's precomputed similar-items list for a model version (untagged: spread by its name)."""
        return f"{self.prefix}:sim:{version}:{item_id}"

    # -- erasures and merges of customers (service.store.erasures, service.store.merges) ------------
    @property
    def erasures_pending(self) -> str:
        """Hash user_id -> "seq\x1fposition\x1frequested_at" of erasures no training has folded yet (position: the
        event stream's newest entry id when the erasure was recorded; the user's entries up to it are erased)."""
        return f"{self.shared}:erasures:pending"

    @property
    def erasures_folded(self) -> str:
        """Hash like `erasures_pending`: erasures the snapshot and the stream no longer hold, waiting for a model
        trained without them to serve (until then the read path treats the user as unknown)."""
        return f"{self.shared}:erasures:folded"

    @property
    def erasure_records(self) -> str:
        """Hash SHA-256(user_id) hex -> JSON {state, requested_at, folded_at, done_at}: the lasting record of an
        erasure, which keeps no id."""
        return f"{self.shared}:erasures:records"

    @property
    def merges_pending(self) -> str:
        """Hash "from\x1fto" -> "seq\x1fposition\x1frequested_at" of merges of a visitor into a customer whose
        folded events no training has moved yet (position as in `erasures_pending`)."""
        return f"{self.shared}:merges:pending"

    @property
    def identity_seq(self) -> str:
        """Counter giving erasures and merges their order, which training applies them in."""
        return f"{self.shared}:identity:seq"
    @property
    def experiments(self) -> str:
        """Hash experiment name -> its definition and status as JSON (service.store.experiments)."""
        return f"{self.shared}:experiments"

    @property
    def experiments_version(self) -> str:
        """Counter bumped by every write of the experiments hash: the version its compare-and-set checks."""
        return f"{self.shared}:experiments:version"

    @property
    def promoted_model(self) -> str:
        """JSON of the model configuration an experiment's variant made the default (POST
        /v1/experiments/{name}/promote/{variant}); training reads it. Absent: model choice as configured."""
        return f"{self.shared}:experiments:promoted"

    def experiment_exposed(self, experiment: str, variant: str) -> str:
        """Set of the customers a variant's lists were served to (the exposed customers)."""
        return f"{self.shared}:experiment:{experiment}:{variant}:exposed"

    @property
    def experiment_buyers(self) -> str:
        """Hash "{experiment}/{variant}\\x1f{currency}\\x1f{user_id}" -> the customer's attributed revenue in
        micro-units (0 for purchases without a price): who converted, and revenue per customer."""
        return f"{self.shared}:experiment-buyers"
