"""Every Redis key the service uses, in one place, so the layout is visible at a glance."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "encore"

    @property
    def events(self) -> str:
        """Stream of accepted events, folded into the snapshot at each training."""
        return f"{self.prefix}:events"

    @property
    def unreadable_events(self) -> str:
        """Stream of event-stream entries training could not parse, set aside with their original id."""
        return f"{self.prefix}:events-unreadable"

    @property
    def catalog(self) -> str:
        """Hash item_id -> item JSON."""
        return f"{self.prefix}:catalog"

    @property
    def removed(self) -> str:
        """Set of item ids never to recommend again."""
        return f"{self.prefix}:removed"

    @property
    def catalog_revision(self) -> str:
        """Counter bumped on every catalog change, so replicas know when to reload."""
        return f"{self.prefix}:catalog:rev"

    @property
    def current_version(self) -> str:
        """Pointer to the model version every replica should serve."""
        return f"{self.prefix}:model:current"

    @property
    def training_status(self) -> str:
        """Hash: outcome of the last training attempt."""
        return f"{self.prefix}:model:status"

    @property
    def train_lock(self) -> str:
        return f"{self.prefix}:lock:train"

    @property
    def retrain_requested(self) -> str:
        return f"{self.prefix}:model:retrain"

    def recent(self, user_id: str) -> str:
        """Hash item_id -> weight of a user's events since they were last trained on."""
        return f"{self.prefix}:recent:{user_id}"

    def recent_ids(self, user_id: str) -> str:
        """Hash item_id -> stream id of the newest event behind `recent`'s entry, so training can drop
        exactly the entries it folded into the model."""
        return f"{self.prefix}:recent-ids:{user_id}"

    def event_seen(self, event_id: str) -> str:
        """Set when an event carrying this client id was stored, so a retry is not stored twice."""
        return f"{self.prefix}:seen:{event_id}"

    def shown(self, user_id: str) -> str:
        """Sorted set item_id -> when it was last shown to the user, trimmed to RECS_FATIGUE_DAYS."""
        return f"{self.prefix}:shown:{user_id}"

    def online(self, day: str) -> str:
        """Hash "{version}|{route}|{impressions, clicks or purchases}" -> count, for one UTC day (YYYY-MM-DD)."""
        return f"{self.prefix}:online:{day}"

    def user_recs(self, version: str, user_id: str) -> str:
        return f"{self.prefix}:recs:{version}:{user_id}"

    def similar(self, version: str, item_id: str) -> str:
        return f"{self.prefix}:sim:{version}:{item_id}"
