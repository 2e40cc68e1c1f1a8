"""The library's own exceptions, so callers can tell bad input from bugs."""


class InputError(ValueError):
    """Input data (events, catalog, parameters) failed validation; the message says where.

    `row` and `field`, when known, locate the first bad value so an API can point at it.
    """

    def __init__(self, message: str, row: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.field = field


class ArtifactError(Exception):
    """A model artifact is missing, truncated, corrupted or of an unknown format."""


class UnknownItemError(KeyError):
    """An item id the model has never seen (for example in a similar-items request)."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep messages readable
        return str(self.args[0]) if self.args else "unknown item"
