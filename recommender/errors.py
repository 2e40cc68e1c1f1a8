"""The library's own exceptions, so callers can tell bad input from bugs."""


class InputError(ValueError):
    """Input data (events, catalog, parameters) failed validation; the message says where."""


class ArtifactError(Exception):
    """A model artifact is missing, truncated, corrupted or of an unknown format."""


class UnknownItemError(KeyError):
    """An item id the model has never seen (for example in a similar-items request)."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep messages readable
        return str(self.args[0]) if self.args else "unknown item"
