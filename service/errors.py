"""Domain errors of the service: what serving, ingestion and training refuse, with no HTTP in them.

Each carries the API's error `code`, a message for the client and `details` that locate the fault
(`index`, `field`); service.http.errors maps each class to a status, as aiohttp-demos' polls maps its
storage's RecordNotFound. Redis being away is not one of these: it surfaces as redis-py's own errors
(service.store.client.REDIS_ERRORS), which the HTTP layer turns into 503s.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A request the service will not carry out, and why."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


class BadInput(ServiceError):
    """The request's data or parameters are invalid; `details` name the record index and field."""


class UnknownItem(ServiceError):
    """An item id the route cannot answer for: by default one the serving model has never seen (`known`
    says what would have known it)."""

    def __init__(self, item_id: str, known: str = "the model") -> None:
        super().__init__("unknown_item", f"item {item_id!r} is not known to {known}")


class UnknownUser(ServiceError):
    """A customer id the service has no event of and the serving model does not know."""

    def __init__(self, user_id: str) -> None:
        super().__init__("unknown_user", f"user {user_id!r} has no events and is not known to the model")


class LifecycleUnavailable(ServiceError):
    """The serving model has no lifecycle fit (or no spend model) to answer with; `reason` is a stable code
    (recommender.lifecycle.FitError.reason, or ``not_fitted`` for a model trained before fits were stored)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__("lifecycle_unavailable", message, reason=reason)


class NoErasure(ServiceError):
    """A user id that was never erased (service.store.erasures)."""

    def __init__(self, user_id: str) -> None:
        super().__init__("no_erasure", f"user {user_id!r} has no erasure on record")


class NoModel(ServiceError):
    """No model is trained yet; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("no_model", "no model is trained yet; retry after the first training")
        self.retry_after = retry_after


def bad_input(message: str, code: str = "bad_request", **details: object) -> BadInput:
    """A BadInput to raise; `details` usually `index=` and `field=`."""
    return BadInput(code, message, **details)


class NotFound(ServiceError):
    """A named thing (an experiment, a variant of it) that does not exist."""

    def __init__(self, what: str, name: str, **details: object) -> None:
        super().__init__("not_found", f"{what} {name!r} does not exist", **details)


class Conflict(ServiceError):
    """The request clashes with the stored state (an experiment already started, another one running on
    the same routes); `details` say which."""
